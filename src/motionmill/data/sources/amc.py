"""CMU Acclaim folder reader: `**/*.amc` motions, each with its ASF skeleton, optional `<name>.txt` captions.

Format origin: CMU's motion capture database (`export/acclaim.py` reads the files). The skeleton of `07_01.amc` is
`07_01.asf` beside it, else the subject's `07.asf` in the same folder. Clips are resampled from CMU's 120 fps (or
`fps=`) to 30 fps. A motion without a skeleton, naming a bone its skeleton lacks, or truncated gives a ValueError
naming the file; the pipeline quarantines it and goes on. Captions use the HumanML3D line format (text_files.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from motionmill.data.sources import Sample
from motionmill.data.sources.text_files import named_errors, read_captions
from motionmill.export.acclaim import CMU_FPS, read_acclaim
from motionmill.utils.spec import parse_spec

__all__ = ["AmcSource"]

FPS = 30.0


@dataclass(frozen=True)
class AmcSource:
    """A folder tree of AMC files at `root`."""

    root: str
    """Folder searched recursively for `*.amc` (any letter case)."""
    fps: float = CMU_FPS
    """Frame rate of the motions (CMU's 120)."""
    licence: str = "unknown (AMC files; check the terms of their source)"
    """Licence recorded on every clip; pass the collection's own with the `licence=` option."""

    name: ClassVar[str] = "amc"

    @classmethod
    def from_spec(cls, arg: str) -> AmcSource:
        """`DIR[,fps=120][,licence=TEXT]`."""
        root, options = parse_spec(arg, {"fps": float, "licence": str})
        return cls(root, **options)

    def items(self) -> list[str]:
        """Relative paths of every AMC file, sorted."""
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        files = (p for p in root.rglob("*") if p.suffix.lower() == ".amc" and p.is_file())
        return sorted(p.relative_to(root).as_posix() for p in files)

    def load(self, key: str) -> list[Sample]:
        """One clip at 30 fps with its sidecar captions (if any)."""
        path = Path(self.root) / key
        with named_errors(path):
            motion = read_acclaim(path, fps=self.fps)
            if motion.fps != FPS:
                motion = motion.resample(FPS)
        meta = {"path": key, "source_fps": self.fps, "rotations": "ik", "skeleton": motion.meta["skeleton"],
                "synthesised_joints": motion.meta["synthesised_joints"]}  # fmt: skip
        return [Sample(id=f"{self.name}/{key}", motion=motion, texts=read_captions(path.with_suffix(".txt")),
                       licence=self.licence, meta=meta)]  # fmt: skip
