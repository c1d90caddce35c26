"""AMASS reader: `**/*.npz` SMPL(-H/-X) parameter sequences, with optional `<name>.txt` sidecar captions.

Format origin: AMASS (Mahmood et al., ICCV 2019, https://amass.is.tue.mpg.de) releases one npz per sequence with
`poses` (T, 156 for SMPL+H, 165 for SMPL-X; axis-angle, the first 66 values are the 22 body joints), `trans`
(T, 3), the frame rate (`mocap_framerate`, or `mocap_frame_rate` in the SMPL-X release), `betas` and `gender`.
Subject folders also hold body-shape files without motion (`shape.npz`, `*_stagei.npz`): items() skips them by
name, and any other npz without `poses`/`trans` is rejected by load() with a ValueError naming the missing keys.

Default path: SMPL parameters are resampled to 30 fps (slerp rotations, linear translation) and posed on our
neutral SMPL-22 skeleton (`Motion.from_smpl`), so `betas` are ignored. With `smpl_model=DIR` the `smplx` package
(extra `motionmill[smpl]`) computes joints with the sequence's betas and gender from the SMPL model files in DIR.

Long sequences are cut into near-equal chunks of at most `clip_seconds`; the item key stays the file and sample
ids are `amass/<key>#<chunk>`. AMASS has no captions; a sidecar caption file has times relative to the file
start: a spanned caption goes to the chunks holding at least half of its span (re-timed to the chunk), and a
whole-file caption is kept only when the file is a single chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from motionmill.data.sources import Sample
from motionmill.data.sources.text_files import named_errors, read_captions
from motionmill.motion.container import Motion
from motionmill.motion.rotations import axis_angle_to_quat, quat_slerp, quat_to_axis_angle
from motionmill.utils.spec import parse_spec

__all__ = ["AmassSource", "resample_smpl"]

FPS = 30.0
BODY_DIMS = 66
"""Axis-angle values of the 22 body joints at the start of `poses`."""
FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate")
"""The frame-rate key of the SMPL+H and of the SMPL-X AMASS releases."""
NON_MOTION_FILES = ("shape.npz", "*_stagei.npz")
"""Body-shape files that sit beside the sequences (glob patterns on the file name)."""
SMPLX_MODEL_TYPES = {72: "smpl", 156: "smplh", 165: "smplx"}
"""poses width -> smplx model type, for the optional `smpl_model` path."""


def resample_smpl(poses: np.ndarray, trans: np.ndarray, fps: float, target: float = FPS):
    """Resample body poses (T, 66) axis-angle by slerp and trans (T, 3) linearly, on the grid of `Motion.resample`.

    Returns:
        (poses (T', 66), trans (T', 3)) at `target` fps, T' = floor((T - 1) / fps * target) + 1.
    """
    n = int(np.floor((poses.shape[0] - 1) / fps * target + 1e-6)) + 1
    times = np.arange(n) * (fps / target)  # in source frames
    lo = np.minimum(np.floor(times).astype(int), poses.shape[0] - 1)
    hi = np.minimum(lo + 1, poses.shape[0] - 1)
    w = times - lo
    quats = axis_angle_to_quat(poses.reshape(-1, poses.shape[1] // 3, 3))
    mixed = quat_slerp(quats[lo], quats[hi], np.broadcast_to(w[:, None], quats[lo].shape[:2]).copy())
    new_trans = trans[lo] * (1 - w)[:, None] + trans[hi] * w[:, None]
    return quat_to_axis_angle(mixed).reshape(n, -1), new_trans


@dataclass(frozen=True)
class AmassSource:
    """A folder tree of AMASS-style npz sequences at `root`."""

    root: str
    """Folder searched recursively for `*.npz`."""
    clip_seconds: float = 10.0
    """Longest clip; longer sequences are cut into near-equal chunks."""
    smpl_model: str | None = None
    """Folder of SMPL/SMPL+H/SMPL-X model files for betas-aware joints via `smplx`; None uses our neutral skeleton."""
    licence: str = "AMASS (see its licence and the terms of each sub-dataset)"

    name: ClassVar[str] = "amass"

    @classmethod
    def from_spec(cls, arg: str) -> AmassSource:
        """`DIR[,clip_seconds=10][,smpl_model=MODEL_DIR]`."""
        root, options = parse_spec(arg, {"clip_seconds": float, "smpl_model": str})
        return cls(root, **options)

    def __post_init__(self) -> None:
        if not self.clip_seconds > 0:
            raise ValueError(f"clip_seconds must be positive, got {self.clip_seconds}")

    def items(self) -> list[str]:
        """Relative paths without extension of every motion npz (body-shape files skipped), sorted."""
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        keep = [p for p in root.rglob("*.npz") if not any(p.match(pattern) for pattern in NON_MOTION_FILES)]
        return sorted(p.relative_to(root).with_suffix("").as_posix() for p in keep)

    def load(self, key: str) -> list[Sample]:
        """The chunks of one sequence, each a 30 fps clip of at most `clip_seconds`."""
        path = Path(self.root) / f"{key}.npz"
        seq = _read_sequence(path)
        poses, trans = resample_smpl(seq["poses"][:, :BODY_DIMS], seq["trans"], seq["fps"])
        captions = read_captions(path.with_suffix(".txt"))
        bounds = _chunk_bounds(poses.shape[0], int(self.clip_seconds * FPS))
        samples = []
        for i, (start, stop) in enumerate(bounds):
            with named_errors(path, f"chunk {i}: "):
                motion = self._motion(poses[start:stop], trans[start:stop], seq)
            t0, t1 = start / FPS, (stop - 1) / FPS
            meta = {"path": f"{key}.npz", "source_fps": seq["fps"], "chunk": i, "start": t0, "end": t1,
                    "skeleton": "neutral" if self.smpl_model is None else "smplx"}  # fmt: skip
            samples.append(Sample(id=f"{self.name}/{key}#{i}", motion=motion, licence=self.licence, meta=meta,
                                  texts=_chunk_captions(captions, t0, t1, len(bounds) == 1)))  # fmt: skip
        return samples

    def _motion(self, poses: np.ndarray, trans: np.ndarray, seq: dict) -> Motion:
        if self.smpl_model is None:
            return Motion.from_smpl(poses, trans, FPS)
        return _smplx_motion(self.smpl_model, poses, trans, seq)


def _read_sequence(path: Path) -> dict:
    """poses, trans, fps (and betas, gender when present) of one npz, validated; never unpickles."""
    with named_errors(path, "unreadable .npz file: "):
        npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (a single array of shape {np.shape(npz)})")
    with npz, named_errors(path, "unreadable .npz file: "):
        rate_key = next((k for k in FRAMERATE_KEYS if k in npz.files), None)
        missing = [k for k in ("poses", "trans") if k not in npz.files] + ([] if rate_key else [FRAMERATE_KEYS[0]])
        if missing:
            raise ValueError(f"{path}: not a motion sequence, missing {missing} (keys: {sorted(npz.files)})")
        seq = {"poses": np.asarray(npz["poses"], np.float64), "trans": np.asarray(npz["trans"], np.float64),
               "fps": float(npz[rate_key]), "gender": _text(npz["gender"]) if "gender" in npz.files else "neutral",
               "betas": np.asarray(npz["betas"], np.float64) if "betas" in npz.files else None}  # fmt: skip
    _check_sequence(path, seq)
    return seq


def _check_sequence(path: Path, seq: dict) -> None:
    """Raise a ValueError naming `path` unless poses/trans/fps describe at least 2 finite frames."""
    poses, trans = seq["poses"], seq["trans"]
    if poses.ndim != 2 or poses.shape[1] < BODY_DIMS or poses.shape[1] % 3 or trans.shape != (poses.shape[0], 3):
        raise ValueError(f"{path}: expected poses (T, >=66) and trans (T, 3), got {poses.shape} and {trans.shape}")
    if poses.shape[0] < 2:
        raise ValueError(f"{path}: {poses.shape[0]} frame(s); a motion needs at least 2")
    if not (math.isfinite(seq["fps"]) and seq["fps"] > 0):
        raise ValueError(f"{path}: frame rate must be positive, got {seq['fps']}")
    bad = ~(np.isfinite(poses).all(1) & np.isfinite(trans).all(1))
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} frame(s) contain NaN/inf values (first: frame {bad.argmax()})")


def _text(array: np.ndarray) -> str:
    """A 0-d string or bytes array (AMASS stores `gender` either way) as str."""
    value = array.item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _chunk_bounds(frames: int, max_frames: int) -> list[tuple[int, int]]:
    """Near-equal [start, stop) chunks of at most `max_frames` frames (at least 2 each) covering all frames."""
    n = max(1, math.ceil(frames / max(max_frames, 2)))
    edges = np.linspace(0, frames, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b - a >= 2]


def _chunk_captions(captions: list[dict], t0: float, t1: float, whole: bool) -> list[dict]:
    """Captions for the chunk covering [t0, t1] seconds of the file, re-timed to the chunk."""
    out = []
    for c in captions:
        if c["start"] == c["end"] == 0.0:
            if whole:
                out.append(dict(c))
            continue
        lo, hi = max(c["start"], t0), min(c["end"], t1)
        if hi - lo >= 0.5 * (c["end"] - c["start"]):
            out.append({"text": c["text"], "start": lo - t0, "end": hi - t0})
    return out


def _smplx_motion(model_dir: str, poses: np.ndarray, trans: np.ndarray, seq: dict) -> Motion:
    """Joints from the SMPL family body model with the sequence's betas (optional extra `smpl`)."""
    try:
        import smplx
    except ImportError as e:
        raise ImportError("smpl_model needs the smplx package: pip install 'motionmill[smpl]'") from e
    import torch

    from motionmill.motion.rotations import axis_angle_to_matrix

    model_type = SMPLX_MODEL_TYPES.get(seq["poses"].shape[1], "smplh")
    betas = seq["betas"] if seq["betas"] is not None else np.zeros(10)
    model = smplx.create(model_dir, model_type=model_type, gender=seq["gender"], num_betas=len(betas),
                         use_pca=False, batch_size=poses.shape[0])  # fmt: skip
    # SMPL's body_pose has 23 joints (two hand joints more than SMPL+H/X's 21): pad them with zeros
    body = np.zeros((poses.shape[0], getattr(model, "NUM_BODY_JOINTS", 21) * 3))
    body[:, : BODY_DIMS - 3] = poses[:, 3:BODY_DIMS]
    args = {"global_orient": poses[:, :3], "body_pose": body, "transl": trans,
            "betas": np.broadcast_to(betas, (poses.shape[0], len(betas)))}  # fmt: skip
    out = model(**{k: torch.as_tensor(np.array(v), dtype=torch.float32) for k, v in args.items()})
    joints = out.joints[:, :22].detach().double().numpy()
    rotations = axis_angle_to_matrix(poses.reshape(-1, 22, 3))
    return Motion.from_rotations(rotations, joints, FPS, meta={"rotations": "smpl", "betas": "smplx"})
