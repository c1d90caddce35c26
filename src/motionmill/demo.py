"""`make demo`: the main end-to-end job on the built-in default.

Generates a motion for each of a few prompts with the built-in text-to-motion model that ships inside the package
(no download), and writes, per prompt, what `motionmill generate` writes: 272 features, joints, BVH, an animated
GIF, the self-contained HTML player and a JSON record of the settings.
"""

from __future__ import annotations

from pathlib import Path

from motionmill.inference.generate import run_generate

__all__ = ["DEMO_PROMPTS", "run_demo"]

# (prompt, seconds): None lets the model decide when the motion ends.
DEMO_PROMPTS = (
    ("A person walks forward, then jumps twice.", None),
    ("Someone squats two times and then punches with the left hand.", 6.0),
    ("A man jogs and turns around.", None),
    ("The woman waves with her right hand.", 4.0),
)


def run_demo(out: Path, model: str = "builtin") -> list[Path]:
    """Generate the demo prompts with `model` into `out`; returns the JSON record paths."""
    print(f"motionmill demo: text to motion with the {model} model, on CPU")
    prompts = [prompt for prompt, _ in DEMO_PROMPTS]
    records = run_generate(prompts, out, model=model, seconds=[seconds for _, seconds in DEMO_PROMPTS])
    print(f"open the .html files in {out.resolve()}/ in a browser to orbit and scrub")
    return records
