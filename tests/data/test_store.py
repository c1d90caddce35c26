"""The corpus store: shard round trip at float16 precision, window reads, index queries, the resume check, and a
clip table that standard tools (pyarrow, pandas) open without motionmill."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from motionmill.data.store import SCHEMA_VERSION, ClipRecord, Corpus, QuarantineRecord, ShardWriter, completed_shard

pq = pytest.importorskip("pyarrow.parquet")

LENGTHS = [(40, "train"), (97, "val"), (10, "train"), (150, "test"), (64, "train")]


def make_store(root, lengths=LENGTHS, seed=0) -> list[np.ndarray]:
    """One shard holding clips of the given lengths and splits, plus one quarantined item; returns the features."""
    rng = np.random.default_rng(seed)
    writer = ShardWriter(root, 0)
    clips = []
    for i, (frames, split) in enumerate(lengths):
        x = rng.normal(0, 2, (frames, 272)).astype(np.float32)
        texts = [{"text": f"clip {i}", "start": 0.0, "end": 0.0}]
        writer.add(ClipRecord(f"t/{i}", "t", "CC0", 30.0, texts, {"jitter": 1.5 * i}, split, {"n": np.int64(i)}), x)
        clips.append(x)
    writer.reject(QuarantineRecord("t/bad", "t", "read", "load", float("nan"), "ValueError: broken"))
    info = writer.close()
    shutil.copy(root / "parts" / "shard-00000.clips.parquet", root / "clips.parquet")
    (root / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "feature_dim": 272}))
    assert info["clips"] == len(lengths) and info["quarantined"] == 1
    return clips


def test_round_trip_at_float16_precision(tmp_path):
    clips = make_store(tmp_path)
    corpus = Corpus(tmp_path)
    assert len(corpus) == len(clips)
    for i, x in enumerate(clips):
        got = corpus.clip(i)
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, x, rtol=2**-10, atol=2**-14)  # float16: 11 significant bits
    row = corpus.row(1)
    assert row["id"] == "t/1" and row["frames"] == 97 and row["offset"] == 40 and row["split"] == "val"
    assert row["texts"] == [{"text": "clip 1", "start": 0.0, "end": 0.0}]
    assert dict(row["quality"]) == {"jitter": 1.5} and json.loads(row["meta"]) == {"n": 1}


def test_window_reads_are_clipped_to_the_clip(tmp_path):
    clips = make_store(tmp_path)
    corpus = Corpus(tmp_path)
    np.testing.assert_array_equal(corpus.window(3, 20, 96), corpus.clip(3)[20:116])
    assert corpus.window(3, 100, 96).shape == (50, 272)  # runs off the end of the clip, not into the next one
    assert corpus.window(2, -5, 8).shape == (3, 272)  # frames [-5, 3) of the clip: its first 3
    assert corpus.window(2, 50, 8).shape == (0, 272)
    np.testing.assert_allclose(corpus.window(4, 60, 10), clips[4][60:], rtol=2**-10, atol=2**-14)


def test_indices_by_split_and_length(tmp_path):
    make_store(tmp_path)
    corpus = Corpus(tmp_path)
    assert corpus.indices().tolist() == [0, 1, 2, 3, 4]
    assert corpus.indices("train").tolist() == [0, 2, 4]
    assert corpus.indices("train", min_frames=40).tolist() == [0, 4]
    assert corpus.indices(min_frames=60, max_frames=100).tolist() == [1, 4]
    assert corpus.indices("zeroshot").tolist() == []


def test_table_opens_with_standard_tools(tmp_path):
    make_store(tmp_path)
    table = pq.read_table(tmp_path / "clips.parquet", columns=["id", "split", "frames"],
                          filters=[("split", "=", "train"), ("frames", ">=", 40)])  # fmt: skip
    assert table.column("id").to_pylist() == ["t/0", "t/4"]
    quarantine = pq.read_table(tmp_path / "parts" / "shard-00000.quarantine.parquet").to_pylist()
    assert quarantine[0]["stage"] == "read" and quarantine[0]["reason"] == "ValueError: broken"
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(tmp_path / "clips.parquet")
    assert list(frame["frames"]) == [n for n, _ in LENGTHS]
    assert frame.groupby("split")["frames"].sum().to_dict() == {"test": 150, "train": 114, "val": 97}


def test_features_are_memory_mapped_npy(tmp_path):
    make_store(tmp_path)
    arr = np.load(tmp_path / "shards" / "shard-00000.npy", mmap_mode="r")
    assert arr.dtype == np.float16 and arr.shape == (sum(n for n, _ in LENGTHS), 272)


def test_completed_shard_detects_missing_and_corrupt_files(tmp_path):
    make_store(tmp_path)
    info = completed_shard(tmp_path, 0)
    assert info is not None and set(info["files"]) == {"shards/shard-00000.npy", "parts/shard-00000.clips.parquet",
                                                       "parts/shard-00000.quarantine.parquet"}  # fmt: skip
    assert completed_shard(tmp_path, 1) is None
    part = tmp_path / "parts" / "shard-00000.clips.parquet"
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    assert completed_shard(tmp_path, 0) is None
    make_store(tmp_path)
    (tmp_path / "shards" / "shard-00000.npy").unlink()
    assert completed_shard(tmp_path, 0) is None


def test_close_is_deterministic_and_keeps_extra_info(tmp_path):
    make_store(tmp_path / "a")
    make_store(tmp_path / "b")
    for rel in ("shards/shard-00000.npy", "parts/shard-00000.clips.parquet", "parts/shard-00000.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    info = ShardWriter(tmp_path / "c", 3).close({"digest": "abc"})
    assert info["digest"] == "abc" and info["name"] == "shard-00003" and info["clips"] == 0
    assert completed_shard(tmp_path / "c", 3)["digest"] == "abc"


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\(T, 272\)"):
        ShardWriter(tmp_path, 0).add(ClipRecord("x", "t", "", 30.0), np.zeros((5, 263)))
    with pytest.raises(FileNotFoundError, match="not a corpus"):
        Corpus(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(ValueError, match="rebuild"):
        Corpus(tmp_path)
