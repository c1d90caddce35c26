"""`TextToMotion`: text in, `Motion` out. One object, one `__call__`, `from_pretrained`, `.to(device)`.

A pipeline folder holds `pipeline.json` (text encoder spec, frame rate, the model's default sampling settings,
the reranker's spec if any, and "notes" for readers where a folder needs them), `tokenizer/` (FSQ tokenizer with the
normalisation stats) and `generator/`, each loadable on its own, and optionally `reranker/` (a text-motion
evaluator); `import_motionmillion` makes one from MotionMillion's released files. Sampling fixes MotionMillion's
inference defects (docs/models.md): KV cache, batched prompts with per-prompt stopping and seeds, temperature /
top-k / top-p, classifier-free guidance, no length cap below the trained maximum, and length control by `seconds`.

Best of N (`candidates=N`): N motions are sampled per prompt and the reranker (an evaluator that embeds text and
motion in one space) keeps the one whose embedding is closest to the prompt's (per step with `compose`, below).
Candidate 0 is the motion plain sampling gives for the same seed, so N = 1 is exactly plain sampling.

Step by step (`compose=True`): a prompt that lists actions in order ("walks forward, then turns left and sits
down"; `motionmill.text.steps`) is sampled one step at a time from each step's own words, and the steps' tokens are
joined before decoding, so the decoder blends the joins. A first pass lets the model choose each step's length (so
without a duration, a prompt of several steps may last longer than the trained maximum of one sequence); when a
duration is asked, a second pass re-samples the steps at those lengths (the median over candidates) scaled to it.
With best of N, each step keeps the candidate closest to its own words. The motion's meta records each step's text
and time span.

Shape legend: B prompts, L text tokens, N motion tokens, T frames, F features.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from motionmill.checkpoints.generator import load_generator, save_generator
from motionmill.inference.sampling import generate_tokens
from motionmill.inference.settings import DEFAULTS, SamplingSettings
from motionmill.motion.container import Motion
from motionmill.motion.reconcile import reconcile
from motionmill.text.steps import split_steps
from motionmill.utils.io import atomic_folder
from motionmill.utils.provenance import copy_provenance

__all__ = ["BUILTIN_MODEL", "MOTIONMILLION_NOTES", "TextToMotion", "assemble_pipeline", "import_motionmillion",
           "share_tokens"]  # fmt: skip

BUILTIN_MODEL = Path(__file__).resolve().parent.parent / "assets" / "builtin_model"
MAX_PROMPT_CHARS = 2000  # far beyond any caption; the text encoder reads at most 150 tokens anyway
LENGTH_TOLERANCE = 0.05  # `seconds` is met within +-5% (at least one token)
MAX_ROWS = 256  # sequences sampled and decoded at once: bounds the KV cache and decoder memory of best-of-N


class TextToMotion:
    """Generate motions from text with a tokenizer, a generator and a text encoder."""

    def __init__(self, tokenizer, stats, generator, text_encoder, fps: float = 30.0, name: str = "",
                 sampling: SamplingSettings | None = None, reranker: str | None = None):  # fmt: skip
        self.tokenizer, self.stats, self.generator = tokenizer.eval(), stats, generator.eval()
        self.text_encoder, self.fps, self.name = text_encoder, fps, name
        self.sampling = (sampling or SamplingSettings()).over(DEFAULTS)  # the defaults; a call overrides any field
        self.reranker_spec = reranker  # an evaluator spec (motionmill.inference.evaluator.evaluator_from_spec)
        self._reranker = None  # loaded on first use: plain sampling never pays for it
        self.device = torch.device("cpu")

    @classmethod
    def from_pretrained(cls, path: str | Path = "builtin", device: str = "cpu") -> TextToMotion:
        """Load a pipeline folder, or the built-in model shipped with the package ("builtin")."""
        from motionmill.checkpoints.tokenizer import load_tokenizer
        from motionmill.text.encoders import load_text_encoder

        folder = BUILTIN_MODEL if str(path) == "builtin" else Path(path)
        if not (folder / "pipeline.json").is_file():
            what = "the built-in model is not installed" if str(path) == "builtin" else "not a pipeline folder"
            raise FileNotFoundError(f"{folder}: {what} (pipeline.json is missing)")
        info = json.loads((folder / "pipeline.json").read_text())
        tokenizer, stats = load_tokenizer(folder / "tokenizer")
        if stats is None:
            raise ValueError(f"{folder / 'tokenizer'}: normalisation stats are missing")
        generator = load_generator(folder / "generator")
        encoder = load_text_encoder(info["text_encoder"])
        if encoder.dim != generator.cfg.text_dim:
            raise ValueError(f"{folder}: text encoder {info['text_encoder']} gives {encoder.dim}-d states but the "
                             f"generator expects {generator.cfg.text_dim}")  # fmt: skip
        reranker = info.get("reranker")
        if reranker:  # members other than builtin are stored relative to the folder, so the folder can move
            reranker = "+".join(m if m == "builtin" else str(folder / m) for m in reranker.split("+"))
        sampling = SamplingSettings.from_dict(info.get("sampling"))
        return cls(tokenizer, stats, generator, encoder, info.get("fps", 30.0), str(path), sampling,
                   reranker).to(device)  # fmt: skip

    def save_pretrained(self, folder: str | Path, text_encoder_spec: str = "minilm") -> Path:
        """Write a pipeline folder that `from_pretrained` loads (with a copy of the reranker, if any)."""
        return _write_pipeline(folder, self.tokenizer, self.stats, self.generator, text_encoder_spec, self.fps,
                               self.sampling, self.reranker_spec)  # fmt: skip

    def reranker(self):
        """The evaluator that ranks best-of-N candidates, loaded on first use."""
        if self._reranker is None:
            if not self.reranker_spec:
                raise ValueError(f"{self.name or 'this pipeline'} has no reranker, so candidates must be 1 "
                                 "(add one with motionmill export pipeline --reranker)")  # fmt: skip
            from motionmill.inference.evaluator import evaluator_from_spec

            self._reranker = evaluator_from_spec(self.reranker_spec, device=str(self.device))
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

    def _min_chosen_tokens(self, settings: SamplingSettings) -> int:
        """Tokens the model must emit before it may END when it chooses the length (`min_seconds`)."""
        tokens = math.ceil(settings.min_seconds / self.seconds_per_token - 1e-9)
        return min(self.generator.cfg.max_motion_tokens, max(1, tokens))

    def _length_bounds(self, seconds: list[float | None], settings: SamplingSettings
                       ) -> tuple[list[int], list[int], list[int]]:  # fmt: skip
        """Per prompt: never END before min tokens, always by max tokens; and the length in tokens a
        length-conditioned generator is told (0: no duration asked, the model decides)."""
        lows, highs, told = [], [], []
        longest = self.generator.cfg.max_motion_tokens
        for s in seconds:
            if s is None:
                lows.append(self._min_chosen_tokens(settings))
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
                 seed: int | list[int] = 0, sampling: SamplingSettings | None = None, raw: bool = False,
                 **overrides) -> list[Motion]:  # fmt: skip
        """Motions for `prompts` (a string or a list).

        Args:
            prompts: text descriptions.
            seconds: target duration per prompt (or one for all); None lets the model decide.
            seed: one seed for all prompts (prompt i uses seed + i) or one per prompt.
            sampling: how to sample; fields left None take the pipeline's defaults, `self.sampling`.
            raw: return the decoded features as the model predicted them. By default each motion is reconciled
                (`motion.reconcile.reconcile`): its positions, rotations and root path become one motion on one
                rigid skeleton, so every view and file of it shows the same performance; `meta["reconciled"]` names
                the method.
            **overrides: SamplingSettings fields by name, for short calls (`pipe(prompt, temperature=0.8)`); they
                win over `sampling`.

        Each motion's meta holds its token count and, with best of N, the kept candidate and its similarity; with
        `compose`, the steps of a split prompt (words, start and end in seconds, and with best of N the candidate
        kept for each step).
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        _check_prompts(prompts)
        settings = self.settings(sampling, **overrides)
        seconds = list(seconds) if isinstance(seconds, list | tuple) else [seconds] * len(prompts)
        seeds = list(seed) if isinstance(seed, list | tuple) else [seed + i for i in range(len(prompts))]
        if len(seconds) != len(prompts) or len(seeds) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(seconds)} durations and {len(seeds)} seeds")
        reranker = self.reranker() if settings.candidates > 1 else None  # fails before any sampling without one
        bounds = self._length_bounds(seconds, settings)  # validates every duration before any is used
        steps = [self._steps(p, s) if settings.compose else [p] for p, s in zip(prompts, seconds, strict=True)]
        pieces = self._sample_pieces(prompts, seconds, seeds, steps, bounds, settings)
        chosen = _choose_pieces(reranker, steps, pieces, settings.candidates, self.decode)
        motions = []
        for start in range(0, len(prompts), MAX_ROWS):  # bounds the decoder's memory
            rows = range(start, min(start + MAX_ROWS, len(prompts)))
            tokens = [[code for k in range(len(steps[i])) for code in pieces[i, k, chosen[i, k][0]]] for i in rows]
            motions += self.decode(tokens)
        for i, motion in enumerate(motions):
            motion.meta.update(_choice_meta(steps[i], pieces, chosen, i, settings.candidates, self.seconds_per_token))
        return motions if raw else [reconcile(m) for m in motions]

    def _steps(self, prompt: str, seconds: float | None) -> list[str]:
        """The steps `compose` samples one by one; the whole prompt when it lists one step, or when the asked
        duration is shorter than one token per step."""
        steps = split_steps(prompt)
        fits = seconds is None or round(seconds / self.seconds_per_token) >= len(steps)
        return steps if len(steps) > 1 and fits else [prompt]

    def _sample_pieces(self, prompts, seconds, seeds, steps, bounds, settings) -> dict[tuple[int, int, int], list[int]]:
        """Token lists keyed (prompt, step, candidate). A prompt sampled whole gets the usual length bounds; the
        steps of a split prompt get the lengths the model chooses, then, when a duration is asked, are re-sampled at
        the median chosen lengths scaled to it."""
        n, longest = settings.candidates, self.generator.cfg.max_motion_tokens
        lows, highs, told = bounds
        keys = [(i, k, c) for i in range(len(prompts)) for k in range(len(steps[i])) for c in range(n)]
        free = (self._min_chosen_tokens(settings), longest, 0)
        per_key = [(lows[i], highs[i], told[i]) if len(steps[i]) == 1 else free for i, _, _ in keys]
        pieces = self._sample_keys(steps, seeds, keys, *(list(b) for b in zip(*per_key, strict=True)), settings)
        redo, lengths = [], []
        for i in range(len(prompts)):
            if len(steps[i]) == 1 or seconds[i] is None:
                continue
            natural = [int(np.median([len(pieces[i, k, c]) for c in range(n)])) for k in range(len(steps[i]))]
            total = min(longest, round(seconds[i] / self.seconds_per_token))
            for k, length in enumerate(share_tokens(natural, total)):
                redo += [(i, k, c) for c in range(n)]
                lengths += [length] * n
        if redo:
            pieces.update(self._sample_keys(steps, seeds, redo, lengths, lengths, lengths, settings))
        return pieces

    def _sample_keys(self, steps, seeds, keys, lows, highs, told, settings) -> dict[tuple[int, int, int], list[int]]:
        """Sample the pieces `keys` (prompt, step, candidate) with their length bounds and seeds."""
        texts = [steps[i][k] for i, k, _ in keys]
        key_seeds = [step_seed(candidate_seed(seeds[i], c), k) for i, k, c in keys]
        return dict(zip(keys, self._sample(texts, lows, highs, told, key_seeds, settings), strict=True))

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
                                   temperature=settings.temperature, top_k=settings.top_k or None, top_p=settings.top_p,
                                   guidance=settings.guidance, min_tokens=[lows[r] for r in chunk],
                                   max_tokens=[highs[r] for r in chunk], seeds=[seeds[r] for r in chunk],
                                   greedy=settings.greedy,
                                   target_tokens=[told[r] for r in chunk]
                                   if self.generator.cfg.length_condition else None)  # fmt: skip
        return out

    def settings(self, sampling: SamplingSettings | None = None, **overrides) -> SamplingSettings:
        """The settings a call samples with: `overrides` (SamplingSettings fields by name, None = unset) over
        `sampling` over the pipeline's defaults."""
        return SamplingSettings(**overrides).over((sampling or SamplingSettings()).over(self.sampling))

    @torch.no_grad()
    def decode(self, tokens: list[list[int]]) -> list[Motion]:
        """Motion token lists -> Motions (de-normalised 272 features at the pipeline's fps)."""
        lengths = torch.tensor([len(t) for t in tokens])
        ids = torch.full((len(tokens), int(lengths.max())), -1, dtype=torch.long)
        for b, t in enumerate(tokens):
            ids[b, : len(t)] = torch.tensor(t, dtype=torch.long)
        frames = lengths * self.tokenizer.cfg.stride
        x = self.tokenizer.decode(ids.to(self.device), lengths.to(self.device)).cpu()  # (B, T, F)
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


def _choose_pieces(reranker, steps: list[list[str]], pieces: dict, n: int, decode) -> dict:
    """Per (prompt, step): (candidate, similarity) of the piece whose decoded motion the reranker finds closest
    to the step's words (cosine similarity: the evaluator's embeddings are unit vectors); candidate 0 without one."""
    pairs = [(i, k) for i in range(len(steps)) for k in range(len(steps[i]))]
    if reranker is None:
        return {pair: (0, None) for pair in pairs}
    keys = [(i, k, c) for i, k in pairs for c in range(n)]
    motion = []
    for start in range(0, len(keys), MAX_ROWS):  # only embeddings are kept: many candidates fit in memory
        motion.append(reranker.motion_embeddings(decode([pieces[key] for key in keys[start : start + MAX_ROWS]])))
    text = reranker.text_embeddings([steps[i][k] for i, k in pairs])  # (P, E)
    scores = np.einsum("pne,pe->pn", np.concatenate(motion).reshape(len(pairs), n, -1), text)
    return {pair: (int(row.argmax()), float(row.max())) for pair, row in zip(pairs, scores, strict=True)}


def _choice_meta(texts: list[str], pieces: dict, chosen: dict, i: int, n: int, seconds_per_token: float) -> dict:
    """What prompt i kept: with best of n, which candidate and its similarity (per step for a split prompt); for
    a split prompt, each step's words and time span in the joined motion, seconds."""
    if len(texts) == 1:
        c, similarity = chosen[i, 0]
        return {"candidate": c, "candidates": n, "similarity": similarity} if n > 1 else {}
    lengths = [len(pieces[i, k, chosen[i, k][0]]) for k in range(len(texts))]
    bounds = np.cumsum([0] + lengths) * seconds_per_token
    steps = []
    for k, text in enumerate(texts):
        steps.append({"text": text, "start": round(float(bounds[k]), 3), "end": round(float(bounds[k + 1]), 3)})
        if n > 1:
            steps[-1].update(candidate=chosen[i, k][0], similarity=chosen[i, k][1])
    return {"steps": steps, "candidates": n} if n > 1 else {"steps": steps}


def _check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise ValueError("no prompts given")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompt {i + 1} is empty")
        if len(p) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt {i + 1} has {len(p):,} characters; the limit is {MAX_PROMPT_CHARS:,}")


def _write_pipeline(folder, tokenizer, stats, generator, text_encoder_spec: str, fps: float,
                    sampling: SamplingSettings | None = None, reranker: str | None = None,
                    sources: tuple[str | Path, str | Path] | None = None) -> Path:  # fmt: skip
    """Write a pipeline folder; `sources` (tokenizer, generator runs) give each part its provenance, copied before
    pipeline.json so that the file still marks a complete folder."""
    from motionmill.checkpoints.tokenizer import save_tokenizer

    settings = (sampling or SamplingSettings()).over(DEFAULTS)
    if settings.candidates > 1 and not reranker:
        raise ValueError(f"default candidates {settings.candidates} needs a reranker (--reranker)")
    with _replacing(folder) as tmp:
        save_tokenizer(tokenizer, tmp / "tokenizer", stats)
        save_generator(generator, tmp / "generator")
        if sources:
            copy_provenance(sources[0], tmp / "tokenizer")
            copy_provenance(sources[1], tmp / "generator")
        copied = _copy_rerankers(reranker, tmp) if reranker else None
        _write_info(tmp, text_encoder_spec, fps, settings, copied)
    return Path(folder)


def _replacing(folder: str | Path):
    """`atomic_folder(folder)` where a pipeline may be written: a new or empty folder, or a pipeline folder, which
    is replaced whole (an export written again keeps no part of the old one); any other folder is refused."""
    folder = Path(folder)
    in_use = folder.exists() and (not folder.is_dir() or any(folder.iterdir()))
    if in_use and not (folder / "pipeline.json").is_file():
        raise ValueError(f"{folder} exists and is not a pipeline folder (no pipeline.json); give a new or empty "
                         "folder, or a pipeline folder to replace")  # fmt: skip
    return atomic_folder(folder)


def _write_info(folder: Path, text_encoder_spec: str, fps: float, settings: SamplingSettings,
                reranker: str | None = None, notes: list[str] | None = None) -> Path:  # fmt: skip
    """Write `pipeline.json`, after everything else: a folder with one is complete."""
    from motionmill.utils.io import atomic_write

    info = {"text_encoder": text_encoder_spec, "fps": fps, "sampling": asdict(settings)}
    if reranker:
        info["reranker"] = reranker
    if notes:
        info["notes"] = list(notes)
    atomic_write(folder / "pipeline.json", json.dumps(info, indent=2) + "\n")
    return folder


def _copy_rerankers(spec: str, folder: Path) -> str:
    """Copy the evaluators of reranker `spec` (one, or an ensemble joined by "+"; each a training run or an
    exported folder) into `folder`/reranker, reranker-2, ...; returns the spec pipeline.json keeps ("builtin"
    stays a name: the package ships it)."""
    from motionmill.checkpoints.evaluator import load_evaluator, save_evaluator

    names = []
    for member in spec.split("+"):
        if member == "builtin":
            names.append(member)
            continue
        copied = sum(name != "builtin" for name in names)
        out = folder / ("reranker" if copied == 0 else f"reranker-{copied + 1}")
        model, stats, info = load_evaluator(member)
        save_evaluator(model, out, stats, info)
        copy_provenance(member, out)
        names.append(out.name)
    return "+".join(names)


def assemble_pipeline(tokenizer: str | Path, generator: str | Path, out: str | Path, text_encoder: str = "minilm",
                      fps: float = 30.0, sampling: SamplingSettings | None = None,
                      reranker: str | None = None) -> Path:  # fmt: skip
    """A pipeline folder from a tokenizer run (or folder) and a generator run (or folder), weights only, with the
    sampling settings `generate` uses by default and, for best-of-N, a reranker: "builtin" (the evaluator shipped
    with the package) or an evaluator run or folder, copied in."""
    from motionmill.checkpoints.tokenizer import load_tokenizer

    tok, stats = load_tokenizer(tokenizer)
    if stats is None:
        raise ValueError(f"{tokenizer}: the tokenizer has no normalisation stats")
    gen = load_generator(generator)
    if gen.cfg.vocab_codes != tok.cfg.codebook_size:
        raise ValueError(f"the generator predicts {gen.cfg.vocab_codes} codes but the tokenizer has "
                         f"{tok.cfg.codebook_size}")  # fmt: skip
    return _write_pipeline(out, tok, stats, gen, text_encoder, fps, sampling, reranker, sources=(tokenizer, generator))


MOTIONMILLION_NOTES = [
    "Imported from MotionMillion's released weights by motionmill import motionmillion.",
    "Guidance is 1 (off) and other values are refused: MotionMillion trains without text dropout, so the generator "
    "has no null condition for classifier-free guidance.",
    "Greedy by default, as MotionMillion's inference. Unlike it, sampling is not capped at 50 tokens (3.3 s) but goes "
    "to the trained maximum of 150 (10 s), and an END before the first token gives the most likely code instead of "
    "their fixed code 1.",
    "Text states as MotionMillion's inference computes them: the T5 encoder's last hidden layer over the whole text "
    "(</s> included), its first 150 states kept (truncate=states).",
]


def import_motionmillion(tokenizer: str | Path, generator: str | Path, stats: str | Path, text_encoder: str,
                         out: str | Path, levels: list[int] | None = None,
                         n_head: int | None = None) -> Path:  # fmt: skip
    """A pipeline folder from MotionMillion's released files: their FSQ tokenizer (`fsq_net_*.pth`), generator
    (`LLaMAHF` saved as {"trans": state dict}), `mean_std/` folder and a local flan-t5 folder (`t5:DIR`).

    Every input is checked before anything is written, and the generator is never held twice in memory
    (`checkpoints/motionmillion_generator.py`). `levels` and `n_head` are needed only where the weights leave them
    ambiguous (their error messages say so).
    """
    from motionmill.checkpoints.convert_motionmillion import load_released_tokenizer
    from motionmill.checkpoints.motionmillion_generator import (
        build_generator,
        read_released_generator,
        write_generator_folder,
    )
    from motionmill.checkpoints.tokenizer import save_tokenizer
    from motionmill.text.encoders import load_text_encoder

    if not text_encoder.startswith("t5:"):
        raise ValueError(f"MotionMillion's generator reads flan-t5 states: give --text-encoder t5:DIR, not "
                         f"{text_encoder!r}")  # fmt: skip
    tok, normalizer = load_released_tokenizer(tokenizer, levels, stats)
    cfg, tensors = read_released_generator(generator, n_head)  # memory-mapped: nothing read but the shapes
    if cfg.vocab_codes != tok.cfg.codebook_size:
        raise ValueError(f"the generator predicts {cfg.vocab_codes} codes but the tokenizer has "
                         f"{tok.cfg.codebook_size}")  # fmt: skip
    encoder = load_text_encoder(text_encoder if ",truncate=" in text_encoder else text_encoder + ",truncate=states")
    if encoder.dim != cfg.text_dim:
        raise ValueError(f"the text encoder {text_encoder} gives {encoder.dim}-d states but the generator reads "
                         f"{cfg.text_dim}-d ones (flan-t5-xl: 2048)")  # fmt: skip
    spec = f"t5:{encoder.folder},truncate={encoder.truncate}"  # an absolute folder: the pipeline may move
    del encoder  # loaded only to prove the folder works; freed before the generator's pages are read
    sampling = SamplingSettings(greedy=True, guidance=1.0, candidates=1, compose=False).over(DEFAULTS)
    with _replacing(out) as tmp:
        save_tokenizer(tok, tmp / "tokenizer", normalizer)
        write_generator_folder(build_generator(cfg, tensors), tmp / "generator")
        _write_info(tmp, spec, 30.0, sampling, notes=MOTIONMILLION_NOTES)
    return Path(out)
