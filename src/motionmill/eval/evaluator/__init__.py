"""Text-motion evaluators behind one protocol: texts and `Motion`s in, embeddings in one space out.

Metrics (FID, R-precision, MM-Dist, diversity) compare these embeddings with Euclidean distances
(spec/evaluation.md). Three kinds load by spec string, in the `kind:PATH[,key=value...]` syntax of corpus sources:

    builtin                                       the evaluator shipped in the package (assets/builtin_evaluator)
    DIR                                           an evaluator written by `motionmill train evaluator`: the run
                                                  folder or its checkpoint/
    humanml3d:FINEST_TAR,glove=DIR,meta=DIR       the standard HumanML3D evaluator: text2motion's finest.tar, the
                                                  GloVe folder (our_vab_*.npy/pkl) and the evaluator's mean/std
                                                  folder (meta/mean.npy, std.npy)
    motionmillion:CKPT,distilbert=DIR,stats=DIR   MotionMillion's 272 evaluator: its Lightning checkpoint, a local
                                                  distilbert-base-uncased folder and its mean_std/vector_272 folder
    SPEC+SPEC[+...]                               several of the above as one (`EvaluatorEnsemble`): the cosine
                                                  similarity of two items is the mean of the members' (how a
                                                  best-of-N reranker combines evaluators)

Paths in a spec cannot contain commas (nor "+" in an ensemble); from Python, the `load_*_evaluator` functions take
the same parts as arguments. Which inputs each evaluator sees (frame rate, crop, normalisation, text format) is
documented in `loaders`.

Shape legend: N items, D embedding width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from motionmill.eval.evaluator.loaders import (
    HumanML3DEvaluator,
    MotionmillEvaluator,
    MotionMillionEvaluator,
    load_humanml3d_evaluator,
    load_motionmill_evaluator,
    load_motionmillion_evaluator,
)
from motionmill.motion.container import Motion

__all__ = ["BUILTIN_EVALUATOR", "Evaluator", "EvaluatorEnsemble", "HumanML3DEvaluator", "MotionMillionEvaluator",
           "MotionmillEvaluator", "load_evaluator", "load_humanml3d_evaluator", "load_motionmill_evaluator",
           "load_motionmillion_evaluator"]  # fmt: skip

BUILTIN_EVALUATOR = Path(__file__).resolve().parent.parent.parent / "assets" / "builtin_evaluator"
_OPTIONS = {"humanml3d": ("glove", "meta"), "motionmillion": ("distilbert", "stats")}


@runtime_checkable
class Evaluator(Protocol):
    """A frozen pair of encoders, text -> f_t and motion -> f_m, into one `dim`-wide space."""

    name: str
    """Where the evaluator came from (its spec)."""
    dim: int
    """Embedding width D."""

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """(N, D) float64 embeddings of N captions."""
        ...

    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        """(N, D) float64 embeddings of N motions (any frame rate; each evaluator resamples as it needs)."""
        ...


class EvaluatorEnsemble:
    """Several evaluators as one: each member's embeddings scaled to unit length and set side by side, divided by
    sqrt(members), so that the dot product of two items is the mean of the members' cosine similarities (for the
    built-in model, the mean of two evaluators ranked best-of-N candidates better than either; BENCHMARKS.md)."""

    def __init__(self, members: list[Evaluator]):
        if len(members) < 2:
            raise ValueError(f"an evaluator ensemble needs at least 2 members, got {len(members)}")
        self.members = members
        self.name = "+".join(m.name for m in members)
        self.dim = sum(m.dim for m in members)

    def _joined(self, parts: list[np.ndarray]) -> np.ndarray:
        units = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts]
        return np.concatenate(units, axis=1) / np.sqrt(len(parts))

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        return self._joined([m.text_embeddings(texts) for m in self.members])

    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        return self._joined([m.motion_embeddings(motions) for m in self.members])


def load_evaluator(spec: str, device: str = "cpu") -> Evaluator:
    """An evaluator from a spec string (see the module docstring for the forms).

    Raises:
        FileNotFoundError: "builtin" when the package ships no evaluator, or a path that does not exist.
        ValueError: an unknown option, a missing one, or weights that do not fit the architecture.
    """
    from motionmill.data.sources.text_files import parse_spec

    if "+" in spec and not Path(spec).exists():
        return EvaluatorEnsemble([load_evaluator(member, device) for member in spec.split("+")])
    kind, sep, rest = spec.partition(":")
    if sep and kind in _OPTIONS:
        path, options = parse_spec(rest, dict.fromkeys(_OPTIONS[kind], str))
        if missing := [k for k in _OPTIONS[kind] if k not in options]:
            example = ",".join(f"{k}=DIR" for k in _OPTIONS[kind])
            raise ValueError(f"evaluator spec {spec!r} lacks {missing}; write {kind}:PATH,{example}")
        if kind == "humanml3d":
            return load_humanml3d_evaluator(path, options["glove"], options["meta"], device)
        return load_motionmillion_evaluator(path, options["distilbert"], options["stats"], device)
    if spec == "builtin":
        if not (BUILTIN_EVALUATOR / "config.json").is_file():
            raise FileNotFoundError(f"the built-in evaluator is not installed ({BUILTIN_EVALUATOR} has no "
                                    "config.json); train one with motionmill train evaluator "
                                    "--config configs/evaluator/builtin.yaml")  # fmt: skip
        return load_motionmill_evaluator(BUILTIN_EVALUATOR, device, name="builtin")
    if not Path(spec).exists():
        raise FileNotFoundError(f"evaluator {spec!r}: no such folder (or use builtin, humanml3d:..., "
                                "motionmillion:...)")  # fmt: skip
    return load_motionmill_evaluator(spec, device)
