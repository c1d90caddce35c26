"""Rig profiles: which joint of a skeleton from another tool is which SMPL-22 joint, and the joints a rig lacks.

A word table cannot map rigs: the same name means different bones in different rigs ("LeftShoulder" is the clavicle
in Mixamo and the upper arm in Biovision files; "Foot" is the ankle in Mixamo and the toe in SMPL). So a rig is
identified from its whole joint set: every profile below maps SMPL-22 joints to the names one family of rigs uses,
the profile that maps the most joints, with the hierarchy the right way round (a knee below its hip), wins, and its
names are used. A rig that no profile maps is read from its shape instead (`topology`). Joints the rig lacks (toes,
spine joints, collars, neck) are synthesised from their neighbours along the SMPL rest proportions and named in the
motion's metadata.

Names are compared as keys: lower case, namespace prefixes ("mixamorig:", "Bip01 ") dropped, separators removed.

Shape legend: T frames, J source joints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from motionmill.motion.skeleton import SMPL22

__all__ = ["PROFILES", "RigMatch", "match_rig", "name_key", "smpl_joints", "topology"]

SIDES = ("L", "R")
# joints without which a motion cannot be placed on SMPL-22: the rest can be synthesised
CORE = ("Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Head", "L_Shoulder", "R_Shoulder",
        "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist")  # fmt: skip


def _sided(central: dict[str, tuple[str, ...]], sided: dict[str, tuple[str, ...]], left: str, right: str) -> dict:
    """A profile: SMPL joint -> candidate keys; `sided` keys hold "{s}", replaced by the rig's `left`/`right` token."""
    out = dict(central)
    for joint, keys in sided.items():
        for side, token in zip(SIDES, (left, right), strict=True):
            out[f"{side}_{joint}"] = tuple(k.format(s=token) for k in keys)
    return out


# SMPL and SMPL-X in their common spellings ("L_Hip", "left_hip"), and MotionMillion's BVH names ("Left_hip",
# "Left_foot" for the toe, "Left_shoulder" for the upper arm).
_SMPL_SIDED = {"Hip": ("{s}hip",), "Knee": ("{s}knee",), "Ankle": ("{s}ankle",), "Foot": ("{s}foot",),
               "Collar": ("{s}collar",), "Shoulder": ("{s}shoulder",), "Elbow": ("{s}elbow",),
               "Wrist": ("{s}wrist",)}  # fmt: skip
_SMPL_CENTRAL = {"Pelvis": ("pelvis",), "Spine1": ("spine1",), "Spine2": ("spine2",), "Spine3": ("spine3",),
                 "Neck": ("neck",), "Head": ("head",)}  # fmt: skip

PROFILES: dict[str, dict[str, tuple[str, ...]]] = {
    "smpl": _sided(_SMPL_CENTRAL, _SMPL_SIDED, "l", "r"),
    "smpl-x": _sided(_SMPL_CENTRAL, _SMPL_SIDED, "left", "right"),
    # Mixamo: LeftShoulder is the clavicle, LeftArm the upper arm, LeftFoot the ankle, LeftToeBase the toe.
    "mixamo": _sided(
        {"Pelvis": ("hips",), "Spine1": ("spine",), "Spine2": ("spine1",), "Spine3": ("spine2",), "Neck": ("neck",),
         "Head": ("head",)},
        {"Hip": ("{s}upleg",), "Knee": ("{s}leg",), "Ankle": ("{s}foot",), "Foot": ("{s}toebase",),
         "Collar": ("{s}shoulder",), "Shoulder": ("{s}arm",), "Elbow": ("{s}forearm",), "Wrist": ("{s}hand",)},
        "left", "right"),
    # CMU's BVH conversions: Hips -> LowerBack -> Spine -> Spine1 (the arms branch here) -> Neck -> Neck1 -> Head;
    # LowerBack sits on the hips, so SMPL's Spine1 is synthesised.
    "cmu": _sided(
        {"Pelvis": ("hips",), "Spine2": ("spine",), "Spine3": ("spine1",), "Neck": ("neck",), "Head": ("head",)},
        {"Hip": ("{s}upleg",), "Knee": ("{s}leg",), "Ankle": ("{s}foot",), "Foot": ("{s}toebase",),
         "Collar": ("{s}shoulder",), "Shoulder": ("{s}arm",), "Elbow": ("{s}forearm",), "Wrist": ("{s}hand",)},
        "left", "right"),
    # Biovision / MocapBank-style files: LeftShoulder is the upper arm, no toes, one or two chest joints.
    "biovision": _sided(
        {"Pelvis": ("hips",), "Spine2": ("chest",), "Spine3": ("chest2",), "Neck": ("neck",), "Head": ("head",)},
        {"Hip": ("{s}hip", "{s}upleg"), "Knee": ("{s}knee",), "Ankle": ("{s}ankle",), "Foot": ("{s}toe",),
         "Collar": ("{s}collar",), "Shoulder": ("{s}shoulder",), "Elbow": ("{s}elbow",), "Wrist": ("{s}wrist",)},
        "left", "right"),
    # 3ds Max Biped ("Bip01 L Thigh"; the "Bip01" prefix is dropped from the keys).
    "biped": _sided(
        {"Pelvis": ("pelvis",), "Spine1": ("spine",), "Spine2": ("spine1",), "Spine3": ("spine2",),
         "Neck": ("neck",), "Head": ("head",)},
        {"Hip": ("{s}thigh",), "Knee": ("{s}calf",), "Ankle": ("{s}foot",), "Foot": ("{s}toe0",),
         "Collar": ("{s}clavicle",), "Shoulder": ("{s}upperarm",), "Elbow": ("{s}forearm",), "Wrist": ("{s}hand",)},
        "l", "r"),
    # Unreal's mannequin: side as a suffix ("thigh_l"), spine_01.._03 (UE5 adds _04, _05), ball_l for the toe.
    "unreal": {
        "Pelvis": ("pelvis",), "Spine1": ("spine01",), "Spine2": ("spine02",), "Spine3": ("spine05", "spine03"),
        "Neck": ("neck01",), "Head": ("head",),
        **{f"{side}_{joint}": (f"{key}{side.lower()}",) for side in SIDES for joint, key in (
            ("Hip", "thigh"), ("Knee", "calf"), ("Ankle", "foot"), ("Foot", "ball"), ("Collar", "clavicle"),
            ("Shoulder", "upperarm"), ("Elbow", "lowerarm"), ("Wrist", "hand"))},
    },
}  # fmt: skip
"""Rig family -> SMPL-22 joint -> the keys that joint has in that family, first found wins."""


def name_key(name: str) -> str:
    """A joint name as profiles write it: namespace and Biped prefixes dropped, lower case, letters and digits."""
    name = name.split(":")[-1].split("|")[-1]
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"^bip0*1", "", key) or key


@dataclass
class RigMatch:
    """How a rig's joints become SMPL-22 joints."""

    profile: str
    source: dict[str, int]
    """SMPL-22 joint name -> index of the rig joint it is."""
    synthesised: list[str]
    """SMPL-22 joints the rig lacks, made from their neighbours."""


def match_rig(names: list[str], parents: list[int], rest: np.ndarray | None = None) -> RigMatch:
    """The profile that maps the most SMPL-22 joints of a rig with these joint names and parents; when none maps
    every core joint and the (J, 3) `rest` positions are given, the rig's chains found by its shape (`topology`).

    Raises:
        ValueError: neither way maps every core joint (hips, knees, ankles, arms, head), naming what is missing.
    """
    keys = {}
    for j, name in enumerate(names):
        keys.setdefault(name_key(name), j)
    best, best_score, best_missing = None, None, None
    for profile, table in PROFILES.items():
        found = {joint: next((keys[k] for k in cands if k in keys), None) for joint, cands in table.items()}
        source = {joint: j for joint, j in found.items() if j is not None and _below_its_parent(joint, j, found,
                                                                                             parents)}  # fmt: skip
        missing = [joint for joint in CORE if joint not in source]
        # fewest core joints missing, then most joints mapped, then most mapped bones that are rig bones too
        score = (len(missing), -len(source), -_direct_bones(source, parents))
        if best_score is None or score < best_score:
            synthesised = [n for n in SMPL22.joint_names if n not in source]
            best, best_score, best_missing = RigMatch(profile, source, synthesised), score, missing
    if not best_missing:
        return best
    reason = f"the closest profile ({best.profile}) finds no {', '.join(best_missing)}"
    if rest is not None:
        try:
            source = topology(parents, rest)
            return RigMatch("topology", source, [n for n in SMPL22.joint_names if n not in source])
        except ValueError as e:
            reason += f", and its shape does not read as a body ({e})"
    raise ValueError(f"cannot map this rig onto SMPL-22: {reason}; joints in the file: {names}")


def _direct_bones(source: dict[str, int], parents: list[int]) -> int:
    """How many mapped SMPL-22 bones join a rig joint to its own parent (CMU and Mixamo share names but not bones)."""
    count = 0
    for joint, j in source.items():
        parent = SMPL22.parents[SMPL22.joint_names.index(joint)]
        count += parent >= 0 and source.get(SMPL22.joint_names[parent]) == parents[j]
    return count


def _below_its_parent(joint: str, j: int, source: dict[str, int | None], parents: list[int]) -> bool:
    """Whether rig joint j descends from the rig joint mapped to the nearest mapped SMPL ancestor of `joint`."""
    ancestor = SMPL22.parents[SMPL22.joint_names.index(joint)]
    while ancestor >= 0 and source.get(SMPL22.joint_names[ancestor]) is None:
        ancestor = SMPL22.parents[ancestor]
    if ancestor < 0:
        return True
    target, node = source[SMPL22.joint_names[ancestor]], parents[j]
    while node >= 0 and node != target:
        node = parents[node]
    return node == target


# Chains along which a missing joint is placed between its nearest present neighbours, at SMPL rest proportions.
_CHAINS = (("Pelvis", "Spine1", "Spine2", "Spine3", "Neck", "Head"),
           ("Spine3", "L_Collar", "L_Shoulder"), ("Spine3", "R_Collar", "R_Shoulder"))  # fmt: skip


def smpl_joints(positions: np.ndarray, match: RigMatch) -> np.ndarray:
    """(T, 22, 3) SMPL-22 joints from (T, J, 3) rig joint positions; joints the rig lacks are synthesised."""
    out = np.full((positions.shape[0], 22, 3), np.nan)
    for joint, j in match.source.items():
        out[:, SMPL22.joint_names.index(joint)] = positions[:, j]
    for chain in _CHAINS:
        _fill_chain(out, [SMPL22.joint_names.index(n) for n in chain])
    for side in SIDES:
        _fill_toe(out, side)
    return out


def _fill_chain(out: np.ndarray, chain: list[int]) -> None:
    """Place each missing joint of `chain` between the nearest present ones, at its SMPL rest arc-length fraction."""
    rest = np.asarray(SMPL22.rest_joints)
    arc = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(rest[chain], axis=0), axis=1))))
    present = [k for k, j in enumerate(chain) if not np.isnan(out[0, j, 0])]
    for k, j in enumerate(chain):
        if k in present:
            continue
        before = max((p for p in present if p < k), default=None)
        after = min((p for p in present if p > k), default=None)
        if before is None or after is None:
            continue  # nothing to place it between (a core joint is missing: match_rig refuses such rigs)
        w = (arc[k] - arc[before]) / (arc[after] - arc[before])
        out[:, j] = (1 - w) * out[:, chain[before]] + w * out[:, chain[after]]


def _fill_toe(out: np.ndarray, side: str) -> None:
    """A missing toe: the SMPL rest ankle-to-toe offset, scaled by the shin's length and turned with the body's
    heading (the pelvis across vector): with no foot joint the rig says nothing of the foot's own turn."""
    names = SMPL22.joint_names
    toe, ankle, knee = (names.index(f"{side}_{n}") for n in ("Foot", "Ankle", "Knee"))
    if not np.isnan(out[0, toe, 0]):
        return
    rest = np.asarray(SMPL22.rest_joints)
    scale = np.linalg.norm(out[:, ankle] - out[:, knee], axis=-1) / np.linalg.norm(rest[ankle] - rest[knee])
    across = out[:, names.index("L_Hip")] - out[:, names.index("R_Hip")]  # points to the body's left (+X at rest)
    yaw = np.arctan2(-across[:, 2], across[:, 0])  # the turn about Y that takes +X to `across`
    offset = rest[toe] - rest[ankle]
    cos, sin = np.cos(yaw), np.sin(yaw)
    turned = np.stack((cos * offset[0] + sin * offset[2], np.full_like(cos, offset[1]),
                       -sin * offset[0] + cos * offset[2]), axis=-1)  # fmt: skip
    out[:, toe] = out[:, ankle] + scale[:, None] * turned


def topology(parents: list[int], rest: np.ndarray) -> dict[str, int]:
    """SMPL-22 joint -> rig joint, found from the hierarchy and the (J, 3) rest positions alone, for rigs no profile
    knows: the pelvis is where two legs and a spine branch; the spine is the branch pointing away from the others;
    the chest is where it splits into two arms and a neck; in each limb the two longest consecutive bones are the
    thigh and shin (upper arm and forearm); left is the side to the left of the way the toes point (+Z without
    toes). Approximate by nature: neck and head are the first joints of the neck branch."""
    children = [[k for k, p in enumerate(parents) if p == j] for j in range(len(parents))]
    pelvis = 0
    while len(children[pelvis]) == 1:
        pelvis = children[pelvis][0]
    if len(children[pelvis]) < 3:
        raise ValueError("no joint where two legs and a spine branch")
    tips = {c: _unit(rest[_farthest(c, children, rest)[-1]] - rest[pelvis]) for c in children[pelvis]}
    spine = min(tips, key=lambda c: sum(tips[c] @ tips[o] for o in tips if o != c))
    legs = [_limb([pelvis, *_farthest(c, children, rest)], rest, 3) for c in children[pelvis] if c != spine][:2]
    up = _unit(-sum(rest[leg[2]] - rest[pelvis] for leg in legs))  # pelvis above the ankles
    path = [spine]
    while len(children[path[-1]]) == 1:
        path.append(children[path[-1]][0])
    chest = path[-1]
    if len(children[chest]) < 3:
        raise ValueError("no joint where two arms and a neck branch off the spine")
    tips = {c: _unit(rest[_farthest(c, children, rest)[-1]] - rest[chest]) for c in children[chest]}
    neck = max(tips, key=lambda c: tips[c] @ up)
    head_chain = _farthest(neck, children, rest)
    arms = [_limb([chest, *_farthest(c, children, rest)], rest, 2) for c in children[chest] if c != neck][:2]
    forward = sum((rest[leg[3]] - rest[leg[2]] for leg in legs if leg[3] is not None), np.zeros(3))
    forward = forward - (forward @ up) * up
    left_dir = np.cross(up, forward if np.linalg.norm(forward) > 1e-9 else np.array([0.0, 0.0, 1.0]))
    out = {"Pelvis": pelvis, "Spine3": chest, "Neck": neck, "Head": head_chain[1 if len(head_chain) > 1 else 0]}
    if len(path) > 1:
        out["Spine1"] = path[0]
    if len(path) > 2:
        out["Spine2"] = path[-2]
    for chain_side in ((legs, ("Hip", "Knee", "Ankle", "Foot")), (arms, ("Shoulder", "Elbow", "Wrist", "Collar"))):
        limbs, joints = chain_side
        for limb in limbs:
            side = "L" if (rest[limb[0]] - rest[pelvis]) @ left_dir > 0 else "R"
            out.update({f"{side}_{name}": j for name, j in zip(joints, limb, strict=True) if j is not None})
    if len([k for k in out if k.startswith(("L_", "R_"))]) < 12:
        raise ValueError("the limbs do not split into a left and a right side")
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-12)


def _farthest(j: int, children: list[list[int]], rest: np.ndarray) -> list[int]:
    """The chain from joint j down to its descendant leaf farthest along the bones."""
    best, best_length = [j], 0.0
    for c in children[j]:
        chain = _farthest(c, children, rest)
        length = sum(np.linalg.norm(rest[b] - rest[a]) for a, b in zip([j, *chain], chain, strict=False))
        if length > best_length:
            best, best_length = [j, *chain], length
    return best


def _limb(chain: list[int], rest: np.ndarray, min_bones: int) -> tuple:
    """(start, middle, end, extra) of the two longest consecutive bones of `chain`: hip, knee, ankle and toe (extra:
    the next joint, None without one), or shoulder, elbow, wrist and collar (extra: the joint before, if not the
    chain's root)."""
    bones = np.linalg.norm(np.diff(rest[chain], axis=0), axis=1)
    if len(bones) < min_bones:
        raise ValueError("a limb has too few joints")
    i = int(np.argmax(bones[:-1] + bones[1:])) if len(bones) > 1 else 0
    if min_bones == 3:  # legs: the joint after the ankle is the toe
        return chain[i], chain[i + 1], chain[i + 2], chain[i + 3] if i + 3 < len(chain) else None
    return chain[i], chain[i + 1], chain[i + 2], chain[i - 1] if i >= 2 else None
