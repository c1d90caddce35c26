"""Tests of the motion predicates on joints built by hand: each fact holds where it should and fails where it should
not, survives 1 cm jitter, and does not depend on where the clip is or which way it faces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motionmill.motion.rotations import axis_angle_to_matrix
from motionmill.motion.skeleton import SMPL22, forward_kinematics
from motionmill.synth import predicates as P

FPS = 30.0
FEET = (7, 8, 10, 11)
ARMS_DOWN = {16: (0.0, 0.0, -1.35), 17: (0.0, 0.0, 1.35)}  # left arm points +X at rest, right arm -X


# ---------------------------------------------------------------------------------------------------------------
# Motion builders: a standing person (arms down, feet on y=0, pelvis over the origin, facing +Z) animated per frame.
# ---------------------------------------------------------------------------------------------------------------
def pose(T: int, rot: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """(T, 22, 3) joints from per-joint axis-angles ((3,) or (T, 3)), arms hanging unless overridden."""
    aa = np.zeros((T, 22, 3))
    for j, v in {**ARMS_DOWN, **(rot or {})}.items():
        aa[:, j] = v
    R = axis_angle_to_matrix(torch.tensor(aa))
    root = torch.tensor(SMPL22.rest_joints[0], dtype=torch.float64).expand(T, 3)
    pos = forward_kinematics(R, root, torch.tensor(SMPL22.offsets), SMPL22.parents)[0].numpy()
    pos[..., [0, 2]] -= pos[:1, :1, [0, 2]]
    pos[..., 1] -= pos[:, FEET, 1].min(1)[:, None]  # lowest foot joint on the floor in every frame
    return pos


def bump(T: int, n: int = 1, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(T,) smooth pulses from lo to hi and back, n of them spread over the clip with rests in between."""
    phase = np.minimum(np.arange(T) / (T - 1) * n, n - 1e-9) % 1.0
    return lo + (hi - lo) * np.sin(np.pi * np.clip((phase - 0.15) / 0.7, 0, 1)) ** 2


def place(j: np.ndarray, heading_deg=0.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Rotate every frame about +Y by heading (scalar or (T,), + = left) and translate by (x, z)."""
    a = np.radians(np.broadcast_to(np.asarray(heading_deg, dtype=np.float64), j.shape[:1]))[:, None]
    out = j.copy()
    x, z = j[..., 0], j[..., 2]
    out[..., 0] = x * np.cos(a) + z * np.sin(a) + offset[0]
    out[..., 2] = -x * np.sin(a) + z * np.cos(a) + offset[1]
    return out


def stand(T: int = 60) -> np.ndarray:
    return pose(T)


def walk(direction: str = "forward", n_steps: int = 6, step_len: float = 0.35, step_time: float = 0.5) -> np.ndarray:
    """Alternating steps (left foot first) while the pelvis moves steadily in a body-frame direction."""
    d = np.array({"forward": (0, 1), "backward": (0, -1), "left": (1, 0), "right": (-1, 0)}[direction], float)
    T = int(n_steps * step_time * FPS) + 1
    t = np.arange(T) / FPS
    s_pelvis = step_len * t / step_time
    j = pose(T)
    for foot, chain in enumerate(((4, 7, 10), (5, 8, 11))):
        s, lift = np.full(T, step_len / 2 * (1 if foot else -1)), np.zeros(T)
        for k in range(foot, n_steps, 2):
            start_val = s[int(k * step_time * FPS)]
            phase = np.clip((t - k * step_time) / step_time, 0, 1)
            target = step_len * (k + 1) + step_len / 2
            moving = t >= k * step_time
            s[moving] = start_val + (target - start_val) * (3 * phase[moving] ** 2 - 2 * phase[moving] ** 3)
            lift += 0.1 * np.sin(np.pi * phase)
        delta = np.zeros((T, 3))
        delta[:, [0, 2]] = (s - s_pelvis)[:, None] * d
        delta[:, 1] = lift
        j[:, chain[1:]] += delta[:, None]
        j[:, chain[0]] += delta / 2
    j[..., [0, 2]] += s_pelvis[:, None, None] * d
    return j


def turn(angle: float, T: int = 60) -> np.ndarray:
    heading = angle * np.clip((np.arange(T) - 10) / (T - 20), 0, 1)
    return place(stand(T), heading)


def jumps(n: int, height: float = 0.25) -> np.ndarray:
    T = int(n * 0.8 * FPS)
    j = stand(T)
    j[..., 1] += height * bump(T, n)[:, None]
    return j


def squats(n: int, angle: float = 1.1) -> np.ndarray:
    T = int(n * 1.2 * FPS)
    a = bump(T, n, 0, angle)[:, None]
    zero = np.zeros_like(a)
    hip, knee, ankle = np.hstack([-a, zero, zero]), np.hstack([2 * a, zero, zero]), np.hstack([-a, zero, zero])
    return pose(T, {1: hip, 2: hip, 4: knee, 5: knee, 7: ankle, 8: ankle})


def kick(side: str, T: int = 45) -> np.ndarray:
    hip = np.zeros((T, 3))
    hip[:, 0] = -bump(T, 1, 0, 1.6)
    return pose(T, {1 if side == "left" else 2: hip})


def _arm_angles(side: str, z_angle: np.ndarray) -> dict[int, np.ndarray]:
    """Shoulder rotations in the frontal plane: z_angle is the left arm's angle above horizontal (mirrored)."""
    aa = np.zeros((len(z_angle), 3))
    aa[:, 2] = z_angle
    out = {}
    if side in ("left", "both"):
        out[16] = aa
    if side in ("right", "both"):
        out[17] = -aa
    return out


def raise_hand(side: str, T: int = 60) -> np.ndarray:
    return pose(T, _arm_angles(side, bump(T, 1, -1.35, 1.3)))


def wave(side: str, cycles: int = 3, T: int = 75) -> np.ndarray:
    t = np.arange(T) / FPS
    return pose(T, _arm_angles(side, 1.1 + 0.35 * np.sin(2 * np.pi * cycles * t / t[-1])))


def punches(side: str, n: int = 2) -> np.ndarray:
    T = int(n * 0.8 * FPS)
    w = bump(T, n)[:, None]
    sign = 1 if side == "left" else -1
    down, forward = np.array([0, 0, -1.35 * sign]), np.array([0, -math.pi / 2 * sign, 0])
    return pose(T, {16 if side == "left" else 17: (1 - w) * down + w * forward})


def claps(n: int = 3) -> np.ndarray:
    T = int(n * 0.6 * FPS)
    phi = bump(T, n, -0.3, 0.33)[:, None]
    zero = np.zeros_like(phi)
    return pose(T, {16: np.hstack([zero, -(np.pi / 2 + phi), zero]), 17: np.hstack([zero, np.pi / 2 + phi, zero])})


def bend(axis: int, degrees: float, T: int = 60) -> np.ndarray:
    aa = np.zeros((T, 3))
    aa[:, axis] = bump(T, 1, 0, np.radians(degrees))
    return pose(T, {3: aa})


def touch_head(side: str, T: int = 60) -> np.ndarray:
    """The hand folded over onto the top of the head and back (a head scratch)."""
    w, sign = bump(T, 1)[:, None], 1 if side == "left" else -1
    shoulder = (1 - w) * np.array([0, 0, -1.35 * sign]) + w * np.array([0, 0, 1.4 * sign])
    elbow = w * np.array([0, 0, 2.1 * sign])
    return pose(T, {16: shoulder, 18: elbow} if side == "left" else {17: shoulder, 19: elbow})


def heel_raises(n: int) -> np.ndarray:
    T = int(n * 0.8 * FPS)
    ankle = np.zeros((T, 3))
    ankle[:, 0] = bump(T, n, 0, 0.6)  # plantar flexion: the toes go down, so the ankles rise off the floor
    return pose(T, {7: ankle, 8: ankle})


def jitter(j: np.ndarray, seed: int, sigma: float = 0.01) -> np.ndarray:
    return j + np.random.default_rng(seed).normal(0, sigma, j.shape)


# ---------------------------------------------------------------------------------------------------------------
# Tests.
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["forward", "backward", "left", "right"])
def test_displacement_direction(direction):
    j = walk(direction)
    assert P.displacement_direction(j, FPS) == direction
    assert P.distance_travelled(j, FPS) == pytest.approx(6 * 0.35, abs=0.15)  # ends averaged over 0.2 s
    assert P.displacement_direction(stand(), FPS) == "none"


def test_net_displacement_signs_and_speed():
    dx, dz, dist = P.net_displacement(walk("left"), FPS)
    assert dx > 1.9 and abs(dz) < 0.05 and dist == pytest.approx(abs(dx))
    assert P.forward_displacement(walk("backward"), FPS) < -1.9
    assert P.mean_speed(walk(), FPS) == pytest.approx(0.7, abs=0.1)
    assert P.mean_speed(jitter(stand(), 0), FPS) < 0.05


@pytest.mark.parametrize("angle", [90, -90, 180, -180, 360])
def test_heading_change(angle):
    assert P.heading_change(turn(angle), FPS) == pytest.approx(angle, abs=3)
    assert abs(P.heading_change(stand(), FPS)) < 1


def test_jumps_and_airborne():
    for n in (1, 2, 3):
        assert P.count_jumps(jumps(n), FPS) == n
    assert P.airborne_frames(jumps(2), FPS).mean() > 0.3
    for other in (stand(), walk(), squats(2), kick("left")):
        assert P.count_jumps(other, FPS) == 0


def test_steps():
    assert P.step_count(walk(n_steps=6), FPS) == 6
    assert P.step_count(walk("right", n_steps=4), FPS) == 4
    for other in (stand(), jumps(3), claps()):
        assert P.step_count(other, FPS) == 0


@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_raised_hand(side):
    j = raise_hand(side)
    assert P.raised_hand(j, FPS) == side
    (start, end), *rest = P.raised_hand_intervals(j, FPS, side)
    assert not rest and 0.3 < start < 1.0 < end < 1.7
    assert P.hand_above_head(j, FPS, side).sum() == pytest.approx((end - start) * FPS, abs=1)
    assert P.raised_hand(stand(), FPS) == "none" and P.raised_hand(walk(), FPS) == "none"


def test_squats_and_crouch():
    for n in (1, 2, 4):
        assert P.count_squats(squats(n), FPS) == n
    assert P.crouch_depth(squats(1), FPS) > 0.25
    for other in (stand(), jumps(2), walk(), bend(0, 50)):
        assert P.count_squats(other, FPS) == 0
    assert P.crouch_depth(stand(), FPS) < 0.03 and P.crouch_depth(jumps(2), FPS) < 0.03


@pytest.mark.parametrize("side", ["left", "right"])
def test_kicks(side):
    assert P.kick_side(kick(side), FPS) == side
    assert P.count_kicks(kick(side), FPS, side) == 1
    for other in (stand(), walk(), squats(2), jumps(2)):
        assert P.kick_side(other, FPS) == "none"


def test_claps():
    assert P.hands_together_count(claps(3), FPS) == 3
    assert P.hands_together_count(claps(1), FPS) == 1
    for other in (stand(), walk(), wave("left"), punches("left")):
        assert P.hands_together_count(other, FPS) == 0


@pytest.mark.parametrize("side", ["left", "right"])
def test_waves(side):
    j = wave(side)
    assert P.waving_hand(j, FPS) == side
    assert 2 <= P.wave_count(j, FPS, side) <= 3
    for other in (stand(), raise_hand(side), claps(), walk()):
        assert P.waving_hand(other, FPS) == "none"


@pytest.mark.parametrize("side", ["left", "right"])
def test_punches(side):
    assert P.punch_count(punches(side, 2), FPS) == 2
    assert P.punch_side(punches(side, 1), FPS) == side
    for other in (stand(), raise_hand("both"), claps(), wave(side)):
        assert P.punch_count(other, FPS) == 0


def test_torso_bow_lean_twist():
    assert P.bow_depth(bend(0, 50), FPS) > 35 and P.bow_depth(stand(), FPS) < 5
    assert P.lateral_lean(bend(2, -30), FPS) > 20 and P.lateral_lean(bend(2, 30), FPS) < -20
    assert abs(P.lateral_lean(stand(), FPS)) < 3 and abs(P.lateral_lean(bend(0, 50), FPS)) < 3
    assert P.torso_twist(bend(1, 45), FPS) > 35 and P.torso_twist(stand(), FPS) < 3
    assert P.min_hand_height(squats(1), FPS) < P.min_hand_height(stand(), FPS) - 0.25


@pytest.mark.parametrize("side", ["left", "right"])
def test_hand_to_head(side):
    assert P.hand_head_distance(touch_head(side), FPS, side) < 0.15
    other = "right" if side == "left" else "left"
    assert P.hand_head_distance(touch_head(side), FPS, other) > 0.5
    for motion in (stand(), raise_hand(side), wave(side), claps()):
        assert P.hand_head_distance(motion, FPS) > 0.3


def test_heel_raises():
    for n in (1, 3):
        assert P.count_heel_raises(heel_raises(n), FPS) == n
    for other in (stand(), walk(), jumps(2), squats(2), kick("left")):
        assert P.count_heel_raises(other, FPS) == 0


MOTIONS = {
    "walk_left": walk("left"), "walk_back": walk("backward"), "turn": turn(-90), "jumps": jumps(3),
    "squats": squats(3), "kick": kick("right"), "claps": claps(3), "wave": wave("left"), "punch": punches("right", 2),
    "raise": raise_hand("both"), "bow": bend(0, 50), "heels": heel_raises(3),
}  # fmt: skip
MEASURES = (
    "displacement_direction", "count_jumps", "step_count", "count_squats", "kick_side", "count_kicks",
    "hands_together_count", "wave_count", "waving_hand", "punch_count", "punch_side", "raised_hand",
    "count_heel_raises",
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(MOTIONS))
def test_counts_survive_one_centimetre_jitter(name):
    clean = {m: P.PREDICATES[m](MOTIONS[name], FPS) for m in MEASURES}
    for seed in range(3):
        noisy = jitter(MOTIONS[name], seed)
        assert {m: P.PREDICATES[m](noisy, FPS) for m in MEASURES} == clean
        assert P.heading_change(noisy, FPS) == pytest.approx(P.heading_change(MOTIONS[name], FPS), abs=3)


CONTINUOUS = (
    "forward_displacement", "lateral_displacement", "heading_change", "bow_depth", "lateral_lean",
    "hand_head_distance", "min_hand_height", "torso_twist",
)  # fmt: skip


@pytest.mark.parametrize("angle", [17.0, 163.0, 290.0])
def test_rotation_and_translation_invariance(angle):
    for name, j in MOTIONS.items():
        moved = place(j, angle, (3.0, -2.0))
        for m in MEASURES:
            assert P.PREDICATES[m](moved, FPS) == P.PREDICATES[m](j, FPS), (name, m)
        for m in CONTINUOUS:
            assert P.PREDICATES[m](moved, FPS) == pytest.approx(P.PREDICATES[m](j, FPS), abs=1e-6), (name, m)


def test_vertical_offset_does_not_matter():
    j = jumps(2)
    lifted = j + np.array([0.0, 1.3, 0.0])
    assert P.count_jumps(lifted, FPS) == 2 and P.crouch_depth(lifted, FPS) == pytest.approx(P.crouch_depth(j, FPS))


def test_find_peaks_prominence_and_separation():
    t = np.arange(120) / FPS
    sine = np.sin(2 * np.pi * t)  # 4 cycles
    assert P.count_repetitions(sine, FPS, prominence=0.8) == 4  # the first peak rises from 0 only
    assert P.count_repetitions(sine, FPS, prominence=0.8, height=2.0) == 0
    assert P.count_repetitions(sine, FPS, prominence=1.5) == 3
    assert P.count_repetitions(sine + 0.3 * np.sin(2 * np.pi * 8 * t), FPS, prominence=0.8, min_separation=0.6) == 4
    assert P.count_repetitions(0.01 * np.random.default_rng(0).normal(size=120), FPS, prominence=0.1) == 0


def test_predicate_check_and_score():
    j = jumps(2)
    assert P.Predicate("count_jumps", expected=2).check(j, FPS)
    assert not P.Predicate("count_jumps", expected=3).check(j, FPS)
    assert P.Predicate("count_jumps", expected=3, tolerance=1).check(j, FPS)
    assert P.Predicate("heading_change", expected=(-100, -80)).check(turn(-90), FPS)
    assert P.Predicate("distance_travelled", expected=(1.5, None)).check(walk(), FPS)
    assert P.Predicate("kick_side", expected=frozenset({"left", "both"})).check(kick("left"), FPS)
    pred = P.Predicate("count_kicks", args={"side": "right"}, expected=0)
    assert pred.args == (("side", "right"),) and pred.check(kick("left"), FPS)
    preds = [P.Predicate("count_jumps", expected=2), P.Predicate("displacement_direction", expected="forward")]
    assert P.score(preds, j, FPS) == 0.5
    assert math.isnan(P.score([], j, FPS))
    with pytest.raises(KeyError, match="unknown predicate"):
        P.Predicate("fly")
    with pytest.raises(ValueError, match="22, 3"):
        P.count_jumps(np.zeros((10, 24, 3)), FPS)
