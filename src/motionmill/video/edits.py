"""Generated edited videos with known shot boundaries, to measure shot detection.

Each shot is a camera moving over one of the photographs shipped with scikit-image (pans, zooms, some fast), and
shots are joined by hard cuts, dissolves, and fades through black or white, with the ground-truth boundary of each
join recorded by the convention of `motionmill.video.shots` (first frame of the new shot for a cut, middle of the
changed frames for a gradual transition). Two shots in a row may come from the same photograph (a cut to another
part of the same scene), which colour statistics alone cannot separate.

Requires scikit-image (the dev extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["PHOTOS", "Edit", "make_edit"]

PHOTOS = ("astronaut", "coffee", "chelsea", "cat", "rocket", "immunohistochemistry", "camera", "coins", "moon",
          "brick", "grass", "gravel")  # fmt: skip
"""scikit-image photographs available without a download."""


@dataclass(frozen=True)
class Join:
    kind: str
    """"cut", "dissolve", "fade-black" or "fade-white"."""
    frames: int
    """Changed frames of the transition (0 for a cut)."""


@dataclass(frozen=True)
class Edit:
    """An edited video's plan: shots (photo, crop path, length) joined by transitions, and where they are."""

    size: tuple[int, int]
    shots: tuple[dict, ...]
    joins: tuple[Join, ...]
    boundaries: tuple[int, ...]
    """Ground-truth boundary frame of each join."""
    frames: int

    def render(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 frames, one at a time."""
        yield from _render(self)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32)


def _shot_frames(shot: dict, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """A moving crop of a photo: centre and zoom go linearly from their start to their end values."""
    import cv2

    photo = _photo(shot["photo"])
    h, w = photo.shape[:2]
    out_w, out_h = size
    for i in range(shot["length"]):
        a = i / max(shot["length"] - 1, 1)
        cx, cy = (1 - a) * np.asarray(shot["centre0"]) + a * np.asarray(shot["centre1"])
        zoom = (1 - a) * shot["zoom0"] + a * shot["zoom1"]  # fraction of the photo's height in view
        crop_h = zoom * h
        crop_w = crop_h * out_w / out_h
        # affine map from output pixels to photo pixels; BORDER_REFLECT keeps crops that leave the photo textured
        sx = crop_w / out_w
        matrix = np.array([[sx, 0, cx * w - crop_w / 2], [0, sx, cy * h - crop_h / 2]], dtype=np.float64)
        yield cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)  # fmt: skip


JOINS = ("cut", "cut", "fade-black", "fade-white", "dissolve")
"""Kinds of join drawn (a cut twice as often as each other kind)."""


def make_edit(seed: int, shots: int = 6, size: tuple[int, int] = (320, 180), fps: float = 30.0,
              joins: tuple[str, ...] = JOINS) -> Edit:  # fmt: skip
    """Plan an edited video of `shots` shots joined by kinds drawn from `joins`; `seed` decides everything else."""
    rng = np.random.default_rng(seed)
    plans, chosen = [], []
    for k in range(shots):
        same_scene = k > 0 and rng.random() < 0.2
        photo = plans[-1]["photo"] if same_scene else str(rng.choice(PHOTOS))
        speed = rng.choice([0.05, 0.2, 0.6])  # fraction of the photo crossed per second: still, slow, fast
        length = int(rng.integers(int(1.5 * fps), int(4 * fps)))
        centre0 = rng.uniform(0.3, 0.7, size=2)
        direction = rng.normal(size=2)
        centre1 = centre0 + speed * length / fps * direction / np.linalg.norm(direction)
        plans.append({"photo": photo, "length": length, "centre0": tuple(centre0), "centre1": tuple(centre1),
                      "zoom0": float(rng.uniform(0.4, 0.8)), "zoom1": float(rng.uniform(0.4, 0.8))})  # fmt: skip
        if k:
            kind = str(rng.choice(joins))
            chosen.append(Join(kind, 0 if kind == "cut" else int(rng.integers(6, 31))))
    boundaries, t = [], 0
    for k, join in enumerate(chosen):
        t += plans[k]["length"]
        if join.kind == "cut":
            boundaries.append(t)
        else:
            boundaries.append(t + (join.frames - 1) // 2)
            t += join.frames
    return Edit(size, tuple(plans), tuple(chosen), tuple(boundaries), t + plans[-1]["length"])


def _render(edit: Edit) -> Iterator[np.ndarray]:
    """Shots in order. During a gradual join both shots keep moving: the one before runs on for the join's frames and
    the one after starts that many frames early, and the join mixes them frame by frame."""
    gradual = [j.frames if j.kind != "cut" else 0 for j in edit.joins]
    incoming = None  # the next shot's early frames, mixed into the join
    for k, shot in enumerate(edit.shots):
        lead = gradual[k - 1] if k else 0
        tail = gradual[k] if k < len(gradual) else 0
        frames = list(_shot_frames({**shot, "length": lead + shot["length"] + tail}, edit.size))
        if k and lead:
            join = edit.joins[k - 1]
            for i in range(lead):
                a = (i + 1) / (lead + 1)
                before, after = incoming[i], frames[i]
                if join.kind == "dissolve":
                    mixed = (1 - a) * before + a * after
                else:  # fades: down to the flat colour in the first half, up from it in the second
                    flat = 0.0 if join.kind == "fade-black" else 255.0
                    down, up = (1 - 2 * a) * before + 2 * a * flat, (2 - 2 * a) * flat + (2 * a - 1) * after
                    mixed = down if a <= 0.5 else up
                yield np.clip(mixed, 0, 255).astype(np.uint8)
        for frame in frames[lead : len(frames) - tail]:
            yield np.clip(frame, 0, 255).astype(np.uint8)
        incoming = frames[len(frames) - tail :]
