"""HumanML3D reader: `new_joints/<id>.npy` joint positions + `texts/<id>.txt` captions + `{train,val,test}.txt`.

Format origin: https://github.com/EricGuo5513/HumanML3D (Guo et al., CVPR 2022). Joints are (T, 22, 3) SMPL body
joints in metres, y up, at 20 fps; ids starting with "M" are the left/right mirrored copies the dataset ships
(their captions already swap left and right). Captions are `caption#tokens#start#end` lines (text_files.py).
Rotations are not shipped with the joints, so they come from inverse kinematics (meta "rotations": "ik"), and
clips are resampled to the corpus rate of 30 fps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from motionmill.data.sources import Sample
from motionmill.data.sources.text_files import named_errors, read_captions, read_split_table
from motionmill.motion.container import Motion
from motionmill.utils.spec import parse_spec

__all__ = ["HumanML3DSource", "load_npy"]

CORPUS_FPS = 30.0
MIRROR_PREFIX = "M"


def load_npy(path: Path, trailing: tuple[int, ...]) -> np.ndarray:
    """Load a float array of shape (T, *trailing) with T >= 2 and no NaN/inf frames, without unpickling.

    Raises:
        ValueError: naming `path` and the problem (unreadable or truncated file, wrong shape, bad frames).
    """
    with named_errors(path, "unreadable .npy file: "):
        array = np.load(path, allow_pickle=False)
    if array.ndim != 1 + len(trailing) or array.shape[1:] != trailing or not np.issubdtype(array.dtype, np.number):
        want = ", ".join(["T", *map(str, trailing)])
        raise ValueError(f"{path}: expected a numeric array of shape ({want}), got {array.dtype} {array.shape}")
    if array.shape[0] < 2:
        raise ValueError(f"{path}: {array.shape[0]} frame(s); a motion needs at least 2")
    bad = ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} frame(s) contain NaN/inf values (first: frame {bad.argmax()})")
    return array.astype(np.float64)


@dataclass(frozen=True)
class HumanML3DSource:
    """The HumanML3D folder at `root` (holding `new_joints/`, `texts/` and optional split files)."""

    root: str
    """Dataset folder."""
    source_fps: float = 20.0
    """Frame rate of `new_joints` (20 for HumanML3D; KIT-ML processed the same way is 12.5)."""
    licence: str = "HumanML3D (see its licence; AMASS/HumanAct12 terms)"

    name: ClassVar[str] = "humanml3d"

    @classmethod
    def from_spec(cls, arg: str) -> HumanML3DSource:
        """`DIR[,source_fps=20]`."""
        root, options = parse_spec(arg, {"source_fps": float})
        return cls(root, **options)

    def items(self) -> list[str]:
        """Clip ids (file stems of `new_joints/*.npy`), sorted; mirrored "M..." ids are items of their own."""
        folder = Path(self.root) / "new_joints"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (is {self.root} a HumanML3D root?)")
        return sorted(p.stem for p in folder.glob("*.npy"))

    def load(self, key: str) -> list[Sample]:
        """One clip at 30 fps with its captions; split from the split files (a mirror inherits its original's)."""
        root = Path(self.root)
        path = root / "new_joints" / f"{key}.npy"
        joints = load_npy(path, (22, 3))
        with named_errors(path):
            motion = Motion.from_joints(joints, self.source_fps).resample(CORPUS_FPS)
        original = key[len(MIRROR_PREFIX) :] if key.startswith(MIRROR_PREFIX) else None
        splits = read_split_table(str(root))
        meta = {"path": f"new_joints/{key}.npy", "source_fps": self.source_fps, "rotations": "ik",
                "mirrored": original is not None}  # fmt: skip
        if original is not None:
            meta["of"] = original
        return [Sample(id=f"{self.name}/{key}", motion=motion, texts=read_captions(root / "texts" / f"{key}.txt"),
                       licence=self.licence, split=splits.get(key, splits.get(original)), meta=meta)]  # fmt: skip
