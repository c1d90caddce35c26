import numpy as np
import pytest
import torch

from motionmill.motion.features272 import LAYOUT_272
from motionmill.motion.normalize import Normalizer


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(500, 272)) * rng.uniform(0.01, 2.0, 272) + rng.normal(size=272)


def test_group_constant_std_is_the_mean_of_per_dim_std_in_each_group():
    x = _data()
    norm = Normalizer.fit(x)
    assert np.allclose(norm.mean, x.mean(0), atol=1e-5)
    per_dim = x.std(0)
    for _, start, stop in LAYOUT_272.groups:
        assert np.allclose(norm.std[start:stop], per_dim[start:stop].mean(), rtol=1e-5)


def test_streaming_fit_equals_one_shot_fit():
    x = _data(1)
    chunks = [x[:123], x[123:300], x[300:]]
    a, b = Normalizer.fit(x, layout=None), Normalizer.fit(iter(chunks), layout=None)
    assert np.allclose(a.mean, b.mean) and np.allclose(a.std, b.std)
    assert np.allclose(a.std, x.std(0), rtol=1e-5)


def test_normalize_round_trip_numpy_and_torch():
    x = _data(2)
    norm = Normalizer.fit(x)
    assert np.allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-5)
    t = torch.from_numpy(x).float()
    assert torch.allclose(norm.denormalize(norm.normalize(t)), t, atol=1e-4)


@pytest.mark.parametrize("name", ["stats.safetensors", "mean_std"])
def test_save_load(tmp_path, name):
    norm = Normalizer.fit(_data(3))
    norm.save(tmp_path / name)
    back = Normalizer.load(tmp_path / name)
    assert np.array_equal(back.mean, norm.mean) and np.array_equal(back.std, norm.std)
    if name == "mean_std":  # the released MotionMillion layout
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["Mean.npy", "Std.npy"]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        Normalizer(np.zeros(3), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="dims"):
        Normalizer.fit(_data()).normalize(np.zeros((2, 263)))
    with pytest.raises(FileNotFoundError, match="Mean.npy"):
        (tmp_path / "empty").mkdir()
        Normalizer.load(tmp_path / "empty")
