"""Built-in corpus reader: keys, determinism, splits and captions straight from the synth plans."""

import numpy as np
import pytest

from motionmill.data.sources import open_source
from motionmill.data.sources.builtin import BuiltinSource
from motionmill.synth.corpus import make_clip


def test_items_are_zero_padded_indices():
    assert open_source("builtin:3").items() == ["000000", "000001", "000002"]
    assert BuiltinSource(0).items() == []
    assert BuiltinSource(1_000_001).items()[-1] == "1000000"


def test_spec_seed_and_errors():
    assert open_source("builtin:5:7") == BuiltinSource(5, 7)
    with pytest.raises(ValueError, match="N or N:SEED"):
        open_source("builtin:many")
    with pytest.raises(ValueError, match="outside"):
        BuiltinSource(3).load("000003")


def test_clip_matches_its_plan_and_is_deterministic():
    source = BuiltinSource(4, seed=11)
    (sample,) = source.load("000002")
    clip = make_clip(11, 2)
    assert sample.id == "builtin/11/000002"
    assert sample.split == clip.plan.split
    assert sample.licence == "motionmill built-in (Apache-2.0)"
    assert sample.meta["actions"] == [s.action for s in clip.plan.segments]
    assert sample.motion.fps == 30.0 and sample.motion.num_frames == clip.joints.shape[0]
    assert np.array_equal(sample.motion.features, clip.motion().features)
    assert np.array_equal(sample.motion.features, source.load("000002")[0].motion.features)


def test_captions_keep_spans_inside_the_clip():
    for key in BuiltinSource(6, seed=3).items():
        (sample,) = BuiltinSource(6, seed=3).load(key)
        assert sample.texts, key
        duration = sample.motion.duration
        for c in sample.texts:
            assert c["text"] and (c["start"] == c["end"] == 0.0 or 0 <= c["start"] < c["end"] <= duration + 1e-9)
        assert len(sample.meta["caption_templates"]) == len(sample.texts)
