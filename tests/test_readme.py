"""The README's Python example runs as written, and it lists exactly the commands that exist."""

import re
from pathlib import Path

import numpy as np

from motion_factory import random_motion
from motionmill.cli import COMMANDS
from motionmill.motion.container import Motion

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    np.save("clip.npy", Motion.from_rotations(*random_motion(0, frames=90)).features)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "clip.bvh").stat().st_size > 0


def test_listed_commands_exist():
    listed = set(re.findall(r"^\| `motionmill ([a-z-]+(?: [a-z][a-z-]*)?)", README.read_text(), re.M))
    assert len(listed) >= 10
    assert listed <= set(COMMANDS), listed - set(COMMANDS)
    assert set(COMMANDS) <= listed, f"commands missing from the README: {set(COMMANDS) - listed}"
