"""`TextToMotion`: text in, `Motion` out. One object, one `__call__`, `from_pretrained`, `.to(device)`.

A pipeline folder holds `pipeline.json` (text encoder spec, frame rate, the model's default sampling settings),
`tokenizer/` (FSQ tokenizer with the normalisation stats) and `generator/`, each loadable on its own. Sampling
fixes MotionMillion's inference defects (spec/models.md): KV cache, batched prompts with per-prompt stopping and
seeds, temperature / top-k / top-p, classifier-free guidance, no length cap below the trained maximum, and length
control by `seconds`.

Shape legend: B prompts, L text tokens, N motion tokens, T frames, F features.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from motionmill.checkpoints.generator import load_generator, save_generator
from motionmill.inference.sampling import generate_tokens
from motionmill.motion.container import Motion

__all__ = ["BUILTIN_MODEL", "SamplingSettings", "TextToMotion", "assemble_pipeline"]

BUILTIN_MODEL = Path(__file__).resolve().parent.parent / "assets" / "builtin_model"
MAX_PROMPT_CHARS = 2000  # far beyond any caption; the text encoder reads at most 150 tokens anyway
LENGTH_TOLERANCE = 0.05  # `seconds` is met within +-5% (at least one token)


@dataclass
class SamplingSettings:
    """How tokens are drawn."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    guidance: float = 1.0
    greedy: bool = False

    def __post_init__(self) -> None:
        if not (self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (self.guidance >= 0 and math.isfinite(self.guidance)):
            raise ValueError(f"guidance must be a finite number >= 0, got {self.guidance}")


class TextToMotion:
    """Generate motions from text with a tokenizer, a generator and a text encoder."""

    def __init__(self, tokenizer, stats, generator, text_encoder, fps: float = 30.0, name: str = "",
                 sampling: dict | None = None):  # fmt: skip
        self.tokenizer, self.stats, self.generator = tokenizer.eval(), stats, generator.eval()
        self.text_encoder, self.fps, self.name = text_encoder, fps, name
        self.sampling = SamplingSettings(**(sampling or {}))  # the model's defaults; a call overrides any field
        self.device = torch.device("cpu")

    @classmethod
    def from_pretrained(cls, path: str | Path = "builtin", device: str = "cpu") -> TextToMotion:
        """Load a pipeline folder, or the built-in model shipped with the package ("builtin")."""
        from motionmill.checkpoints.tokenizer import from_pretrained
        from motionmill.text.encoders import load_text_encoder

        folder = BUILTIN_MODEL if str(path) == "builtin" else Path(path)
        if not (folder / "pipeline.json").is_file():
            what = "the built-in model is not installed" if str(path) == "builtin" else "not a pipeline folder"
            raise FileNotFoundError(f"{folder}: {what} (pipeline.json is missing)")
        info = json.loads((folder / "pipeline.json").read_text())
        tokenizer, stats = from_pretrained(folder / "tokenizer")
        if stats is None:
            raise ValueError(f"{folder / 'tokenizer'}: normalisation stats are missing")
        generator = load_generator(folder / "generator")
        encoder = load_text_encoder(info["text_encoder"])
        if encoder.dim != generator.cfg.text_dim:
            raise ValueError(f"{folder}: text encoder {info['text_encoder']} gives {encoder.dim}-d states but the "
                             f"generator expects {generator.cfg.text_dim}")  # fmt: skip
        return cls(tokenizer, stats, generator, encoder, info.get("fps", 30.0), str(path),
                   info.get("sampling")).to(device)  # fmt: skip

    def save_pretrained(self, folder: str | Path, text_encoder_spec: str = "minilm") -> Path:
        """Write a pipeline folder that `from_pretrained` loads."""
        return _write_pipeline(folder, self.tokenizer, self.stats, self.generator, text_encoder_spec, self.fps,
                               asdict(self.sampling))  # fmt: skip

    def to(self, device: str | torch.device) -> TextToMotion:
        self.device = torch.device(device)
        self.tokenizer.to(self.device)
        self.generator.to(self.device)
        self.text_encoder.to(self.device)
        return self

    @property
    def seconds_per_token(self) -> float:
        return self.tokenizer.cfg.stride / self.fps

    @property
    def max_seconds(self) -> float:
        return self.generator.cfg.max_motion_tokens * self.seconds_per_token

    def _length_bounds(self, seconds: list[float | None]) -> tuple[list[int], list[int], list[int]]:
        """Per prompt: never END before min tokens, always by max tokens; and the length in tokens a
        length-conditioned generator is told (0: no duration asked, the model decides)."""
        lows, highs, told = [], [], []
        longest = self.generator.cfg.max_motion_tokens
        for s in seconds:
            if s is None:
                lows.append(1)  # at least one token: a motion has at least 2 frames
                highs.append(longest)
                told.append(0)
                continue
            if not (math.isfinite(s) and 0 < s <= self.max_seconds):
                raise ValueError(f"seconds must be in (0, {self.max_seconds:g}], got {s}")
            target = s / self.seconds_per_token
            slack = max(1.0, target * LENGTH_TOLERANCE)
            lows.append(max(1, math.ceil(target - slack)))
            highs.append(min(longest, max(1, math.floor(target + slack))))
            told.append(min(longest, max(1, round(target))))
        return lows, highs, told

    @torch.no_grad()
    def __call__(self, prompts: str | list[str], seconds: float | list[float | None] | None = None,
                 seed: int | list[int] = 0, **sampling) -> list[Motion]:  # fmt: skip
        """Motions for `prompts` (a string or a list).

        Args:
            prompts: text descriptions.
            seconds: target duration per prompt (or one for all); None lets the model decide.
            seed: one seed for all prompts (prompt i uses seed + i) or one per prompt.
            **sampling: SamplingSettings fields (temperature, top_k, top_p, guidance, greedy); fields not given
                (or given as None) take the pipeline's defaults, `self.sampling`.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        _check_prompts(prompts)
        settings = self.settings(**sampling)
        seconds = list(seconds) if isinstance(seconds, list | tuple) else [seconds] * len(prompts)
        seeds = list(seed) if isinstance(seed, list | tuple) else [seed + i for i in range(len(prompts))]
        if len(seconds) != len(prompts) or len(seeds) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(seconds)} durations and {len(seeds)} seeds")
        lows, highs, told = self._length_bounds(seconds)
        states, mask = self.text_encoder.encode(prompts)
        tokens = generate_tokens(self.generator, states.to(self.device), mask.to(self.device),
                                 temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p,
                                 guidance=settings.guidance, min_tokens=lows, max_tokens=highs, seeds=seeds,
                                 greedy=settings.greedy,
                                 target_tokens=told if self.generator.cfg.length_condition else None)  # fmt: skip
        return self.decode(tokens)

    def settings(self, **overrides) -> SamplingSettings:
        """The pipeline's sampling defaults with the fields in `overrides` that are not None replaced."""
        return replace(self.sampling, **{k: v for k, v in overrides.items() if v is not None})

    @torch.no_grad()
    def decode(self, tokens: list[list[int]]) -> list[Motion]:
        """Motion token lists -> Motions (de-normalised 272 features at the pipeline's fps)."""
        lengths = torch.tensor([len(t) for t in tokens])
        ids = torch.full((len(tokens), int(lengths.max())), -1, dtype=torch.long)
        for b, t in enumerate(tokens):
            ids[b, : len(t)] = torch.tensor(t, dtype=torch.long)
        frames = lengths * self.tokenizer.cfg.stride
        x = self.tokenizer.decode(ids.to(self.device), frames.to(self.device)).cpu()  # (B, T, F)
        out = []
        for b in range(len(tokens)):
            features = self.stats.denormalize(x[b, : frames[b]].numpy().astype(np.float64))
            out.append(Motion(features, self.fps, meta={"tokens": len(tokens[b])}))
        return out


def _check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise ValueError("no prompts given")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompt {i + 1} is empty")
        if len(p) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt {i + 1} has {len(p):,} characters; the limit is {MAX_PROMPT_CHARS:,}")


def _write_pipeline(folder, tokenizer, stats, generator, text_encoder_spec: str, fps: float,
                    sampling: dict | None = None) -> Path:  # fmt: skip
    from motionmill.checkpoints.tokenizer import save_pretrained
    from motionmill.utils.io import atomic_write

    folder = Path(folder)
    save_pretrained(tokenizer, folder / "tokenizer", stats)
    save_generator(generator, folder / "generator")
    info = {"text_encoder": text_encoder_spec, "fps": fps, "sampling": asdict(SamplingSettings(**(sampling or {})))}
    atomic_write(folder / "pipeline.json", json.dumps(info, indent=2) + "\n")  # written last: marks it complete
    return folder


def assemble_pipeline(tokenizer: str | Path, generator: str | Path, out: str | Path, text_encoder: str = "minilm",
                      fps: float = 30.0, sampling: dict | None = None) -> Path:  # fmt: skip
    """A pipeline folder from a tokenizer run (or folder) and a generator run (or folder), weights only, with the
    sampling settings `generate` uses by default."""
    from motionmill.checkpoints.tokenizer import from_pretrained

    tok, stats = from_pretrained(tokenizer)
    if stats is None:
        raise ValueError(f"{tokenizer}: the tokenizer has no normalisation stats")
    gen = load_generator(generator)
    if gen.cfg.vocab_codes != tok.cfg.codebook_size:
        raise ValueError(f"the generator predicts {gen.cfg.vocab_codes} codes but the tokenizer has "
                         f"{tok.cfg.codebook_size}")  # fmt: skip
    return _write_pipeline(out, tok, stats, gen, text_encoder, fps, sampling)
