"""Training datasets over a small built-in corpus."""

import numpy as np
import pytest
import torch

from corpus_factory import builtin_corpus
from motionmill.data.datasets import LengthBucketSampler, TextMotionDataset, WindowDataset, collate_padded
from motionmill.data.store import Corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return Corpus(builtin_corpus(tmp_path_factory))


def test_windows_are_deterministic_per_seed_epoch_and_index(corpus):
    a, b = WindowDataset(corpus, window=32, seed=1), WindowDataset(corpus, window=32, seed=1)
    assert torch.equal(a[5], b[5]) and a[5].shape == (32, 272)
    b.set_epoch(1)
    assert not torch.equal(a[5], b[5])
    # every window is a contiguous piece of one training clip
    x = a[3].numpy()
    hits = [i for i in a.clips if any(np.allclose(corpus.window(int(i), s, 32), x)
                                      for s in range(corpus.frames(int(i)) - 31))]  # fmt: skip
    assert len(hits) >= 1


def test_caption_spans_crop_the_motion(corpus):
    ds = TextMotionDataset(corpus, split="train", min_frames=8)
    for index in range(len(ds)):
        for caption in ds.texts[index]:
            if caption["end"] > caption["start"]:
                start, stop = ds._span(caption, int(ds.clips[index]), float(ds.fps[index]))
                fps = float(ds.fps[index])
                assert start == round(caption["start"] * fps) and stop <= corpus.frames(int(ds.clips[index]))
                assert stop - start < corpus.frames(int(ds.clips[index]))
                return
    pytest.fail("no caption with a time span in the corpus")


def test_pairs_are_deterministic_and_collate_pads(corpus):
    ds = TextMotionDataset(corpus, split="train", max_frames=64)
    items = [ds[i] for i in range(4)]
    again = TextMotionDataset(corpus, split="train", max_frames=64)
    assert [it["text"] for it in items] == [again[i]["text"] for i in range(4)]
    assert all(it["length"] <= 64 for it in items)
    batch = collate_padded(items)
    lengths = batch["length"]
    assert batch["motion"].shape == (4, int(lengths.max()), 272)
    assert batch["mask"].sum(1).tolist() == lengths.tolist()
    assert (batch["motion"][~batch["mask"]] == 0).all()


def test_length_buckets_cover_every_item_once():
    lengths = np.random.default_rng(0).integers(20, 300, 1000)
    sampler = LengthBucketSampler(lengths, batch_size=16, seed=3)
    batches = list(sampler)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    padding = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    order = np.random.default_rng(0).permutation(1000)
    random_padding = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in np.array_split(order, len(batches)))
    assert padding < 0.3 * random_padding
    sampler.set_epoch(1)
    assert batches != list(sampler)
