"""Clips from plans: segments in order with blended transitions, layered upper-body actions, and a root that
keeps planted feet still.

All blending happens on pose channels (synth.pose), which are smooth angles, so a transition is a per-channel
ease from the last pose of one segment into the next (the heading is carried over, so each segment starts where
and facing where the previous one ended). The whole clip is then turned into rotations and joints with one forward
kinematics pass with the root at the origin. The root is placed afterwards:
- height: the lowest joint touches y = 0 on every grounded frame, plus the ballistic arc of a jump in flight;
- horizontal: the root moves opposite to the planted foot's motion relative to the pelvis, so the planted foot
  stays fixed in the world (feet weighted by how close to the floor they are, which blends support switches);
  in flight the root moves at the velocity the action gives (Track.push; 0 for a jump in place).

Shape legend: T frames, J joints, C pose channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motionmill.motion.skeleton import SMPL22, forward_kinematics
from motionmill.synth.actions import generate
from motionmill.synth.plan import ClipPlan, Segment
from motionmill.synth.pose import UPPER, channel, pose_to_rotations, smoothstep

__all__ = ["Kinematics", "compose", "compose_segments"]

BLEND = 0.4  # seconds of cross-fade between segments
LAYER_FADE = 0.3  # seconds to bring a layered gesture in and out
FEET = (10, 11)  # toe joints: the points kept still while planted
CONTACT_SOFTNESS = 0.01  # metres: a foot this much higher than the other carries e^-1 of the weight
_YAW = channel("yaw")
_OFFSETS = torch.from_numpy(SMPL22.offsets)


@dataclass
class Kinematics:
    """A composed clip."""

    params: np.ndarray
    """(T, C) pose channels in degrees (yaw absolute)."""
    rotations: np.ndarray
    """(T, J, 3, 3) local rotations; index 0 is the global root rotation."""
    root: np.ndarray
    """(T, 3) root (pelvis) positions in metres."""
    joints: np.ndarray
    """(T, J, 3) joint positions in metres, floor at y = 0."""
    air: np.ndarray
    """(T,) flight height (0 when grounded)."""


def _layered(seg: Segment, fps: float, rng: np.random.Generator):
    """The segment's track, with its layered upper-body action's arms and head over the gait."""
    track = generate(seg, fps, rng)
    if seg.layer is None:
        return track
    layer = generate(Segment(seg.layer, seg.start, seg.end, seg.layer_modifiers), fps, rng)
    T = len(track.params)
    t = np.arange(T) / fps
    fade = (smoothstep(t / LAYER_FADE) * smoothstep((T / fps - t) / LAYER_FADE))[:, None]
    mixed = track.params + fade * (layer.params[:T] - track.params) * UPPER
    track.params = mixed
    return track


def _join(tracks, fps: float):
    """Concatenate tracks: heading carried over, each start eased in from the previous segment's last pose."""
    n_blend = max(1, round(BLEND * fps))
    parts, air, push, contact = [], [], [], []
    for track in tracks:
        P = track.params.copy()
        if parts:
            last = parts[-1][-1]
            P[:, _YAW] += last[_YAW]
            k = min(n_blend, len(P))
            w = smoothstep((np.arange(k) + 1) / k)[:, None]
            P[:k] = last + w * (P[:k] - last)
        parts.append(P)
        air.append(track.air)
        push.append(track.push)
        contact.append(track.contact)
    return np.concatenate(parts), np.concatenate(air), np.concatenate(push), np.concatenate(contact)


def _root(local: np.ndarray, yaw: np.ndarray, air: np.ndarray, push: np.ndarray, contact: np.ndarray, fps: float):
    """(T, 3) root positions from joints relative to the root (T, J, 3): planted feet still, lowest joint on y = 0."""
    feet = local[:, FEET]  # (T, 2, 3)
    height = feet[..., 1] - feet[..., 1].min(axis=1, keepdims=True)
    w = np.exp(-height / CONTACT_SOFTNESS)
    w = np.where(np.isnan(contact), w / w.sum(axis=1, keepdims=True), contact)  # (T, 2)
    w = 0.5 * (w[:-1] + w[1:])
    step = -(w[..., None] * (feet[1:] - feet[:-1])).sum(axis=1)[:, [0, 2]]  # (T-1, 2)
    grounded = (air[:-1] <= 0) & (air[1:] <= 0)
    c, s = np.cos(np.deg2rad(yaw[:-1])), np.sin(np.deg2rad(yaw[:-1]))
    pushed = np.stack((c * push[:-1, 0] + s * push[:-1, 1], -s * push[:-1, 0] + c * push[:-1, 1]), axis=-1) / fps
    step = np.where(grounded[:, None] | np.isnan(pushed), step, pushed)
    root = np.zeros((len(local), 3))
    root[1:, [0, 2]] = np.cumsum(step, axis=0)
    root[:, 1] = air - local[..., 1].min(axis=1)
    return root


def compose_segments(segments, fps: float, rng: np.random.Generator) -> Kinematics:
    """Rotations, root and joints of segments played in order (see the module docstring)."""
    params, air, push, contact = _join([_layered(seg, fps, rng) for seg in segments], fps)
    rotations = pose_to_rotations(params)  # (T, J, 3, 3)
    R = torch.from_numpy(rotations)
    local = forward_kinematics(R, torch.zeros(len(R), 3, dtype=R.dtype), _OFFSETS, SMPL22.parents)[0].numpy()
    root = _root(local, params[:, _YAW], air, push, contact, fps)
    return Kinematics(params, rotations, root, local + root[:, None], air)


def compose(plan: ClipPlan, rng: np.random.Generator) -> Kinematics:
    """The motion of a whole clip plan, at plan.fps."""
    return compose_segments(plan.segments, plan.fps, rng)
