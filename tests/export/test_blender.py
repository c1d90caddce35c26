"""BVH files open in Blender (Debian's package, run headless) at human size at unit scale, with their bone names."""

import json
import shutil
import subprocess

import pytest

from motion_factory import random_motion
from motionmill.export.bvh import write_bvh
from motionmill.motion.container import Motion

BLENDER = shutil.which("blender")
pytestmark = pytest.mark.skipif(BLENDER is None, reason="Blender is not installed (Debian package 'blender')")

# Imports each BVH at unit scale and prints the armature's height at frame 1 and its bone names as JSON.
SCRIPT = """
import builtins, json, sys
import bpy
_open = builtins.open
# Debian's Blender 3.4 BVH importer opens files with mode 'rU', which Python 3.11 no longer accepts
builtins.open = lambda f, mode="r", *a, **k: _open(f, mode.replace("U", ""), *a, **k)
out = {}
for path in sys.argv[sys.argv.index("--") + 1:]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=path, global_scale=1.0)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    bpy.context.scene.frame_set(1)
    ends = [arm.matrix_world @ p for b in arm.pose.bones for p in (b.head, b.tail)]
    out[path] = {"height": max(v.z for v in ends) - min(v.z for v in ends), "bones": [b.name for b in arm.pose.bones]}
print("RESULT " + json.dumps(out))
"""


def test_blender_imports_our_bvh_at_human_size_with_its_names(tmp_path):
    motion = Motion.from_rotations(*random_motion(0, frames=20))
    write_bvh(motion, tmp_path / "smpl.bvh")
    write_bvh(motion, tmp_path / "mixamo.bvh", rig="mixamo")
    (tmp_path / "import.py").write_text(SCRIPT)
    files = [str(tmp_path / "smpl.bvh"), str(tmp_path / "mixamo.bvh")]
    run = subprocess.run([BLENDER, "-b", "--factory-startup", "--python", str(tmp_path / "import.py"), "--", *files],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(line.removeprefix("RESULT "))
    smpl, mixamo = result[files[0]], result[files[1]]
    assert 1.4 < smpl["height"] < 2.0 and 1.4 < mixamo["height"] < 2.0  # metres, not 100 times that
    assert smpl["bones"][0] == "Pelvis" and "L_Shoulder" in smpl["bones"]
    assert {"mixamorig:Hips", "mixamorig:LeftShoulder", "mixamorig:LeftArm", "mixamorig:LeftToeBase"} <= set(
        mixamo["bones"])  # fmt: skip
