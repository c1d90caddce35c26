"""`motionmill generate` writes its files per motion from one decoding of its (reconciled) features."""

import numpy as np

from motionmill.cli import main
from motionmill.motion import features272


def test_generate_decodes_each_view_once(tmp_path, monkeypatch):
    calls = {"decode_joints": 0, "decode_rotations": 0, "decode_root": 0}
    for name in calls:
        original = getattr(features272, name)

        def counted(x, _name=name, _original=original):
            calls[_name] += 1
            return _original(x)

        monkeypatch.setattr(features272, name, counted)
    out = tmp_path / "gen"
    assert main(["generate", "a person jumps", "--seconds", "2", "--candidates", "1", "--no-compose",
                 "--out", str(out)]) == 0  # fmt: skip
    written = sorted(p.name.removeprefix("000_a_person_jumps") for p in out.iterdir())
    assert written == [".bvh", ".gif", ".glb", ".html", ".joints.npy", ".json", ".npy"]
    # reconciliation reads the decoded positions and rotations once; its rigid motion is then decoded once per view
    assert calls == {"decode_joints": 2, "decode_rotations": 2, "decode_root": 1}
    joints = np.load(out / "000_a_person_jumps.joints.npy")
    assert joints.shape[1:] == (22, 3) and np.isfinite(joints).all()
