"""Evaluation metrics as pure functions over arrays (spec/evaluation.md).

No metric touches files, loggers or the global RNG; those that sample take an explicit `np.random.Generator`.

Shape legend: T frames, J joints, K codebook size.
"""

from __future__ import annotations

import numpy as np

__all__ = ["acceleration_error", "codebook_usage", "mpjpe"]


def mpjpe(pred: np.ndarray, target: np.ndarray, root: int = 0) -> float:
    """Mean per-joint position error in millimetres, pelvis-aligned per frame.

    Args:
        pred, target: (..., T, J, 3) joint positions in metres.
        root: the joint subtracted in every frame (0 = pelvis).
    """
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    aligned_p = pred - pred[..., root : root + 1, :]
    aligned_t = target - target[..., root : root + 1, :]
    return float(np.linalg.norm(aligned_p - aligned_t, axis=-1).mean() * 1000.0)


def acceleration_error(pred: np.ndarray, target: np.ndarray, fps: float = 30.0) -> float:
    """Mean |a_pred - a_target| over joints and frames, in m/s^2 (second differences times fps^2)."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if pred.shape != target.shape or pred.shape[-3] < 3:
        raise ValueError(f"need equal shapes with at least 3 frames, got {pred.shape} and {target.shape}")
    return float(np.linalg.norm(_acceleration(pred, fps) - _acceleration(target, fps), axis=-1).mean())


def _acceleration(x: np.ndarray, fps: float) -> np.ndarray:
    """Second differences over frames (axis -3), in units per second squared."""
    return (x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]) * fps**2


def codebook_usage(indices: np.ndarray, codebook_size: int) -> dict[str, float]:
    """Fraction of codes used at least once, and perplexity exp(-sum p log p) of the code histogram.

    Args:
        indices: integer code ids (any shape); negative ids (padding) are ignored.
        codebook_size: K, the true number of codes.
    """
    ids = np.asarray(indices).reshape(-1)
    ids = ids[ids >= 0]
    if ids.size == 0:
        raise ValueError("no code ids to measure")
    if ids.max() >= codebook_size:
        raise ValueError(f"code id {int(ids.max())} is outside a codebook of {codebook_size}")
    counts = np.bincount(ids, minlength=codebook_size).astype(np.float64)
    p = counts / counts.sum()
    nz = p[p > 0]
    return {"usage": float((counts > 0).mean()), "perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
            "used_codes": float((counts > 0).sum())}  # fmt: skip
