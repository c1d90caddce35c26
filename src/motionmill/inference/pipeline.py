"""`TextToMotion`: text in, `Motion` out. One object, one `__call__`, `from_pretrained`, `.to(device)`.

A pipeline folder holds `pipeline.json` (text encoder spec, frame rate, the model's default sampling settings,
the reranker's spec if any), `tokenizer/` (FSQ tokenizer with the normalisation stats) and `generator/`, each
loadable on its own, and optionally `reranker/` (a text-motion evaluator). Sampling fixes MotionMillion's inference
defects (spec/models.md): KV cache, batched prompts with per-prompt stopping and seeds, temperature / top-k / top-p,
classifier-free guidance, no length cap below the trained maximum, and length control by `seconds`.

Best of N (`candidates=N`): N motions are sampled per prompt and the reranker (an evaluator that embeds text and
motion in one space) keeps the one whose embedding is closest to the prompt's. Candidate 0 is the motion plain
sampling gives for the same seed, so N = 1 is exactly plain sampling.

Step by step (`compose=True`): a prompt that lists actions in order ("walks forward, then turns left and sits
down"; `motionmill.text.steps`) is sampled one step at a time from each step's own words, and the steps' tokens are
joined before decoding, so the decoder blends the joins. A first pass lets the model choose each step's length; when
a duration is asked (or the steps would exceed the trained maximum), a second pass re-samples the steps at those
lengths scaled to the total. The motion's meta records each step's text and time span.

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
from motionmill.text.steps import split_steps

__all__ = ["BUILTIN_MODEL", "SamplingSettings", "TextToMotion", "assemble_pipeline", "share_tokens"]

BUILTIN_MODEL = Path(__file__).resolve().parent.parent / "assets" / "builtin_model"
MAX_PROMPT_CHARS = 2000  # far beyond any caption; the text encoder reads at most 150 tokens anyway
LENGTH_TOLERANCE = 0.05  # `seconds` is met within +-5% (at least one token)
MAX_ROWS = 256  # sequences sampled and decoded at once: bounds the KV cache and decoder memory of best-of-N


@dataclass
class SamplingSettings:
    """How tokens are drawn."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    guidance: float = 1.0
    greedy: bool = False
    candidates: int = 1
    """Motions sampled per prompt; above 1 the pipeline's reranker keeps the one closest to the prompt."""
    compose: bool = False
    """Sample a prompt that lists actions in order step by step, each step from its own words."""

    def __post_init__(self) -> None:
        if not (self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (self.guidance >= 0 and math.isfinite(self.guidance)):
            raise ValueError(f"guidance must be a finite number >= 0, got {self.guidance}")
        if not (isinstance(self.candidates, int) and self.candidates >= 1):
            raise ValueError(f"candidates must be an integer >= 1, got {self.candidates}")
        if not isinstance(self.compose, bool):
            raise ValueError(f"compose must be true or false, got {self.compose!r}")


class TextToMotion:
    """Generate motions from text with a tokenizer, a generator and a text encoder."""

    def __init__(self, tokenizer, stats, generator, text_encoder, fps: float = 30.0, name: str = "",
                 sampling: dict | None = None, reranker: str | None = None):  # fmt: skip
        self.tokenizer, self.stats, self.generator = tokenizer.eval(), stats, generator.eval()
        self.text_encoder, self.fps, self.name = text_encoder, fps, name
        self.sampling = SamplingSettings(**(sampling or {}))  # the model's defaults; a call overrides any field
        self.reranker_spec = reranker  # an evaluator spec (motionmill.eval.evaluator.load_evaluator)
        self._reranker = None  # loaded on first use: plain sampling never pays for it
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
        reranker = info.get("reranker")
        if reranker and reranker != "builtin":
            reranker = str(folder / reranker)  # stored relative to the folder, so the folder can move
        return cls(tokenizer, stats, generator, encoder, info.get("fps", 30.0), str(path),
                   info.get("sampling"), reranker).to(device)  # fmt: skip

    def save_pretrained(self, folder: str | Path, text_encoder_spec: str = "minilm") -> Path:
        """Write a pipeline folder that `from_pretrained` loads (with a copy of the reranker, if any)."""
        return _write_pipeline(folder, self.tokenizer, self.stats, self.generator, text_encoder_spec, self.fps,
                               asdict(self.sampling), self.reranker_spec)  # fmt: skip

    def reranker(self):
        """The evaluator that ranks best-of-N candidates, loaded on first use."""
        if self._reranker is None:
            if not self.reranker_spec:
                raise ValueError(f"{self.name or 'this pipeline'} has no reranker, so candidates must be 1 "
                                 "(add one with motionmill export pipeline --reranker)")  # fmt: skip
            from motionmill.eval.evaluator import load_evaluator

            self._reranker = load_evaluator(self.reranker_spec, device=str(self.device))
        return self._reranker

    def to(self, device: str | torch.device) -> TextToMotion:
        self.device = torch.device(device)
        self.tokenizer.to(self.device)
        self.generator.to(self.device)
        self.text_encoder.to(self.device)
        self._reranker = None  # reloaded on the new device when next needed
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
            **sampling: SamplingSettings fields (temperature, top_k, top_p, guidance, greedy, candidates); fields
                not given (or given as None) take the pipeline's defaults, `self.sampling`.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        _check_prompts(prompts)
        settings = self.settings(**sampling)
        seconds = list(seconds) if isinstance(seconds, list | tuple) else [seconds] * len(prompts)
        seeds = list(seed) if isinstance(seed, list | tuple) else [seed + i for i in range(len(prompts))]
        if len(seconds) != len(prompts) or len(seeds) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(seconds)} durations and {len(seeds)} seeds")
        n = settings.candidates
        reranker = self.reranker() if n > 1 else None  # fails before any sampling when there is none
        rows = [(i, candidate_seed(seeds[i], c)) for i in range(len(prompts)) for c in range(n)]  # prompt-major
        if settings.compose:
            tokens, spans = self._sample_steps(prompts, seconds, rows, settings)
        else:
            lows, highs, told = self._length_bounds(seconds)
            tokens = self._sample([prompts[i] for i, _ in rows], [lows[i] for i, _ in rows],
                                  [highs[i] for i, _ in rows], [told[i] for i, _ in rows], [s for _, s in rows],
                                  settings)  # fmt: skip
            spans = [None] * len(rows)
        motions = []
        for start in range(0, len(tokens), MAX_ROWS):  # bounds the decoder's memory
            motions += self.decode(tokens[start : start + MAX_ROWS])
        for motion, steps in zip(motions, spans, strict=True):
            if steps:
                motion.meta["steps"] = steps
        return motions if reranker is None else _keep_closest(reranker, prompts, motions, n)

    def _sample(self, texts: list[str], lows: list[int], highs: list[int], told: list[int], seeds: list[int],
                settings: SamplingSettings) -> list[list[int]]:  # fmt: skip
        """One token list per row (text, length bounds, told length, seed), in chunks of MAX_ROWS rows; each
        distinct text is encoded once."""
        unique = list(dict.fromkeys(texts))
        states, mask = self.text_encoder.encode(unique)
        where = {t: k for k, t in enumerate(unique)}
        out = []
        for start in range(0, len(texts), MAX_ROWS):
            chunk = range(start, min(start + MAX_ROWS, len(texts)))
            pick = torch.tensor([where[texts[r]] for r in chunk])
            out += generate_tokens(self.generator, states[pick].to(self.device), mask[pick].to(self.device),
                                   temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p,
                                   guidance=settings.guidance, min_tokens=[lows[r] for r in chunk],
                                   max_tokens=[highs[r] for r in chunk], seeds=[seeds[r] for r in chunk],
                                   greedy=settings.greedy,
                                   target_tokens=[told[r] for r in chunk]
                                   if self.generator.cfg.length_condition else None)  # fmt: skip
        return out

    def _sample_steps(self, prompts: list[str], seconds: list[float | None], rows: list[tuple[int, int]],
                      settings: SamplingSettings) -> tuple[list[list[int]], list[list[dict] | None]]:  # fmt: skip
        """Step-by-step sampling: per row (prompt, seed), its tokens and its steps' spans. A prompt of one step, or
        asked to last less than one token per step, is sampled whole as without `compose`."""
        steps = []
        for prompt, s in zip(prompts, seconds, strict=True):
            parts = split_steps(prompt)
            fits = s is None or round(s / self.seconds_per_token) >= len(parts)
            steps.append(parts if len(parts) > 1 and fits else None)
        pieces = self._steps_at_chosen_lengths(prompts, seconds, rows, steps, settings)
        self._fit_steps_to_duration(seconds, rows, steps, pieces, settings)
        tokens = [[code for piece in row for code in piece] for row in pieces]
        spans = [None if steps[i] is None else _step_spans(steps[i], pieces[r], self.seconds_per_token)
                 for r, (i, _) in enumerate(rows)]  # fmt: skip
        return tokens, spans

    def _steps_at_chosen_lengths(self, prompts, seconds, rows, steps, settings) -> list[list[list[int]]]:
        """Pass 1: per row, the token lists of its steps, each at the length the model chooses (a prompt sampled
        whole is one step with the usual length bounds)."""
        lows, highs, told = self._length_bounds(seconds)
        longest = self.generator.cfg.max_motion_tokens
        items = []  # (row, text, lowest, highest, told, seed)
        for r, (i, seed) in enumerate(rows):
            if steps[i] is None:
                items.append((r, prompts[i], lows[i], highs[i], told[i], seed))
            else:
                items += [(r, text, 1, longest, 0, step_seed(seed, k)) for k, text in enumerate(steps[i])]
        columns = [list(column) for column in zip(*items, strict=True)]
        pieces = [[] for _ in rows]
        for r, piece in zip(columns[0], self._sample(*columns[1:], settings), strict=True):
            pieces[r].append(piece)
        return pieces

    def _fit_steps_to_duration(self, seconds, rows, steps, pieces, settings) -> None:
        """Pass 2, in place: the steps of a row asked for a duration (or longer in all than the trained maximum)
        re-sampled at exactly their pass-1 lengths scaled to that total."""
        longest = self.generator.cfg.max_motion_tokens
        redo = []  # (row, step, text, length, seed)
        for r, (i, seed) in enumerate(rows):
            natural = [len(piece) for piece in pieces[r]]
            if steps[i] is None or (seconds[i] is None and sum(natural) <= longest):
                continue
            total = longest if seconds[i] is None else min(longest, round(seconds[i] / self.seconds_per_token))
            for k, length in enumerate(share_tokens(natural, total)):
                redo.append((r, k, steps[i][k], length, step_seed(seed, k)))
        if not redo:
            return
        lengths = [x[3] for x in redo]
        again = self._sample([x[2] for x in redo], lengths, lengths, lengths, [x[4] for x in redo], settings)
        for (r, k, *_), piece in zip(redo, again, strict=True):
            pieces[r][k] = piece

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


def candidate_seed(seed: int, candidate: int) -> int:
    """The seed of best-of-N candidate `candidate` of a prompt seeded `seed`: candidate 0 keeps `seed`; the others
    get seeds that, for the small seeds people use, no other prompt or candidate gets."""
    return seed if candidate == 0 else (seed * 1_000_003 + candidate * 1_000_000_007) % 2**62


def step_seed(seed: int, step: int) -> int:
    """The seed of step `step` of a prompt (or candidate) seeded `seed`; step 0 keeps `seed`."""
    return seed if step == 0 else (seed * 998_244_353 + step * 1_000_000_009) % 2**62


def share_tokens(natural: list[int], total: int) -> list[int]:
    """`total` tokens shared among steps in proportion to their `natural` lengths (largest remainders first), at
    least one each; `total` must be at least the number of steps."""
    if total < len(natural):
        raise ValueError(f"{total} tokens cannot give {len(natural)} steps one each")
    weights = np.maximum(np.asarray(natural, dtype=np.float64), 1.0)
    ideal = weights * total / weights.sum()
    shares = np.maximum(np.floor(ideal), 1).astype(int)
    order = np.argsort(-(ideal - np.floor(ideal)), kind="stable")  # largest remainder first
    k = 0
    while shares.sum() < total:
        shares[order[k % len(order)]] += 1
        k += 1
    while shares.sum() > total:  # only when a step was raised to its one token
        shares[int(np.argmax(shares))] -= 1
    return shares.tolist()


def _step_spans(texts: list[str], pieces: list[list[int]], seconds_per_token: float) -> list[dict]:
    """Each step's text and its time span in the joined motion, seconds."""
    bounds = np.cumsum([0] + [len(piece) for piece in pieces]) * seconds_per_token
    return [{"text": t, "start": round(float(a), 3), "end": round(float(b), 3)}
            for t, a, b in zip(texts, bounds[:-1], bounds[1:], strict=True)]  # fmt: skip


def _keep_closest(reranker, prompts: list[str], motions: list[Motion], n: int) -> list[Motion]:
    """Of the n consecutive candidates of each prompt, the one whose evaluator embedding is closest to the
    prompt's (cosine similarity; the evaluator's embeddings are unit vectors)."""
    text = reranker.text_embeddings(prompts)  # (B, E)
    motion = reranker.motion_embeddings(motions).reshape(len(prompts), n, -1)  # (B, n, E)
    scores = np.einsum("bne,be->bn", motion, text)
    kept = []
    for b, c in enumerate(scores.argmax(axis=1)):
        best = motions[b * n + int(c)]
        best.meta.update(candidate=int(c), candidates=n, similarity=float(scores[b, c]))
        kept.append(best)
    return kept


def _check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise ValueError("no prompts given")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompt {i + 1} is empty")
        if len(p) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt {i + 1} has {len(p):,} characters; the limit is {MAX_PROMPT_CHARS:,}")


def _write_pipeline(folder, tokenizer, stats, generator, text_encoder_spec: str, fps: float,
                    sampling: dict | None = None, reranker: str | None = None) -> Path:  # fmt: skip
    from motionmill.checkpoints.tokenizer import save_pretrained
    from motionmill.utils.io import atomic_write

    folder = Path(folder)
    settings = SamplingSettings(**(sampling or {}))
    if settings.candidates > 1 and not reranker:
        raise ValueError(f"default candidates {settings.candidates} needs a reranker (--reranker)")
    save_pretrained(tokenizer, folder / "tokenizer", stats)
    save_generator(generator, folder / "generator")
    info = {"text_encoder": text_encoder_spec, "fps": fps, "sampling": asdict(settings)}
    if reranker:
        info["reranker"] = "builtin" if reranker == "builtin" else _copy_reranker(reranker, folder / "reranker")
    atomic_write(folder / "pipeline.json", json.dumps(info, indent=2) + "\n")  # written last: marks it complete
    return folder


def _copy_reranker(spec: str, out: Path) -> str:
    """Copy our evaluator at `spec` (a training run or an exported folder) into `out`; its name in pipeline.json."""
    from motionmill.checkpoints.evaluator import load_evaluator_folder, save_evaluator

    if Path(spec).resolve() != out.resolve():
        model, stats, info = load_evaluator_folder(spec)
        save_evaluator(model, out, stats, info)
    return out.name


def assemble_pipeline(tokenizer: str | Path, generator: str | Path, out: str | Path, text_encoder: str = "minilm",
                      fps: float = 30.0, sampling: dict | None = None,
                      reranker: str | None = None) -> Path:  # fmt: skip
    """A pipeline folder from a tokenizer run (or folder) and a generator run (or folder), weights only, with the
    sampling settings `generate` uses by default and, for best-of-N, a reranker: "builtin" (the evaluator shipped
    with the package) or an evaluator run or folder, copied in."""
    from motionmill.checkpoints.tokenizer import from_pretrained

    tok, stats = from_pretrained(tokenizer)
    if stats is None:
        raise ValueError(f"{tokenizer}: the tokenizer has no normalisation stats")
    gen = load_generator(generator)
    if gen.cfg.vocab_codes != tok.cfg.codebook_size:
        raise ValueError(f"the generator predicts {gen.cfg.vocab_codes} codes but the tokenizer has "
                         f"{tok.cfg.codebook_size}")  # fmt: skip
    return _write_pipeline(out, tok, stats, gen, text_encoder, fps, sampling, reranker)
