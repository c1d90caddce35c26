"""GLB export: files the Khronos glTF validator passes without errors or warnings, that three.js (GLTFLoader in
headless Chromium) and Blender's glTF importer animate onto the motion's joints, and that parsed here and run through
forward kinematics give the BVH export's joints.

The Node tools (gltf-validator, three) live in tools/node and are installed from its package-lock.json with `npm ci`
when missing; Playwright drives Debian's `chromium` binary (no browser download). Without node/npm, playwright or
chromium (or Blender, Debian's package run headless) the tests that need them skip with the reason.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from browser_factory import local_page
from motion_factory import random_motion
from motionmill.cli import main
from motionmill.export.bvh import read_bvh, write_bvh
from motionmill.export.gltf import BODY_RADII, motion_to_glb, write_glb
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22, forward_kinematics

NODE_TOOLS = Path(__file__).resolve().parents[2] / "tools" / "node"
MM = 1e-3


def _test_motions() -> dict[str, Motion]:
    """Several motions: a turning walk, a 3-frame clip, a taller person moving backwards at 20 fps, and a motion
    whose rotations come from inverse kinematics (as a joints file is imported)."""
    tall = random_motion(2, frames=90, scale=1.1, backwards=True, turns=1.5)
    return {
        "walk": Motion.from_rotations(*random_motion(0, frames=40)),
        "short": Motion.from_rotations(*random_motion(1, frames=3)),
        "tall_20fps": Motion.from_rotations(*tall, fps=20.0),
        "from_joints": Motion.from_joints(random_motion(3, frames=30)[1]),
    }


@pytest.fixture(scope="module")
def glbs(tmp_path_factory) -> dict[str, tuple[Motion, Path]]:
    folder = tmp_path_factory.mktemp("glb")
    out = {}
    for name, motion in _test_motions().items():
        write_glb(motion, folder / f"{name}.glb", title=name)
        out[name] = (motion, folder / f"{name}.glb")
    return out


# ------------------------------------------------------------ a GLB reader of our own


def parse_glb(data: bytes) -> tuple[dict, bytes]:
    """(JSON document, BIN chunk) of a GLB, checking the container's header and chunk framing."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    doc = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == 0x004E4942 and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)
    return doc, data[28 + json_len :]


def accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    """The accessor's elements as (count, components) (SCALAR: (count,)); tightly packed views only."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    assert "byteStride" not in view
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc["type"]]
    start = view["byteOffset"] + acc.get("byteOffset", 0)
    values = np.frombuffer(binary, dtype, acc["count"] * width, start)
    return values if width == 1 else values.reshape(acc["count"], width)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = np.moveaxis(np.asarray(q, np.float64), -1, 0)
    rows = (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y))  # fmt: skip
    return np.stack(rows, -1).reshape(np.shape(q)[:-1] + (3, 3))


def gltf_fk(doc: dict, binary: bytes) -> np.ndarray:
    """(T, J, 3) joint world positions by glTF's node semantics (world = parent world @ T @ R), each node's rest
    translation and rotation replaced by its animation channel where it has one."""
    anim = doc["animations"][0]
    frames = doc["accessors"][anim["samplers"][0]["input"]]["count"]
    nodes = doc["nodes"]
    local = np.tile(np.eye(4), (frames, len(nodes), 1, 1))
    for n, node in enumerate(nodes):
        local[:, n, :3, 3] = node.get("translation", (0.0, 0.0, 0.0))
        local[:, n, :3, :3] = quat_xyzw_to_matrix(np.asarray(node.get("rotation", (0.0, 0.0, 0.0, 1.0))))
    for ch in anim["channels"]:
        values = accessor(doc, binary, anim["samplers"][ch["sampler"]]["output"])
        n = ch["target"]["node"]
        if ch["target"]["path"] == "rotation":
            local[:, n, :3, :3] = quat_xyzw_to_matrix(values)
        else:
            local[:, n, :3, 3] = values
    world = local.copy()
    parent = {c: p for p, node in enumerate(nodes) for c in node.get("children", [])}
    for n in range(len(nodes)):  # parents are listed before their children
        if n in parent:
            assert parent[n] < n
            world[:, n] = world[:, parent[n]] @ local[:, n]
    joints = doc["skins"][0]["joints"]
    return world[:, joints][..., :3, 3]


def bvh_joints(motion: Motion, folder: Path) -> np.ndarray:
    """The BVH export's joints of a motion: FK of the written file, in SMPL order."""
    write_bvh(motion, folder / "same.bvh")
    data = read_bvh(folder / "same.bvh")
    return data.joints()[:, [data.names.index(n) for n in SMPL22.joint_names]]


# ------------------------------------------------------------ structure, units, axes, time, FK


def test_fk_of_stored_rest_offsets_and_rotations_is_the_bvh_performance(glbs, tmp_path):
    for name, (motion, path) in glbs.items():
        doc, binary = parse_glb(path.read_bytes())
        joints = gltf_fk(doc, binary)
        assert joints.shape == (motion.num_frames, 22, 3), name
        err_bvh = np.abs(joints - bvh_joints(motion, tmp_path)).max()
        err_motion = np.abs(joints - motion.joints()).max()
        assert err_bvh < MM and err_motion < MM, (name, err_bvh, err_motion)


def test_joint_nodes_are_smpl22_in_metres_y_up(glbs):
    motion, path = glbs["tall_20fps"]  # a person 1.1 times the rest skeleton
    doc, binary = parse_glb(path.read_bytes())
    nodes = doc["nodes"]
    assert doc["asset"]["version"] == "2.0"
    assert [n["name"] for n in nodes[:22]] == list(SMPL22.joint_names)
    assert doc["skins"][0]["joints"] == list(range(22)) and doc["skins"][0]["skeleton"] == 0
    for j, p in enumerate(SMPL22.parents[1:], start=1):
        assert j in nodes[p]["children"]
    # rest offsets are the motion's bones in metres: the shin is about 0.4 m times 1.1, not 40 cm or 0.4 cm
    lengths = np.linalg.norm([n["translation"] for n in nodes[1:22]], axis=1)
    assert np.allclose(lengths, np.linalg.norm(motion.bone_offsets()[1:], axis=1), atol=1e-6)
    assert 0.4 < lengths[SMPL22.index("L_Ankle") - 1] < 0.5
    rest = gltf_rest_positions(nodes)
    head, pelvis, ankles = rest[SMPL22.index("Head")], rest[0], rest[[7, 8]]
    assert head[1] > pelvis[1] > ankles[:, 1].max() and 1.4 < head[1] - ankles[:, 1].min() < 2.0  # Y up, human size
    assert rest[SMPL22.index("L_Shoulder"), 0] > 0 > rest[SMPL22.index("R_Shoulder"), 0]  # left = +X, facing +Z
    assert abs(rest[:, 1].min()) < 1e-9  # the bind pose stands on the floor
    # animated: the head stays above the feet in every frame (y up, no axis swap)
    joints = gltf_fk(doc, binary)
    assert (joints[:, 15, 1] > joints[:, [10, 11], 1].max(-1)).all()


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = np.clip((points - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)


def gltf_rest_positions(nodes: list[dict]) -> np.ndarray:
    rest = np.zeros((22, 3))
    for j in range(22):
        rest[j] = np.asarray(nodes[j]["translation"]) + (rest[SMPL22.parents[j]] if j else 0.0)
    return rest


def test_keyframes_are_every_frame_at_the_motions_fps(glbs):
    for name, (motion, path) in glbs.items():
        doc, binary = parse_glb(path.read_bytes())
        anim = doc["animations"][0]
        assert anim["name"] == name and anim["extras"]["fps"] == motion.fps
        inputs = {s["input"] for s in anim["samplers"]}
        assert len(inputs) == 1  # every channel keyed at the same times
        times = accessor(doc, binary, inputs.pop())
        assert len(times) == motion.num_frames
        assert np.allclose(times, np.arange(motion.num_frames) / motion.fps, atol=1e-6)
        assert np.allclose(np.diff(times), 1 / motion.fps, atol=1e-5)
        paths = sorted((c["target"]["node"], c["target"]["path"]) for c in anim["channels"])
        assert paths == sorted([(j, "rotation") for j in range(22)] + [(0, "translation")])
        for s in anim["samplers"]:
            assert s["interpolation"] == "LINEAR"
            q = accessor(doc, binary, s["output"])
            if q.shape[1] == 4:  # unit quaternions, each in the hemisphere of the previous frame's
                assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6)
                assert ((q[1:] * q[:-1]).sum(1) >= 0).all(), name


def test_body_is_skinned_capsules_bound_at_the_rest_pose(glbs):
    motion, path = glbs["walk"]
    doc, binary = parse_glb(path.read_bytes())
    body = next(n for n in doc["nodes"] if "mesh" in n)
    assert body == {"name": "Body", "mesh": 0, "skin": 0}  # no transform of its own
    assert doc["nodes"].index(body) in doc["scenes"][0]["nodes"]  # a root, as skinned meshes must be
    prim = doc["meshes"][0]["primitives"][0]
    positions = accessor(doc, binary, prim["attributes"]["POSITION"])
    normals = accessor(doc, binary, prim["attributes"]["NORMAL"])
    joints = accessor(doc, binary, prim["attributes"]["JOINTS_0"])
    weights = accessor(doc, binary, prim["attributes"]["WEIGHTS_0"])
    assert np.allclose(weights.sum(1), 1) and set(np.unique(joints[:, 0])) == set(range(22))
    assert np.allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-6)
    # inverse bind matrices undo the rest world transforms of the joints
    ibm = accessor(doc, binary, doc["skins"][0]["inverseBindMatrices"]).reshape(22, 4, 4).transpose(0, 2, 1)
    rest = gltf_rest_positions(doc["nodes"])
    assert np.allclose(ibm[:, :3, :3], np.eye(3)) and np.allclose(ibm[:, :3, 3], -rest, atol=1e-6)
    # every vertex moves with its bone: within the widest capsule's radius of a bone leaving its joint
    for j, kids in enumerate(SMPL22.children):
        mine = positions[joints[:, 0] == j]
        if not kids:  # a leaf: its capsule runs to the end site (head top, toe or fingertip) a short way off
            assert np.linalg.norm(mine - rest[j], axis=1).max() < 0.25
            continue
        gaps = [segment_distance(mine, rest[j], rest[c]) for c in kids]
        assert np.min(gaps, axis=0).max() < max(BODY_RADII.values()) + 1e-5, SMPL22.joint_names[j]
    # triangles face outwards: their winding agrees with the vertex normals
    tris = accessor(doc, binary, prim["indices"]).reshape(-1, 3)
    a, b, c = positions[tris[:, 0]], positions[tris[:, 1]], positions[tris[:, 2]]
    assert (np.einsum("ij,ij->i", np.cross(b - a, c - a), normals[tris].sum(1)) > 0).all()


def test_mixamo_names_and_the_title():
    motion = Motion.from_rotations(*random_motion(5, frames=10))
    doc, _ = parse_glb(motion_to_glb(motion, rig="mixamo", title="wave"))
    names = [n["name"] for n in doc["nodes"][:22]]
    assert names[0] == "mixamorig:Hips" and names[SMPL22.index("L_Shoulder")] == "mixamorig:LeftArm"
    assert doc["animations"][0]["name"] == "wave"
    with pytest.raises(ValueError, match="rig must be one of"):
        motion_to_glb(motion, rig="biped")


def test_convert_writes_glb_from_features(tmp_path, capsys):
    motion = Motion.from_rotations(*random_motion(6, frames=12))
    np.save(tmp_path / "x.npy", motion.features)
    assert main(["convert", str(tmp_path / "x.npy"), str(tmp_path / "x.glb")]) == 0
    assert "x.glb: 12 frames" in capsys.readouterr().out
    doc, binary = parse_glb((tmp_path / "x.glb").read_bytes())
    assert doc["animations"][0]["name"] == "x.npy"  # the title the command gives: the input's name
    assert np.abs(gltf_fk(doc, binary) - motion.joints()).max() < MM


# ------------------------------------------------------------ the Khronos validator


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """tools/node with its packages installed (npm ci from the lock file when node_modules is missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the glTF validator and three.js (apt-get install nodejs npm)")
    if not (NODE_TOOLS / "node_modules").is_dir():
        run = subprocess.run(["npm", "ci", "--prefix", str(NODE_TOOLS), "--no-audit", "--no-fund"],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return NODE_TOOLS


def validate(node_tools: Path, paths: list[Path]) -> dict[str, dict]:
    run = subprocess.run(["node", str(node_tools / "validate.mjs"), *map(str, paths)], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_khronos_validator_reports_no_errors_and_no_warnings(glbs, node_tools):
    reports = validate(node_tools, [path for _, path in glbs.values()])
    assert len(reports) == len(glbs)
    for path, report in reports.items():
        serious = [m for m in report["messages"] if m["severity"] <= 1]  # 0 error, 1 warning, 2 info, 3 hint
        assert report["errors"] == 0 and report["warnings"] == 0, (path, serious)


def test_the_validator_catches_a_broken_file(glbs, node_tools, tmp_path):
    """The check above can fail: wrong bounds on the mesh positions and an unnormalised quaternion are reported."""
    doc, binary = parse_glb(glbs["walk"][1].read_bytes())
    position = doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
    doc["accessors"][position]["max"][1] += 0.5
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    rot = doc["animations"][0]["samplers"][3]["output"]
    view = doc["bufferViews"][doc["accessors"][rot]["bufferView"]]
    binary = bytearray(binary)
    binary[view["byteOffset"] : view["byteOffset"] + 16] = np.array([0.9, 0.9, 0, 0], np.float32).tobytes()
    glb = struct.pack("<III", 0x46546C67, 2, 28 + len(text) + len(binary))
    glb += struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
    (tmp_path / "broken.glb").write_bytes(glb)
    report = validate(node_tools, [tmp_path / "broken.glb"])[str(tmp_path / "broken.glb")]
    codes = {m["code"] for m in report["messages"]}
    expected = {"ACCESSOR_MAX_MISMATCH", "ACCESSOR_ANIMATION_SAMPLER_OUTPUT_NON_NORMALIZED_QUATERNION"}
    assert report["errors"] >= 2 and expected <= codes, report["messages"]


# ------------------------------------------------------------ three.js in headless Chromium


@pytest.fixture(scope="module")
def three_server(node_tools, glbs, tmp_path_factory):
    """A 127.0.0.1 server of a folder holding the page, bones.mjs, three's package and the GLBs."""
    root = tmp_path_factory.mktemp("site")
    for name in ("bones.html", "bones.mjs"):
        shutil.copy(node_tools / name, root / name)
    (root / "three").symlink_to(node_tools / "node_modules" / "three", target_is_directory=True)
    for _, path in glbs.values():
        shutil.copy(path, root / path.name)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_page():
    """(page, attempted non-local requests) in headless chromium; every such request is aborted."""
    with local_page() as page:
        yield page


def skinned_box(motion: Motion, doc: dict, binary: bytes, frame: int) -> np.ndarray:
    """(2, 3) bounds of the body at a frame as it should move: each vertex carried rigidly from its place in the rest
    pose (the nodes' rest translations) by its joint's motion, p_j(t) + G_j(t) (v - rest_j). It does not read the
    file's inverse bind matrices, so three's skinning through them is checked against it."""
    prim = doc["meshes"][0]["primitives"][0]
    positions = accessor(doc, binary, prim["attributes"]["POSITION"]).astype(np.float64)
    joint = accessor(doc, binary, prim["attributes"]["JOINTS_0"])[:, 0]
    rest = gltf_rest_positions(doc["nodes"])
    rotations = torch.from_numpy(np.array(motion.rotations()[frame]))  # a copy: the motion's views are read-only
    offsets = torch.from_numpy(motion.bone_offsets())
    _, glob = forward_kinematics(rotations, torch.zeros(3, dtype=torch.float64), offsets, SMPL22.parents)
    moved = (glob.numpy()[joint] @ (positions - rest[joint])[:, :, None])[..., 0] + motion.joints()[frame][joint]
    return np.stack((moved.min(0), moved.max(0)))


def test_three_js_animates_the_bones_onto_the_motions_joints(glbs, three_server, browser_page):
    page, blocked = browser_page
    page.goto(f"{three_server}/bones.html")
    page.wait_for_function("window.sampleGlb !== undefined", timeout=30_000)
    worst = 0.0
    for name, (motion, path) in glbs.items():
        T = motion.num_frames
        frames = sorted({0, T // 3, (2 * T) // 3, T - 1})
        got = page.evaluate("([url, times]) => window.sampleGlb(url, times)",
                            [f"{three_server}/{path.name}", [f / motion.fps for f in frames]])  # fmt: skip
        assert got["names"] == list(SMPL22.joint_names), name
        assert got["clip"]["name"] == name and abs(got["clip"]["duration"] - (T - 1) / motion.fps) < 1e-6
        assert len(got["clip"]["tracks"]) == 23
        bones = np.asarray(got["frames"])  # (frames, 22, 3) world positions
        err = np.abs(bones - motion.joints()[frames]).max()
        worst = max(worst, err)
        assert err < MM, (name, err)
        doc, binary = parse_glb(path.read_bytes())
        for k, f in enumerate(frames):  # the body follows: three's skinned bounds are ours
            assert np.abs(np.asarray(got["boxes"][k]) - skinned_box(motion, doc, binary, f)).max() < MM, (name, f)
    print(f"three.js r{got['revision']}: largest bone position error {worst / MM:.4f} mm")
    assert blocked == []


# ------------------------------------------------------------ Blender's glTF importer

# Imports each GLB (after setting the scene's frame rate to the file's, as docs/outputs.md says) and prints, per file,
# the bone names, the mesh names and the bones' world head positions at the frames asked for, as JSON.
BLENDER_SCRIPT = """
import json, sys
import bpy
args, out = sys.argv[sys.argv.index("--") + 1:], {}
for path, fps, frames in zip(args[0::3], args[1::3], args[2::3]):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = int(fps)
    bpy.ops.import_scene.gltf(filepath=path)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    heads = []
    for f in map(int, frames.split(",")):
        bpy.context.scene.frame_set(f)
        heads.append([list(arm.matrix_world @ b.head) for b in arm.pose.bones])
    out[path] = {"bones": [b.name for b in arm.pose.bones], "heads": heads,
                 "meshes": [o.name for o in bpy.data.objects if o.type == "MESH"]}
print("RESULT " + json.dumps(out))
"""


def test_blender_imports_the_skeleton_body_and_motion(glbs, tmp_path):
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (Debian package 'blender')")
    chosen = {name: glbs[name] for name in ("walk", "tall_20fps", "short")}
    frames = {name: sorted({0, m.num_frames // 2, m.num_frames - 1}) for name, (m, _) in chosen.items()}
    (tmp_path / "import.py").write_text(BLENDER_SCRIPT)
    args = [a for name, (m, path) in chosen.items()
            for a in (str(path), f"{m.fps:g}", ",".join(map(str, frames[name])))]  # fmt: skip
    # Debian's Blender runs the system Python, whose glTF importer needs numpy, which only this environment may have
    env = {**os.environ, "PYTHONPATH": str(Path(np.__file__).parents[1])}
    run = subprocess.run([blender, "-b", "--factory-startup", "--python", str(tmp_path / "import.py"), "--", *args],
                         capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(line.removeprefix("RESULT "))
    for name, (motion, path) in chosen.items():
        got = result[str(path)]
        assert sorted(got["bones"]) == sorted(SMPL22.joint_names) and got["meshes"] == ["Body"], name
        heads = np.asarray(got["heads"])[:, [got["bones"].index(n) for n in SMPL22.joint_names]]
        heads = np.stack((heads[..., 0], heads[..., 2], -heads[..., 1]), -1)  # Blender's Z up back to glTF's Y up
        # the motion's first frame lands on Blender's frame 0, one key per frame at the scene's rate
        err = np.abs(heads - motion.joints()[frames[name]]).max()
        assert err < MM, (name, err)
