"""Smoothing of motion signals along time.

`smooth` is a centred (zero-phase) Gaussian: no lag, so a smoothed pose or path stays in step with the original.
The ends are continued linearly (odd reflection) rather than held, so steady travel is followed to the first and
last frames instead of drooping towards a standstill.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smooth"]


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """(T, ...) -> the same shape, each channel convolved along axis 0 with a Gaussian of `sigma_frames` frames.

    Returns a float64 copy; sequences shorter than 3 frames and sigma <= 0 are returned unchanged.
    """
    if sigma_frames <= 0 or len(x) < 3:
        return np.array(x, dtype=np.float64)
    radius = min(int(np.ceil(3 * sigma_frames)), len(x) - 1)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    pad = [(radius, radius)] + [(0, 0)] * (x.ndim - 1)
    padded = np.pad(np.asarray(x, dtype=np.float64), pad, mode="reflect", reflect_type="odd")
    return np.apply_along_axis(lambda s: np.convolve(s, kernel, mode="valid"), 0, padded)
