"""FSQ: index <-> code round trips over whole codebooks, level reachability, the STE gradient, fp32 quantisation."""

import itertools
import math

import numpy as np
import pytest
import torch

from motionmill.tokenizer.fsq import FSQ

# The level sets MotionMillion uses (512, 1024, 4096, 16384 and "65536" nominal codes).
LEVEL_SETS = [[8, 8, 8], [8, 5, 5, 5], [7, 5, 5, 5, 5], [8, 8, 8, 6, 5], [8, 8, 8, 5, 5, 5]]


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_codebook_size_is_the_product_of_levels(levels):
    assert FSQ(levels, dim=16).codebook_size == math.prod(levels)


def test_released_codebook_has_64000_codes():
    assert FSQ([8, 8, 8, 5, 5, 5], dim=16).codebook_size == 64_000


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_indices_to_codes_to_indices_over_every_index(levels):
    fsq = FSQ(levels, dim=16)
    idx = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(idx)  # (K, d)
    assert codes.dtype == torch.float32 and codes.abs().max() <= 1
    assert torch.equal(fsq.codes_to_indices(codes), idx)
    assert torch.unique(codes, dim=0).shape[0] == fsq.codebook_size  # distinct indices give distinct codes


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_codes_to_indices_to_codes_over_every_code(levels):
    # Every code built independently: q in [-floor(L/2), L - 1 - floor(L/2)], code = q / floor(L/2).
    per_dim = [[q / (lv // 2) for q in range(-(lv // 2), lv - lv // 2)] for lv in levels]
    codes = torch.tensor(list(itertools.product(*per_dim)), dtype=torch.float32)  # (K, d)
    fsq = FSQ(levels, dim=16)
    idx = fsq.codes_to_indices(codes)
    assert torch.equal(torch.sort(idx).values, torch.arange(fsq.codebook_size))  # a bijection onto [0, K)
    assert torch.equal(fsq.indices_to_codes(idx), codes)


def test_first_level_is_least_significant():
    fsq = FSQ([8, 5, 5, 5], dim=16)
    c0, c1, c8 = fsq.indices_to_codes(torch.tensor([0, 1, 8]))
    assert (c1 != c0).tolist() == [True, False, False, False]
    assert (c8 != c0).tolist() == [False, True, False, False]


@pytest.mark.parametrize("level", [2, 3, 5, 6, 7, 8])
def test_quantize_reaches_exactly_the_level_set(level):
    fsq = FSQ([level], dim=4)
    z = torch.linspace(-8, 8, 20001).unsqueeze(-1)
    q = fsq.quantize(z) * (level // 2)  # back to integers
    expected = torch.arange(-(level // 2), level - level // 2, dtype=torch.float32)
    assert torch.equal(torch.unique(q), expected)


def test_quantize_matches_the_published_formula():
    levels = np.array([8, 8, 8, 6, 5, 7])
    z = np.random.default_rng(0).normal(scale=2.0, size=(1000, len(levels)))
    half = (levels - 1) * (1 + 1e-3) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    expected = np.round(np.tanh(z + np.arctanh(offset / half)) * half - offset) / (levels // 2)
    got = FSQ(levels.tolist(), dim=4).quantize(torch.from_numpy(z))
    np.testing.assert_array_equal(got.numpy(), expected)


def test_forward_shapes_and_dequantize():
    fsq = FSQ([8, 5, 5, 5], dim=16)
    z = torch.randn(3, 16, 7)  # (B, D, N)
    out, idx = fsq(z)
    assert out.shape == (3, 16, 7) and idx.shape == (3, 7) and idx.dtype == torch.int64
    assert 0 <= idx.min() and idx.max() < fsq.codebook_size
    torch.testing.assert_close(fsq.dequantize(idx), out)


def test_straight_through_gradient_reaches_the_input():
    fsq = FSQ([8, 8, 8, 5, 5, 5], dim=16)
    z = torch.randn(2, 16, 5, requires_grad=True)
    out, _ = fsq(z)
    out.square().sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    # Through the rounding itself the gradient is the identity: d quantize / dz = d bound / dz > 0.
    y = torch.zeros(4, 6, requires_grad=True)
    fsq.quantize(y).sum().backward()
    assert (y.grad > 0).all()


def test_quantisation_runs_in_fp32_under_bf16_autocast():
    fsq = FSQ([8, 8, 8, 5, 5, 5], dim=16)
    seen = {}

    def after_project_in(module, args, output):
        seen["in"] = output.dtype

    def before_project_out(module, args):
        seen["codes"] = args[0].dtype

    fsq.project_in.register_forward_hook(after_project_in)
    fsq.project_out.register_forward_pre_hook(before_project_out)
    z = torch.randn(2, 16, 5)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out, idx = fsq(z)
        codes = fsq.quantize(torch.randn(4, 6, dtype=torch.bfloat16))
    assert seen == {"in": torch.bfloat16, "codes": torch.float32}  # autocast was on; the codes stayed fp32
    assert codes.dtype == torch.float32
    assert 0 <= idx.min() and idx.max() < fsq.codebook_size


def test_rejects_bad_levels_and_float_indices():
    with pytest.raises(ValueError, match="levels"):
        FSQ([8, 1], dim=4)
    with pytest.raises(TypeError, match="integer"):
        FSQ([8, 5], dim=4).indices_to_codes(torch.zeros(3))
