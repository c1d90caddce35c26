"""Foot-contact clean-up: find when each foot is planted and hold it there, as a post-process on any `Motion`.

Generated motions let planted feet slide. `clean_feet` finds the contacts of each foot and locks the foot during
them, leaving the pelvis path and everything above the hips as they were:

1. Contacts. Per foot, the ankle (SMPL-22 joints 7 / 8) and the toe (joints 10 / 11) are examined separately, so a
   heel strike, a flat foot and a toe-off are all seen. A joint enters contact when its height is below its entry
   height and its horizontal speed below the entry speed, and stays in contact while both stay below the release
   levels (entry height + `release_height`, entry speed x `release_speed`): hysteresis, so a contact does not
   flicker. Gaps of at most `max_gap` frames between two contacts are closed, then contacts shorter than
   `min_frames` are dropped. Speeds are central differences of the positions smoothed with a 1-frame Gaussian
   (`motionmill.motion.signal.smooth`).
2. Targets. Each contact of a joint gets one target: the mean position of the joint over the contact; a toe's target
   is put on the floor (y = 0, where the 272 encoding puts the lowest joint of a clean clip) and an ankle's is kept
   at its mean height, never below the floor.
3. Blending. The correction (target - position) has weight 1 during a contact; on either side, the correction of
   the contact's first (last) frame fades in (out) over `blend_frames` frames with a smoothstep, so nothing pops and
   the swing keeps its shape; overlapping fades share the frame.
   When only the toe is held, the ankle moves with the toe's correction (the foot keeps its own pitch, as in a
   heel-off); when only the ankle is held, the toe follows the foot's own orientation. Foot joints under the floor
   outside contacts are lifted onto it.
4. Legs. Analytic two-bone IK puts the ankle on its goal with the hip fixed and the thigh and shin lengths of the
   frame: the knee stays in the plane of the original bend (the knee direction of the original pose). The toe is
   then placed at the foot's own length from the new ankle, towards its goal. Each changed bone turns by the
   smallest rotation taking its old direction to its new one (no twist is invented, as in `motionmill.motion.ik`);
   the same turns are applied to the global hip, knee and ankle rotations of the rotation block, and the local
   rotations follow, so joints, SMPL and BVH views move together.
5. Encoding. The cleaned rotations and joints are re-encoded with `Motion.from_rotations`, the project's 272
   encoder, like every edit of `motionmill.motion.container`. The encoder puts the floor under the lowest joint;
   when a joint other than a cleaned foot lies under the floor the whole motion is lifted by that much, which the
   report gives as `floor_shift_m`.

Motions shorter than `SHORTEST` frames (0.2 s), motions without any contact and degenerate bodies the encoder
cannot place (no facing direction at frame 0) are returned unchanged, the reason given in the report.

How the thresholds were chosen (`python bench/foot_cleanup.py --tune`, all on the val split of the built-in corpus,
seed 0; the test split and its captions were never used):

- Detection (heights, minimum duration, release height, gap). The built-in corpus plants its feet exactly, so a
  joint's true contacts are the frames where the clean clip has it still (< 0.1 m/s) and within 1 cm of its planted
  height. The first 60 val clips are given sliding feet as a generated motion has them (the whole body sways by
  sinusoids of 2-6 cm at 0.7-1.5 Hz, so planted feet slide at up to ~0.6 m/s; foot heights carry a per-clip offset
  of up to +-1.5 cm and 3 mm noise), and a grid (toe 1-4 cm, ankle 6-10 cm, speed 0.4-1.0 m/s, release factor
  1-2, minimum 2-6 frames, release height 0.5-2 cm, gap 0-4 frames) is scored by the frame F1 of the detected
  against the true contacts: best F1 0.961 (toe 0.970, ankle 0.951) at toe 2 cm, ankle 7 cm, minimum 4 frames,
  release height 5 mm, gap 2 frames.
- Blend length and soft IK, on the same clips (with the F1 speeds): 5 frames (the fewest new jerk peaks among
  lengths whose change outside contacts stays within 1 cm: 3 peaks, 0.77 cm; 2 frames: 5 peaks, 8 frames:
  1.03 cm) and a soft reach of 2 cm (3 new jerk peaks, against 442 without soft IK, 19 at 1 cm and 8 at 4 cm).
- Speeds. The sliding speed of generated feet is the model's, so the entry and release speeds were chosen on 100
  motions the built-in model generates (default sampling) from val captions: the lowest foot skating among the
  settings whose change outside contacts stays within 2 cm. 1.5 m/s entry, x1.5 release: skating 0.0338 ->
  0.0207 (the val clips' own corpus value is 0.0187), 1.15 cm change outside contacts; 0.6 m/s, the F1 choice,
  leaves 0.0332.

Limits: the floor is the plane y = 0 (no stairs, no furniture); a hand or a knee on the floor is not a contact; a
foot that slides faster than the release speed while low is not held (it reads as a step); the hips are never
moved, so a foot that the leg cannot reach from the unchanged pelvis gets as close as the straight leg allows, and
the soft reach leaves a held foot of a nearly straight leg a few millimetres short of its target.

Shape legend: T frames, J joints (22).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from motionmill.motion import physics
from motionmill.motion.container import Motion
from motionmill.motion.rotations import rotation_between
from motionmill.motion.signal import smooth
from motionmill.motion.skeleton import SMPL22, forward_kinematics

__all__ = ["FOOT_CHAINS", "CleanupReport", "ContactSettings", "FootCleanup", "clean_feet", "clean_foot_joints",
           "detect_contacts"]  # fmt: skip

FLOOR = 0.0
SHORTEST = 6
"""Frames (at 30 fps, scaled with the frame rate) below which a motion is returned unchanged: over 0.2 s a foot's
speed rests on one or two differences, too few to tell a planted foot from a slow one (the physics measures use
5-frame windows for the same reason)."""
FOOT_CHAINS = {"left": (1, 4, 7, 10), "right": (2, 5, 8, 11)}
"""Per foot: hip, knee, ankle and toe joints of SMPL-22."""


@dataclass(frozen=True)
class ContactSettings:
    """Contact detection and blending; the defaults were chosen on the built-in corpus's val split (module doc)."""

    toe_height: float = 0.02
    """Metres above the floor below which a toe can enter contact."""
    ankle_height: float = 0.07
    """Metres above the floor below which an ankle can enter contact."""
    speed: float = 1.5
    """Metres per second: horizontal speed below which a low joint enters contact."""
    release_height: float = 0.005
    """Metres added to the entry height while in contact (hysteresis)."""
    release_speed: float = 1.5
    """Factor on the entry speed while in contact (hysteresis)."""
    min_frames: int = 4
    """Shortest contact kept, in frames at 30 fps (scaled with the frame rate)."""
    max_gap: int = 2
    """Longest gap between two contacts that is closed, in frames at 30 fps (scaled with the frame rate)."""
    blend_frames: int = 5
    """Frames at 30 fps over which a correction fades in before and out after a contact."""
    max_jerk_ratio: float = 1.1
    """The cleaned motion's peak jerk may be at most this times the motion's own (`clean_feet` retries with longer
    fades, then gives up); the factor of the benchmark's "new jerk peak"."""
    soft_reach: float = 0.02
    """Metres short of a straight leg where the IK starts easing the reach (soft IK; 0 turns it off)."""

    def frames(self, count: int, fps: float) -> int:
        return max(int(round(count * fps / 30.0)), 0)


@dataclass
class FootCleanup:
    """Cleaned arrays, in the frame of the input joints."""

    joints: np.ndarray
    """(T, 22, 3) cleaned joint positions."""
    rotations: np.ndarray
    """(T, 22, 3, 3) cleaned rotations (root global, others parent-relative)."""
    contacts: dict[str, np.ndarray]
    """Per foot ("left", "right"): (T,) True where its ankle or toe is held."""
    weights: dict[str, np.ndarray]
    """Per foot: (T,) the largest correction weight of its two joints (1 in contact, fading at the boundaries)."""


@dataclass
class CleanupReport:
    """What `clean_feet` did to one motion."""

    frames: int
    frames_in_contact: dict[str, int] = field(default_factory=dict)
    """Per foot: frames in which its ankle or toe is held."""
    mean_correction_m: float = 0.0
    """Mean displacement of the ankle and toe joints over the frames where they were corrected (metres)."""
    max_correction_m: float = 0.0
    """Largest displacement of any joint (metres)."""
    floor_shift_m: float = 0.0
    """How far the encoder lifted the whole motion to keep every joint above the floor (0 normally)."""
    changed: bool = False
    blend_frames: int = 0
    """The fade length used (longer than the setting when the first try raised the peak jerk)."""
    reason: str = ""
    """Why the motion was returned unchanged, when it was."""
    contacts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Per foot: (T,) contact mask."""


def clean_feet(motion: Motion, settings: ContactSettings | None = None) -> tuple[Motion, CleanupReport]:
    """`motion` with its planted feet held still, and a report (see the module docstring for the method).

    The result is a new `Motion` whose 272 features are encoded from the cleaned rotations and joints, so its
    joints, SMPL parameters and BVH all show the clean-up. A motion that is too short to hold a contact or that has
    none is returned as it is (the same object), with the reason in the report.

    The clean-up never adds a jerk peak: when the cleaned motion's peak jerk exceeds `max_jerk_ratio` times the
    motion's own, it is redone with fades twice and four times as long, and if none stays under, the motion is
    returned unchanged with that reason.
    """
    settings = settings or ContactSettings()
    limit = settings.max_jerk_ratio * _peak_jerk(motion)
    for scale in (1, 2, 4):
        trial = dataclasses.replace(settings, blend_frames=settings.blend_frames * scale)
        cleaned, report = _clean_once(motion, trial)
        if not report.changed or _peak_jerk(cleaned) <= limit:
            report.blend_frames = trial.blend_frames
            return cleaned, report
    report.changed = False
    report.reason = (f"every fade tried ({settings.blend_frames} to {4 * settings.blend_frames} frames) raised the "
                     f"peak jerk above {settings.max_jerk_ratio} x the motion's own")  # fmt: skip
    return motion, report


def _peak_jerk(motion: Motion) -> float:
    jerk = physics.jerk(motion.joints(), motion.fps)
    return float(jerk.max()) if len(jerk) else 0.0


def _clean_once(motion: Motion, settings: ContactSettings) -> tuple[Motion, CleanupReport]:
    """One clean-up with these settings (`clean_feet` without its jerk check)."""
    T = motion.num_frames
    report = CleanupReport(frames=T, frames_in_contact={foot: 0 for foot in FOOT_CHAINS})
    shortest = max(settings.frames(SHORTEST, motion.fps), settings.frames(settings.min_frames, motion.fps), 2)
    if T < shortest:
        report.reason = f"{T} frames: shorter than the {shortest} frames that tell a planted foot from a moving one"
        return motion, report
    joints = np.asarray(motion.joints(), dtype=np.float64)
    result = clean_foot_joints(joints, motion.rotations(), motion.fps, settings, motion.skeleton)
    report.contacts = result.contacts
    report.frames_in_contact = {foot: int(c.sum()) for foot, c in result.contacts.items()}
    if not any(c.any() for c in result.contacts.values()):
        report.reason = "no foot contact found"
        return motion, report
    moved = np.linalg.norm(result.joints - joints, axis=-1)  # (T, J)
    feet = [j for chain in FOOT_CHAINS.values() for j in chain[2:]]
    corrected = moved[:, feet] > 1e-9
    report.mean_correction_m = float(moved[:, feet][corrected].mean()) if corrected.any() else 0.0
    report.max_correction_m = float(moved.max())
    report.floor_shift_m = float(max(FLOOR - result.joints[..., 1].min(), 0.0))
    try:
        cleaned = Motion.from_rotations(result.rotations, result.joints, motion.fps, skeleton=motion.skeleton,
                                        meta={**motion.meta, "feet": "cleaned"})  # fmt: skip
    except ValueError as error:  # a degenerate body (e.g. every joint in one point) has no facing to encode
        report.reason = f"the cleaned motion cannot be encoded: {error}"
        return motion, report
    report.changed = True
    return cleaned, report


def detect_contacts(joints: np.ndarray, fps: float, settings: ContactSettings | None = None) -> dict[str, np.ndarray]:
    """Per joint kind and foot, the contact masks of (T, 22, 3) joints: keys "left_ankle", "left_toe", ..."""
    settings = settings or ContactSettings()
    joints = np.asarray(joints, dtype=np.float64)
    out = {}
    for foot, (_, _, ankle, toe) in FOOT_CHAINS.items():
        out[f"{foot}_ankle"] = _joint_contacts(joints[:, ankle], fps, settings.ankle_height, settings)
        out[f"{foot}_toe"] = _joint_contacts(joints[:, toe], fps, settings.toe_height, settings)
    return out


def clean_foot_joints(joints: np.ndarray, rotations: np.ndarray, fps: float, settings: ContactSettings | None = None,
                      skeleton=None) -> FootCleanup:  # fmt: skip
    """The clean-up on arrays: (T, 22, 3) joints and (T, 22, 3, 3) rotations in, cleaned copies out (the rotations
    on `skeleton`, SMPL-22 by default)."""
    settings = settings or ContactSettings()
    skeleton = skeleton or SMPL22
    P = np.array(joints, dtype=np.float64)
    R = np.array(rotations, dtype=np.float64)
    found = detect_contacts(P, fps, settings)
    blend = settings.frames(settings.blend_frames, fps)
    _, glob = forward_kinematics(torch.from_numpy(R), torch.from_numpy(P[:, 0]), torch.from_numpy(skeleton.offsets),
                                 skeleton.parents)  # fmt: skip
    glob = glob.numpy()  # (T, J, 3, 3) global rotations of the rotation block
    out_P, out_R = P.copy(), R.copy()
    contacts, weights = {}, {}
    for foot, (hip, knee, ankle, toe) in FOOT_CHAINS.items():
        a_on, t_on = found[f"{foot}_ankle"], found[f"{foot}_toe"]
        contacts[foot] = a_on | t_on
        a_corr, a_w = _corrections(P[:, ankle], a_on, blend, floor_target=False)
        t_corr, t_w = _corrections(P[:, toe], t_on, blend, floor_target=True)
        weights[foot] = np.maximum(a_w, t_w)
        # a held toe carries a free ankle with it; then both are kept out of the floor
        goal_ankle = P[:, ankle] + a_corr + (1 - a_w)[:, None] * t_corr
        goal_ankle[:, 1] = np.maximum(goal_ankle[:, 1], FLOOR)
        active = (weights[foot] > 0) | (P[:, [ankle, toe], 1].min(axis=1) < FLOOR)
        if not active.any():
            continue
        idx = np.flatnonzero(active)
        H, K0, A0, T0 = P[idx, hip], P[idx, knee], P[idx, ankle], P[idx, toe]
        K1, A1 = _two_bone_ik(H, K0, A0, goal_ankle[idx], glob[idx, hip], weights[foot][idx], settings.soft_reach)
        foot_vec = T0 - A0
        toe_goal = T0 + t_corr[idx] + (1 - t_w[idx])[:, None] * (A1 - A0)
        toe_goal[:, 1] = np.maximum(toe_goal[:, 1], FLOOR)
        length = np.linalg.norm(foot_vec, axis=-1, keepdims=True)
        T1 = A1 + _above_floor(_unit(toe_goal - A1, foot_vec), A1, length) * length
        out_P[idx, knee], out_P[idx, ankle], out_P[idx, toe] = K1, A1, T1
        # the same turns on the rotation block: global hip, knee and ankle rotations, then local ones
        g_hip = rotation_between(K0 - H, K1 - H) @ glob[idx, hip]
        g_knee = rotation_between(A0 - K0, A1 - K1) @ glob[idx, knee]
        g_ankle = rotation_between(foot_vec, T1 - A1) @ glob[idx, ankle]
        parent = glob[idx, skeleton.parents[hip]]
        out_R[idx, hip] = np.swapaxes(parent, -1, -2) @ g_hip
        out_R[idx, knee] = np.swapaxes(g_hip, -1, -2) @ g_knee
        out_R[idx, ankle] = np.swapaxes(g_knee, -1, -2) @ g_ankle
    return FootCleanup(out_P, out_R, contacts, weights)


# ------------------------------------------------------------ helpers


def _joint_contacts(x: np.ndarray, fps: float, height: float, s: ContactSettings) -> np.ndarray:
    """(T, 3) positions of one joint -> (T,) contact mask (hysteresis, gap closing, minimum duration)."""
    T = len(x)
    if T < 2:
        return np.zeros(T, dtype=bool)
    xs = smooth(x, 1.0)
    speed = np.linalg.norm(np.gradient(xs[:, [0, 2]], axis=0), axis=-1) * fps  # (T,) m/s
    h = x[:, 1] - FLOOR
    enter = (h < height) & (speed < s.speed)
    stay = (h < height + s.release_height) & (speed < s.speed * s.release_speed)
    on = np.zeros(T, dtype=bool)
    state = False
    for t in range(T):
        state = bool(stay[t]) if state else bool(enter[t])
        on[t] = state
    runs = _runs(on)
    gap = s.frames(s.max_gap, fps)
    for (_, e0), (s1, _) in zip(runs[:-1], runs[1:], strict=True):
        if s1 - e0 <= gap:
            on[e0:s1] = True
    shortest = max(s.frames(s.min_frames, fps), 1)
    for start, stop in _runs(on):
        if stop - start < shortest:
            on[start:stop] = False
    return on


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _smoothstep(w: np.ndarray) -> np.ndarray:
    w = np.clip(w, 0.0, 1.0)
    return w * w * (3 - 2 * w)


def _corrections(x: np.ndarray, on: np.ndarray, blend: int, floor_target: bool) -> tuple[np.ndarray, np.ndarray]:
    """Blended corrections of one joint towards its contact targets.

    Args:
        x: (T, 3) positions.
        on: (T,) contact mask.
        blend: fade length in frames on either side of a contact.
        floor_target: put targets on the floor (toes) rather than at their mean height (kept above the floor).

    Returns:
        (T, 3) corrections and (T,) weights in [0, 1].
    """
    T = len(x)
    t = np.arange(T)
    total_w = np.zeros(T)
    total_c = np.zeros((T, 3))
    for start, stop in _runs(on):
        target = x[start:stop].mean(axis=0)
        target[1] = FLOOR if floor_target else max(target[1], FLOOR)
        w = np.ones(T)
        before, after = t < start, t >= stop
        w[before] = _smoothstep(1 - (start - t[before]) / (blend + 1))
        w[after] = _smoothstep(1 - (t[after] - stop + 1) / (blend + 1))
        offset = target - x  # inside the contact; outside, the offset at its edge fades, keeping the swing's shape
        offset[before] = target - x[start]
        offset[after] = target - x[stop - 1]
        total_w += w
        total_c += w[:, None] * offset
    return total_c / np.maximum(total_w, 1.0)[:, None], np.minimum(total_w, 1.0)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of v normalised; rows too short to have a direction take the direction of `fallback`."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    fb = fallback / np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), fb)


def _above_floor(direction: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Unit directions (N, 3) from `start` tilted up just enough that a bone of `length` ends on or above the floor."""
    lowest = np.clip((FLOOR - start[:, 1:2]) / np.maximum(length, 1e-12), -1.0, 1.0)
    dy = np.maximum(direction[:, 1:2], lowest)
    flat = direction * np.array([1.0, 0.0, 1.0])
    flat = _unit(flat, np.broadcast_to(np.array([0.0, 0.0, 1.0]), flat.shape))
    tilted = flat * np.sqrt(1 - dy**2) + dy * np.array([0.0, 1.0, 0.0])
    return np.where(direction[:, 1:2] < lowest, tilted, direction)


def _two_bone_ik(hip, knee, ankle, goal, hip_rotation, weight, soft: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle positions (N, 3) putting the ankle on `goal` with the hip fixed and both bone lengths kept.

    The knee stays on the side of the hip-ankle line where the original knee was (its bend plane); a straight
    original leg takes the bend direction from the hip's forward axis (the knee bends forward in SMPL's rest frame).
    Soft IK: within `soft` metres of full extension the reach is eased, ds + soft (1 - exp(-(d - ds) / soft)) with
    ds = l1 + l2 - soft, in proportion to the correction `weight` (N,), because near a straight leg the knee moves
    without bound for a small change of reach (the knee would jerk with every tremor of the hip). Goals out of reach
    are approached along the hip-goal line.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    to_goal = goal - hip
    d = np.linalg.norm(to_goal, axis=-1)
    u = _unit(to_goal, ankle - hip)
    if soft > 0:
        start = l1 + l2 - soft
        eased = np.where(d > start, start + soft * (1 - np.exp(-np.maximum(d - start, 0.0) / soft)), d)
        d = d + weight * (eased - d)
    slack = 1e-4 * (l1 + l2)
    reach = np.clip(d, np.abs(l1 - l2) + slack, l1 + l2 - slack)
    bend = knee - hip
    pole = bend - (bend * u).sum(-1, keepdims=True) * u
    forward = hip_rotation[..., :, 2]
    forward = forward - (forward * u).sum(-1, keepdims=True) * u
    straight = np.linalg.norm(pole, axis=-1, keepdims=True) < 1e-4 * np.maximum(l1, 1e-9)[:, None]
    pole = _unit(np.where(straight, forward, pole), forward)
    cos = np.clip((l1**2 + reach**2 - l2**2) / np.maximum(2 * l1 * reach, 1e-12), -1.0, 1.0)
    sin = np.sqrt(1 - cos**2)
    new_knee = hip + l1[:, None] * (cos[:, None] * u + sin[:, None] * pole)
    new_ankle = hip + reach[:, None] * u
    return new_knee, new_ankle
