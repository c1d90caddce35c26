"""BVH folder reader: `**/*.bvh` motion capture files with SMPL-like joint names, optional `<name>.txt` captions.

Format origin: the Biovision hierarchy format (as parsed by `motionmill.export.bvh`, which maps SMPL-like joint
names such as CMU's or Mixamo's onto SMPL-22 through a name table). Clips are resampled to 30 fps. A file whose
skeleton cannot be mapped, or that is not a BVH at all, gives a ValueError naming the file. Sidecar captions use
the HumanML3D line format (text_files.py), times in seconds from the clip start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from motionmill.data.sources import Sample
from motionmill.data.sources.text_files import named_errors, read_captions
from motionmill.export.bvh import UNITS as BVH_UNITS
from motionmill.export.bvh import bvh_to_motion
from motionmill.motion.container import Motion
from motionmill.utils.spec import parse_spec

__all__ = ["BvhSource"]

FPS = 30.0
UNITS = ("auto", *BVH_UNITS)
FPS_SNAP = 1e-3
"""Relative distance within which a file's rate counts as the nearest whole rate: BVH stores a rounded frame time
(0.033333 s is 30.0003 fps), and resampling by that ratio would drop the last frame for nothing."""


@dataclass(frozen=True)
class BvhSource:
    """A folder tree of BVH files at `root`."""

    root: str
    """Folder searched recursively for `*.bvh` (any letter case)."""
    units: str = "auto"
    """Length unit of the files: "m", "cm", "mm", "in", "cmu" or "auto" (found from the skeleton's size)."""
    up: str = "auto"
    """Up axis of the files: "y", "z" or "auto" (found from the rest skeleton)."""
    licence: str = "unknown (BVH files; check the terms of their source)"
    """Licence recorded on every clip; pass the collection's own with the `licence=` option."""

    name: ClassVar[str] = "bvh"

    @classmethod
    def from_spec(cls, arg: str) -> BvhSource:
        """`DIR[,units=auto|m|cm|mm|in|cmu][,up=auto|y|z][,licence=TEXT]`."""
        root, options = parse_spec(arg, {"units": str, "up": str, "licence": str})
        return cls(root, **options)

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {self.units!r}")

    def items(self) -> list[str]:
        """Relative paths (with extension, since its case varies) of every BVH file, sorted."""
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        files = (p for p in root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
        return sorted(p.relative_to(root).as_posix() for p in files)

    def load(self, key: str) -> list[Sample]:
        """One clip at 30 fps with its sidecar captions (if any)."""
        path = Path(self.root) / key
        with named_errors(path):
            motion = bvh_to_motion(path, units=self.units, up=self.up)
            source_fps = _snap(motion.fps)
            motion = Motion(motion.features, source_fps, motion.skeleton, motion.meta)
            if source_fps != FPS:
                motion = motion.resample(FPS)
        meta = {
            "path": key,
            "source_fps": source_fps,
            "rotations": motion.meta.get("rotations", "bvh"),
            "rig": motion.meta.get("rig"),
            "synthesised_joints": motion.meta.get("synthesised_joints", []),
        }
        return [Sample(id=f"{self.name}/{key}", motion=motion, texts=read_captions(path.with_suffix(".txt")),
                       licence=self.licence, meta=meta)]  # fmt: skip


def _snap(fps: float) -> float:
    """`fps`, or the nearest whole rate when it is within `FPS_SNAP` of it."""
    whole = round(fps)
    return float(whole) if whole > 0 and abs(fps - whole) <= FPS_SNAP * fps else fps
