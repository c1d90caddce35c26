"""Reconciliation: generated features become one motion on one rigid skeleton, the same in every output file.

On motions of the built-in model: every bone keeps its length within 1 mm in `.joints.npy`, in the BVH read back and
run through FK, in the SMPL export run through FK on a default body, and in the GLB run through FK; these outputs
agree within 1 mm; and the motions written in MotionMillion's layout pass the corpus's bone-length filter, which the
raw decoded motions fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from motion_factory import random_motion
from motionmill.data.pipeline import BuildConfig, build_corpus
from motionmill.export.bvh import read_bvh
from motionmill.export.formats import write_motion
from motionmill.inference.pipeline import TextToMotion
from motionmill.motion import features272 as f272
from motionmill.motion import physics
from motionmill.motion.container import Motion
from motionmill.motion.physics import bone_length_drift
from motionmill.motion.reconcile import DEFAULT_SMOOTH, METHODS, align_y, reconcile, reconcile_report, rigidity_report
from motionmill.motion.rotations import axis_angle_to_matrix
from motionmill.motion.signal import smooth
from motionmill.motion.skeleton import SMPL22, forward_kinematics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from test_gltf import gltf_fk, parse_glb  # noqa: E402  (the GLB parser of the glTF tests)

MM = 1e-3
PROMPTS = ["a person walks forward", "someone jumps twice", "a person waves with the right hand",
           "a person squats down and stands up"]  # fmt: skip
PARENTS = SMPL22.parents


@pytest.fixture(scope="module")
def generated():
    """(raw, reconciled) motions of the built-in model for PROMPTS, 4 s each, plain sampling."""
    pipe = TextToMotion.from_pretrained("builtin")
    raw = pipe(PROMPTS, seconds=4, seed=0, candidates=1, raw=True)
    reconciled = pipe(PROMPTS, seconds=4, seed=0, candidates=1)
    return raw, reconciled


def output_joints(motion: Motion, stem: Path) -> dict[str, np.ndarray]:
    """The joints of each output file of `motion` written at `stem`, read back: .joints.npy, the BVH's, and the SMPL
    export's and the GLB's through forward kinematics (also used by bench/reconcile.py)."""
    for suffix in (".joints.npy", ".bvh", ".smpl.npz", ".glb"):
        write_motion(motion, f"{stem}{suffix}")
    bvh = read_bvh(f"{stem}.bvh")
    smpl = np.load(f"{stem}.smpl.npz")
    rotations = torch.from_numpy(axis_angle_to_matrix(smpl["poses"].reshape(-1, 22, 3)))
    root = torch.from_numpy(smpl["trans"] + f272.rest_pelvis(SMPL22))
    smpl_joints, _ = forward_kinematics(rotations, root, torch.from_numpy(SMPL22.offsets.copy()), PARENTS)
    return {"joints.npy": np.load(f"{stem}.joints.npy"),
            "bvh": bvh.joints()[:, [bvh.names.index(n) for n in SMPL22.joint_names]],
            "smpl": smpl_joints.numpy(), "glb": gltf_fk(*parse_glb(Path(f"{stem}.glb").read_bytes()))}  # fmt: skip


@pytest.fixture(scope="module")
def outputs(generated, tmp_path_factory):
    """Per reconciled motion, the joints of each output file: joints.npy, BVH, SMPL and GLB through FK."""
    folder = tmp_path_factory.mktemp("reconciled")
    return [output_joints(motion, folder / f"m{i}") for i, motion in enumerate(generated[1])]


def test_raw_generated_bones_stretch(generated):
    """The problem reconciliation solves: the predicted positions stretch bones by centimetres."""
    drift = max(bone_length_drift(m.joints(), PARENTS).max() for m in generated[0])
    assert drift > 0.02
    assert all("reconciled" not in m.meta for m in generated[0])


def test_every_output_keeps_every_bone_within_a_millimetre(generated, outputs):
    for motion, files in zip(generated[1], outputs, strict=True):
        assert motion.meta["reconciled"] == "ik"
        for name, joints in files.items():
            assert joints.shape == (motion.num_frames, 22, 3), name
            assert bone_length_drift(joints, PARENTS).max() < MM, name


def test_outputs_are_one_motion_within_a_millimetre(outputs):
    for files in outputs:
        reference = files["joints.npy"]
        for name, joints in files.items():
            assert np.abs(joints - reference).max() < MM, name


def test_rigidity_report_measures_what_the_files_show(generated, outputs, tmp_path):
    """The suites' figures, computed in memory, are the ones the written files give; raw motions fail them."""
    for motion, files in zip(generated[1], outputs, strict=True):
        report = rigidity_report(motion)
        from_files = max(np.linalg.norm(j - files["joints.npy"], axis=-1).max() for j in files.values())
        assert report["output_agreement_mm"] < 1.0 and report["bone_drift_mm"] < 1.0
        assert report["output_agreement_mm"] == pytest.approx(1000 * from_files, abs=0.01)
    for i, motion in enumerate(generated[0]):
        report = rigidity_report(motion)
        files = output_joints(motion, tmp_path / f"raw{i}")
        from_files = max(np.linalg.norm(j - files["joints.npy"], axis=-1).max() for j in files.values())
        assert report["output_agreement_mm"] == pytest.approx(1000 * from_files, rel=1e-3)
        assert report["bone_drift_mm"] == pytest.approx(1000 * bone_length_drift(motion.joints(), PARENTS).max())
    assert max(rigidity_report(m)["bone_drift_mm"] for m in generated[0]) > 20


def test_reconciled_motion_stays_close_to_the_prediction(generated):
    for raw, rec in zip(*generated, strict=True):
        report = reconcile_report(raw, rec)
        assert report.bone_drift_after_m < MM < report.bone_drift_before_m
        assert report.mean_distance_m < 0.03


def test_reconciled_motion_is_not_jerkier(generated):
    """The smoothing of the predicted positions keeps the rigid motion's jerk at or below the decoded one's."""
    raw, rec = ([physics.jerk(m.joints(), m.fps) for m in motions] for motions in generated)
    assert np.mean([j.mean() for j in rec]) <= np.mean([j.mean() for j in raw])
    assert np.mean([j.max() for j in rec]) <= np.mean([j.max() for j in raw])


def test_raw_keeps_the_decoded_features(generated):
    """raw=True is the decoder's output; reconciling it gives the default output."""
    raw, rec = generated
    for a, b in zip(raw, rec, strict=True):
        assert np.allclose(reconcile(a).features, b.features, atol=1e-6)
        assert not np.allclose(a.features, b.features, atol=1e-3)


def _write_release(root: Path, motions: dict[str, Motion]) -> None:
    for rel, motion in motions.items():
        path = root / "motion_data" / "vector_272" / f"{rel}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, motion.features)
        text = root / "texts" / f"{rel}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text("a generated motion#a/DET generated/ADJ motion/NOUN#0.0#0.0\n")


def test_generated_motions_pass_the_corpus_bone_length_filter(generated, tmp_path):
    raw, rec = generated
    motions = {f"raw/{i}": m for i, m in enumerate(raw)} | {f"rec/{i}": m for i, m in enumerate(rec)}
    _write_release(tmp_path / "release", motions)
    build_corpus([f"motionmillion:{tmp_path / 'release'}"], tmp_path / "corpus", BuildConfig(workers=1, progress=False))
    rows = pq.read_table(tmp_path / "corpus" / "quarantine.parquet").to_pylist()
    stretched = {r["item"] for r in rows if r["filter"] == "bone_drift"}
    assert stretched and all(item.startswith("motionmillion/raw/") for item in stretched), stretched
    assert not any(r["item"].startswith("motionmillion/rec/") and r["filter"] == "bone_drift" for r in rows)
    counts = json.loads((tmp_path / "corpus" / "manifest.json").read_text())["counts"]
    assert counts["filters"].get("bone_drift", 0) == len(stretched)


def _stretched(seed: int) -> Motion:
    """A rigid motion whose position block is then stretched (the forearms grow and shrink over time)."""
    rotations, joints = random_motion(seed, 40)
    motion = Motion.from_rotations(rotations, joints, 30)
    x = motion.features.astype(np.float64).copy()
    pos = x[:, 8:74].reshape(-1, 22, 3)
    scale = 1 + 0.3 * np.sin(np.linspace(0, 3, len(x)))[:, None]
    for wrist, elbow in ((20, 18), (21, 19)):
        pos[:, wrist] = pos[:, elbow] + (pos[:, wrist] - pos[:, elbow]) * scale
    x[:, 8:74] = pos.reshape(-1, 66)
    return Motion(x, 30)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_a_rigid_motion_whose_views_agree(method):
    raw = _stretched(1)
    assert bone_length_drift(raw.joints(), PARENTS).max() > 0.05
    rec = reconcile(raw, method, bones="mean")
    assert rec.meta["reconciled"] == method
    assert bone_length_drift(rec.joints(), PARENTS).max() < MM
    fk, _ = forward_kinematics(torch.tensor(rec.rotations()), torch.tensor(rec.joints()[:, 0]),
                               torch.from_numpy(rec.bone_offsets()), PARENTS)  # fmt: skip
    assert np.abs(fk.numpy() - rec.joints()).max() < MM


def test_fk_keeps_the_rotations_and_ik_the_bone_directions():
    raw = _stretched(2)
    fk = reconcile(raw, "fk")
    assert np.abs(fk.rotations()[:, 1:] - raw.rotations()[:, 1:]).max() < 1e-4
    for sigma in (0.0, DEFAULT_SMOOTH):  # the bone directions of the predicted positions, smoothed over time
        ik = reconcile(raw, "ik", smooth_frames=sigma)
        predicted = smooth(raw.joints(), sigma)
        joints = align_y(np.asarray(ik.joints(), np.float64), predicted)
        bones = joints[:, 1:] - joints[:, list(PARENTS[1:])]
        target = predicted[:, 1:] - predicted[:, list(PARENTS[1:])]
        cos = (bones * target).sum(-1) / (np.linalg.norm(bones, axis=-1) * np.linalg.norm(target, axis=-1))
        assert cos.min() > 1 - 1e-5, sigma  # within 0.3 degrees: the re-encoded start is turned back by a fitted turn
    # leaves keep their predicted local rotations, which the positions cannot give
    assert np.abs(ik.rotations()[:, [10, 11, 15, 20, 21]] - raw.rotations()[:, [10, 11, 15, 20, 21]]).max() < 1e-4


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="method"):
        reconcile(_stretched(3), "nearest")
