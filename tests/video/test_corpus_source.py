"""`video:DIR` as a corpus source: every bad file lands in the quarantine with its reason while the build goes on, a
build killed mid-way resumes without redoing or duplicating finished videos, and Ray writes the same corpus.

The folder holds one good video (a rendered figure performing a built-in clip) and six bad ones; names are chosen
so that the good video is the second item, which gives the kill test time to strike while it is being annotated.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from test_annotate import write
from test_decode import ffmpeg, write_video

from fake_chat import QuietHandler, base_url, reply, serve
from motionmill.data.pipeline import BuildConfig, build_corpus
from motionmill.data.sources import open_source
from motionmill.data.sources.video import VideoSource
from motionmill.data.store import Corpus, import_pyarrow
from motionmill.synth.corpus import make_clip
from motionmill.video.closed_loop import View, render_video

_, pq = import_pyarrow()
CFG = BuildConfig(shard_size=1, workers=1, progress=False)
"""What `motionmill corpus build video:DIR --shard-size 1 --workers 1` runs (the other settings are the defaults)."""
GOOD = "video/b_figure.mp4#0-90"
EXPECTED = {  # quarantine item -> (stage, filter)
    "video/a_audio.mp4#0-0": ("decode", "no-video-stream"),
    "video/c_cut.mp4#0-0": ("decode", "truncated"),
    "video/d_4k.mp4#0-15": ("shots", "no-person"),
    "video/e_nobody.mp4#0-30": ("shots", "no-person"),
    "video/e_nobody.mp4#30-60": ("shots", "no-person"),
    "video/f_one.mp4#0-1": ("decode", "too-short"),
    "video/g_zero.mp4#0-0": ("decode", "empty-file"),
}


def noisy(photo: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """A still photograph with a little sensor noise, so the frames are not identical."""
    return [np.clip(photo.astype(int) + np.random.default_rng([seed, i]).integers(-3, 4, photo.shape), 0, 255)
            .astype(np.uint8) for i in range(count)]  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(folder / "a_audio.mp4"))  # sound, no picture
    truth = make_clip(7, 1, captions=False).joints[:90]  # 3 s of "cheer" (arms up and down)
    render_video(truth, View(25.0, 10.0, 50.0, 0, "coffee"), folder / "b_figure.mp4", size=(320, 240))
    whole = write_video(tmp_path_factory.mktemp("scratch") / "whole.mp4", 60).read_bytes()
    (folder / "c_cut.mp4").write_bytes(whole[: len(whole) // 2])  # the MP4 index comes last: nothing can be read
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=30:duration=0.5", "-pix_fmt", "yuv420p",
           str(folder / "d_4k.mp4"))  # fmt: skip
    # two shots of photographs without a person, joined by a hard cut: two rejections from one video
    write(folder / "e_nobody.mp4", noisy(data.coffee()[:240, :320], 30, 0) + noisy(data.rocket()[:240, :320], 30, 1))
    write_video(folder / "f_one.mp4", 1)
    (folder / "g_zero.mp4").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def built(videos, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean") / "corpus"
    return out, build_corpus([f"video:{videos}"], out, CFG)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_spec_and_the_listing(tmp_path):
    source = open_source(f"video:{tmp_path},lifter=geometric,max_side=320,min_track_s=1.5,licence=CC-BY")
    assert source == VideoSource(str(tmp_path), "geometric", 320, 1.5, "CC-BY")
    with pytest.raises(ValueError, match="caption_url and caption_model go together"):
        open_source(f"video:{tmp_path},caption_url=http://127.0.0.1:9")
    assert pickle.loads(pickle.dumps(source)) == source  # for worker processes and Ray tasks
    assert source.config.lifter == "geometric" and source.config.max_side == 320 and source.config.min_track_s == 1.5
    with pytest.raises(ValueError, match="fps=30"):
        open_source(f"video:{tmp_path},fps=30")
    for name in ("b.MP4", "a.mov", "sub/c.WebM", "d.mkv", "e.avi", "f.m4v", "g.mpg", "h.MPEG", "notes.txt",
                 "sound.m4a", "sub/clip.bvh"):  # fmt: skip
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert source.items() == ["a.mov", "b.MP4", "d.mkv", "e.avi", "f.m4v", "g.mpg", "h.MPEG", "sub/c.WebM"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VideoSource(str(tmp_path / "nowhere")).items()
    with pytest.raises(FileNotFoundError, match="regressor folder"):
        VideoSource(str(tmp_path), lifter=str(tmp_path)).items()


def test_bad_videos_are_quarantined_and_the_good_one_is_kept(built):
    out, summary = built
    rows = pq.read_table(out / "quarantine.parquet").to_pylist()
    assert {r["item"]: (r["stage"], r["filter"]) for r in rows} == EXPECTED
    assert len(rows) == len(EXPECTED) and {r["source"] for r in rows} == {"video"}
    reasons = {r["item"]: r["reason"] for r in rows}
    assert reasons["video/g_zero.mp4#0-0"] == "the file has 0 bytes"
    assert reasons["video/f_one.mp4#0-1"] == "1 frame(s)"
    assert reasons["video/e_nobody.mp4#30-60"] == "nobody found in frames 30-60"
    assert all(reasons.values())
    acc = summary["accounting"]
    # 7 videos; the one with two empty shots gives two samples and no "empty" row
    assert (acc["items"], acc["samples"], acc["clips"], acc["quarantined"]) == (7, 8, 1, 7)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert "empty" not in counts["filters"] and counts["rejected_sources"] == {"video": 7}

    corpus = Corpus(out)
    table = corpus.table.to_pylist()
    assert [r["id"] for r in table] == [GOOD]
    clip = table[0]
    assert clip["source"] == "video" and clip["fps"] == 30.0 and clip["frames"] == 90
    assert corpus.clip(0).shape == (90, 272) and np.isfinite(corpus.clip(0)).all()
    meta = json.loads(clip["meta"])
    assert (meta["path"], meta["start"], meta["end"], meta["source_fps"]) == ("b_figure.mp4", 0, 90, 30.0)
    assert meta["captioner"].startswith("offline:") and {"jitter", "foot_skating", "detected"} <= set(meta["scores"])
    texts = clip["texts"]
    assert texts[0]["text"].startswith("a person ") and (texts[0]["start"], texts[0]["end"]) == (0.0, 0.0)
    assert all(0 <= t["start"] < t["end"] <= 3.0 + 1e-3 for t in texts[1:])


def test_a_killed_build_keeps_its_finished_videos(videos, built, tmp_path):
    clean, _ = built
    killed = tmp_path / "killed"
    motionmill = Path(sys.executable).with_name("motionmill")
    proc = subprocess.Popen([str(motionmill), "corpus", "build", f"video:{videos}", "--out", str(killed),
                             "--shard-size", "1", "--workers", "1"], stderr=subprocess.DEVNULL)  # fmt: skip

    def finished() -> list[Path]:
        return sorted((killed / "parts").glob("shard-*.json"))

    deadline = time.monotonic() + 90
    while not finished() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [p.name.split(".")[0] for p in finished()]
    assert 1 <= len(done) < 7 and not (killed / "manifest.json").exists()
    kept = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for name in done for p in killed.rglob(f"{name}.*")}
    assert len(kept) == 4 * len(done)  # features, clip table, quarantine table and info of each finished shard

    resumed = build_corpus([f"video:{videos}"], killed, CFG)
    assert (resumed["reused"], resumed["built"]) == (len(done), 7 - len(done))
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept} == kept  # not rewritten
    ids = pq.read_table(killed / "clips.parquet", columns=["id"]).column("id").to_pylist()
    items = pq.read_table(killed / "quarantine.parquet", columns=["item"]).column("item").to_pylist()
    assert ids == [GOOD] and sorted(items) == sorted(EXPECTED)
    assert files(killed) == files(clean)


@pytest.mark.ray
def test_ray_engine_writes_the_same_corpus(videos, built, tmp_path):
    ray = pytest.importorskip("ray")
    clean, _ = built
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = build_corpus([f"video:{videos}"], tmp_path / "ray", BuildConfig(shard_size=1, engine="ray",
                                                                                 progress=False))  # fmt: skip
    finally:
        ray.shutdown()
    assert summary["built"] == 7
    assert files(tmp_path / "ray") == files(clean)


class _Captioner(QuietHandler):
    """A chat endpoint that answers "[caption k]" as many times as the request asks, or fails when told to."""

    def do_POST(self):  # noqa: N802 - name fixed by http.server
        body = self.read_json()
        content = body["messages"][1]["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        self.server.requests.append({"images": 0 if isinstance(content, str) else len(content) - 1,
                                     "auth": self.headers.get("Authorization")})  # fmt: skip
        if self.server.fail:
            self.send_error(503, "overloaded")
            return
        count = int(re.search(r"Answer with (\d+) captions", text).group(1))
        self.send_json(reply(" ".join(f"[a person moves, caption {k}.]" for k in range(count))))


@pytest.mark.parametrize("fail", [False, True])
def test_captions_from_a_language_model_or_the_offline_ones_when_it_fails(videos, tmp_path, monkeypatch, fail):
    monkeypatch.setenv("CAPTION_KEY", "secret")
    good = tmp_path / "in"
    good.mkdir()
    (good / "b_figure.mp4").write_bytes((videos / "b_figure.mp4").read_bytes())
    with serve(_Captioner, fail=fail) as server:
        url = base_url(server)
        build_corpus([f"video:{good},caption_url={url},caption_model=fake,caption_key_env=CAPTION_KEY"],
                     tmp_path / "out", CFG)  # fmt: skip
    [clip] = Corpus(tmp_path / "out").table.to_pylist()
    meta, texts = json.loads(clip["meta"]), clip["texts"]
    [request] = server.requests
    assert request["auth"] == "Bearer secret" and request["images"] == len(texts) - 1  # one key frame per part
    if fail:
        assert meta["captioner"].startswith("offline:") and "503" in meta["caption_error"]
        assert texts[0]["text"].startswith("a person ") and "caption" not in texts[0]["text"]
    else:
        assert meta["captioner"] == "llm:fake" and "caption_error" not in meta
        assert texts[0]["text"] == f"a person moves, caption {len(texts) - 1}."
        assert [t["text"] for t in texts[1:]] == [f"a person moves, caption {k}." for k in range(len(texts) - 1)]
        assert all(0 <= t["start"] < t["end"] for t in texts[1:])
    assert "secret" not in json.dumps(clip)  # the key never enters the corpus
