"""Feature normalisation: x_n = (x - mean) / std, with the group-constant std of the released 272 statistics.

MotionMillion's stats average the per-dimension std inside each feature group (root velocity, heading, positions,
velocities, rotations; docs/representation.md), so all dims of a group share one scale and the relative sizes within a
group survive normalisation. Stats are fitted in one streaming pass (float64 sums), so a corpus never has to fit
in memory, and are stored as safetensors or, for compatibility, as a MotionMillion `mean_std/` folder of
`Mean.npy` and `Std.npy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionmill.motion.features272 import LAYOUT_272, FeatureLayout

__all__ = ["Normalizer"]


@dataclass
class Normalizer:
    """Per-dimension mean and std of a feature layout."""

    mean: np.ndarray
    """(F,) float32."""
    std: np.ndarray
    """(F,) float32, strictly positive."""

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean has shape {self.mean.shape} but std has {self.std.shape}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()):
            raise ValueError("normalisation stats contain non-finite values")
        if (self.std <= 0).any():
            raise ValueError(f"std must be positive; {int((self.std <= 0).sum())} dims are not")

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @classmethod
    def fit(
        cls,
        chunks: Iterable[np.ndarray] | np.ndarray,
        layout: FeatureLayout | None = LAYOUT_272,
        min_std: float = 1e-6,
    ) -> Normalizer:
        """Fit from an array (N, F) or an iterable of (T_i, F) chunks (e.g. one per clip), in one pass.

        Args:
            chunks: the data.
            layout: when given, std is averaged inside each of its groups (the released convention); None keeps
                per-dimension std.
            min_std: floor for std so constant dims do not divide by zero.
        """
        if isinstance(chunks, np.ndarray):
            chunks = [chunks]
        n, total, total_sq = 0, None, None
        for chunk in chunks:
            c = np.asarray(chunk, dtype=np.float64).reshape(-1, np.shape(chunk)[-1])
            total = c.sum(0) if total is None else total + c.sum(0)
            total_sq = (c * c).sum(0) if total_sq is None else total_sq + (c * c).sum(0)
            n += c.shape[0]
        if n < 2:
            raise ValueError("need at least 2 frames to fit normalisation stats")
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0))
        if layout is not None:
            if layout.dim != std.shape[0]:
                raise ValueError(f"layout {layout.name} has {layout.dim} dims but the data has {std.shape[0]}")
            for _, start, stop in layout.groups:
                std[start:stop] = std[start:stop].mean()
        return cls(mean, np.maximum(std, min_std))

    def normalize(self, x):
        """(..., F) -> normalised, numpy or torch like x."""
        mean, std = self._as(x)
        return (x - mean) / std

    def denormalize(self, x):
        """Inverse of `normalize`."""
        mean, std = self._as(x)
        return x * std + mean

    def _as(self, x):
        if x.shape[-1] != self.dim:
            raise ValueError(f"features have {x.shape[-1]} dims but the normaliser has {self.dim}")
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.mean, device=x.device, dtype=x.dtype),
                    torch.as_tensor(self.std, device=x.device, dtype=x.dtype))  # fmt: skip
        return self.mean, self.std

    def save(self, path: str | Path) -> None:
        """Write `*.safetensors` (keys mean, std) or, for any other path, a folder with Mean.npy and Std.npy."""
        from motionmill.utils.io import atomic_write, npy_bytes

        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.numpy import save

            atomic_write(path, save({"mean": self.mean, "std": self.std}))
            return
        path.mkdir(parents=True, exist_ok=True)
        for name, arr in (("Mean.npy", self.mean), ("Std.npy", self.std)):
            atomic_write(path / name, npy_bytes(arr))

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        """Read what `save` wrote (also a released MotionMillion `mean_std/` folder)."""
        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            d = load_file(str(path))
            missing = {"mean", "std"} - d.keys()
            if missing:
                raise ValueError(f"{path}: missing tensors {sorted(missing)}")
            return cls(d["mean"], d["std"])
        if not path.is_dir():
            raise FileNotFoundError(f"no normalisation stats at {path} (expected *.safetensors or a folder)")
        files = {f.name.lower(): f for f in path.iterdir()}
        try:
            return cls(np.load(files["mean.npy"]), np.load(files["std.npy"]))
        except KeyError:
            raise FileNotFoundError(f"{path}: expected Mean.npy and Std.npy") from None
