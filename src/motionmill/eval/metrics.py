"""Evaluation metrics as pure functions over arrays (docs/evaluation.md).

Text-to-motion metrics follow the HumanML3D protocol (Guo et al., "Generating Diverse and Natural 3D Human Motions
from Text", CVPR 2022): FID, R-precision, MM-Dist (matching score), Diversity and MModality over evaluator
embeddings, and the mean with a 95% confidence interval over repeated runs. Reconstruction metrics (MPJPE,
acceleration error, codebook usage) measure the tokenizer.

No metric touches files, loggers or the global RNG; those that sample take an explicit `np.random.Generator`.

Shape legend: N, M embedded motions (or texts), C captions, G generations per caption, D embedding width,
T frames, J joints, K codebook size.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DRAWS",
    "acceleration_error",
    "codebook_usage",
    "diversity",
    "fid",
    "matching_score",
    "mean_ci",
    "mpjpe",
    "multimodality",
    "r_precision",
]


def _embeddings(x: np.ndarray, name: str, ndim: int = 2, min_rows: int = 1) -> np.ndarray:
    """`x` as float64 with `ndim` dimensions, at least `min_rows` rows and only finite values, else ValueError."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if len(x) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _paired(text_emb: np.ndarray, motion_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text and motion embeddings of the same (N, D) shape, row i of one paired with row i of the other."""
    text, motion = _embeddings(text_emb, "text_emb"), _embeddings(motion_emb, "motion_emb")
    if text.shape != motion.shape:
        raise ValueError(f"text_emb shape {text.shape} differs from motion_emb shape {motion.shape}")
    return text, motion


def _distinct_pairs(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays a, b of `shape` with a != b everywhere, each pair uniform over the ordered pairs of range(n).

    Drawing b from the n - 1 other indices (skipping a) never pairs a row with itself, so no resampling is needed.
    """
    a = rng.integers(0, n, size=shape)
    b = rng.integers(0, n - 1, size=shape)
    return a, b + (b >= a)


def _positive(value: int, name: str) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets.

    FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), with sample covariances (ddof=1, as np.cov).
    Only the trace of the square root is needed: S_r S_g has the same eigenvalues as the symmetric
    A S_g A with A = S_r^(1/2), so Tr (S_r S_g)^(1/2) = sum sqrt(eig(A S_g A)). Two symmetric eigendecompositions
    are stable where a general matrix square root of the non-symmetric product is not; eigenvalues that rounding
    makes slightly negative are clipped to 0.

    Args:
        real: (N, D) embeddings of real motions, N >= 2.
        generated: (M, D) embeddings of generated motions, M >= 2.
    """
    real = _embeddings(real, "real", min_rows=2)
    generated = _embeddings(generated, "generated", min_rows=2)
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"real has width {real.shape[1]} but generated has width {generated.shape[1]}")
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))  # (D, D)
    cov_g = np.atleast_2d(np.cov(generated, rowvar=False))
    w, v = np.linalg.eigh(cov_r)
    sqrt_r = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T  # A = S_r^(1/2)
    inner = sqrt_r @ cov_g @ sqrt_r
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2.0 * trace_sqrt)


def r_precision(
    text_emb: np.ndarray, motion_emb: np.ndarray, rng: np.random.Generator, batch_size: int = 32, top_k: int = 3
) -> np.ndarray:
    """R-precision@1..top_k: how often a text's own motion is among its k nearest motions in a batch.

    The pairs are shuffled with `rng` (one `rng.permutation(N)` draw) and cut into batches of `batch_size`; an
    incomplete last batch is dropped. Within a batch each text ranks the batch's motions by Euclidean distance. A tie
    counts against the text (its rank is the number of other motions at most as far as its own), so a model whose
    motions all collapse to one point scores 0, not 1.

    Args:
        text_emb, motion_emb: (N, D) paired embeddings, N >= batch_size.
        rng: the source of the shuffle.
        batch_size: motions each text is ranked against (32 in the standard protocol).
        top_k: largest k reported.

    Returns:
        (top_k,) cumulative hit rates for k = 1 .. top_k.
    """
    text, motion = _paired(text_emb, motion_emb)
    _positive(batch_size, "batch_size")
    if not 1 <= top_k <= batch_size:
        raise ValueError(f"top_k must be in 1..batch_size={batch_size}, got {top_k}")
    if len(text) < batch_size:
        raise ValueError(f"r_precision needs at least batch_size={batch_size} pairs, got {len(text)}")
    n_batches = len(text) // batch_size
    order = rng.permutation(len(text))[: n_batches * batch_size].reshape(n_batches, batch_size)
    hits = np.zeros(top_k)
    for batch in order:
        t, m = text[batch], motion[batch]  # (B, D)
        # explicit differences rather than |a|^2 + |b|^2 - 2ab, which loses exactness and can go negative
        dist = np.linalg.norm(t[:, None, :] - m[None, :, :], axis=-1)  # (B, B): text i to motion j
        rank = (dist <= np.diag(dist)[:, None]).sum(axis=1) - 1  # 0 = own motion strictly nearest
        hits += (rank[:, None] < np.arange(1, top_k + 1)).sum(axis=0)
    return hits / order.size


def matching_score(text_emb: np.ndarray, motion_emb: np.ndarray) -> float:
    """MM-Dist: mean Euclidean distance |f_t,i - f_m,i| between paired (N, D) text and motion embeddings."""
    text, motion = _paired(text_emb, motion_emb)
    return float(np.linalg.norm(text - motion, axis=1).mean())


DRAWS = ("published", "distinct")
"""How Diversity and MModality draw their pairs. "published": as the reference implementation of the HumanML3D
protocol (text2motion's `utils/metrics.py`), two independent draws of `pairs` rows without replacement, so a row
may be paired with itself (distance 0) and the values come out a little lower; published numbers are comparable
only under these draws. "distinct": every pair joins two different rows, drawn with replacement across pairs
(docs/evaluation.md, "Text-to-motion metrics")."""


def _pair_indices(rng: np.random.Generator, n: int, pairs: int, draws: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays a, b of length `pairs` over range(n) by the `draws` rule."""
    _positive(pairs, "pairs")
    if draws == "distinct":
        return _distinct_pairs(rng, n, (pairs,))
    if draws != "published":
        raise ValueError(f"draws must be one of {DRAWS}, got {draws!r}")
    if n < pairs:
        raise ValueError(f"the published draws take {pairs} different {what} on each side of the pairs, but there "
                         f"are {n}; use fewer pairs or draws='distinct'")  # fmt: skip
    return rng.choice(n, pairs, replace=False), rng.choice(n, pairs, replace=False)


def diversity(emb: np.ndarray, rng: np.random.Generator, pairs: int = 300, draws: str = "published") -> float:
    """Mean Euclidean distance over `pairs` random pairs of rows of (N, D) embeddings (300 pairs of generated motions
    in the standard protocol), drawn by the `draws` rule (`DRAWS`): "published" needs N >= pairs, "distinct" any
    N >= 2."""
    emb = _embeddings(emb, "emb", min_rows=2)
    a, b = _pair_indices(rng, len(emb), pairs, draws, "rows")
    return float(np.linalg.norm(emb[a] - emb[b], axis=1).mean())


def multimodality(emb: np.ndarray, rng: np.random.Generator, pairs: int = 10, draws: str = "published") -> float:
    """MModality: per caption, mean distance over `pairs` random pairs of its generations; then the mean.

    Args:
        emb: (C, G, D) embeddings of G >= 2 generations for each of C captions (100 x 30 in the standard protocol).
        rng: the source of the pairs.
        pairs: pairs per caption (10 in the standard protocol).
        draws: "published" (`DRAWS`): one set of `pairs` index pairs for every caption, each side drawn without
            replacement, so G >= pairs; "distinct": independent pairs of different generations per caption.
    """
    emb = _embeddings(emb, "emb", ndim=3)
    if emb.shape[1] < 2:
        raise ValueError(f"emb needs at least 2 generations per caption, got shape {emb.shape}")
    if draws == "distinct":
        _positive(pairs, "pairs")
        a, b = _distinct_pairs(rng, emb.shape[1], (len(emb), pairs))  # (C, pairs)
    else:
        first, second = _pair_indices(rng, emb.shape[1], pairs, draws, "generations per caption")
        a, b = np.broadcast_to(first, (len(emb), pairs)), np.broadcast_to(second, (len(emb), pairs))
    rows = np.arange(len(emb))[:, None]
    per_caption = np.linalg.norm(emb[rows, a] - emb[rows, b], axis=-1).mean(axis=1)  # (C,)
    return float(per_caption.mean())


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% confidence half-width 1.96 * std / sqrt(n) of repeated measurements.

    The std is the population std (ddof=0), as in the standard HumanML3D protocol (20 repeats), so the numbers
    compare with published tables.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values contains NaN or infinite values")
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))


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
    """Mean |a_pred - a_target| over joints and frames, in m/s^2 (second differences times fps^2).

    NaN for motions of fewer than 3 frames (too short: no second difference; docs/evaluation.md, "Short motions").
    """
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if pred.shape != target.shape or pred.ndim < 3:
        raise ValueError(f"need equal shapes (..., T, J, 3), got {pred.shape} and {target.shape}")
    if pred.shape[-3] < 3:
        return float("nan")
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
