"""A contact sheet of the built-in corpus: key poses of many clips with their captions, in one PNG.

It is the quickest way to check by eye that generated motion reads as what its caption says (a walk as a walk, a
squat as a squat). Each cell shows four key frames of one clip, drawn with export.render's perspective renderer
from the front-diagonal, and the clip's first caption (or its plan when captions are unavailable) below them.

Needs Pillow (`pip install 'motionmill[render]'`).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from motionmill.export.render import orbit_camera, render_image
from motionmill.synth.corpus import Clip, make_clip

__all__ = ["describe", "write_contact_sheet"]

FRAME = (150, 190)  # pixels of one key frame
TEXT_HEIGHT = 58
KEYS = (0.12, 0.37, 0.62, 0.87)  # key frames as fractions of the clip
COLUMNS = 4


def describe(clip: Clip) -> str:
    """The clip's first caption, else its segments and modifiers."""
    if clip.captions:
        return clip.captions[0].text
    parts = []
    for s in clip.plan.segments:
        mods = ", ".join(f"{k}={v}" for k, v in s.modifiers)
        parts.append(f"{s.action}({mods})" + (f" + {s.layer}" if s.layer else ""))
    return " then ".join(parts)


def _cell(clip: Clip):
    from PIL import Image, ImageDraw

    n = len(clip.joints)
    cell = Image.new("RGB", (FRAME[0] * len(KEYS), FRAME[1] + TEXT_HEIGHT), "white")
    for i, k in enumerate(KEYS):
        j = clip.joints[min(n - 1, int(k * n))]  # (J, 3)
        camera = orbit_camera((j[0, 0], 0.85, j[0, 2]), size=FRAME, yaw_deg=35.0, distance=3.6)
        cell.paste(render_image(j, camera, supersample=1), (i * FRAME[0], 0))
    draw = ImageDraw.Draw(cell)
    label = f"#{clip.plan.index} [{clip.plan.split}] {describe(clip)}"
    lines = textwrap.wrap(label, width=92)[:4]
    draw.multiline_text((4, FRAME[1] + 2), "\n".join(lines), fill=(0, 0, 0), spacing=2)
    return cell


def write_contact_sheet(path: str | Path, seed: int, n: int = 24, start: int = 0) -> Path:
    """Write a PNG of `n` clips of corpus `seed` (indices start .. start + n - 1), four key frames each.

    Args:
        path: output PNG path.
        seed: corpus seed.
        n: number of clips.
        start: first clip index.

    Returns:
        The path written.
    """
    from PIL import Image

    cells = [_cell(make_clip(seed, start + i)) for i in range(n)]
    w, h = cells[0].size
    rows = int(np.ceil(n / COLUMNS))
    sheet = Image.new("RGB", (w * COLUMNS, h * rows), (200, 200, 200))
    for i, cell in enumerate(cells):
        sheet.paste(cell, ((i % COLUMNS) * w, (i // COLUMNS) * h))
    path = Path(path)
    sheet.save(path)
    return path
