"""Text-motion evaluators at run time: texts and `Motion`s in, embeddings in one space out.

Metrics (FID, R-precision, MM-Dist, diversity) compare these embeddings with Euclidean distances, and a best-of-N
reranker with cosine similarities (docs/evaluation.md, "Evaluators"). Each kind pairs a network of
`motionmill.evaluator` with what it reads: a text encoder, motion normalisation stats and the motion crop. They load
by spec string, in the `kind:PATH[,key=value...]` syntax of corpus sources (`evaluator_from_spec`):

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
the same parts as arguments. Released files are read by `motionmill.checkpoints` without running their code.

What each evaluator is fed, and why:
- ours and MotionMillion's: the 272 features at the evaluator's frame rate (resampled if needed), the first
  `max_frames` frames (300 = 10 s at 30 fps, the longest clip either was trained on), normalised with the stats
  that came with the evaluator; batches are padded and masked, so an embedding does not depend on its batch;
- HumanML3D's: `Motion.features263(convention="humanml3d")` (20 fps): HumanML3D's own `process_file`, quirks
  included (retargeting to its reference skeleton, its smoothed heading; see `motion.features263`), as the
  evaluator was trained on, normalised with the evaluator's own `meta/mean.npy`, `std.npy` (not the dataset's), the
  first 196 frames cut down to a multiple of 4 and zero-padded to 196 frames, as the protocol's data loader does
  (the last convolution window reads the padding, so the padding length matters). Texts: see `motionmill.text.glove`.

Shape legend: B batch, L text tokens, T frames, F features, N items, E (or D) embedding width.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from motionmill.checkpoints.evaluator import load_evaluator
from motionmill.checkpoints.humanml3d_evaluator import load_humanml3d_net
from motionmill.checkpoints.motionmillion_evaluator import load_motionmillion_net
from motionmill.checkpoints.released import load_renamed
from motionmill.evaluator.legacy import HumanML3DEvaluatorNet, MotionMillionEvaluatorNet
from motionmill.motion.container import Motion
from motionmill.text.glove import GloVe, caption_tokens

__all__ = ["BUILTIN_EVALUATOR", "Evaluator", "EvaluatorEnsemble", "HumanML3DEvaluator", "MotionMillionEvaluator",
           "MotionmillEvaluator", "evaluator_from_spec", "load_humanml3d_evaluator", "load_motionmill_evaluator",
           "load_motionmillion_evaluator"]  # fmt: skip

BUILTIN_EVALUATOR = Path(__file__).resolve().parent.parent / "assets" / "builtin_evaluator"
BATCH = 64  # items per forward pass; results do not depend on it
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


def evaluator_from_spec(spec: str, device: str = "cpu") -> Evaluator:
    """An evaluator from a spec string (see the module docstring for the forms).

    Raises:
        FileNotFoundError: "builtin" when the package ships no evaluator, or a path that does not exist.
        ValueError: an unknown option, a missing one, or weights that do not fit the architecture.
    """
    from motionmill.utils.spec import parse_spec

    if "+" in spec and not Path(spec).exists():
        return EvaluatorEnsemble([evaluator_from_spec(member, device) for member in spec.split("+")])
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


# ---------------------------------------------------------------------------------------------- shared helpers


def _batches(items: Sequence, size: int = BATCH) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_list(items, what: str, kind) -> list:
    if isinstance(items, str | Motion) or not isinstance(items, Sequence):
        raise TypeError(f"{what} must be a list, got {type(items).__name__}")
    bad = [i for i, it in enumerate(items) if not isinstance(it, kind)]
    if bad:
        raise TypeError(f"{what} must hold {kind.__name__} objects; items {bad[:5]} do not")
    return list(items)


def _pad(arrays: list[np.ndarray], length: int | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad (T_i, F) arrays into ((B, T, F) float32, mask (B, T)); T is `length` or the longest."""
    lengths = torch.tensor([len(a) for a in arrays])
    T = length or int(lengths.max())
    x = torch.zeros(len(arrays), T, arrays[0].shape[-1])
    for b, a in enumerate(arrays):
        x[b, : len(a)] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    mask = torch.arange(T)[None] < lengths[:, None]
    return x.to(device), mask.to(device)


def _features_272(motion: Motion, fps: float, max_frames: int, stats) -> np.ndarray:
    """Normalised 272 features at `fps`, the first `max_frames` frames."""
    if motion.fps != fps:
        motion = motion.resample(fps)
    return stats.normalize(motion.features[:max_frames])


def _load_stats(path: str | Path, dim: int, what: str):
    from motionmill.motion.normalize import Normalizer

    stats = Normalizer.load(path)
    if stats.dim != dim:
        raise ValueError(f"{what} stats at {path} have {stats.dim} dims, expected {dim}")
    return stats


# ---------------------------------------------------------------------------------------------- ours


class MotionmillEvaluator:
    """Our `TextMotionEvaluator` with its normaliser and text encoder (loaded on the first text call)."""

    def __init__(self, model, stats, info: dict, name: str, device: str | torch.device = "cpu"):
        self.model, self.stats, self.info, self.name = model.eval().to(device), stats, info, name
        self.device = torch.device(device)
        self.dim = model.cfg.embed_dim
        self._text_encoder = None

    def text_encoder(self):
        if self._text_encoder is None:
            from motionmill.text.encoders import load_text_encoder

            encoder = load_text_encoder(self.info["text_encoder"], device=str(self.device))
            if encoder.dim != self.model.cfg.text_dim:
                raise ValueError(f"{self.name}: text encoder {self.info['text_encoder']!r} gives {encoder.dim}-d "
                                 f"states but the evaluator reads {self.model.cfg.text_dim}")  # fmt: skip
            self._text_encoder = encoder
        return self._text_encoder

    @torch.no_grad()
    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """(N, E) float64 unit vectors."""
        texts = _check_list(texts, "texts", str)
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(texts):
            states, mask = self.text_encoder().encode(list(chunk))
            # training read the states from the embedding cache, which stores float16: round the same way
            states = states.half().float().to(self.device)
            out.append(self.model.encode_text(states, mask.to(self.device)).double().cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        """(N, E) float64 unit vectors."""
        motions = _check_list(motions, "motions", Motion)
        fps, max_frames = float(self.info["fps"]), int(self.info["max_frames"])
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(motions):
            x, mask = _pad([_features_272(m, fps, max_frames, self.stats) for m in chunk], device=self.device)
            out.append(self.model.encode_motion(x, mask).double().cpu().numpy())
        return np.concatenate(out)


def load_motionmill_evaluator(folder: str | Path, device: str | torch.device = "cpu",
                              name: str | None = None) -> MotionmillEvaluator:  # fmt: skip
    """Our evaluator from a folder written by `motionmill train evaluator` (the run or its checkpoint/)."""
    model, stats, info = load_evaluator(folder, device)
    return MotionmillEvaluator(model, stats, info, name or str(folder), device)


# ---------------------------------------------------------------------------------------------- HumanML3D


class HumanML3DEvaluator:
    """The standard HumanML3D evaluator (Guo et al. 2022) in the `Evaluator` protocol."""

    def __init__(self, net: HumanML3DEvaluatorNet, glove: GloVe, stats, name: str, device="cpu"):
        self.net, self.glove, self.stats, self.name = net.eval().to(device), glove, stats, name
        self.device = torch.device(device)
        self.dim = net.cfg.embed_dim

    @torch.no_grad()
    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """(N, 512) float64."""
        texts = _check_list(texts, "texts", str)
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(texts):
            encoded = [self.glove.encode(caption_tokens(t), self.net.cfg.max_text_len) for t in chunk]
            words, _ = _pad([w for w, _ in encoded], device=self.device)
            pos, mask = _pad([p for _, p in encoded], device=self.device)
            out.append(self.net.encode_text(words, pos, mask.sum(1)).double().cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        """(N, 512) float64."""
        motions = _check_list(motions, "motions", Motion)
        cfg, out = self.net.cfg, [np.zeros((0, self.dim))]
        for chunk in _batches(motions):
            feats = []
            for m in chunk:
                f = m.features263(convention="humanml3d")
                n = min(len(f), cfg.max_motion_length) // cfg.unit_length * cfg.unit_length
                if n < cfg.unit_length:
                    raise ValueError(f"a motion of {m.duration:.2f} s gives {len(f)} frames at 20 fps; the "
                                     f"HumanML3D evaluator needs at least {cfg.unit_length}")  # fmt: skip
                feats.append(self.stats.normalize(f[:n]))
            x, mask = _pad(feats, cfg.max_motion_length, self.device)
            out.append(self.net.encode_motion(x, mask.sum(1)).double().cpu().numpy())
        return np.concatenate(out)


_HML_PARTS = ("text_encoder", "movement_encoder", "motion_encoder")


def load_humanml3d_evaluator(checkpoint: str | Path, glove: str | Path, meta: str | Path,
                             device: str | torch.device = "cpu") -> HumanML3DEvaluator:  # fmt: skip
    """The standard HumanML3D evaluator.

    Args:
        checkpoint: text2motion's `finest.tar` (`checkpoints/t2m/text_mot_match/model/finest.tar`): a dict with
            the state dicts 'text_encoder', 'movement_encoder', 'motion_encoder' (and 'epoch', optimizer states).
        glove: folder with `our_vab_data.npy`, `our_vab_words.pkl`, `our_vab_idx.pkl`.
        meta: folder with the evaluator's `mean.npy` and `std.npy` (263,), e.g. `checkpoints/t2m/Comp_v6_KLD01/meta`.
        device: where the networks run.
    """
    net = load_humanml3d_net(checkpoint)
    stats = _load_stats(meta, 263, "HumanML3D evaluator")
    return HumanML3DEvaluator(net, GloVe.load(glove), stats, f"humanml3d:{checkpoint}", device)


# ---------------------------------------------------------------------------------------------- MotionMillion


class MotionMillionEvaluator:
    """MotionMillion's 272 evaluator in the `Evaluator` protocol, fed as their evaluation loop feeds it.

    MotionMillion (https://github.com/VankouF/MotionMillion-Codes) scores with `get_co_embeddings` of
    `models/evaluator_wrapper_motionmillion_rpr272.py`, called by `evaluation_transformer_motionmillion` in
    `utils/eval_trans.py`; this class computes the same embeddings (equal on CPU; see `motionmill.evaluator.legacy`
    for the networks):

    - texts: as given (their loader strips each caption line, which the tokenizer ignores anyway), tokenised by the
      DistilBERT folder's own tokenizer with [CLS] and [SEP], padded to the longest text of the batch and masked;
      the states are DistilBERT's last hidden layer. Their call never truncates, so a text over 512 tokens stops
      their code; here it is cut to 512 tokens.
    - motions: the 272 features at 30 fps (other rates are resampled), the first `max_frames` = 300 frames (their
      loop cuts decoded motions to its 300-frame batch and passes min(frames, 300) as the length), normalised in
      float64 with the stats as stored (their `mean.npy`, `std.npy` of `mean_std/vector_272` are float64 and their
      loop de-normalises to float64 before the evaluator normalises again), then float32, zero-padded to 300
      frames and masked. Their motion encoder's mask is always 300 frames wide; the padding is masked out, so a
      shorter padding would change an embedding only in float32 rounding (about 1e-6), but padding as they do
      keeps every bit.
    - the embedding is the mu output (`.loc` of their Normal), not normalised.

    Lengths are not rounded here: their loop rounds real clips to multiples of 4 frames in the data loader (frame
    selection, done before calling this) and passes generated motions at their own length.

    Args:
        net: the networks (`load_motionmillion_net`).
        bert: a `motionmill.text.encoders.HFEncoder` on the DistilBERT folder.
        mean: (272,) feature mean, float64.
        std: (272,) feature std, float64.
        name: the spec it came from.
        device: where the networks run.
        fps: frame rate of the features the evaluator reads.
    """

    def __init__(self, net: MotionMillionEvaluatorNet, bert, mean: np.ndarray, std: np.ndarray, name: str,
                 device="cpu", fps: float = 30.0):  # fmt: skip
        self.net, self.bert, self.name = net.eval().to(device), bert.to(device), name
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self.device, self.fps = torch.device(device), fps
        self.dim = net.cfg.dim

    @torch.no_grad()
    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """(N, 512) float64: mu of the text encoder."""
        texts = _check_list(texts, "texts", str)
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(texts):
            states, mask = self.bert.encode(list(chunk))
            out.append(self.net.encode_text(states.to(self.device), mask.to(self.device)).double().cpu().numpy())
        return np.concatenate(out)

    def features(self, motion: Motion) -> np.ndarray:
        """(T, 272) float32: what the evaluator reads of `motion` (30 fps, first 300 frames, normalised)."""
        if motion.fps != self.fps:
            motion = motion.resample(self.fps)
        raw = motion.features[: self.net.cfg.max_frames].astype(np.float64)
        return ((raw - self.mean) / self.std).astype(np.float32)

    @torch.no_grad()
    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        """(N, 512) float64: mu of the motion encoder."""
        motions = _check_list(motions, "motions", Motion)
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(motions):
            x, mask = _pad([self.features(m) for m in chunk], self.net.cfg.max_frames, self.device)
            out.append(self.net.encode_motion(x, mask).double().cpu().numpy())
        return np.concatenate(out)


def _stats_as_stored(path: str | Path, dim: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) at the precision of the files (MotionMillion's are float64), checked as a `Normalizer`."""
    _load_stats(path, dim, what)  # shapes, finite values, positive std
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        stored = load_file(str(path))
    else:
        files = {f.name.lower(): f for f in path.iterdir()}
        stored = {"mean": np.load(files["mean.npy"]), "std": np.load(files["std.npy"])}
    return np.asarray(stored["mean"], np.float64).reshape(-1), np.asarray(stored["std"], np.float64).reshape(-1)


def _check_uncased(bert, folder) -> None:
    """Raise unless the tokenizer lower-cases: the evaluator was trained on distilbert-base-uncased's."""
    probe = bert.tokenizer(["A Person WALKS", "a person walks"])["input_ids"]
    if probe[0] != probe[1]:
        raise ValueError(f"{folder}: the tokenizer does not lower-case text; MotionMillion's evaluator reads "
                         "distilbert-base-uncased, whose tokenizer does")  # fmt: skip


def load_motionmillion_evaluator(checkpoint: str | Path, distilbert: str | Path, stats: str | Path,
                                 device: str | torch.device = "cpu", n_head: int = 4
                                 ) -> MotionMillionEvaluator:  # fmt: skip
    """MotionMillion's 272 evaluator.

    Args:
        checkpoint: the Lightning checkpoint (`checkpoints/evaluator/epoch=199.ckpt`) or its bare state dict; keys
            `textencoder.*` and `motionencoder.*` are used (any others, e.g. a TEMOS decoder, are ignored), and
            DistilBERT's own weights under `textencoder.text_model.*` replace the folder's when present, as their
            strict `load_state_dict` does.
        distilbert: local folder of distilbert-base-uncased (config, tokenizer files, weights).
        stats: folder with MotionMillion's `mean.npy` and `std.npy` (272,), e.g. `mean_std/vector_272` (the same
            files their data loader normalises with), or a `.safetensors` file with `mean` and `std`.
        device: where the networks run.
        n_head: attention heads (not recorded in the weights; 4 in the released model).

    Raises:
        ValueError: weights that do not fit the architecture, a positional table that is not the standard one, a
            DistilBERT of another width or whose tokenizer does not lower-case, or stats that are not 272 wide.
    """
    from motionmill.text.encoders import HFEncoder

    net, bert_sd = load_motionmillion_net(checkpoint, n_head)
    bert = HFEncoder(distilbert, kind="bert", max_tokens=512)  # their tokenizer call pads and never truncates
    if bert.dim != net.cfg.text_dim:
        raise ValueError(f"{distilbert} gives {bert.dim}-d states but the evaluator projects {net.cfg.text_dim}")
    _check_uncased(bert, distilbert)
    if bert_sd:
        expected = bert.model.state_dict().keys()
        # transformers < 4.31 saved the position-id buffer that newer versions rebuild: not a weight
        bert_sd = {k: v for k, v in bert_sd.items() if k in expected or k != "embeddings.position_ids"}
        load_renamed(bert.model, bert_sd, lambda k: k, lambda k: f"textencoder.text_model.{k}",
                     f"DistilBERT weights in {checkpoint}")  # fmt: skip
    mean, std = _stats_as_stored(stats, 272, "MotionMillion evaluator")
    return MotionMillionEvaluator(net, bert, mean, std, f"motionmillion:{checkpoint}", device)
