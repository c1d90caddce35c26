"""Captions from joints: what a motion does, in sentences, with the time span of each part.

The offline captioner reads only SMPL-22 joint positions, so it captions any motion (video, mocap, generated):

1. features: per frame, the joints relative to the pelvis in the body's own heading frame, their velocities, the
   pelvis's velocity in that frame and the turning rate (`motion_features`); they do not change when the motion is
   moved or turned about the vertical;
2. actions: a small network (video/action_net.py), fitted on the train split of the built-in corpus with noise that
   imitates pose estimation (`motionmill video fit-captioner`, video/caption_fit.py), gives every frame the
   probability of each catalogue action and of an upper-body action layered on a gait;
3. parts: the most likely sequence of actions with a cost per change of action (Viterbi), parts shorter than
   `min_part_s` merged into a neighbour;
4. details: each part is measured with the predicates of synth/predicates.py (the same measures that score
   generated motion): direction, distance and speed of travel, turn angle, repetitions and their tempo, the side
   of a kick, punch, wave or raised arm;
5. sentences: one per part ("a person walks backward about 2 m, slowly"), and the parts joined for the whole clip.

Each `Caption` names its captioner ("offline:<classifier folder>:<version>"), so corpus captions record who wrote
them. Shape legend: T frames, J joints (22), F features, A actions.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionmill.synth import predicates as P
from motionmill.synth.catalog import ACTIONS

__all__ = ["DEFAULT_CLASSIFIER", "ActionClassifier", "Caption", "CaptionPart", "caption_motion", "motion_features",
           "parts_from_probabilities"]  # fmt: skip

DEFAULT_CLASSIFIER = Path(__file__).resolve().parent.parent / "assets" / "action_classifier"
"""The shipped classifier (fitted by `motionmill video fit-captioner`; its info.json records how)."""
VERSION = 1
"""Of the sentence grammar and the measures: bumped when captions of the same motion change."""
SWITCH_COST = 6.0
"""Nats a change of action must gain over staying (Viterbi): removes one-frame flickers."""
MIN_PART_S = 0.8
LEARNED_DETAILS = True
"""Counts and sides from the classifier's own heads (True) or from the predicates (False); chosen on val."""
TRAVEL = ("walk", "jog", "run", "sneak", "march", "skip", "side_step")


@dataclass(frozen=True)
class CaptionPart:
    """One action over a time span of the clip."""

    start: float
    """Seconds from the clip start."""
    end: float
    action: str
    """The action's name (a name of synth.catalog.ACTIONS)."""
    text: str
    """One sentence, e.g. "a person walks backward about 2 m, slowly"."""
    details: tuple[tuple[str, object], ...] = ()
    """Measured modifiers: ("direction", "backward"), ("count", 2), ("turn", -90), ("side", "left"),
    ("distance", 1.8), ("speed", 0.9), ("period", 1.2), ("layer", "wave")."""

    def detail(self, kind: str, default=None):
        return dict(self.details).get(kind, default)


@dataclass(frozen=True)
class Caption:
    """A whole clip's description."""

    text: str
    """The parts joined into one paragraph."""
    parts: tuple[CaptionPart, ...]
    captioner: str
    """Who wrote it: "offline:<classifier>:<version>", or "llm:<model>" for a language model's rewrite."""

    def texts(self) -> list[dict]:
        """The corpus's caption rows: the whole text (start = end = 0), then each part with its span."""
        rows = [{"text": self.text, "start": 0.0, "end": 0.0}]
        return rows + [{"text": p.text, "start": round(p.start, 3), "end": round(p.end, 3)} for p in self.parts]


# ---------------------------------------------------------------------------------------------------------------
# Features.
# ---------------------------------------------------------------------------------------------------------------
FEATURES = 136


def motion_features(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, J, 3) joints in metres, y up -> (T, 136) heading-invariant features (float32).

    Per frame: 66 pelvis-relative joint positions in the heading frame (the pelvis's height above the floor kept),
    66 of their velocities (m/s), the pelvis's forward and leftward speed, its vertical speed, the turning rate
    (rad/s). The floor is the lowest foot height (synth.predicates.floor_height).
    """
    j = P._smooth(np.asarray(joints, dtype=np.float64), fps)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or len(j) < 2:
        raise ValueError(f"expected SMPL-22 joints of shape (T>=2, 22, 3), got {np.shape(joints)}")
    fwd = P._smooth(P.forward_directions(j), fps, 0.3)
    theta = np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 1]))
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x, z = j[..., 0] - j[:, :1, 0], j[..., 2] - j[:, :1, 2]
    local = np.stack([x * c - z * s, j[..., 1] - P.floor_height(j, fps), x * s + z * c], axis=-1)  # (T, J, 3)
    local_velocity = np.gradient(local, axis=0) * fps
    v = np.gradient(j[:, 0], axis=0) * fps
    root = np.stack([v[:, 0] * c[:, 0] - v[:, 2] * s[:, 0], v[:, 0] * s[:, 0] + v[:, 2] * c[:, 0], v[:, 1],
                     np.gradient(theta) * fps], axis=-1)  # fmt: skip
    return np.concatenate([local.reshape(len(j), -1), local_velocity.reshape(len(j), -1), root], 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# The classifier.
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameEstimates:
    """The classifier's per-frame output on one motion, at the motion's own frame rate."""

    actions: np.ndarray
    """(T, A) probabilities of each action."""
    layers: np.ndarray
    """(T, L) probabilities of each layered upper-body action ("none" first)."""
    rate: np.ndarray
    """(T,) repetitions per second."""
    sides: np.ndarray
    """(T, S) probabilities of the side doing a one-sided action."""


class ActionClassifier:
    """The fitted network with its labels and feature statistics; `estimate` runs it on one motion."""

    def __init__(self, net, actions: list[str], layers: list[str], mean: np.ndarray, std: np.ndarray, info: dict,
                 name: str = "custom", sides: list[str] = ("left", "right", "both")):  # fmt: skip
        self.net, self.actions, self.layers, self.sides = net.eval(), actions, layers, list(sides)
        self.mean, self.std, self.info, self.name = mean, std, info, name

    def estimate(self, joints: np.ndarray, fps: float) -> FrameEstimates:
        """Per-frame estimates of a (T, J, 3) motion (the net runs at 30 fps; other rates are resampled)."""
        import torch

        features = motion_features(_at_30fps(joints, fps), 30.0)
        x = torch.from_numpy((features - self.mean) / self.std)[None]
        with torch.no_grad():
            actions, layers, rate, sides = self.net(x)
        rows = [t.softmax(-1)[0] for t in (actions, layers)] + [rate[0, :, None], sides.softmax(-1)[0]]
        actions, layers, rate, sides = (_resample_rows(t.double().numpy(), len(joints)) for t in rows)
        return FrameEstimates(actions, layers, rate[:, 0], sides)

    def save(self, folder: str | Path) -> Path:
        """weights.safetensors, config.json (labels, statistics, network shape) and info.json, written atomically."""
        from dataclasses import asdict

        from safetensors.torch import save_file

        from motionmill.utils.io import atomic_folder

        with atomic_folder(folder) as tmp:
            save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(tmp / "weights.safetensors"))
            config = {"net": asdict(self.net.config), "actions": self.actions, "layers": self.layers,
                      "sides": self.sides, "mean": self.mean.tolist(), "std": self.std.tolist()}  # fmt: skip
            (tmp / "config.json").write_text(json.dumps(config) + "\n")
            (tmp / "info.json").write_text(json.dumps(self.info, indent=1) + "\n")
            for path in tmp.iterdir():
                path.chmod(0o644)  # package data: readable by every user
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_CLASSIFIER) -> ActionClassifier:
        from safetensors.torch import load_file

        from motionmill.video.action_net import ActionNet, ActionNetConfig

        folder = Path(folder)
        if not (folder / "weights.safetensors").is_file():
            raise FileNotFoundError(f"{folder}: no action classifier here (weights.safetensors is missing)")
        config = json.loads((folder / "config.json").read_text())
        net_config = config["net"]
        net = ActionNet(ActionNetConfig(**{**net_config, "dilations": tuple(net_config["dilations"])}))
        net.load_state_dict(load_file(str(folder / "weights.safetensors")))
        name = "builtin" if folder.resolve() == DEFAULT_CLASSIFIER.resolve() else folder.name
        info = json.loads((folder / "info.json").read_text())
        mean, std = np.asarray(config["mean"], np.float32), np.asarray(config["std"], np.float32)
        return cls(net, config["actions"], config["layers"], mean, std, info, name, config["sides"])


@functools.cache
def _default_classifier() -> ActionClassifier:
    return ActionClassifier.load()


def _at_30fps(joints: np.ndarray, fps: float) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if abs(fps - 30.0) < 1e-6:
        return joints
    n = max(2, int(round((len(joints) - 1) * 30.0 / fps)) + 1)
    return _resample_rows(joints.reshape(len(joints), -1), n).reshape(n, *joints.shape[1:])


def _resample_rows(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of (T, ...) rows to n rows spanning the same time."""
    if len(x) == n:
        return x
    at = np.linspace(0, len(x) - 1, n)
    lo = np.floor(at).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (at - lo)[:, None]
    return x[lo] * (1 - w) + x[hi] * w


# ---------------------------------------------------------------------------------------------------------------
# Parts.
# ---------------------------------------------------------------------------------------------------------------
def parts_from_probabilities(probs: np.ndarray, fps: float, switch_cost: float = SWITCH_COST,
                             min_part_s: float = MIN_PART_S) -> list[tuple[int, int, int]]:  # fmt: skip
    """(T, A) per-frame probabilities -> [(start, end, action index)] covering every frame.

    The most likely label sequence when each change costs `switch_cost` nats (Viterbi); then parts shorter than
    `min_part_s` are merged, shortest first, into the neighbour whose action they support more.
    """
    logp = np.log(np.clip(probs, 1e-9, 1.0))
    T, A = logp.shape
    score, back = logp[0].copy(), np.zeros((T, A), dtype=np.int64)
    for t in range(1, T):
        best = int(score.argmax())
        switch = score[best] - switch_cost
        back[t] = np.where(score >= switch, np.arange(A), best)
        score = np.maximum(score, switch) + logp[t]
    labels = np.empty(T, dtype=np.int64)
    labels[-1] = int(score.argmax())
    for t in range(T - 1, 0, -1):
        labels[t - 1] = back[t, labels[t]]
    parts = [(s, e, int(labels[s])) for s, e in _label_runs(labels)]
    while len(parts) > 1:
        k = min(range(len(parts)), key=lambda i: parts[i][1] - parts[i][0])
        s, e, _ = parts[k]
        if e - s >= min_part_s * fps:
            break
        neighbours = [i for i in (k - 1, k + 1) if 0 <= i < len(parts)]
        into = max(neighbours, key=lambda i: probs[s:e, parts[i][2]].sum())
        merged = (min(s, parts[into][0]), max(e, parts[into][1]), parts[into][2])
        parts[min(k, into)] = merged
        del parts[max(k, into)]
        parts = _join_equal(parts)
    return parts


def _label_runs(labels: np.ndarray) -> list[tuple[int, int]]:
    cuts = np.flatnonzero(np.diff(labels)) + 1
    edges = np.concatenate([[0], cuts, [len(labels)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _join_equal(parts: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for part in parts:
        if out and out[-1][2] == part[2]:
            out[-1] = (out[-1][0], part[1], part[2])
        else:
            out.append(part)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Details: what the predicates measure on each part.
# ---------------------------------------------------------------------------------------------------------------
def _generic_count(j: np.ndarray, fps: float) -> int:
    """Repetitions of any cyclic action: peaks of the pose's main direction of change (first principal component
    of the pelvis-relative joints), each at least 40% of its range prominent and 0.35 s apart."""
    rel = (j - j[:, :1]).reshape(len(j), -1)
    rel = rel - rel.mean(0)
    if len(rel) < 3 or not np.isfinite(rel).all():
        return 0
    component = np.linalg.svd(rel, full_matrices=False)[2][0]
    signal = P._smooth(rel @ component, fps, 0.15)
    if np.ptp(signal) < 0.05:
        return 0
    signal = signal * np.sign(signal[np.argmax(np.abs(signal))])  # peaks at the far end of the movement
    return P.count_repetitions(signal, fps, prominence=0.4 * float(np.ptp(signal)), min_separation=0.35)


def _body_joints(j: np.ndarray, fps: float) -> np.ndarray:
    """(T, J, 3) pelvis-relative joints in the body's heading frame: the first block of `motion_features`."""
    return motion_features(j, fps)[:, :66].reshape(len(j), 22, 3)


def _wrist_rises(j: np.ndarray, fps: float) -> int:
    """Times the higher wrist rises at least 15 cm relative to the pelvis (blocks raise the forearms each time)."""
    local = _body_joints(j, fps)
    return P.count_repetitions(local[:, P.WRISTS, 1].max(axis=1), fps, prominence=0.15, min_separation=0.3)


COUNTERS = {
    "block": _wrist_rises, "jump": P.count_jumps, "hop": P.count_jumps, "squat": P.count_squats, "punch": P.punch_count,
    "clap": P.hands_together_count, "calf_raise": P.count_heel_raises, "wave": P.wave_count,
    **dict.fromkeys(("jumping_jack", "kick", "side_kick", "lunge", "toe_touch", "side_bend", "shoot_basketball",
                     "high_knees", "side_step", "torso_twist", "cheer", "swing_bat", "shrug"), _generic_count),
}  # fmt: skip
"""How each repeated action is counted: a dedicated predicate, or `_generic_count`, whichever counted more
repetitions right on generated single-action segments (clean and disturbed, fresh random plans). Actions that
neither counts reliably (arm circles, uppercuts, elbow strikes, dribbles, nods) get no count rather than a wrong
one."""


def _moving_side(j: np.ndarray, fps: float, pair: tuple[int, int], ratio: float = 1.6) -> str:
    """Which limb does a one-sided action: of the joint `pair` (left, right), the one that travels clearly farther
    relative to the pelvis in the body's heading frame; "both" when neither travels `ratio` times farther."""
    local = _body_joints(j, fps)
    travel = [float(np.linalg.norm(np.diff(local[:, w], axis=0), axis=-1).sum()) for w in pair]
    if max(travel) < 0.3:
        return "none"
    if max(travel) < ratio * min(travel):
        return "both"
    return "left" if travel[0] > travel[1] else "right"


def _moving_arm(j: np.ndarray, fps: float) -> str:
    return _moving_side(j, fps, P.WRISTS)


def _kicking_leg(j: np.ndarray, fps: float) -> str:
    """The foot that rises above the other knee, or else the foot that moves clearly more (a low kick)."""
    side = P.kick_side(j, fps)
    return side if side != "none" else _moving_side(j, fps, P.ANKLES)


SIDES = {"punch": P.punch_side, "kick": _kicking_leg, "side_kick": _kicking_leg, "wave": P.waving_hand,
         "raise_arms": P.raised_hand, "reach_up": P.raised_hand,
         **dict.fromkeys(("uppercut", "dribble", "salute", "scratch_head", "point", "block", "arm_circles",
                          "stretch"), _moving_arm)}  # fmt: skip
"""How the side of a sided action is measured (chosen like COUNTERS on generated segments). Elbow strikes and
throws move both arms about as much, so no side is claimed for them."""


def _round_turn(degrees: float) -> int:
    return int(45 * round(degrees / 45))


def measure_part(action: str, j: np.ndarray, fps: float, learned: dict | None = None) -> dict:
    """The measured modifiers of one part: joints (T, J, 3) of its span -> {kind: value}.

    `learned` ({"count": n, "side": s} from the classifier) replaces the predicates' count and side for the actions
    whose catalogue entry has that modifier."""
    learned = learned or {}
    details: dict = {}
    if len(j) < 3:
        return details
    turn = _round_turn(P.heading_change(j, fps))
    if action in TRAVEL or action == "jump":
        direction = P.displacement_direction(j, fps)
        if direction != "none":
            details["direction"] = direction
            details["distance"] = round(P.distance_travelled(j, fps), 1)
            details["speed"] = round(P.mean_speed(j, fps), 1)
        if action in TRAVEL and abs(turn) >= 90:
            details["turn"] = turn
    if action in ("turn_in_place", "spin") and turn != 0:
        details["turn"] = turn
    count = 0
    if "count" in learned and "reps" in ACTIONS[action].modifiers:
        count = int(learned["count"])
    elif action in COUNTERS:
        count = int(COUNTERS[action](j, fps))
    if count >= 1:
        details["count"] = count
        details["period"] = round(len(j) / fps / count, 1)
    side = "none"
    if "side" in learned and "side" in ACTIONS[action].modifiers:
        side = learned["side"]
    elif action in SIDES:
        side = SIDES[action](j, fps)
    if side in ("left", "right", "both"):
        details["side"] = side
    return details


# ---------------------------------------------------------------------------------------------------------------
# Sentences.
# ---------------------------------------------------------------------------------------------------------------
VERBS = {
    "walk": "walks", "jog": "jogs", "run": "runs", "sneak": "sneaks", "march": "marches", "skip": "skips",
    "hop": "hops", "side_step": "steps sideways", "turn_in_place": "turns on the spot", "spin": "spins around",
    "jumping_jack": "does jumping jacks", "squat": "squats", "lunge": "lunges", "high_knees": "runs on the spot "
    "with high knees", "arm_circles": "circles the arms", "toe_touch": "bends down to touch the toes",
    "side_bend": "bends sideways", "torso_twist": "twists the torso", "calf_raise": "rises onto the toes",
    "stretch": "stretches", "punch": "punches", "uppercut": "throws uppercuts", "kick": "kicks",
    "side_kick": "kicks sideways", "block": "raises the forearms to block", "elbow_strike": "strikes with the elbow",
    "sway": "sways from side to side", "shimmy": "shimmies the shoulders", "bow": "bows", "cheer": "cheers with "
    "the arms up", "salute": "salutes", "jump": "jumps", "throw": "throws something", "dribble": "dribbles a ball",
    "swing_bat": "swings a bat", "shoot_basketball": "shoots a basketball", "wave": "waves", "clap": "claps",
    "point": "points", "raise_arms": "raises the arms", "reach_up": "reaches up", "pick_up": "picks something up "
    "from the floor", "look_around": "looks around", "shrug": "shrugs", "nod": "nods", "scratch_head": "scratches "
    "the head", "stand": "stands still",
}  # fmt: skip
LIMB = {"wave": "hand", "punch": "hand", "uppercut": "hand", "throw": "hand", "dribble": "hand", "salute": "hand",
        "scratch_head": "hand", "point": "hand", "kick": "leg", "side_kick": "leg", "lunge": "leg",
        "raise_arms": "arm", "reach_up": "arm", "arm_circles": "arm", "block": "arm", "stretch": "arm",
        "elbow_strike": "elbow"}  # fmt: skip
"""The limb that does a one-sided action, for "with the left leg"; hops and side bends have their own words."""
_COUNT_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}


def _times(n: int) -> str:
    return _COUNT_WORDS.get(n, f"{n} times")


def _side_words(action: str, side: str) -> str:
    if action == "hop":
        return "on both feet" if side == "both" else f"on the {side} foot"
    if action == "side_bend":
        return "to both sides" if side == "both" else f"to the {side}"
    limb = LIMB.get(action, "hand")
    return f"with both {limb}s" if side == "both" else f"with the {side} {limb}"


def _turn_words(turn: int) -> str:
    way = "left" if turn > 0 else "right"
    return "all the way around" if abs(turn) >= 315 else f"about {abs(turn)} degrees to the {way}"


def phrase(action: str, details: dict) -> str:
    """The verb phrase of one part, e.g. "walks backward about 2.1 m at 0.8 m/s" or "kicks with the left leg twice"."""
    words = [VERBS[action]]
    if action == "raise_arms" and "side" in details:  # "raises both arms", not "raises the arms with both arms"
        words = ["raises both arms" if details["side"] == "both" else f"raises the {details['side']} arm"]
    if "direction" in details:
        words.append(details["direction"] if action != "side_step" else f"to the {details['direction']}")
    if "distance" in details and details["distance"] >= 0.5:
        words.append(f"about {details['distance']:g} m")
    if "side" in details and action != "raise_arms":
        words.append(_side_words(action, details["side"]))
    if action in ("turn_in_place", "spin") and "turn" in details:
        words.append(_turn_words(details["turn"]))
    if "count" in details and action not in TRAVEL and action not in ("turn_in_place", "spin", "stand"):
        words.append(_times(details["count"]))
        if details["count"] >= 2:
            words.append(f"(one every {details['period']:g} s)")
    text = " ".join(words)
    if "speed" in details and action in TRAVEL:
        text += f" at {details['speed']:g} m/s"
    if "turn" in details and action in TRAVEL:
        text += f", turning {_turn_words(details['turn'])}"
    if details.get("layer"):
        text += f", and {VERBS[details['layer']]} at the same time"
    return text


def caption_motion(joints: np.ndarray, fps: float, classifier: ActionClassifier | None = None,
                   switch_cost: float = SWITCH_COST, min_part_s: float = MIN_PART_S,
                   learned_details: bool = LEARNED_DETAILS) -> Caption:  # fmt: skip
    """The offline caption of one motion: (T, J, 3) joints in metres, y up -> a Caption with one part per action.

    `classifier` defaults to the shipped one; `switch_cost` and `min_part_s` are those of `parts_from_probabilities`;
    `learned_details` takes counts and sides from the classifier rather than from the predicates.
    """
    classifier = classifier or _default_classifier()
    joints = np.asarray(joints, dtype=np.float64)
    estimates = classifier.estimate(joints, fps)
    layers = estimates.layers
    parts = []
    for s, e, a in parts_from_probabilities(estimates.actions, fps, switch_cost, min_part_s):
        action = classifier.actions[a]
        learned = None
        if learned_details:
            side = classifier.sides[int(estimates.sides[s:e].mean(0).argmax())]
            learned = {"count": int(round(estimates.rate[s:e].sum() / fps)), "side": side}
        details = measure_part(action, joints[s:e], fps, learned)
        layer = layers[s:e].mean(0)
        best = int(layer.argmax())
        if action in TRAVEL and classifier.layers[best] != "none" and layer[best] > 0.5:
            details["layer"] = classifier.layers[best]
        text = "a person " + phrase(action, details)
        parts.append(CaptionPart(round(s / fps, 3), round(e / fps, 3), action, text, tuple(details.items())))
    whole = "a person " + ", then ".join(phrase(p.action, dict(p.details)) for p in parts) + "."
    return Caption(whole, tuple(parts), f"offline:{classifier.name}:{VERSION}")
