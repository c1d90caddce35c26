"""MotionGenerator: KV-cache parity with the full forward, the prefix-LM mask, padding, RoPE layouts, the null
condition, init, preset sizes (on the meta device), an overfit check, the length token, and the import rule of
generator/.

Legend: B batch, L text tokens, N motion tokens, V = K + 1 classes.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from motionmill.generator.model import PRESETS, GeneratorConfig, MotionGenerator
from motionmill.inference.sampling import generate_tokens

K, TEXT_DIM = 32, 16


def tiny_model(seed: int = 0, **overrides) -> MotionGenerator:
    torch.manual_seed(seed)
    cfg = dict(vocab_codes=K, n_layer=2, n_head=4, dim=64, text_dim=TEXT_DIM, max_text_tokens=16, max_motion_tokens=40)
    return MotionGenerator(GeneratorConfig(**{**cfg, **overrides})).eval()


def padded_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Three prompts of 7, 3 (right-padded) and 4 (left-padded) text tokens in a width of 7."""
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(3, 7, TEXT_DIM, generator=g)  # (B, L, text_dim)
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[0], mask[1, :3], mask[2, 3:] = True, True, True
    return states, mask


@torch.no_grad()
def test_cached_incremental_decode_equals_full_forward():
    model, (states, mask) = tiny_model(), padded_batch()
    tokens = torch.randint(0, K + 1, (3, 12), generator=torch.Generator().manual_seed(2))  # (B, N)
    full = model(states, mask, tokens)  # (B, N + 1, V)
    assert full.shape == (3, 13, K + 1)
    for n_prefill in (0, 3):
        cache = model.new_cache(3, 7)
        parts = [model(states, mask, tokens[:, :n_prefill], cache=cache)]
        for i in range(n_prefill, 12):
            parts.append(model(None, None, tokens[:, i : i + 1], cache=cache, start_pos=i))
        torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=0)


@torch.no_grad()
def test_decode_rewinds_with_start_pos_and_rejects_overflow():
    model, (states, mask) = tiny_model(), padded_batch()
    tokens = torch.randint(0, K, (3, 5), generator=torch.Generator().manual_seed(3))
    cache = model.new_cache(3, 7, motion_len=5)
    model(states, mask, tokens[:, :4], cache=cache)
    model(None, None, torch.zeros(3, 1, dtype=torch.long), cache=cache)  # a wrong 5th token ...
    redo = model(None, None, tokens[:, 4:5], cache=cache, start_pos=4)  # ... overwritten
    torch.testing.assert_close(redo[:, 0], model(states, mask, tokens)[:, -1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="overflows"):
        model(None, None, tokens[:, :1], cache=cache)
    with pytest.raises(ValueError, match="prefill"):
        model(None, None, tokens[:, :1], cache=model.new_cache(3, 7))


@torch.no_grad()
def test_a_padded_prompt_gets_the_logits_it_has_alone():
    model, (states, mask) = tiny_model(), padded_batch()
    tokens = torch.randint(0, K, (3, 6), generator=torch.Generator().manual_seed(4))
    batched = model(states, mask, tokens)
    for b in range(3):
        alone = model(states[b : b + 1, mask[b]], mask[b : b + 1, mask[b]], tokens[b : b + 1])
        torch.testing.assert_close(batched[b : b + 1], alone, atol=1e-5, rtol=0)


@torch.no_grad()
def test_prefix_lm_mask_text_is_bidirectional_motion_is_causal():
    model, (states, mask) = tiny_model(), padded_batch()
    tokens = torch.randint(0, K, (3, 6), generator=torch.Generator().manual_seed(5))
    seen = []
    model.blocks[-1].register_forward_hook(lambda module, args, out: seen.append(out))  # (B, S, D) every slot
    base = model(states, mask, tokens)
    # a later motion token (index 3) changes nothing before it: logits rows 0..3 predict tokens 0..3
    later_motion = tokens.clone()
    later_motion[:, 3] = (later_motion[:, 3] + 1) % K
    moved = model(states, mask, later_motion)
    torch.testing.assert_close(moved[:, :4], base[:, :4], atol=0, rtol=0)
    assert (moved[:, 4:] - base[:, 4:]).abs().amax() > 1e-4
    # a later text token (the last real one of row 0) changes the earlier text slots: text is bidirectional
    later_text = states.clone()
    later_text[0, 6] += 1.0
    model(later_text, mask, tokens)
    assert (seen[-1][0, :6] - seen[0][0, :6]).abs().amax(-1).min() > 1e-4
    # a padded text slot (row 1, slot 5) changes nothing anywhere
    padded_slot = states.clone()
    padded_slot[1, 5] += 100.0
    torch.testing.assert_close(model(padded_slot, mask, tokens), base, atol=0, rtol=0)


@torch.no_grad()
def test_interleaved_and_half_rope_are_one_function_up_to_a_channel_permutation():
    half, inter = tiny_model(seed=6), tiny_model(seed=6, rope_interleaved=True)
    cfg = half.cfg
    dh = cfg.head_dim
    # interleaved pair (2i, 2i+1) <-> half-split pair (i, i + Dh/2)
    perm = torch.cat([torch.arange(0, dh, 2), torch.arange(1, dh, 2)])  # (Dh,)
    rows = torch.cat([h * dh + perm for h in range(cfg.n_head)])  # (D,) per head
    for blk_half, blk_inter in zip(half.blocks, inter.blocks, strict=True):
        q, k, v = blk_inter.attn.qkv.weight.chunk(3, dim=0)
        blk_half.attn.qkv.weight.copy_(torch.cat([q[rows], k[rows], v]))
    states, mask = padded_batch()
    tokens = torch.randint(0, K, (3, 5), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(half(states, mask, tokens), inter(states, mask, tokens), atol=1e-5, rtol=0)
    assert (tiny_model(seed=6)(states, mask, tokens) - inter(states, mask, tokens)).abs().amax() > 1e-4


@torch.no_grad()
def test_dropped_text_is_the_learned_null_condition():
    model, (states, mask) = tiny_model(), padded_batch()
    tokens = torch.randint(0, K, (1, 4), generator=torch.Generator().manual_seed(8)).expand(3, -1)
    drop = torch.tensor([True, False, True])
    out = model(states, mask, tokens, drop_text=drop)
    other = model(torch.randn_like(states), mask, tokens, drop_text=drop)
    torch.testing.assert_close(out[0], out[2], atol=1e-5, rtol=0)  # any text -> the same null prefix
    torch.testing.assert_close(out[0], other[0], atol=1e-5, rtol=0)
    assert (out[1] - other[1]).abs().amax() > 1e-4


def test_init_is_deliberate():
    model = tiny_model(n_layer=4)
    std = model.cfg.init_std
    assert abs(model.tok_emb.weight.std().item() - std) < 0.1 * std  # not N(0, 1) as in MotionMillion
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - std) < 0.1 * std
    scaled = std / math.sqrt(2 * 4)
    assert abs(model.blocks[0].mlp.down.weight.std().item() - scaled) < 0.1 * scaled
    assert all(bool((m.weight == 1).all()) for m in (model.norm, model.blocks[1].attn_norm))
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())


def test_config_validation_names_the_field_and_presets_resolve():
    with pytest.raises(ValueError, match="--n-head"):
        GeneratorConfig(dim=100, n_head=3)
    with pytest.raises(ValueError, match="--vocab-codes"):
        GeneratorConfig(vocab_codes=0)
    with pytest.raises(ValueError, match="unknown generator preset"):
        GeneratorConfig.from_name("13B")
    assert GeneratorConfig.from_name("111M").hidden == 2048  # ceil_to_256(floor(8 * 768 / 3))
    assert GeneratorConfig.from_name("343M", vocab_codes=512).vocab_codes == 512
    assert GeneratorConfig().block_size == 301 and GeneratorConfig.from_name("7B").hidden == 11008
    assert {"tiny", "small", "111M", "343M", "775M", "1B", "3B", "7B"} <= set(PRESETS)


@pytest.mark.parametrize(("name", "expected"), [("1B", 1.56e9), ("3B", 3.41e9), ("7B", 7.82e9)])
def test_large_presets_have_the_published_size_on_the_meta_device(name, expected):
    with torch.device("meta"):
        model = MotionGenerator(GeneratorConfig.from_name(name, vocab_codes=64000, text_dim=2048))
    count = sum(p.numel() for p in model.parameters())
    assert model.tok_emb.num_embeddings == 64002 and model.head.out_features == 64001
    assert abs(count - expected) / expected < 0.01, count


def test_overfits_two_sequences_given_two_text_conditions():
    model = tiny_model(seed=9).train()
    g = torch.Generator().manual_seed(10)
    states = torch.randn(2, 3, TEXT_DIM, generator=g)  # (B, L, text_dim)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    seqs = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8]]
    tokens = torch.full((2, 8), K + 1)  # PAD
    targets = torch.full((2, 9), K + 1)  # codes, END, PAD
    for b, s in enumerate(seqs):
        tokens[b, : len(s)] = torch.tensor(s)
        targets[b, : len(s) + 1] = torch.tensor(s + [K])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(100):
        logits = model(states, mask, tokens)  # (B, N + 1, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=K + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0], (losses[0], losses[-1])
    assert generate_tokens(model.eval(), states, mask, greedy=True) == seqs


@torch.no_grad()
def test_length_token_is_one_more_prefix_token_the_cache_keeps():
    model, (states, mask) = tiny_model(length_condition=True), padded_batch()
    tokens = torch.randint(0, K + 1, (3, 8), generator=torch.Generator().manual_seed(12))
    lengths = torch.tensor([5, 12, 0])
    full = model(states, mask, tokens, lengths=lengths)  # (B, N + 1, V)
    cache = model.new_cache(3, 7)
    parts = [model(states, mask, tokens[:, :3], cache=cache, lengths=lengths)]
    parts += [model(None, None, tokens[:, i : i + 1], cache=cache) for i in range(3, 8)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(model(states, mask, tokens), model(states, mask, tokens, lengths=torch.zeros(3).long()))
    other = model(states, mask, tokens, lengths=torch.tensor([6, 12, 0]))
    assert (other[0] - full[0]).abs().amax() > 1e-4  # the told length reaches the logits ...
    torch.testing.assert_close(other[1:], full[1:], atol=1e-5, rtol=0)  # ... of its own row only
    with pytest.raises(ValueError, match="lengths must be"):
        model(states, mask, tokens, lengths=torch.tensor([5, 41, 0]))  # max_motion_tokens is 40
    with pytest.raises(ValueError, match="length_condition"):
        tiny_model()(states, mask, tokens, lengths=lengths)


def test_a_told_length_is_learned_where_the_text_says_nothing_about_it():
    """One caption, sequences of 3..12 copies of a code: only the length token can say where END goes."""
    g = torch.Generator().manual_seed(13)
    states, mask = torch.randn(1, 3, TEXT_DIM, generator=g).expand(10, -1, -1), torch.ones(10, 3, dtype=torch.bool)
    lengths = torch.arange(3, 13)  # (B,)
    tokens = torch.where(torch.arange(12)[None] < lengths[:, None], 5, K + 1)  # (B, 12) codes then PAD
    targets = torch.cat([tokens, torch.full((10, 1), K + 1)], dim=1)  # (B, 13)
    targets[torch.arange(10), lengths] = K  # END after the last code
    for told in (True, False):
        model = tiny_model(seed=14, length_condition=True).train()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        for _ in range(150):
            logits = model(states, mask, tokens, lengths=lengths if told else None)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=K + 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        out = generate_tokens(model.eval(), states, mask, greedy=True, target_tokens=lengths if told else None)
        hits = sum(len(seq) == n for seq, n in zip(out, lengths.tolist(), strict=True))
        assert hits == 10 if told else hits <= 2, (told, [len(seq) for seq in out])
