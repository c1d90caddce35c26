"""Load an evaluator and wrap it in the `Evaluator` protocol: texts and `Motion`s in, float64 embeddings out.

Three kinds: ours (`TextMotionEvaluator`, a folder written by `motionmill train evaluator`), the standard HumanML3D
evaluator (`finest.tar` + GloVe files + its mean/std) and MotionMillion's 272 evaluator (a Lightning checkpoint +
a local DistilBERT folder + the MotionMillion mean/std). Released files are read without running their code:
`torch.load(weights_only=True)` for .tar/.ckpt files, and an unpickler that accepts only plain containers for the
GloVe word lists. A file that needs more (a Lightning checkpoint whose hyper-parameters pickle OmegaConf objects)
is refused with the one-line command that extracts its state dict.

What each evaluator is fed, and why:
- ours and MotionMillion's: the 272 features at the evaluator's frame rate (resampled if needed), the first
  `max_frames` frames (300 = 10 s at 30 fps, the longest clip either was trained on), normalised with the stats
  that came with the evaluator; batches are padded and masked, so an embedding does not depend on its batch;
- HumanML3D's: `Motion.features263()` (20 fps), normalised with the evaluator's own `meta/mean.npy`, `std.npy`
  (not the dataset's), the first 196 frames cut down to a multiple of 4 and zero-padded to 196 frames, as the
  protocol's data loader does (the last convolution window reads the padding, so the padding length matters).
  `features263` keeps each subject's bone lengths where HumanML3D retargets to one skeleton (see its docstring),
  so real-data scores come out close to, not equal to, the published ones.
  Texts: a HumanML3D text line `caption#word/POS word/POS ...#start#end`, its token field alone, or raw text.
  The published numbers use the spaCy tokens of the text files; raw text falls back to lowercase words, POS tags
  from a short closed-class list (everything else OTHER) and no lemmatisation, so "walks" is not "walk": its
  scores are not comparable to published ones.

Shape legend: B batch, L text tokens, T frames, F features, E embedding width.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from motionmill.eval.evaluator.legacy import (
    POS_TAGS,
    HumanML3DEvaluatorConfig,
    HumanML3DEvaluatorNet,
    MotionMillionEvaluatorConfig,
    MotionMillionEvaluatorNet,
)
from motionmill.motion.container import Motion

__all__ = ["GloVe", "HumanML3DEvaluator", "MotionMillionEvaluator", "MotionmillEvaluator", "caption_tokens",
           "load_humanml3d_evaluator", "load_motionmill_evaluator", "load_motionmillion_evaluator",
           "read_state_dict"]  # fmt: skip

BATCH = 64  # items per forward pass; results do not depend on it

# text2motion `utils/word_vectorizer.py`: words whose POS tag the evaluator replaces by a motion-specific class;
# the first list holding a word wins.
VIP_WORDS = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll",
                "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}  # fmt: skip

# POS tags for raw text (no tagger): closed word classes only; every other word is OTHER.
_CLOSED_CLASSES = {
    "DET": "a an the this that these those each every another some any all both".split(),
    "ADP": "in on at to from with by for of over under into onto around across through toward towards behind "
           "along near above below between against off out".split(),
    "AUX": "is are was were be been being am has have had does do did can will would should may might".split(),
    "PRON": "he she it they him her his their them its someone somebody something itself himself herself "
            "themselves who which".split(),
    "NUM": "one two three four five six seven eight nine ten".split(),
}  # fmt: skip
_RAW_POS = {word: tag for tag, words in _CLOSED_CLASSES.items() for word in words}


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


def read_state_dict(path: str | Path) -> dict:
    """A checkpoint read without running code: .safetensors, or a torch file loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path} holds more than tensors and plain containers ({str(e).splitlines()[0]}), so it is not "
            "unpickled here. Extract its state dict where you trust the file, then pass the new file: "
            f"python -c \"import torch; c = torch.load('{path}', weights_only=False); "
            f"torch.save(c.get('state_dict', c), '{path.with_suffix('.state_dict.pt')}')\""
        ) from None


def _load_renamed(net: torch.nn.Module, tensors: dict[str, torch.Tensor], rename: Callable[[str], str | None],
                  released_name: Callable[[str], str], what: str) -> None:  # fmt: skip
    """Load `tensors` into `net` after renaming (None drops a key); errors name keys as the released file does."""
    ours, origin, unexpected = {}, {}, []
    for key, value in tensors.items():
        name = rename(key)
        if name is None:
            unexpected.append(key)
        else:
            ours[name], origin[name] = value, key
    expected = net.state_dict()
    missing = sorted(released_name(k) for k in expected.keys() - ours.keys())
    unexpected = sorted(unexpected + [origin[k] for k in ours.keys() - expected.keys()])
    shapes = [f"{released_name(k)}: {tuple(v.shape)} != {tuple(expected[k].shape)}"
              for k, v in ours.items() if k in expected and v.shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or shapes:
        raise ValueError(f"{what} does not match the expected layout:\n  missing keys: {missing}\n"
                         f"  unexpected keys: {unexpected}\n  shape mismatches: {shapes}")  # fmt: skip
    net.load_state_dict({k: v.float() for k, v in ours.items()})


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
    from motionmill.checkpoints.evaluator import load_evaluator_folder

    model, stats, info = load_evaluator_folder(folder, device)
    return MotionmillEvaluator(model, stats, info, name or str(folder), device)


# ---------------------------------------------------------------------------------------------- HumanML3D


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists, dicts, strings and numbers only (numpy scalars included); refuses any other object."""

    _ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: expected plain lists and dicts")


def _read_plain_pickle(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file missing: {path}")
    with open(path, "rb") as f:
        return _PlainUnpickler(f).load()


class GloVe:
    """text2motion's GloVe table (`our_vab_data.npy`, `our_vab_words.pkl`, `our_vab_idx.pkl`) and POS one-hots."""

    def __init__(self, vectors: np.ndarray, index: dict[str, int]):
        if "unk" not in index:
            raise ValueError("the GloVe vocabulary has no 'unk' entry")
        self.vectors, self.index = np.asarray(vectors, dtype=np.float32), index
        self.vip = {}
        for tag, words in VIP_WORDS.items():
            for word in words:
                self.vip.setdefault(word, tag)

    @classmethod
    def load(cls, folder: str | Path, prefix: str = "our_vab") -> GloVe:
        folder = Path(folder)
        data = folder / f"{prefix}_data.npy"
        if not data.is_file():
            raise FileNotFoundError(f"GloVe file missing: {data}")
        vectors = np.load(data, allow_pickle=False)
        words = _read_plain_pickle(folder / f"{prefix}_words.pkl")
        word_index = _read_plain_pickle(folder / f"{prefix}_idx.pkl")
        return cls(vectors, {str(w): int(word_index[w]) for w in words})

    def encode(self, tokens: list[tuple[str, str]], max_words: int) -> tuple[np.ndarray, np.ndarray]:
        """(word, POS) pairs -> word vectors (N, 300) and POS one-hots (N, 15), "sos" / "eos" added around the
        first `max_words` words. Unknown words get the "unk" vector and OTHER; known ones their VIP class if any."""
        tokens = [("sos", "OTHER"), *tokens[:max_words], ("eos", "OTHER")]
        vectors = np.zeros((len(tokens), self.vectors.shape[1]), np.float32)
        onehot = np.zeros((len(tokens), len(POS_TAGS)), np.float32)
        for i, (word, pos) in enumerate(tokens):
            if word in self.index:
                vectors[i], tag = self.vectors[self.index[word]], self.vip.get(word, pos)
            else:
                vectors[i], tag = self.vectors[self.index["unk"]], "OTHER"
            onehot[i, POS_TAGS.index(tag if tag in POS_TAGS else "OTHER")] = 1.0
        return vectors, onehot


def caption_tokens(text: str) -> list[tuple[str, str]]:
    """(word, POS) pairs of a caption: from a HumanML3D line `caption#word/POS ...#start#end`, from its token field
    `word/POS word/POS ...`, or from raw text (lowercase words, closed-class POS tags, no lemmas)."""
    field = text.split("#")[1] if "#" in text else text
    parts = field.split()
    if parts and all("/" in p for p in parts):
        return [tuple(p.rsplit("/", 1)) for p in parts]
    words = re.findall(r"[a-z]+", text.replace("-", "").lower())
    return [(w, _RAW_POS.get(w, "OTHER")) for w in words]


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
                f = m.features263()
                n = min(len(f), cfg.max_motion_length) // cfg.unit_length * cfg.unit_length
                if n < cfg.unit_length:
                    raise ValueError(f"a motion of {m.duration:.2f} s gives {len(f)} frames at 20 fps; the "
                                     f"HumanML3D evaluator needs at least {cfg.unit_length}")  # fmt: skip
                feats.append(self.stats.normalize(f[:n]))
            x, mask = _pad(feats, cfg.max_motion_length, self.device)
            out.append(self.net.encode_motion(x, mask.sum(1)).double().cpu().numpy())
        return np.concatenate(out)


_HML_PARTS = ("text_encoder", "movement_encoder", "motion_encoder")


def _humanml3d_config(sd: dict[str, torch.Tensor]) -> HumanML3DEvaluatorConfig:
    """Sizes read from the weights (defaults where a key is missing; the key check reports it)."""
    d = HumanML3DEvaluatorConfig()

    def size(key: str, axis: int, default: int) -> int:
        return int(sd[key].shape[axis]) if key in sd and sd[key].dim() > axis else default

    cfg = HumanML3DEvaluatorConfig(
        word_dim=size("text_encoder.pos_emb.weight", 0, d.word_dim),
        pos_dim=size("text_encoder.pos_emb.weight", 1, d.pos_dim),
        text_hidden=size("text_encoder.input_emb.weight", 0, d.text_hidden),
        embed_dim=size("text_encoder.output_net.3.weight", 0, d.embed_dim),
        movement_in=size("movement_encoder.main.0.weight", 1, d.movement_in),
        movement_hidden=size("movement_encoder.main.0.weight", 0, d.movement_hidden),
        movement_latent=size("movement_encoder.main.3.weight", 0, d.movement_latent),
        motion_hidden=size("motion_encoder.input_emb.weight", 0, d.motion_hidden),
    )
    if cfg.movement_in != 259:
        raise ValueError(f"the movement encoder reads {cfg.movement_in + 4}-dim motion; only HumanML3D-263 is "
                         "supported (KIT-ML's 251 is not)")  # fmt: skip
    if cfg.pos_dim != len(POS_TAGS):
        raise ValueError(f"pos_emb reads {cfg.pos_dim} POS classes, expected {len(POS_TAGS)}")
    return cfg


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
    raw = read_state_dict(checkpoint)
    if not isinstance(raw, dict) or not all(isinstance(raw.get(p), dict) for p in _HML_PARTS):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{checkpoint}: expected a dict with state dicts {list(_HML_PARTS)}; found {found}")
    sd = {f"{part}.{k}": v for part in _HML_PARTS for k, v in raw[part].items()}
    cfg = _humanml3d_config(sd)
    net = HumanML3DEvaluatorNet(cfg)
    _load_renamed(net, sd, lambda k: k, lambda k: k, f"HumanML3D evaluator {checkpoint}")
    stats = _load_stats(meta, 263, "HumanML3D evaluator")
    return HumanML3DEvaluator(net, GloVe.load(glove), stats, f"humanml3d:{checkpoint}", device)


# ---------------------------------------------------------------------------------------------- MotionMillion

# released prefix -> (ours, renamed sub-prefixes); "sequence_pos_encoding.pe", the sinusoid table buffer, is dropped
# (we recompute it) and mu_token / logvar_token keep their names
_MM_SIDES = {
    "textencoder.": ("text.", {"projection.1.": "proj.", "seqTransEncoder.": "encoder."}),
    "motionencoder.": ("motion.", {"skel_embedding.": "proj.", "seqTransEncoder.": "encoder."}),
}


def _mm_rename(key: str) -> str | None:
    for released, (ours, renames) in _MM_SIDES.items():
        if key.startswith(released):
            rest = key.removeprefix(released)
            for a, b in renames.items():
                if rest.startswith(a):
                    return ours + b + rest.removeprefix(a)
            return ours + rest
    return None


def _mm_released_name(name: str) -> str:
    for released, (ours, renames) in _MM_SIDES.items():
        if name.startswith(ours):
            rest = name.removeprefix(ours)
            for a, b in renames.items():
                if rest.startswith(b):
                    return released + a + rest.removeprefix(b)
            return released + rest
    return name


class MotionMillionEvaluator:
    """MotionMillion's 272 evaluator in the `Evaluator` protocol; `bert` is a text encoder giving DistilBERT states."""

    def __init__(self, net: MotionMillionEvaluatorNet, bert, stats, name: str, device="cpu", fps: float = 30.0):
        self.net, self.bert, self.stats, self.name = net.eval().to(device), bert.to(device), stats, name
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

    @torch.no_grad()
    def motion_embeddings(self, motions: list[Motion]) -> np.ndarray:
        """(N, 512) float64: mu of the motion encoder."""
        motions = _check_list(motions, "motions", Motion)
        out = [np.zeros((0, self.dim))]
        for chunk in _batches(motions):
            feats = [_features_272(m, self.fps, self.net.cfg.max_frames, self.stats) for m in chunk]
            x, mask = _pad(feats, device=self.device)
            out.append(self.net.encode_motion(x, mask).double().cpu().numpy())
        return np.concatenate(out)


def _motionmillion_config(sd: dict[str, torch.Tensor], n_head: int) -> MotionMillionEvaluatorConfig:
    d = MotionMillionEvaluatorConfig()
    proj = sd.get("motionencoder.skel_embedding.weight")
    text_proj = sd.get("textencoder.projection.1.weight")
    ff = sd.get("motionencoder.seqTransEncoder.layers.0.linear1.weight")
    layers = {m[1] for k in sd if (m := re.match(r"motionencoder\.seqTransEncoder\.layers\.(\d+)\.", k))}
    cfg = MotionMillionEvaluatorConfig(
        text_dim=int(text_proj.shape[1]) if text_proj is not None else d.text_dim,
        feature_dim=int(proj.shape[1]) if proj is not None else d.feature_dim,
        dim=int(proj.shape[0]) if proj is not None else d.dim,
        n_layer=len(layers) or d.n_layer,
        n_head=n_head,
        ff=int(ff.shape[0]) if ff is not None else d.ff,
    )
    if cfg.feature_dim != 272:
        raise ValueError(f"the motion encoder reads {cfg.feature_dim}-dim features; only the 272 layout is supported")
    return cfg


def load_motionmillion_evaluator(checkpoint: str | Path, distilbert: str | Path, stats: str | Path,
                                 device: str | torch.device = "cpu", n_head: int = 4
                                 ) -> MotionMillionEvaluator:  # fmt: skip
    """MotionMillion's 272 evaluator.

    Args:
        checkpoint: the Lightning checkpoint (`checkpoints/evaluator/epoch=199.ckpt`) or its bare state dict; keys
            `textencoder.*` and `motionencoder.*` are used (any others, e.g. a TEMOS decoder, are ignored), and
            DistilBERT's own weights under `textencoder.text_model.*` replace the folder's when present.
        distilbert: local folder of distilbert-base-uncased (config, tokenizer files, weights).
        stats: folder with MotionMillion's `mean.npy` and `std.npy` (272,), e.g. `mean_std/vector_272`.
        device: where the networks run.
        n_head: attention heads (not recorded in the weights; 4 in the released model).
    """
    from motionmill.text.encoders import HFEncoder

    raw = read_state_dict(checkpoint)
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{checkpoint}: expected a state dict (or a dict with a 'state_dict' entry) of tensors")
    sides = {k: v for k, v in sd.items() if k.startswith(tuple(_MM_SIDES))}
    if not sides:
        prefixes = sorted({k.split(".")[0] for k in sd})
        raise ValueError(f"{checkpoint}: no textencoder.* or motionencoder.* keys; top-level names: {prefixes}")
    bert_sd = {k.removeprefix("textencoder.text_model."): v for k, v in sides.items()
               if k.startswith("textencoder.text_model.")}  # fmt: skip
    own = {k: v for k, v in sides.items()
           if not k.startswith("textencoder.text_model.") and not k.endswith("sequence_pos_encoding.pe")}  # fmt: skip
    cfg = _motionmillion_config(own, n_head)
    net = MotionMillionEvaluatorNet(cfg)
    _load_renamed(net, own, _mm_rename, _mm_released_name, f"MotionMillion evaluator {checkpoint}")
    bert = HFEncoder(distilbert, kind="bert", max_tokens=512)  # their tokenizer call pads and never truncates
    if bert.dim != cfg.text_dim:
        raise ValueError(f"{distilbert} gives {bert.dim}-d states but the evaluator projects {cfg.text_dim}")
    if bert_sd:
        _load_renamed(bert.model, bert_sd, lambda k: k, lambda k: f"textencoder.text_model.{k}",
                      f"DistilBERT weights in {checkpoint}")  # fmt: skip
    return MotionMillionEvaluator(net, bert, _load_stats(stats, 272, "MotionMillion evaluator"),
                                  f"motionmillion:{checkpoint}", device)  # fmt: skip
