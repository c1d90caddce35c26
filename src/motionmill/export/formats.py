"""Motion file formats chosen by file name, for `motionmill convert` and the Python API.

Readable: `*.npy` (T, 272) de-normalised features, `*.joints.npy` (T, 22, 3) joint positions in metres (y up),
`*.bvh`, `*.smpl.npz` (axis-angle `poses` (T, >=66), `trans` (T, 3), `mocap_framerate`), `*.amc` (CMU's Acclaim
motion, with its ASF skeleton).
Writable: all of those, plus `*.gif`, `*.mp4` (rendered skeleton), `*.html` (self-contained 3D player) and `*.glb`
(glTF 2.0: skeleton, skinned body and animation, `export.gltf`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from motionmill.motion.container import Motion
from motionmill.utils.io import atomic_write, npy_bytes

__all__ = ["READABLE", "READ_ONLY", "WRITABLE", "format_of", "read_motion", "write_motion"]

# Longest suffixes first so "x.joints.npy" is not taken for plain features.
_SUFFIXES = (".joints.npy", ".smpl.npz", ".npy", ".npz", ".bvh", ".amc", ".gif", ".mp4", ".html", ".glb")
_NAMES = {".joints.npy": "joints", ".smpl.npz": "smpl", ".npz": "smpl", ".npy": "features", ".bvh": "bvh",
          ".amc": "amc", ".gif": "gif", ".mp4": "mp4", ".html": "html", ".glb": "glb"}  # fmt: skip
READABLE = ("features", "joints", "bvh", "smpl")
"""Formats read and written alike."""
READ_ONLY = ("amc",)
WRITABLE = READABLE + ("gif", "mp4", "html", "glb")


def format_of(path: str | Path) -> str:
    """The format name for a path, from its suffix; ValueError for unknown suffixes."""
    name = Path(path).name.lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return _NAMES[suffix]
    raise ValueError(f"{path}: unknown motion format; use one of {', '.join(_SUFFIXES)}")


def read_motion(path: str | Path, fps: float | None = None, units: str = "auto", up: str = "auto",
                skeleton: str | Path | None = None) -> Motion:  # fmt: skip
    """Read a motion; `fps` is the frame rate of .npy and .amc inputs (default 30 and CMU's 120); .bvh and .npz
    store their own. `units` and `up` are those of a BVH file ("auto": found from its rest skeleton; see
    `export.bvh.bvh_to_motion`); `skeleton` is an .amc file's ASF (default: found beside it, `export.acclaim`)."""
    path = Path(path)
    kind = format_of(path)
    if kind not in READABLE + READ_ONLY:
        raise ValueError(f"{path}: {kind} files can be written but not read")
    if fps is not None and kind in ("bvh", "smpl"):
        raise ValueError(f"{path}: {kind} files store their own frame rate; resample the output instead")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if kind == "amc":
        from motionmill.export.acclaim import read_acclaim

        return read_acclaim(path, skeleton, fps)
    if kind == "bvh":
        from motionmill.export.bvh import bvh_to_motion

        return bvh_to_motion(path, units=units, up=up)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: unreadable {kind} file ({e})") from None
    try:
        if kind == "features":
            return Motion(data, fps or 30.0)
        if kind == "joints":
            return Motion.from_joints(data, fps or 30.0)
        return _read_smpl(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_smpl(data) -> Motion:
    if not hasattr(data, "files"):
        raise ValueError("expected an .npz archive with 'poses' and 'trans'")
    missing = {"poses", "trans"} - set(data.files)
    if missing:
        raise ValueError(f"missing arrays {sorted(missing)} (has {data.files})")
    rate = float(data["mocap_framerate"]) if "mocap_framerate" in data.files else 30.0
    return Motion.from_smpl(data["poses"], data["trans"], rate)


def write_motion(motion: Motion, path: str | Path, title: str = "", bvh_units: str = "m", rig: str = "smpl") -> None:
    """Write `motion` in the format named by `path`'s suffix (atomically); a BVH in `bvh_units` with the joint names
    of `rig` (see `export.bvh.write_bvh`), a GLB with the same names."""
    path = Path(path)
    kind = format_of(path)
    if kind not in WRITABLE:
        raise ValueError(f"{path}: {kind} files can be read but not written")
    if kind == "features":
        atomic_write(path, npy_bytes(motion.features.astype(np.float32)))
    elif kind == "joints":
        atomic_write(path, npy_bytes(motion.joints().astype(np.float32)))
    elif kind == "smpl":
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in motion.smpl().items()})
        atomic_write(path, buf.getvalue())
    elif kind == "bvh":
        from motionmill.export.bvh import write_bvh

        write_bvh(motion, path, units=bvh_units, rig=rig)
    elif kind == "gif":
        from motionmill.export.render import write_gif

        write_gif(motion.joints(), path, fps=motion.fps, caption=title or None)
    elif kind == "mp4":
        from motionmill.export.render import write_mp4

        write_mp4(motion.joints(), path, fps=motion.fps, caption=title or None)
    elif kind == "glb":
        from motionmill.export.gltf import write_glb

        write_glb(motion, path, rig=rig, title=title)
    else:
        from motionmill.export.html import write_html

        write_html(motion.joints(), path, fps=motion.fps, title=title)
