"""The text-state cache: results equal direct encoding (to float16 precision), stored texts are never re-encoded,
shards written by another instance are picked up, and different encoders never collide.

A counting fake encoder stands in for the text model, so these tests need no `transformers`.
"""

from __future__ import annotations

import pickle
import zlib

import torch

from motionmill.text.cache import EmbeddingCache, text_key
from motionmill.text.encoders import TextEncoder, pad_sequences

TEXTS = ["a person walks forward", "a person jumps", "a person waves with both hands then sits down", "kick"]


class CountingEncoder(TextEncoder):
    """Deterministic states that depend on (name, text); one token per word plus an end token."""

    def __init__(self, name: str = "fake", dim: int = 8):
        self.name, self.dim, self.max_tokens = name, dim, 150
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded += texts
        seqs = []
        for text in texts:
            gen = torch.Generator().manual_seed(zlib.crc32(f"{self.name}|{text}".encode()))
            seqs.append(torch.randn(len(text.split()) + 1, self.dim, generator=gen) * 3)
        return pad_sequences(seqs, self.dim)


def test_get_matches_direct_encoding(tmp_path):
    encoder = CountingEncoder()
    states, mask = EmbeddingCache(tmp_path, encoder, batch_size=3).get(TEXTS)
    ref_states, ref_mask = CountingEncoder().encode(TEXTS)
    assert states.dtype == torch.float32 and states.shape == ref_states.shape == (4, 10, 8)
    assert torch.equal(mask, ref_mask)
    torch.testing.assert_close(states, ref_states, atol=1e-2, rtol=1e-3)  # float16 storage
    assert torch.all(states[~mask] == 0)


def test_second_instance_reads_from_disk(tmp_path):
    first = EmbeddingCache(tmp_path, CountingEncoder())
    assert first.precompute(TEXTS, batch_size=2) == len(TEXTS)
    expected = first.get(TEXTS)
    encoder = CountingEncoder()
    second = EmbeddingCache(tmp_path, encoder)
    states, mask = second.get(TEXTS[::-1])
    assert encoder.encoded == []
    assert torch.equal(states, expected[0].flip(0))
    assert torch.equal(mask, expected[1].flip(0))


def test_only_missing_texts_are_encoded_once(tmp_path):
    encoder = CountingEncoder()
    cache = EmbeddingCache(tmp_path, encoder)
    first = cache.get(TEXTS[:2])
    again = cache.get(TEXTS[:2])
    assert torch.equal(first[0], again[0])  # a miss and a hit both return the stored float16 values
    cache.get(TEXTS + [TEXTS[3], TEXTS[0]])
    assert encoder.encoded == TEXTS[:2] + TEXTS[2:]
    assert len(cache) == len(TEXTS) and TEXTS[2] in cache


def test_concurrent_instance_sees_new_shards(tmp_path):
    writer, reader_encoder = CountingEncoder(), CountingEncoder()
    reader = EmbeddingCache(tmp_path, reader_encoder)  # opened before anything was written
    EmbeddingCache(tmp_path, writer).precompute(TEXTS)
    reader.get(TEXTS)
    assert reader_encoder.encoded == []


def test_different_encoders_never_collide(tmp_path):
    a, b = CountingEncoder("enc-a"), CountingEncoder("enc-b", dim=4)
    states_a, _ = EmbeddingCache(tmp_path, a).get(TEXTS)
    states_b, _ = EmbeddingCache(tmp_path, b).get(TEXTS)
    assert states_a.shape[-1] == 8 and states_b.shape[-1] == 4
    assert a.encoded == b.encoded == TEXTS  # b found nothing of a's
    torch.testing.assert_close(EmbeddingCache(tmp_path, CountingEncoder("enc-a")).get(TEXTS)[0], states_a)
    assert text_key("enc-a", "x") != text_key("enc-b", "x")
    assert text_key("ab", "c") != text_key("a", "bc")  # the NUL separator keeps names and texts apart


def test_shards_temp_files_and_pickling(tmp_path):
    cache = EmbeddingCache(tmp_path, CountingEncoder(), shard_size=2)
    assert cache.precompute(TEXTS + TEXTS) == 4
    assert cache.precompute(TEXTS) == 0
    assert len(list(cache.folder.glob("shard-*.safetensors"))) == 2
    (cache.folder / ".shard-123.4567.abcd.safetensors").write_bytes(b"half-written")  # an interrupted writer
    encoder = CountingEncoder()
    clone = pickle.loads(pickle.dumps(EmbeddingCache(tmp_path, encoder)))  # as DataLoader workers receive it
    torch.testing.assert_close(clone.get(TEXTS)[0], cache.get(TEXTS)[0])
    assert encoder.encoded == [] and clone.encoder.encoded == []


def test_empty_request(tmp_path):
    states, mask = EmbeddingCache(tmp_path, CountingEncoder()).get([])
    assert states.shape == (0, 0, 8) and mask.shape == (0, 0)
