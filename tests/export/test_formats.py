"""Every readable format converts to every writable one, through the CLI entry point."""

import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.cli import main
from motionmill.export.formats import READABLE, WRITABLE, format_of, read_motion, write_motion
from motionmill.motion.container import Motion

SUFFIX = {"features": ".npy", "joints": ".joints.npy", "bvh": ".bvh", "smpl": ".smpl.npz", "gif": ".gif",
          "mp4": ".mp4", "html": ".html", "glb": ".glb"}  # fmt: skip


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    motion = Motion.from_rotations(*random_motion(0, frames=12, turns=0.2))
    paths = {}
    for kind in READABLE:
        paths[kind] = folder / f"clip{SUFFIX[kind]}"
        write_motion(motion, paths[kind])
    return motion, paths


def test_format_is_chosen_by_file_name():
    assert format_of("a/b.joints.npy") == "joints" and format_of("x.NPY") == "features"
    assert format_of("walk.smpl.npz") == "smpl" and format_of("m.bvh") == "bvh"
    with pytest.raises(ValueError, match="unknown motion format"):
        format_of("clip.txt")


@pytest.mark.parametrize("src", READABLE)
@pytest.mark.parametrize("dst", WRITABLE)
def test_convert_every_readable_format_to_every_writable_one(sources, tmp_path, capsys, src, dst):
    motion, paths = sources
    out = tmp_path / f"out{SUFFIX[dst]}"
    assert main(["convert", str(paths[src]), str(out)]) == 0
    assert out.stat().st_size > 0
    assert "12 frames" in capsys.readouterr().out
    if dst in READABLE:
        back = read_motion(out)
        assert back.num_frames == motion.num_frames
        assert np.abs(back.joints() - motion.joints()).max() < 1e-4


def test_features_file_is_the_released_layout(sources, tmp_path):
    motion, paths = sources
    x = np.load(paths["features"])
    assert x.shape == (12, 272) and x.dtype == np.float32
    joints = np.load(paths["joints"])
    assert joints.shape == (12, 22, 3)
    smpl = np.load(paths["smpl"])
    assert smpl["poses"].shape == (12, 66) and smpl["trans"].shape == (12, 3) and float(smpl["mocap_framerate"]) == 30


def test_fps_flag_sets_the_input_rate_and_out_fps_resamples(sources, tmp_path):
    _, paths = sources
    assert main(["convert", str(paths["features"]), str(tmp_path / "a.bvh"), "--fps", "20"]) == 0
    assert np.isclose(read_motion(tmp_path / "a.bvh").fps, 20)
    assert main(["convert", str(paths["features"]), str(tmp_path / "b.npy"), "--out-fps", "60"]) == 0
    assert np.load(tmp_path / "b.npy").shape[0] == 23


@pytest.mark.parametrize(
    "content,match",
    [
        (np.zeros((10, 200), np.float32), r"shape \(T, 272\)"),
        (np.full((10, 272), np.nan, np.float32), "non-finite"),
        (np.zeros((1, 272), np.float32), "at least 2"),
    ],
)
def test_bad_feature_files_give_one_line_errors(tmp_path, capsys, content, match):
    np.save(tmp_path / "bad.npy", content)
    assert main(["convert", str(tmp_path / "bad.npy"), str(tmp_path / "out.bvh")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("motionmill: error: ") and "bad.npy" in err and len(err.strip().splitlines()) == 1
    assert __import__("re").search(match, err)
    assert not (tmp_path / "out.bvh").exists()


def test_other_bad_inputs(tmp_path, capsys):
    (tmp_path / "trunc.npy").write_bytes(b"\x93NUMPY garbage")
    assert main(["convert", str(tmp_path / "trunc.npy"), str(tmp_path / "o.bvh")]) == 2
    assert main(["convert", str(tmp_path / "missing.bvh"), str(tmp_path / "o.npy")]) == 2
    assert main(["convert", str(tmp_path / "o.gif"), str(tmp_path / "o.npy")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("motionmill: error: ") for e in errors)
    assert "no such file" in errors[1] and "written but not read" in errors[2]
