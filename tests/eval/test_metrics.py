"""Text-to-motion and reconstruction metrics against independent reference implementations of the formulas."""

import math

import numpy as np
import pytest

from motionmill.eval.metrics import (
    acceleration_error,
    codebook_usage,
    diversity,
    fid,
    matching_score,
    mean_ci,
    mpjpe,
    multimodality,
    r_precision,
)


def test_mpjpe_matches_a_loop_over_frames_and_joints():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 10, 22, 3))
    total = 0.0
    for t in range(10):
        for j in range(22):
            total += np.sqrt(((pred[t, j] - pred[t, 0]) - (target[t, j] - target[t, 0])) @
                             ((pred[t, j] - pred[t, 0]) - (target[t, j] - target[t, 0])))  # fmt: skip
    assert mpjpe(pred, target) == pytest.approx(total / 220 * 1000, rel=1e-9)


def test_mpjpe_ignores_a_global_translation_per_frame():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(10, 22, 3))
    shifted = target + rng.normal(size=(10, 1, 3))
    assert mpjpe(shifted, target) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="shape"):
        mpjpe(target[:5], target)


def test_acceleration_error_of_a_constant_velocity_offset_is_zero_and_known_otherwise():
    t = np.arange(20)[:, None, None] / 30.0
    base = np.zeros((20, 22, 3))
    assert acceleration_error(base + t * 2.0, base) == pytest.approx(0.0, abs=1e-9)
    # x = 0.5 a t^2 has acceleration a everywhere
    assert acceleration_error(base + 0.5 * 3.0 * t**2 * np.array([1.0, 0, 0]), base) == pytest.approx(3.0)


def test_codebook_usage_and_perplexity():
    out = codebook_usage(np.array([0, 1, 2, 3, -1]), 8)
    assert out["usage"] == 0.5 and out["perplexity"] == pytest.approx(4.0)
    assert codebook_usage(np.zeros(10, int), 4)["perplexity"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside"):
        codebook_usage(np.array([9]), 8)


def reference_fid(real, generated):
    """FID with covariances from explicit sums and the square root of the product S_r S_g itself."""
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    cov_r = sum(np.outer(x - mu_r, x - mu_r) for x in real) / (len(real) - 1)
    cov_g = sum(np.outer(x - mu_g, x - mu_g) for x in generated) / (len(generated) - 1)
    try:
        from scipy.linalg import sqrtm

        trace_sqrt = np.trace(sqrtm(cov_r @ cov_g)).real
    except ImportError:  # the eigenvalues of the product are real and non-negative up to rounding
        trace_sqrt = np.sqrt(np.clip(np.linalg.eigvals(cov_r @ cov_g).real, 0, None)).sum()
    return float((mu_r - mu_g) @ (mu_r - mu_g) + np.trace(cov_r) + np.trace(cov_g) - 2 * trace_sqrt)


def test_fid_matches_the_published_formula():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    generated = rng.normal(loc=0.3, size=(150, 16)) @ rng.normal(size=(16, 16))
    assert fid(real, generated) == pytest.approx(reference_fid(real, generated), rel=1e-6)


def test_fid_is_zero_for_a_set_against_itself_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 32))
    assert abs(fid(real, real)) < 1e-6
    # a shifted copy keeps the covariance, so FID is exactly the squared shift
    shift = np.zeros(32)
    values = []
    for size in (0.1, 0.5, 1.0):
        shift[0] = size
        values.append(fid(real, real + shift))
        assert values[-1] == pytest.approx(size**2, rel=1e-6)
    assert values == sorted(values)


def test_fid_of_rank_deficient_embeddings_is_finite_and_non_negative():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(10, 64))  # fewer rows than dimensions: singular covariances
    generated = rng.normal(size=(12, 64))
    assert fid(real, generated) == pytest.approx(reference_fid(real, generated), rel=1e-6)
    assert fid(real, generated) > 0


def reference_r_precision(text, motion, seed, batch_size=32, top_k=3):
    """Per text, sort the batch's motions by distance and find the position of its own."""
    order = list(np.random.default_rng(seed).permutation(len(text)))
    hits, counted = [0] * top_k, 0
    for start in range(0, len(order) - batch_size + 1, batch_size):
        batch = order[start : start + batch_size]
        for i in batch:
            ranked = sorted(batch, key=lambda j, i=i: math.dist(text[i], motion[j]))
            position = ranked.index(i)
            for k in range(top_k):
                hits[k] += position <= k
            counted += 1
    return np.array(hits) / counted


def test_r_precision_matches_per_text_loops():
    rng = np.random.default_rng(3)
    text = rng.normal(size=(100, 8))  # 3 full batches; the last 4 pairs are dropped
    motion = text + rng.normal(scale=1.5, size=(100, 8))
    out = r_precision(text, motion, np.random.default_rng(7))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, reference_r_precision(text, motion, seed=7), rtol=1e-6)
    assert 0 < out[0] < out[1] < out[2] < 1
    small = r_precision(text, motion, np.random.default_rng(7), batch_size=10, top_k=5)
    np.testing.assert_allclose(small, reference_r_precision(text, motion, seed=7, batch_size=10, top_k=5), rtol=1e-6)


def test_r_precision_of_matched_and_of_shuffled_pairs():
    rng = np.random.default_rng(4)
    emb = rng.normal(size=(3200, 16))
    np.testing.assert_array_equal(r_precision(emb, emb, rng), [1.0, 1.0, 1.0])
    chance = r_precision(emb, rng.permutation(emb), rng)
    # 3200 texts, each a hit at k with probability k/32; a binomial std of about 0.003 at k = 1
    np.testing.assert_allclose(chance, np.arange(1, 4) / 32, atol=0.015)
    # collapsed motions are all at the same distance: a tie counts against the text
    assert r_precision(emb[:64], np.zeros((64, 16)), rng).max() == 0.0


def test_matching_score_is_the_mean_paired_distance():
    rng = np.random.default_rng(5)
    text, motion = rng.normal(size=(2, 50, 8))
    expected = sum(math.dist(t, m) for t, m in zip(text, motion, strict=True)) / 50
    assert matching_score(text, motion) == pytest.approx(expected, rel=1e-9)
    assert matching_score(text, text) == 0.0


def test_diversity_matches_a_loop_over_the_same_draws():
    emb = np.random.default_rng(6).normal(size=(40, 8))
    draws = np.random.default_rng(11)
    first, other = draws.integers(0, 40, 300), draws.integers(0, 39, 300)
    total = 0.0
    for a, b in zip(first, other, strict=True):
        b = b + 1 if b >= a else b  # the b-th row among those other than a
        assert a != b
        total += math.dist(emb[a], emb[b])
    assert diversity(emb, np.random.default_rng(11), draws="distinct") == pytest.approx(total / 300, rel=1e-6)


def test_multimodality_matches_a_loop_over_the_same_draws():
    emb = np.random.default_rng(8).normal(size=(5, 6, 4))  # 5 captions x 6 generations
    draws = np.random.default_rng(12)
    first, other = draws.integers(0, 6, (5, 10)), draws.integers(0, 5, (5, 10))
    per_caption = []
    for c in range(5):
        distances = []
        for a, b in zip(first[c], other[c], strict=True):
            b = b + 1 if b >= a else b
            distances.append(math.dist(emb[c, a], emb[c, b]))
        per_caption.append(sum(distances) / len(distances))
    expected = sum(per_caption) / 5
    assert multimodality(emb, np.random.default_rng(12), draws="distinct") == pytest.approx(expected, rel=1e-6)


def _reference_diversity(activation, diversity_times, rng):
    """The reference implementation's Diversity (text2motion `utils/metrics.py`), its global RNG replaced by `rng`."""
    assert len(activation.shape) == 2 and activation.shape[0] > diversity_times
    first = rng.choice(activation.shape[0], diversity_times, replace=False)
    second = rng.choice(activation.shape[0], diversity_times, replace=False)
    return np.linalg.norm(activation[first] - activation[second], axis=1).mean()


def _reference_multimodality(activation, multimodality_times, rng):
    """The reference implementation's MModality: one set of index pairs shared by every caption."""
    assert len(activation.shape) == 3 and activation.shape[1] > multimodality_times
    first = rng.choice(activation.shape[1], multimodality_times, replace=False)
    second = rng.choice(activation.shape[1], multimodality_times, replace=False)
    return np.linalg.norm(activation[:, first] - activation[:, second], axis=2).mean()


@pytest.mark.parametrize("seed", range(4))
def test_published_draws_equal_the_reference_implementation(seed):
    emb = np.random.default_rng(seed).normal(size=(400, 16))
    gens = np.random.default_rng(seed + 10).normal(size=(100, 30, 16))
    ours = diversity(emb, np.random.default_rng(seed + 20))
    assert ours == pytest.approx(_reference_diversity(emb, 300, np.random.default_rng(seed + 20)), rel=1e-12)
    ours = multimodality(gens, np.random.default_rng(seed + 30))
    assert ours == pytest.approx(_reference_multimodality(gens, 10, np.random.default_rng(seed + 30)), rel=1e-12)


def test_published_draws_may_pair_a_row_with_itself_so_they_come_out_lower():
    """With 30 generations and 10 pairs, a drawn pair is a self-pair with probability 1/30: over many draws the
    published MModality is about 1/30 (3.3%) below the distinct-pair value."""
    gens = np.random.default_rng(3).normal(size=(100, 30, 16))
    rng = np.random.default_rng(4)
    published = np.mean([multimodality(gens, rng) for _ in range(300)])
    distinct = np.mean([multimodality(gens, rng, draws="distinct") for _ in range(300)])
    assert published / distinct == pytest.approx(1 - 1 / 30, abs=0.01)
    with pytest.raises(ValueError, match="published draws take 300 different rows on each side.*there are 40"):
        diversity(gens[0, :, :].repeat(2, axis=0)[:40], rng)
    with pytest.raises(ValueError, match="draws must be one of"):
        multimodality(gens, rng, draws="other")


def test_seeds_make_diversity_and_multimodality_reproducible():
    emb = np.random.default_rng(9).normal(size=(400, 16))
    gens = np.random.default_rng(10).normal(size=(20, 30, 16))
    for metric, x in ((diversity, emb), (multimodality, gens)):
        same = metric(x, np.random.default_rng(1)), metric(x, np.random.default_rng(1))
        assert same[0] == same[1]
        assert metric(x, np.random.default_rng(2)) != same[0]
    state = np.random.get_state()[1].copy()
    diversity(emb, np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global RNG is untouched


def test_mean_ci_uses_the_population_std():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, half = mean_ci(values)
    assert mean == 2.5
    assert half == pytest.approx(1.96 * math.sqrt(sum((v - 2.5) ** 2 for v in values) / 4) / 2)
    assert mean_ci([5.0]) == (5.0, 0.0)


def test_bad_input_raises_naming_the_argument():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(40, 8))
    nan = good.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="generated"):
        fid(good, nan)
    with pytest.raises(ValueError, match="width"):
        fid(good, good[:, :4])
    with pytest.raises(ValueError, match="real"):
        fid(good[0], good)
    with pytest.raises(ValueError, match="batch_size=32.*got 20"):
        r_precision(good[:20], good[:20], rng)
    with pytest.raises(ValueError, match="text_emb shape"):
        r_precision(good, good[:35], rng)
    with pytest.raises(ValueError, match="top_k"):
        r_precision(good, good, rng, top_k=0)
    with pytest.raises(ValueError, match="motion_emb"):
        matching_score(good, nan)
    with pytest.raises(ValueError, match="emb needs at least 2"):
        diversity(good[:1], rng)
    with pytest.raises(ValueError, match="pairs"):
        diversity(good, rng, pairs=0)
    with pytest.raises(ValueError, match="generations"):
        multimodality(good[:, :1, None], rng)
    with pytest.raises(ValueError, match="emb must have 3"):
        multimodality(good, rng)
    with pytest.raises(ValueError, match="values"):
        mean_ci([])
    with pytest.raises(ValueError, match="values"):
        mean_ci([1.0, np.nan])
