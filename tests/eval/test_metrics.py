"""Reconstruction metrics against independent reference formulas."""

import numpy as np
import pytest

from motionmill.eval.metrics import acceleration_error, codebook_usage, mpjpe


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
