"""Tokenizer checkpoint folders: the exact file set, identical outputs after reload, clear errors."""

import json

import numpy as np
import pytest
import torch

from motionmill.checkpoints.tokenizer import load_tokenizer, save_tokenizer
from motionmill.motion.normalize import Normalizer
from motionmill.tokenizer.model import MotionTokenizer, TokenizerConfig


def make_model() -> MotionTokenizer:
    torch.manual_seed(0)
    return MotionTokenizer(TokenizerConfig.from_name("tiny", width=32, levels=(8, 8, 6, 5), haar=True)).eval()


def files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_model()
    save_tokenizer(model, tmp_path / "tok")
    assert files(tmp_path / "tok") == {"config.json", "model.safetensors"}
    loaded, stats = load_tokenizer(tmp_path / "tok")
    assert stats is None and loaded.cfg == model.cfg and not loaded.training
    x = torch.randn(2, 32, 272)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert json.loads((tmp_path / "tok" / "config.json").read_text())["levels"] == [8, 8, 6, 5]


def test_stats_are_bundled_and_stale_stats_removed(tmp_path):
    rng = np.random.default_rng(0)
    stats = Normalizer(rng.normal(size=272), rng.uniform(0.5, 2.0, size=272))
    save_tokenizer(make_model(), tmp_path, stats=stats)
    assert files(tmp_path) == {"config.json", "model.safetensors", "stats.safetensors"}
    _, loaded = load_tokenizer(tmp_path)
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.std, stats.std)
    save_tokenizer(make_model(), tmp_path)  # re-saved without stats: the old ones must not linger
    assert files(tmp_path) == {"config.json", "model.safetensors"}


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_tokenizer(tmp_path)
    save_tokenizer(make_model(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_embd": 3}))
    with pytest.raises(ValueError, match="n_embd"):
        load_tokenizer(tmp_path)
