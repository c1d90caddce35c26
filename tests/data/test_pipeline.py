"""The corpus build: nothing is lost (items = kept + quarantined), bad items are quarantined with a reason while the
build goes on, a build killed with SIGKILL resumes to a byte-identical corpus, and every engine and worker count
writes the same bytes.

`TinySource` is a small in-test source: smooth FK motions, with items that are broken on purpose.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.cli import main
from motionmill.data.pipeline import BuildConfig, build_corpus, hash_split
from motionmill.data.quality import QualityConfig
from motionmill.data.sources import Sample
from motionmill.data.store import Corpus
from motionmill.motion.container import Motion
from motionmill.motion.normalize import Normalizer

pq = pytest.importorskip("pyarrow.parquet")
HERE = Path(__file__).parent

BROKEN = {"003": "raise", "007": "nan", "011": "no_text", "015": "short", "019": "empty", "025": "two", "027": "60fps"}
"""Tiny items that are special, and how. "two" yields a good and a too-short sample; "60fps" is resampled. Item 023
is left alone: its random pose hovers (the feet stay about 30 cm above the lowest joint of one frame), so the
floating filter rejects it."""
EXPECTED = {  # sample or item -> (stage, filter) of its quarantine row
    "tiny/003": ("read", "load"), "tiny/007": ("filter", "non_finite"), "tiny/011": ("filter", "captions"),
    "tiny/015": ("filter", "length"), "tiny/019": ("read", "empty"), "tiny/023": ("filter", "floating"),
    "tiny/025#b": ("filter", "length"),
}  # fmt: skip
SHARD_SIZE = 8


@dataclasses.dataclass(frozen=True)
class TinySource:
    """`size` items "000", "001", ...; the ones in BROKEN misbehave. `delay` slows loads (not part of the plan)."""

    size: int = 42
    licence: str = "CC0"
    delay: float = dataclasses.field(default=0.0, repr=False, compare=False)
    name = "tiny"

    def items(self) -> list[str]:
        return [f"{i:03d}" for i in range(self.size)]

    def load(self, key: str) -> list[Sample]:
        time.sleep(self.delay)
        kind = BROKEN.get(key, "")
        if kind == "raise":
            raise ValueError(f"corrupt file {key}.npz")
        if kind == "empty":
            return []
        frames, fps = (12, 30.0) if kind == "short" else (89, 60.0) if kind == "60fps" else (45, 30.0)
        rotations, joints = random_motion(int(key), frames=frames, turns=0.2)
        motion = Motion.from_rotations(rotations, joints, fps)
        if kind == "nan":
            broken = motion.features.copy()
            broken[10, 20] = np.nan
            motion.features = broken  # as a reader bug would leave it, after validation
        text = "" if kind == "no_text" else f"a person does thing {key}"
        sample = Sample(f"tiny/{key}", motion, [{"text": text, "start": 0.0, "end": 0.0}], meta={"key": key})
        if kind != "two":
            return [sample]
        short = Motion.from_rotations(rotations[:10], joints[:10])
        return [dataclasses.replace(sample, id=f"tiny/{key}#a"),
                dataclasses.replace(sample, id=f"tiny/{key}#b", motion=short)]  # fmt: skip


SOURCES = [TinySource(), "builtin:6"]
CFG = BuildConfig(shard_size=SHARD_SIZE, workers=2, progress=False)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean") / "corpus"
    return out, build_corpus(SOURCES, out, CFG)


def test_every_item_is_accounted_for(built):
    out, summary = built
    acc = summary["accounting"]
    assert acc["items"] == 42 + 6 and acc["samples"] == 42 + 6 - 2 + 1  # 2 items yield nothing, 1 yields two
    assert acc["outcomes"] == acc["items"] + 1 == acc["clips"] + acc["quarantined"]
    assert (summary["clips"], summary["quarantined"]) == (49 - 7, 7)
    assert summary["shards"] == 6 and summary["built"] == 6


def test_bad_items_are_quarantined_with_a_reason(built):
    out, _ = built
    rows = pq.read_table(out / "quarantine.parquet").to_pylist()
    assert {r["item"]: (r["stage"], r["filter"]) for r in rows} == EXPECTED
    reasons = {r["item"]: r["reason"] for r in rows}
    assert reasons["tiny/003"] == "ValueError: corrupt file 003.npz"
    assert "non-finite" in reasons["tiny/007"] and "empty" in reasons["tiny/011"]
    assert "12 frames" in reasons["tiny/015"]
    ids = set(pq.read_table(out / "clips.parquet", columns=["id"]).column("id").to_pylist())
    assert "tiny/025#a" in ids and not ids & set(EXPECTED)
    info = json.loads((out / "manifest.json").read_text())["counts"]
    assert info["filters"] == {"captions": 1, "empty": 1, "floating": 1, "length": 2, "load": 1, "non_finite": 1}
    assert info["sources"] == {"builtin": 6, "tiny": 36} and info["rejected_sources"] == {"tiny": 7}


def test_corpus_contents(built):
    out, _ = built
    corpus = Corpus(out)
    table = corpus.table.to_pydict()
    for i, (cid, split) in enumerate(zip(table["id"], table["split"], strict=True)):
        if cid.startswith("tiny/"):
            assert split == hash_split(cid, CFG.split_fractions, CFG.split_seed)
        assert corpus.clip(i).shape == (table["frames"][i], 272)
    resampled = table["id"].index("tiny/027")
    assert table["frames"][resampled] == 45 and table["fps"][resampled] == 30.0
    for split in set(table["split"]):
        ids = (out / "splits" / f"{split}.txt").read_text().split()
        assert ids == [c for c, s in zip(table["id"], table["split"], strict=True) if s == split]
    train = Normalizer.fit(corpus.clip(i) for i in corpus.indices("train"))
    np.testing.assert_allclose(corpus.stats().mean, train.mean, atol=1e-6)
    np.testing.assert_allclose(corpus.stats().std, train.std, rtol=1e-5)


def test_rerun_reuses_shards_unless_the_plan_changes(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = build_corpus(SOURCES, copy, dataclasses.replace(CFG, workers=1))
    assert (again["built"], again["reused"]) == (0, 6) and files(copy) == files(out)
    stricter = dataclasses.replace(CFG, workers=1, quality=QualityConfig(min_frames=50))
    changed = build_corpus(SOURCES, copy, stricter)
    assert changed["built"] == 6 and changed["clips"] < again["clips"]


def test_an_unaccounted_item_fails_the_build(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    info_path = copy / "parts" / "shard-00002.json"
    info = json.loads(info_path.read_text())
    info["outcomes"] += 1  # as if a sample had vanished between loading and writing
    info_path.write_text(json.dumps(info))
    with pytest.raises(RuntimeError, match="shard-00002: .* item outcomes"):
        build_corpus(SOURCES, copy, dataclasses.replace(CFG, workers=1))


def test_resume_after_kill_is_byte_identical(built, tmp_path):
    out, _ = built
    killed = tmp_path / "killed"
    script = (f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(HERE.parent)!r}]\n"
              "from test_pipeline import TinySource, CFG\n"
              "import dataclasses\n"
              "from motionmill.data.pipeline import build_corpus\n"
              f"build_corpus([TinySource(delay=0.05), 'builtin:6'], {str(killed)!r}, "
              "dataclasses.replace(CFG, workers=1))\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60

    def finished_shards() -> int:
        return len(list((killed / "parts").glob("shard-*.json")))

    while finished_shards() < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = finished_shards()
    assert 2 <= done < 6 and not (killed / "manifest.json").exists()
    resumed = build_corpus(SOURCES, killed, dataclasses.replace(CFG, workers=1))
    assert resumed["reused"] == done and resumed["built"] == 6 - done
    assert files(killed) == files(out)


def test_build_config_errors_name_the_flag():
    for kw, flag in [({"shard_size": 0}, "--shard-size"), ({"workers": 0}, "--workers"), ({"engine": "spark"},
                     "--engine"), ({"fps": -1.0}, "--fps")]:  # fmt: skip
        with pytest.raises(ValueError, match=flag):
            BuildConfig(**kw)


def test_hash_split_is_stable_and_follows_the_fractions():
    splits = [hash_split(f"x/{i}") for i in range(2000)]
    assert splits == [hash_split(f"x/{i}") for i in range(2000)]
    assert 0.87 < splits.count("train") / 2000 < 0.93 and splits.count("val") > 50 and splits.count("test") > 50


def test_cli_build_and_info(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["corpus", "build", "builtin:3", "--out", str(out), "--workers", "1", "--shard-size", "2"]) == 0
    assert main(["corpus", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 clips" in text and "clips per source:" in text and "rejected per filter:" in text
    assert main(["corpus", "build", "builtin:3", "--out", str(out), "--shard-size", "0"]) == 2
    assert main(["corpus", "info", str(tmp_path / "missing")]) == 2
    assert "motionmill: error:" in capsys.readouterr().err


@pytest.mark.ray
def test_ray_engine_writes_the_same_corpus(built, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    out, _ = built
    # Ray workers do not inherit sys.path, but a local instance inherits the environment: point it at TinySource.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(HERE.parent)]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = build_corpus(SOURCES, tmp_path / "ray", dataclasses.replace(CFG, engine="ray"))
    finally:
        ray.shutdown()
    assert summary["built"] == 6
    assert files(tmp_path / "ray") == files(out)


def test_ray_engine_without_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"pip install 'motionmill\[ray\]'"):
        build_corpus(["builtin:1"], tmp_path, BuildConfig(engine="ray", progress=False))


def test_corrupt_files_of_real_layouts_end_in_quarantine(tmp_path):
    """Truncated npy, wrong shape, NaN frames, an empty caption file and a garbage BVH: each is quarantined with a
    reason naming the problem, and the good clips are kept."""
    from motionmill.export.bvh import write_bvh

    h3d = tmp_path / "HumanML3D"
    (h3d / "new_joints").mkdir(parents=True)
    (h3d / "texts").mkdir()
    for name in ("000001", "000002", "000003", "000004", "000005"):
        np.save(h3d / "new_joints" / f"{name}.npy", random_motion(int(name), frames=60)[1].astype(np.float32))
        (h3d / "texts" / f"{name}.txt").write_text("a person moves#a/DET person/NOUN move/VERB#0.0#0.0\n")
    truncated = (h3d / "new_joints" / "000002.npy").read_bytes()
    (h3d / "new_joints" / "000002.npy").write_bytes(truncated[: len(truncated) // 2])
    np.save(h3d / "new_joints" / "000003.npy", np.zeros((60, 21, 3), np.float32))
    nan = random_motion(4, frames=60)[1].astype(np.float32)
    nan[10] = np.nan
    np.save(h3d / "new_joints" / "000004.npy", nan)
    (h3d / "texts" / "000005.txt").write_text("")
    bvh = tmp_path / "bvh"
    bvh.mkdir()
    write_bvh(Motion.from_rotations(*random_motion(6, frames=40)), bvh / "good.bvh")
    (bvh / "good.txt").write_text("a person moves around\n")
    (bvh / "garbage.bvh").write_bytes(b"HIERARCHY\nROOT Hips {\x00\x01 nonsense")

    summary = build_corpus([f"humanml3d:{h3d}", f"bvh:{bvh}"], tmp_path / "out",
                           BuildConfig(workers=1, shard_size=4, progress=False,
                                       quality=QualityConfig(require_captions=True)))  # fmt: skip
    assert summary["clips"] + summary["quarantined"] == 7
    rows = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    reasons = {r["item"].split("/")[-1].split(".")[0]: (r["filter"], r["reason"]) for r in rows}
    assert set(reasons) == {"000002", "000003", "000004", "000005", "garbage"}
    assert "000002.npy" in reasons["000002"][1]
    assert "000003.npy" in reasons["000003"][1] and "shape" in reasons["000003"][1]
    assert "000004.npy" in reasons["000004"][1]
    assert reasons["000005"][0] == "captions"
    assert "garbage.bvh" in reasons["garbage"][1]
    kept = pq.read_table(tmp_path / "out" / "clips.parquet").column("id").to_pylist()
    assert sorted(kept) == ["bvh/good.bvh", "humanml3d/000001"]
