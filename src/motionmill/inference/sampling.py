"""Sampling motion tokens from a `MotionGenerator`: pure logit transforms and the decode loops.

MotionMillion ("Go to Zero", Fan et al., ICCV 2025) samples greedily, one prompt at a time, recomputing the whole
sequence at every step and stopping after 50 tokens although training goes to 150 (docs/models.md, "Defects
we fix"). `generate_tokens` fixes all of it: a KV cache, batches with per-sample stopping, temperature / top-k /
top-p (nucleus, Holtzman et al., 2020), classifier-free guidance (Ho & Salimans, 2022) and length control, with no cap
below the trained maximum. `generate_tokens_reference` keeps their behaviour as the baseline for benchmarks and parity.

Reproducibility: each prompt owns a `torch.Generator` seeded from `seeds`, and draws exactly one uniform number per
sampled token from it (inverse-CDF sampling), so a prompt's sample does not depend on which prompts share its batch.

Legend: B batch (prompts), L text tokens, N motion tokens, V = K + 1 classes (K codes + END).
"""

import torch
import torch.nn.functional as F

__all__ = [
    "apply_temperature",
    "generate_tokens",
    "generate_tokens_reference",
    "guidance_mix",
    "length_control_mask",
    "top_k_filter",
    "top_p_filter",
]


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits (..., V) by `temperature` > 0 (1.0 returns the input unchanged)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True for argmax), got {temperature}")
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Set every logit below the k-th largest of its row (..., V) to -inf; ties with the k-th are kept.

    None or k >= V keeps everything.
    """
    if k is None or k >= logits.shape[-1]:
        return logits
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    kth = logits.topk(k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float | None) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability mass is >= p, per row (..., V).

    The most likely token is always kept. None or p >= 1 keeps everything.
    """
    if p is None or p >= 1.0:
        return logits
    if not p > 0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V)
    probs = sorted_logits.float().softmax(-1)
    mass_before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = mass_before >= p  # those already reach p: this token is not needed; the first is never dropped
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def guidance_mix(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond). Scale 1.0 returns `cond` itself, bit for bit."""
    if scale == 1.0:
        return cond
    return uncond + scale * (cond - uncond)


def _per_row(value: int | list[int] | torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
    """None, an int, or n values -> None or a (n,) long tensor."""
    if value is None:
        return None
    out = torch.as_tensor(value, dtype=torch.long, device=device)
    return out.expand(n) if out.ndim == 0 else out


def length_control_mask(logits: torch.Tensor, step: int | torch.Tensor,
                        min_tokens: int | list[int] | torch.Tensor | None,
                        max_tokens: int | list[int] | torch.Tensor | None, end_id: int) -> torch.Tensor:  # fmt: skip
    """Forbid END before `min_tokens` codes and force it once `max_tokens` codes have been emitted.

    Args:
        logits: (B, V) logits of the token at index `step`.
        step: codes emitted so far (an int or (B,) per row).
        min_tokens: None, an int or (B,) per row; END gets -inf while step < min_tokens.
        max_tokens: None, an int or (B,) per row; at step >= max_tokens every other token gets -inf (this wins
            over `min_tokens`).
        end_id: index of END in the vocabulary.

    Returns:
        New (B, V) logits.
    """
    B, V = logits.shape
    step_t = _per_row(step, B, logits.device)
    out = logits.clone()
    if min_tokens is not None:
        early = step_t < _per_row(min_tokens, B, logits.device)  # (B,)
        out[:, end_id] = out[:, end_id].masked_fill(early, float("-inf"))
    if max_tokens is not None:
        at_max = (step_t >= _per_row(max_tokens, B, logits.device))[:, None]  # (B, 1)
        only_end = torch.full((V,), float("-inf"), dtype=out.dtype, device=out.device)
        only_end[end_id] = 0.0
        out = torch.where(at_max, only_end, out)
    return out


def _prefix_batch(
    text_states: torch.Tensor,
    text_mask: torch.Tensor,
    guided: bool,
    null_states: torch.Tensor | None,
    null_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The prefill batch: the B conditional prefixes, then (with guidance) the B null prefixes.

    Returns states (B or 2B, L', text_dim), mask (B or 2B, L') and the `drop_text` rows (None: no row dropped).
    Without `null_states` the null rows reuse the text and set `drop_text`, so the model swaps in its learned null
    token; with them (e.g. the encoding of an empty caption, (1 or B, Ln, text_dim)) the null rows are those states.
    """
    B = text_states.shape[0]
    if not guided:
        return text_states, text_mask, None
    if null_states is None:
        drop = torch.arange(2 * B, device=text_states.device) >= B
        return torch.cat([text_states, text_states]), torch.cat([text_mask, text_mask]), drop
    null_states = null_states.expand(B, -1, -1) if null_states.shape[0] == 1 else null_states
    if null_mask is None:
        null_mask = torch.ones(null_states.shape[:2], dtype=torch.bool, device=null_states.device)
    null_mask = null_mask.expand(B, -1) if null_mask.shape[0] == 1 else null_mask
    width = max(text_states.shape[1], null_states.shape[1])

    def pad(x: torch.Tensor) -> torch.Tensor:  # right-pad the token axis (dim 1) to `width`
        return F.pad(x, (0, 0) * (x.ndim - 2) + (0, width - x.shape[1]))

    return torch.cat([pad(text_states), pad(null_states)]), torch.cat([pad(text_mask), pad(null_mask)]), None


def _choose(logits: torch.Tensor, greedy: bool, temperature: float, top_k: int | None, top_p: float | None,
            generators: list[torch.Generator]) -> torch.Tensor:  # fmt: skip
    """One token per row of logits (n, V): argmax, or inverse-CDF sampling with one uniform draw per row from that
    row's own generator (a row's token depends only on its logits and its generator)."""
    if greedy:
        return logits.argmax(-1)
    logits = top_p_filter(top_k_filter(apply_temperature(logits, temperature), top_k), top_p)
    cdf = logits.float().softmax(-1).cumsum(-1)  # (n, V)
    u = torch.stack([1.0 - torch.rand((), generator=g, device=g.device) for g in generators])  # (n,) in (0, 1]
    u = u.to(cdf.device) * cdf[:, -1]
    # the first token whose CDF reaches u: zero-probability tokens are never picked since u > 0
    return torch.searchsorted(cdf, u[:, None]).squeeze(1).clamp(max=logits.shape[-1] - 1)


@torch.no_grad()
def generate_tokens(model: torch.nn.Module, text_states: torch.Tensor, text_mask: torch.Tensor,
                    max_new_tokens: int | None = None, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float | None = None, guidance: float = 1.0, null_states: torch.Tensor | None = None,
                    null_mask: torch.Tensor | None = None, min_tokens: int | list[int] | None = None,
                    max_tokens: int | list[int] | None = None, seeds: list[int] | None = None,
                    greedy: bool = False, target_tokens: int | list[int] | None = None) -> list[list[int]]:  # fmt: skip
    """Sample motion token sequences for a batch of prompts, KV-cached, stopping each prompt at its own END.

    Args:
        model: a `MotionGenerator`.
        text_states: (B, L, text_dim) text-encoder states, padded anywhere (see `text_mask`).
        text_mask: (B, L) bool, True at real text tokens.
        max_new_tokens: codes per prompt at most; default and upper bound: the trained maximum `max_motion_tokens`.
        temperature: logits are divided by it before top-k / top-p (ignored when greedy).
        top_k: keep the k most likely tokens (None: all).
        top_p: nucleus mass (None: all).
        guidance: classifier-free guidance scale; 1.0 runs no unconditional pass. Otherwise the conditional and the
            null prefixes run as one doubled batch.
        null_states: (1 or B, Ln, text_dim) states of the unconditional prompt; None uses the model's learned null
            token (the condition of captions dropped in training).
        null_mask: (1 or B, Ln) mask of `null_states` (None: all real).
        min_tokens: None, an int or B ints: END is forbidden before that many codes.
        max_tokens: None, an int or B ints: END is forced after that many codes (capped by `max_new_tokens`).
        seeds: one seed per prompt (default 0 for all); a prompt's sample does not depend on its batch.
        greedy: argmax instead of sampling.
        target_tokens: None, an int or B ints: the length told to a `length_condition` generator (0: not given);
            the guided pass gets the same length, so guidance steers the content only.

    Returns:
        B lists of code ids in [0, K), END excluded.
    """
    cfg, B = model.cfg, text_states.shape[0]
    limit = cfg.max_motion_tokens if max_new_tokens is None else max_new_tokens
    if not 1 <= limit <= cfg.max_motion_tokens:
        raise ValueError(f"max_new_tokens must be in [1, {cfg.max_motion_tokens}] (the trained maximum), got {limit}")
    seeds = [0] * B if seeds is None else list(seeds)
    if len(seeds) != B:
        raise ValueError(f"need one seed per prompt: {B} prompts, {len(seeds)} seeds")
    device = text_states.device
    gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    min_t = _per_row(min_tokens, B, device)
    max_t = _per_row(max_tokens, B, device)
    max_t = torch.full((B,), limit, device=device) if max_t is None else max_t.clamp(max=limit)
    guided = guidance != 1.0
    states, mask, drop = _prefix_batch(text_states, text_mask, guided, null_states, null_mask)
    cache = model.new_cache(states.shape[0], states.shape[1], limit)
    empty = torch.zeros(states.shape[0], 0, dtype=torch.long, device=device)
    lengths = _per_row(target_tokens, B, device)
    lengths = lengths.repeat(states.shape[0] // B) if lengths is not None else None
    logits = model(states, mask, empty, cache=cache, drop_text=drop, lengths=lengths)[:, -1]  # (B or 2B, V)
    rows, out = torch.arange(B, device=device), [[] for _ in range(B)]  # rows: prompt index of each live row
    for step in range(limit + 1):
        n = rows.numel()
        logits = guidance_mix(logits[:n], logits[n:], guidance) if guided else logits  # (n, V)
        logits = length_control_mask(logits, step, None if min_t is None else min_t[rows], max_t[rows], cfg.end_id)
        tok = _choose(logits, greedy, temperature, top_k, top_p, [gens[r] for r in rows.tolist()])  # (n,)
        live = tok != cfg.end_id
        for r, t, keep in zip(rows.tolist(), tok.tolist(), live.tolist(), strict=True):
            if keep:
                out[r].append(t)
        if not bool(live.any()):
            break
        if not bool(live.all()):  # drop finished rows: they stop growing and stop costing compute
            keep_idx = live.nonzero().squeeze(1)
            cache.select(torch.cat([keep_idx, keep_idx + n]) if guided else keep_idx)
            rows, tok = rows[keep_idx], tok[keep_idx]
        feed = torch.cat([tok, tok]) if guided else tok
        logits = model(None, None, feed[:, None], cache=cache)[:, -1]
    return out


@torch.no_grad()
def generate_tokens_reference(model: torch.nn.Module, text_states: torch.Tensor, text_mask: torch.Tensor,
                              max_new_tokens: int = 50, min_tokens: int = 0) -> list[list[int]]:  # fmt: skip
    """MotionMillion's released sampler: greedy argmax, batch size 1, the whole sequence recomputed at every step.

    Kept as the baseline for benchmarks and parity tests, not for use. Each prompt runs alone with its padding
    removed (their loader encodes one caption at a time).

    Args:
        model: a `MotionGenerator`.
        text_states: (B, L, text_dim) text-encoder states.
        text_mask: (B, L) bool, True at real text tokens.
        max_new_tokens: their hard cap is 50 codes (3.3 s); pass up to `max_motion_tokens` to compare fairly.
        min_tokens: END is forbidden before this many codes (not in their code; lets benchmarks fix the length).

    Returns:
        B lists of code ids, END excluded.
    """
    end, out = model.cfg.end_id, []
    for b in range(text_states.shape[0]):
        states = text_states[b : b + 1, text_mask[b]]  # (1, L_b, text_dim)
        mask = torch.ones(states.shape[:2], dtype=torch.bool, device=states.device)
        tokens = torch.zeros(1, 0, dtype=torch.long, device=states.device)  # (1, N)
        for step in range(max_new_tokens):
            logits = model(states, mask, tokens)[:, -1]  # (1, V): a full forward pass every step
            if step < min_tokens:
                logits[:, end] = float("-inf")
            nxt = logits.argmax(-1, keepdim=True)  # (1, 1)
            if int(nxt) == end:
                break
            tokens = torch.cat([tokens, nxt], dim=1)
        out.append(tokens[0].tolist())
    return out
