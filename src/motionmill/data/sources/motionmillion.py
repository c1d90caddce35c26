"""MotionMillion reader: `motion_data/vector_272/**/<id>.npy` features + `texts/**/<id>.txt` + `split/` + `mean_std/`.

Format origin: the public MotionMillion code (https://github.com/VankouF/MotionMillion-Codes, `dataset/
dataset_TM_*_motionmillion.py`). Layout of a release folder:

    motion_data/vector_272/<id>.npy    (T, 272) de-normalised 272 features at 30 fps (docs/representation.md)
    texts/<id>.txt                     captions, one per line (same relative id)
    split/<version>/{train,val,test}.txt, e.g. split/version1/t2m_60_300/ (ids such as "MotionGV/folder0/xxx")
    mean_std/vector_272/{mean,std}.npy normalisation stats (optional)

Ids are relative paths without extension, so they nest (the released ids carry sub-dataset folders). The data is
already canonical 272, so it is taken as is (no re-encoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from motionmill.data.sources import Sample
from motionmill.data.sources.humanml3d import load_npy
from motionmill.data.sources.text_files import SPLIT_NAMES, named_errors, read_captions, read_split_table
from motionmill.motion.container import Motion
from motionmill.motion.normalize import Normalizer
from motionmill.utils.spec import parse_spec

__all__ = ["MotionMillionSource"]

MOTION_DIR = "motion_data/vector_272"
TEXT_DIR = "texts"
SPLIT_DIR = "split"
DEFAULT_SPLIT = "version1/t2m_60_300"
"""The split the released text-to-motion training and evaluation scripts use."""
STATS_DIRS = ("mean_std/vector_272", "mean_std")
"""Where the normalisation stats may be, first match wins."""
FPS = 30.0


@dataclass(frozen=True)
class MotionMillionSource:
    """The MotionMillion release folder at `root`."""

    root: str
    """Dataset folder (holding `motion_data/`, `texts/`, `split/`, `mean_std/`)."""
    split: str | None = None
    """Split folder relative to `split/` (e.g. "version1/tokenizer_96"); None picks `DEFAULT_SPLIT` if present,
    else the only folder holding split files (several without a default is an error asking for this option)."""
    licence: str = "MotionMillion (see its licence and the terms of each sub-dataset)"

    name: ClassVar[str] = "motionmillion"

    @classmethod
    def from_spec(cls, arg: str) -> MotionMillionSource:
        """`DIR[,split=version1/t2m_60_300]`."""
        root, options = parse_spec(arg, {"split": str})
        return cls(root, **options)

    def items(self) -> list[str]:
        """Relative ids of every `motion_data/vector_272/**/*.npy`, sorted (POSIX separators)."""
        folder = Path(self.root) / MOTION_DIR
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (is {self.root} a MotionMillion root?)")
        self.split_folder()  # fail early on an ambiguous split choice, before any worker starts
        return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.npy"))

    def load(self, key: str) -> list[Sample]:
        """One clip as stored (30 fps, 272 features) with its captions and split."""
        root = Path(self.root)
        path = root / MOTION_DIR / f"{key}.npy"
        features = load_npy(path, (272,))
        with named_errors(path):
            motion = Motion(features, FPS, meta={"rotations": "motionmillion"})
        folder = self.split_folder()
        split = read_split_table(str(folder)).get(key) if folder is not None else None
        return [Sample(id=f"{self.name}/{key}", motion=motion, texts=read_captions(root / TEXT_DIR / f"{key}.txt"),
                       licence=self.licence, split=split, meta={"path": f"{MOTION_DIR}/{key}.npy"})]  # fmt: skip

    def split_folder(self) -> Path | None:
        """The folder whose train/val/test files assign splits, or None when the release has no split files.

        Raises:
            ValueError: several split folders exist, none is the default and no `split` option chose one.
        """
        return _split_folder(self.root, self.split)

    def stats(self) -> Normalizer | None:
        """The released normalisation stats (`mean_std/vector_272/` or `mean_std/`), or None if absent."""
        for rel in STATS_DIRS:
            folder = Path(self.root) / rel
            if folder.is_dir() and any(p.name.lower() == "mean.npy" for p in folder.iterdir()):
                return Normalizer.load(folder)
        return None


@lru_cache(maxsize=16)
def _split_folder(root: str, split: str | None) -> Path | None:
    base = Path(root) / SPLIT_DIR
    if split is not None:
        if not (base / split).is_dir():
            raise ValueError(f"{base / split}: split folder not found")
        return base / split
    if (base / DEFAULT_SPLIT).is_dir():
        return base / DEFAULT_SPLIT
    found = sorted({p.parent for name in SPLIT_NAMES for p in base.rglob(f"{name}.txt")}) if base.is_dir() else []
    if len(found) > 1:
        choices = [p.relative_to(base).as_posix() for p in found]
        raise ValueError(f"{base}: several split folders {choices}; choose one with the option split=<folder>")
    return found[0] if found else None
