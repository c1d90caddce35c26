"""Sampling: the pure logit transforms against their definitions, and the decode loop against one-by-one sampling
and MotionMillion's full-recompute greedy sampler.

Legend: B batch, L text tokens, V = K + 1 classes.
"""

import pytest
import torch

from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.inference.sampling import (
    apply_temperature,
    generate_tokens,
    generate_tokens_reference,
    guidance_mix,
    length_control_mask,
    top_k_filter,
    top_p_filter,
)

K, TEXT_DIM, MAX_MOTION = 32, 16, 60  # 60 > MotionMillion's cap of 50


class EndProneGenerator(MotionGenerator):
    """A random generator with END made likely (+`end_bonus` on its logit), so stopping happens early and often."""

    end_bonus = 1.0

    def forward(self, *args, **kwargs) -> torch.Tensor:
        logits = super().forward(*args, **kwargs)
        return logits + self.end_bonus * (torch.arange(logits.shape[-1]) == self.cfg.end_id)


def tiny_model(cls: type = MotionGenerator, seed: int = 0, **overrides) -> MotionGenerator:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(vocab_codes=K, n_layer=2, n_head=4, dim=64, text_dim=TEXT_DIM, max_motion_tokens=MAX_MOTION,
                          **overrides)  # fmt: skip
    model = cls(cfg).eval()
    with torch.no_grad():  # sharper than the N(0, 0.02) init, so sampled tokens differ between rows
        model.head.weight.mul_(10.0)
    return model


def prompts(n: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """n prompts of different text lengths, right-padded to 6 tokens."""
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(n, 6, TEXT_DIM, generator=g)  # (B, L, text_dim)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 2, 4, 5, 1, 3])[:n, None]  # (B, L)
    return states, mask


def test_temperature_and_top_k():
    logits = torch.tensor([[1.0, 3.0, 2.0, 3.0, -1.0]])
    assert apply_temperature(logits, 1.0) is logits
    torch.testing.assert_close(apply_temperature(logits, 2.0), logits / 2)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(logits, 0.0)
    kept = torch.isfinite(top_k_filter(logits, 3))
    assert kept.tolist() == [[False, True, True, True, False]]
    assert torch.isfinite(top_k_filter(logits, 1)).sum() == 2  # ties with the k-th are kept
    assert top_k_filter(logits, None) is logits


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    g = torch.Generator().manual_seed(0)
    for p in (0.05, 0.3, 0.5, 0.9, 0.99):
        logits = torch.randn(8, 20, generator=g) * 2  # (B, V)
        kept = torch.isfinite(top_p_filter(logits, p))
        probs = logits.softmax(-1)
        for row in range(8):
            order = probs[row].argsort(descending=True)
            need = int((probs[row][order].cumsum(0) < p).sum()) + 1  # fewest top tokens with mass >= p
            assert kept[row].sum() == need
            assert kept[row, order[:need]].all()
    assert top_p_filter(torch.tensor([[5.0, 0.0]]), 1e-6).isfinite().tolist() == [[True, False]]


def test_guidance_mix_formula_and_exact_identity_at_scale_one():
    cond, uncond = torch.randn(3, 7), torch.randn(3, 7)
    torch.testing.assert_close(guidance_mix(cond, uncond, 3.0), uncond + 3.0 * (cond - uncond))
    assert guidance_mix(cond, uncond * float("nan"), 1.0) is cond  # bit for bit: no arithmetic at all


def test_length_control_mask():
    logits = torch.zeros(3, 5)
    out = length_control_mask(logits, 2, torch.tensor([3, 2, 0]), torch.tensor([9, 9, 2]), end_id=4)
    assert out[0, 4] == float("-inf") and out[0, :4].isfinite().all()  # before min: no END
    assert out[1].isfinite().all()  # between: untouched
    assert out[2].isinf().tolist() == [True, True, True, True, False]  # at max: only END
    assert length_control_mask(logits, 1, None, None, end_id=4).equal(logits)


def test_sampling_respects_min_and_max_tokens_per_sample():
    model, (states, mask) = tiny_model(EndProneGenerator), prompts()
    free = generate_tokens(model, states, mask, seeds=[1, 2, 3, 4])
    assert min(len(t) for t in free) < 5  # END is likely: without control the samples are short
    mins, maxs = [5, 0, 12, 20], [8, 3, 12, 25]
    out = generate_tokens(model, states, mask, min_tokens=mins, max_tokens=maxs, seeds=[1, 2, 3, 4])
    assert all(lo <= len(t) <= hi for t, lo, hi in zip(out, mins, maxs, strict=True)), [len(t) for t in out]
    assert all(0 <= c < K for t in out for c in t)


def test_no_length_cap_below_the_trained_maximum():
    model, (states, mask) = tiny_model(), prompts(2)
    out = generate_tokens(model, states, mask, min_tokens=MAX_MOTION, seeds=[0, 1])
    assert [len(t) for t in out] == [MAX_MOTION, MAX_MOTION]
    with pytest.raises(ValueError, match="trained maximum"):
        generate_tokens(model, states, mask, max_new_tokens=MAX_MOTION + 1)


@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_batched_sampling_with_per_sample_stopping_equals_one_by_one(guidance):
    model, (states, mask) = tiny_model(EndProneGenerator), prompts(5)
    kw = dict(temperature=1.0, top_k=20, top_p=0.95, guidance=guidance, min_tokens=[0, 4, 0, 9, 2])
    seeds = [11, 12, 13, 14, 15]
    batched = generate_tokens(model, states, mask, seeds=seeds, **kw)
    lengths = [len(t) for t in batched]
    assert len(set(lengths)) > 2, lengths  # per-sample stopping is exercised
    for b in range(5):
        alone_kw = {**kw, "min_tokens": [kw["min_tokens"][b]]}
        alone = generate_tokens(model, states[b : b + 1], mask[b : b + 1], seeds=[seeds[b]], **alone_kw)
        assert alone[0] == batched[b], b
    assert generate_tokens(model, states, mask, seeds=[1, 2, 3, 4, 5], **kw) != batched  # seeds matter


def test_told_lengths_reach_both_guidance_passes_and_stay_per_prompt():
    model, (states, mask) = tiny_model(EndProneGenerator, length_condition=True), prompts(5)
    kw = dict(temperature=1.0, guidance=2.5, min_tokens=3, seeds=[21, 22, 23, 24, 25])
    told = [0, 7, 20, 3, 9]
    batched = generate_tokens(model, states, mask, target_tokens=told, **kw)
    for b in range(5):
        alone = generate_tokens(model, states[b : b + 1], mask[b : b + 1], target_tokens=[told[b]],
                                **{**kw, "seeds": kw["seeds"][b : b + 1]})  # fmt: skip
        assert alone[0] == batched[b], b
    assert generate_tokens(model, states, mask, target_tokens=[5, 8, 2, 40, 1], **kw) != batched


def test_greedy_cached_sampling_equals_the_full_recompute_reference():
    model, (states, mask) = tiny_model(EndProneGenerator), prompts(4)
    ours = generate_tokens(model, states, mask, greedy=True)
    reference = generate_tokens_reference(model, states, mask, max_new_tokens=MAX_MOTION)
    assert ours == reference
    assert len({len(t) for t in ours}) > 1
    capped = generate_tokens_reference(model, states, mask)  # MotionMillion's default cap of 50 codes
    assert max(len(t) for t in capped) <= 50


def test_top_k_one_is_greedy_and_guidance_one_is_unguided():
    model, (states, mask) = tiny_model(), prompts(3)
    greedy = generate_tokens(model, states, mask, greedy=True, max_new_tokens=20)
    assert generate_tokens(model, states, mask, top_k=1, seeds=[5, 6, 7], max_new_tokens=20) == greedy
    sampled = generate_tokens(model, states, mask, seeds=[5, 6, 7], max_new_tokens=20)
    null = torch.randn(1, 2, TEXT_DIM)
    assert generate_tokens(model, states, mask, guidance=1.0, null_states=null, seeds=[5, 6, 7],
                           max_new_tokens=20) == sampled  # fmt: skip
    guided = generate_tokens(model, states, mask, guidance=3.0, null_states=null, seeds=[5, 6, 7], max_new_tokens=20)
    assert guided != sampled
