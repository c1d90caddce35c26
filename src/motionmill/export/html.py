"""A self-contained HTML viewer: one file that plays a motion in 3D in any browser, with no network access.

The page embeds the joint positions (rounded to 1 mm, as integers) in a `<script type="application/json"
id="motion-data">` block and draws them on a 2D `<canvas>` with a small perspective projection written here, so it
needs no CDN, font or fetch. Controls: drag to orbit (mouse or touch), wheel or pinch to zoom, double-click to reset
the view, play/pause button and space key, arrow keys to step, a scrub slider with the time, speed and loop. The
floor grid lies on y = 0 and the camera follows the root horizontally (smoothed), as in `export.render`.

For browser tests the page exposes `window.motionmill = {frame(), playing(), play(), pause(), seek(i), nFrames, fps}`.

Pages with many players (the prompts report in `export.report`) reuse the parts: `embed_player` gives one player's
markup and data block under an id prefix (its key), `PLAYER_CSS` its styles and `PLAYER_JS` the
`motionmillPlayer(key, options)` function that starts it and returns the same API.

Embedded data (version 1): fps, title, n_frames, n_joints, scale (integer units per metre, 1000), joint_names,
parents, chains, left / right (joint indices from the skeleton's mirror pairs), head (index or -1) and positions, a
flat row-major (T, J, 3) list of integers. Decode with `np.array(positions).reshape(T, J, 3) / scale`.

Shape legend: T frames, J joints.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import numpy as np

from motionmill.export.render import check_fps, check_joints
from motionmill.motion.skeleton import SMPL22, SkeletonSpec
from motionmill.utils.io import atomic_path

__all__ = ["PLAYER_CSS", "PLAYER_JS", "embed_player", "html_document", "write_html"]

_SCALE = 1000  # stored units per metre: millimetres

# Player styles, scoped by class so that one page can hold many players (ids carry a per-player key).
PLAYER_CSS = """
.mm-player { display: flex; flex-direction: column; background: #eef1f6; color: #1f2430; outline: none; }
.mm-stage { position: relative; flex: 1; min-height: 0; }
.mm-view { position: absolute; inset: 0; width: 100%; height: 100%; display: block; touch-action: none;
  cursor: grab; }
.mm-view.dragging { cursor: grabbing; }
.mm-title { position: absolute; left: 12px; top: 10px; max-width: calc(100% - 24px); padding: 4px 10px;
  border-radius: 6px; background: rgba(24, 28, 38, 0.66); color: #fff; font-size: 15px; pointer-events: none;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.mm-title:empty { display: none; }
.mm-hint { position: absolute; right: 12px; bottom: 8px; font-size: 12px; color: #5d6675; pointer-events: none; }
.mm-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 3px 0 8px; }
.mm-bar { display: flex; align-items: center; gap: 10px; padding: 8px 12px; background: #fff;
  border-top: 1px solid #d7dce4; flex-wrap: wrap; }
.mm-bar button { min-width: 84px; padding: 4px 10px; border: 1px solid #b9c1cc; border-radius: 6px;
  background: #f7f8fa; font: inherit; cursor: pointer; }
.mm-scrub { flex: 1; min-width: 80px; }
.mm-bar > span { font-variant-numeric: tabular-nums; min-width: 120px; text-align: right; }
.mm-bar label { display: inline-flex; align-items: center; gap: 4px; user-select: none; }
"""

_PAGE_CSS = """
html, body { margin: 0; height: 100%; background: #eef1f6; color: #1f2430;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
#player { height: 100%; }
"""

# The viewer: `motionmillPlayer(key, options)` drives the elements and the data block written by
# `embed_player(..., key)` and returns the player's API. Options: autoplay (default true) and keyTarget (the element
# whose key presses control it; default window, a page with many players passes each player's own element).
# Coordinates as in motionmill: metres, y up; the camera's right axis is forward x up, so a character seen from the
# front shows its left side (+X) on the viewer's right.
PLAYER_JS = """
function motionmillPlayer(key, options) {
  "use strict";
  options = Object.assign({ autoplay: true, keyTarget: window }, options);
  const $ = (id) => document.getElementById(key + id);
  const data = JSON.parse($("motion-data").textContent);
  const T = data.n_frames, J = data.n_joints, fps = data.fps, duration = T / fps;
  const pos = new Float64Array(data.positions.length);
  for (let i = 0; i < pos.length; i++) pos[i] = data.positions[i] / data.scale;
  const joint = (t, j) => { const k = (t * J + j) * 3; return [pos[k], pos[k + 1], pos[k + 2]]; };

  // Drawing style: left blue, right red, centre slate; sizes in metres so they follow the perspective.
  const RGB = [[84, 92, 108], [47, 111, 223], [224, 80, 58]];
  const side = new Int8Array(J);
  data.left.forEach((j) => { side[j] = 1; });
  data.right.forEach((j) => { side[j] = 2; });
  const bones = [];
  data.chains.forEach((c) => { for (let i = 1; i < c.length; i++) bones.push([c[i - 1], c[i]]); });
  if (!bones.length) data.parents.forEach((p, j) => { if (p >= 0) bones.push([p, j]); });
  const BONE = 0.042, JOINT = 0.026, HEAD = 0.1, GRID = 0.5, RADIUS = 4.0, FOV = 38 * Math.PI / 180;

  // Camera target: the root's horizontal path smoothed over 0.4 s (odd reflection at the ends keeps steady
  // travel centred) at the median height of the body's vertical centre.
  function smoothTrack() {
    const sigma = Math.max(1e-6, 0.4 * fps), r = Math.ceil(3 * sigma), out = [];
    const at = (k, d) => {
      if (k < 0) return 2 * joint(0, 0)[d] - joint(Math.min(-k, T - 1), 0)[d];
      if (k >= T) return 2 * joint(T - 1, 0)[d] - joint(Math.max(2 * (T - 1) - k, 0), 0)[d];
      return joint(k, 0)[d];
    };
    for (let t = 0; t < T; t++) {
      let sx = 0, sz = 0, sw = 0;
      for (let k = -r; k <= r; k++) {
        const w = Math.exp(-0.5 * (k / sigma) ** 2);
        sx += w * at(t + k, 0); sz += w * at(t + k, 2); sw += w;
      }
      out.push([sx / sw, sz / sw]);
    }
    return out;
  }
  const track = smoothTrack();
  const centres = [];
  for (let t = 0; t < T; t++) {
    let lo = Infinity, hi = -Infinity;
    for (let j = 0; j < J; j++) { const y = joint(t, j)[1]; lo = Math.min(lo, y); hi = Math.max(hi, y); }
    centres.push(0.5 * (lo + hi));
  }
  centres.sort((a, b) => a - b);
  const height = centres[Math.floor((T - 1) / 2)];

  const HOME = { yaw: 0.52, pitch: 0.24, dist: 4.2 };
  const view = Object.assign({}, HOME);
  const state = { frame: 0, time: 0, playing: options.autoplay && T > 1, speed: 1, dirty: true };

  const canvas = $("view"), ctx = canvas.getContext("2d");
  const shadowCanvas = document.createElement("canvas"), sctx = shadowCanvas.getContext("2d");
  const playButton = $("play"), scrub = $("scrub"), timeLabel = $("time");
  const speedSelect = $("speed"), loopBox = $("loop"), followBox = $("follow");
  $("title").textContent = data.title;

  function camera(w, h) {
    const t = followBox.checked ? track[state.frame] : track[0];
    const cp = Math.cos(view.pitch);
    const dir = [cp * Math.sin(view.yaw), Math.sin(view.pitch), cp * Math.cos(view.yaw)];
    const target = [t[0], height, t[1]];
    const eye = target.map((v, i) => v + view.dist * dir[i]);
    const fwd = dir.map((v) => -v);
    const n = Math.hypot(fwd[0], fwd[2]);
    const right = [-fwd[2] / n, 0, fwd[0] / n];  // forward x up
    const up = [right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2],
      right[0] * fwd[1] - right[1] * fwd[0]];
    return { eye, target, right, up, fwd, w, h, f: 0.5 * h / Math.tan(FOV / 2) };
  }

  function project(cam, p) {
    const d = [p[0] - cam.eye[0], p[1] - cam.eye[1], p[2] - cam.eye[2]];
    const dot = (a) => a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
    const z = dot(cam.fwd), s = cam.f / Math.max(z, 1e-6);
    return [0.5 * cam.w + s * dot(cam.right), 0.5 * cam.h - s * dot(cam.up), z];
  }

  const rgb = (c, k) => "rgb(" + c.map((v) => Math.max(0, Math.min(255, Math.round(v * k)))).join(",") + ")";
  const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);

  function drawFloor(cam) {
    const sky = [214, 220, 229], floor = [200, 206, 216], rings = 12;
    for (let k = 0; k < rings; k++) {
      const r = RADIUS * (1 - k / rings), pts = [];
      for (let i = 0; i < 48; i++) {
        const a = 2 * Math.PI * i / 48;
        pts.push(project(cam, [cam.target[0] + r * Math.cos(a), 0, cam.target[2] + r * Math.sin(a)]));
      }
      if (pts.some((p) => p[2] < 0.2)) continue;
      ctx.fillStyle = rgb(mix(sky, floor, (k + 1) / rings), 1);
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      ctx.fill();
    }
    // World-fixed grid lines, cut in pieces grouped by fade level so each level is one stroke.
    const cx = GRID * Math.round(cam.target[0] / GRID), cz = GRID * Math.round(cam.target[2] / GRID);
    const levels = 8, paths = [];
    for (let l = 0; l < levels; l++) paths.push(new Path2D());
    for (let u = -RADIUS; u <= RADIUS + 1e-9; u += GRID) {
      for (let v = -RADIUS; v < RADIUS - 1e-9; v += GRID / 2) {
        for (const along of [0, 1]) {
          const a = along ? [cx + v, 0, cz + u] : [cx + u, 0, cz + v];
          const b = along ? [cx + v + GRID / 2, 0, cz + u] : [cx + u, 0, cz + v + GRID / 2];
          const fade = 1 - Math.hypot((a[0] + b[0]) / 2 - cam.target[0], (a[2] + b[2]) / 2 - cam.target[2]) / RADIUS;
          const pa = project(cam, a), pb = project(cam, b);
          if (fade <= 0 || pa[2] < 0.2 || pb[2] < 0.2) continue;
          const path = paths[Math.min(levels - 1, Math.floor(Math.min(1, 1.6 * fade) * levels))];
          path.moveTo(pa[0], pa[1]);
          path.lineTo(pb[0], pb[1]);
        }
      }
    }
    ctx.lineWidth = Math.max(1, cam.h / 480);
    ctx.strokeStyle = "rgb(140,149,163)";
    paths.forEach((path, l) => { ctx.globalAlpha = (l + 0.5) / levels; ctx.stroke(path); });
    ctx.globalAlpha = 1;
  }

  function drawShadow(cam, P) {
    shadowCanvas.width = cam.w; shadowCanvas.height = cam.h;
    sctx.strokeStyle = "#000"; sctx.lineCap = "round";
    for (const [a, b] of bones) {
      const pa = project(cam, [P[a][0], 0, P[a][2]]), pb = project(cam, [P[b][0], 0, P[b][2]]);
      if (pa[2] < 0.2 || pb[2] < 0.2) continue;
      sctx.lineWidth = 0.09 * cam.f / pa[2];
      sctx.beginPath(); sctx.moveTo(pa[0], pa[1]); sctx.lineTo(pb[0], pb[1]); sctx.stroke();
    }
    ctx.save();
    ctx.globalAlpha = 0.22;
    ctx.filter = "blur(" + Math.round(cam.h / 90) + "px)";
    ctx.drawImage(shadowCanvas, 0, 0);
    ctx.restore();
  }

  function circle(x, y, r, fill, stroke, width) {
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = fill; ctx.fill();
    if (stroke) { ctx.lineWidth = width; ctx.strokeStyle = stroke; ctx.stroke(); }
  }

  function drawBone(pa, pb, w, color) {
    ctx.lineCap = "round";
    const rim = Math.max(1, 0.14 * w);
    ctx.beginPath(); ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]);
    ctx.lineWidth = w + 2 * rim; ctx.strokeStyle = rgb(color, 0.62); ctx.stroke();
    ctx.lineWidth = w; ctx.strokeStyle = rgb(color, 1); ctx.stroke();
    const o = -0.18 * w, dx = pb[0] - pa[0], dy = pb[1] - pa[1];
    ctx.beginPath();
    ctx.moveTo(pa[0] + 0.25 * dx + o, pa[1] + 0.25 * dy + o); ctx.lineTo(pa[0] + 0.75 * dx + o, pa[1] + 0.75 * dy + o);
    ctx.lineWidth = 0.28 * w; ctx.strokeStyle = rgb(mix(color, [255, 255, 255], 0.4), 1); ctx.stroke();
  }

  function drawHead(cam, P) {
    const h = data.head, n = data.parents[h];
    const c = P[h].map((v, i) => v + 0.6 * (v - P[n][i]));
    let ax = 0, az = 0;
    for (let i = 0; i < data.left.length; i++) {
      ax += P[data.left[i]][0] - P[data.right[i]][0]; az += P[data.left[i]][2] - P[data.right[i]][2];
    }
    const len = Math.hypot(ax, az) || 1;  // facing = (left - right) x up
    const nose = [c[0] - 0.09 * az / len, c[1] - 0.015, c[2] + 0.09 * ax / len];
    const pc = project(cam, c), pn = project(cam, nose), r = HEAD * cam.f / pc[2];
    circle(pc[0], pc[1], r, rgb(mix(RGB[0], [255, 255, 255], 0.55), 1), rgb(RGB[0], 0.62), Math.max(1, 0.1 * r));
    if (data.left.length && pn[2] < pc[2]) circle(pn[0], pn[1], 0.2 * r, rgb(RGB[0], 1));
  }

  function drawPose(cam, P) {
    const pr = P.map((p) => project(cam, p));
    if (pr.some((p) => p[2] < 0.05)) return;
    const ref = pr.map((p) => p[2]).sort((a, b) => a - b)[Math.floor(J / 2)];
    const lit = (d) => 1 + 0.12 * Math.max(-1, Math.min(1, (ref - d) / 0.5));
    const items = [];
    for (const [a, b] of bones) {
      const d = 0.5 * (pr[a][2] + pr[b][2]);
      items.push([d, () => drawBone(pr[a], pr[b], BONE * cam.f / d, RGB[side[b]].map((v) => v * lit(d)))]);
    }
    for (let j = 0; j < J; j++) {
      if (j === data.head) continue;
      const r = JOINT * cam.f / pr[j][2], c = RGB[side[j]];
      items.push([pr[j][2] - 1e-3, () => circle(pr[j][0], pr[j][1], r, rgb(mix(c, [255, 255, 255], 0.7), 1),
        rgb(c, lit(pr[j][2])), 1 + r / 3)]);
    }
    if (data.head >= 0) items.push([pr[data.head][2], () => drawHead(cam, P)]);
    items.sort((x, y) => y[0] - x[0]).forEach((item) => item[1]());
  }

  function draw() {
    const w = canvas.width, h = canvas.height;
    const sky = ctx.createLinearGradient(0, 0, 0, h);
    sky.addColorStop(0, "rgb(244,246,250)"); sky.addColorStop(1, "rgb(214,220,229)");
    ctx.fillStyle = sky; ctx.fillRect(0, 0, w, h);
    const cam = camera(w, h), P = [];
    for (let j = 0; j < J; j++) P.push(joint(state.frame, j));
    drawFloor(cam);
    drawShadow(cam, P);
    drawPose(cam, P);
    scrub.value = String(state.frame);
    timeLabel.textContent = (state.frame / fps).toFixed(2) + " / " + duration.toFixed(2) + " s";
    playButton.textContent = state.playing ? "\\u275A\\u275A Pause" : "\\u25B6 Play";
    state.dirty = false;
  }

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    canvas.height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    draw();
  }

  function seek(i) {
    state.frame = Math.max(0, Math.min(T - 1, Math.round(Number(i) || 0)));
    state.time = state.frame / fps;
    draw();
  }
  function play() {
    if (T < 2) return;
    if (!loopBox.checked && state.frame >= T - 1) seek(0);
    state.playing = true; state.dirty = true;
  }
  function pause() { state.playing = false; state.dirty = true; }

  function advance(dt) {
    state.time += dt * state.speed;
    if (state.time >= duration) {
      if (loopBox.checked) state.time %= duration;
      else { state.time = (T - 1) / fps; state.playing = false; }
    }
    state.frame = Math.min(T - 1, Math.floor(state.time * fps + 1e-6));
  }

  let last = null;
  function tick(now) {
    const dt = last === null ? 0 : Math.min(0.25, (now - last) / 1000);
    last = now;
    if (state.playing) { advance(dt); state.dirty = true; }
    if (state.dirty) draw();
    requestAnimationFrame(tick);
  }

  // Orbit with one pointer (mouse or finger), zoom with a pinch or the wheel.
  const pointers = new Map();
  let pinch = 0;
  canvas.addEventListener("pointerdown", (e) => {
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events have no live pointer */ }
    pointers.set(e.pointerId, [e.clientX, e.clientY]);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!pointers.has(e.pointerId)) return;
    const prev = pointers.get(e.pointerId);
    pointers.set(e.pointerId, [e.clientX, e.clientY]);
    if (pointers.size === 1) {
      view.yaw -= (e.clientX - prev[0]) * 0.008;
      view.pitch = Math.max(-0.1, Math.min(1.45, view.pitch + (e.clientY - prev[1]) * 0.006));
    } else if (pointers.size === 2) {
      const [p, q] = [...pointers.values()], d = Math.hypot(p[0] - q[0], p[1] - q[1]);
      if (pinch > 0) view.dist = Math.max(1.2, Math.min(25, view.dist * pinch / d));
      pinch = d;
    }
    state.dirty = true;
  });
  const release = (e) => {
    pointers.delete(e.pointerId); pinch = 0;
    if (!pointers.size) canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    view.dist = Math.max(1.2, Math.min(25, view.dist * Math.exp(e.deltaY * 0.0015)));
    state.dirty = true;
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { Object.assign(view, HOME); state.dirty = true; });

  playButton.addEventListener("click", () => { (state.playing ? pause : play)(); playButton.blur(); });
  scrub.addEventListener("input", () => { pause(); seek(scrub.value); });
  speedSelect.addEventListener("change", () => { state.speed = Number(speedSelect.value) || 1; });
  followBox.addEventListener("change", () => { state.dirty = true; });
  options.keyTarget.addEventListener("keydown", (e) => {
    if (e.target && /^(SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    if (e.code === "Space") { e.preventDefault(); (state.playing ? pause : play)(); }
    else if (e.code === "ArrowRight" || e.code === "ArrowLeft") {
      e.preventDefault(); pause(); seek(state.frame + (e.code === "ArrowRight" ? 1 : -1));
    }
  });
  window.addEventListener("resize", resize);

  resize();
  requestAnimationFrame(tick);
  return { frame: () => state.frame, playing: () => state.playing, play, pause, seek, nFrames: T, fps };
}
"""

_PLAYER_MARKUP = """<div class="mm-player" id="%%KEY%%player" tabindex="-1">
<div class="mm-stage">
<canvas class="mm-view" id="%%KEY%%view" aria-label="3D view of the motion; drag to orbit, wheel to zoom"></canvas>
<div class="mm-title" id="%%KEY%%title">%%TITLE%%</div>
<div class="mm-hint"><span class="mm-swatch" style="background:#2f6fdf"></span>left<span class="mm-swatch"
 style="background:#e0503a"></span>right &nbsp; drag: orbit &middot; wheel: zoom &middot; space: play/pause</div>
</div>
<div class="mm-bar">
<button id="%%KEY%%play" type="button">Pause</button>
<input class="mm-scrub" id="%%KEY%%scrub" type="range" min="0" max="%%LAST_FRAME%%" step="1" value="0"
 aria-label="frame">
<span id="%%KEY%%time"></span>
<label>speed <select id="%%KEY%%speed">
<option value="0.25">0.25&times;</option><option value="0.5">0.5&times;</option>
<option value="1" selected>1&times;</option><option value="1.5">1.5&times;</option><option value="2">2&times;</option>
</select></label>
<label><input id="%%KEY%%loop" type="checkbox" checked> loop</label>
<label><input id="%%KEY%%follow" type="checkbox" checked> follow</label>
</div>
</div>
<script type="application/json" id="%%KEY%%motion-data">%%DATA%%</script>
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="motionmill">
<title>%%PAGE_TITLE%%</title>
<style>%%CSS%%</style>
</head>
<body>
%%PLAYER%%<script>%%JS%%
window.motionmill = motionmillPlayer("");
</script>
</body>
</html>
"""


def _payload(joints: np.ndarray, fps: float, title: str, skeleton: SkeletonSpec) -> dict:
    """The JSON-ready description of the motion embedded in the page."""
    left = [a for a, _ in skeleton.mirror_pairs]
    right = [b for _, b in skeleton.mirror_pairs]
    return {
        "format": "motionmill-joints",
        "version": 1,
        "title": title,
        "fps": fps,
        "n_frames": int(joints.shape[0]),
        "n_joints": int(joints.shape[1]),
        "scale": _SCALE,
        "joint_names": list(skeleton.joint_names),
        "parents": list(skeleton.parents),
        "chains": [list(chain) for chain in skeleton.chains],
        "left": left,
        "right": right,
        "head": skeleton.index("Head") if "Head" in skeleton.joint_names else -1,
        "positions": np.rint(joints * _SCALE).astype(np.int64).ravel().tolist(),
    }


def _script_json(payload: dict) -> str:
    """JSON safe inside a <script> element: '<', '>' and '&' become \\u escapes, so no text can close the tag."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def embed_player(joints, fps: float = 30.0, key: str = "", title: str = "", skeleton: SkeletonSpec = SMPL22) -> str:
    """The markup of one player and its data block, to place in a page that also holds `PLAYER_CSS` and
    `PLAYER_JS`; start it with `motionmillPlayer(key)` once the markup is in the document.

    Args:
        joints: (T, J, 3) joint positions in metres (y up), stored rounded to 1 mm.
        fps: frame rate of `joints`.
        key: prefix of the player's element ids, unique within the page ("" for a page with one player).
        title: text shown over the view (escaped; any text is safe; "" shows none).
        skeleton: the skeleton of the joints (bones, left/right sides, head).

    Raises:
        ValueError: on bad joints or fps (see `html_document`), or a key that is not a plain id prefix.
    """
    if key and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
        raise ValueError(f"player key must be letters, digits, '_' or '-' starting with a letter, got {key!r}")
    joints = check_joints(joints, skeleton)
    fps = check_fps(fps)
    title = str(title)
    values = {
        "KEY": key,
        "TITLE": html.escape(title),
        "LAST_FRAME": str(len(joints) - 1),
        "DATA": _script_json(_payload(joints, fps, title, skeleton)),
    }
    # One pass, so text inserted for one placeholder is never scanned for another.
    return re.sub(r"%%([A-Z_]+)%%", lambda m: values[m.group(1)], _PLAYER_MARKUP)


def html_document(joints, fps: float = 30.0, title: str = "", skeleton: SkeletonSpec = SMPL22) -> str:
    """The text of a self-contained HTML page that plays the motion in 3D.

    Args:
        joints: (T, J, 3) joint positions in metres (y up), stored rounded to 1 mm.
        fps: frame rate of `joints`.
        title: text shown over the view and as the page title (escaped; any text is safe).
        skeleton: the skeleton of the joints (bones, left/right sides, head).

    Returns:
        The HTML document.

    Raises:
        ValueError: if joints are not finite or not (T, J, 3) for this skeleton, or fps is not positive.
    """
    title = str(title)
    values = {
        "PAGE_TITLE": html.escape(title or "motionmill motion"),
        "CSS": PLAYER_CSS + _PAGE_CSS,
        "PLAYER": embed_player(joints, fps, "", title, skeleton),
        "JS": PLAYER_JS,
    }
    # One pass, so text inserted for one placeholder is never scanned for another.
    return re.sub(r"%%([A-Z_]+)%%", lambda m: values[m.group(1)], _TEMPLATE)


def write_html(
    joints, path: str | os.PathLike, fps: float = 30.0, title: str = "", skeleton: SkeletonSpec = SMPL22
) -> Path:
    """Write the self-contained HTML viewer of a motion (see `html_document`).

    Args:
        joints: (T, J, 3) joint positions in metres.
        path: output file, written atomically (temporary file in the same folder, then renamed).
        fps: frame rate of `joints`.
        title: text shown over the view and as the page title.
        skeleton: the skeleton of the joints.

    Returns:
        The path written.
    """
    text = html_document(joints, fps, title, skeleton)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
