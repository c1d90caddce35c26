"""The human-rating report of the `prompts` suite: one self-contained HTML page, one section per prompt.

MotionMillion-Eval is scored by human rating only (docs/evaluation.md), so each section shows the prompt, its
automatic metrics next to the reference values, a 3D player of the generated motion and a form with three 1-5
ratings (text alignment, naturalness, physical plausibility), a comment and the rater's name. The form POSTs JSON
to `ratings` relative to the page, which `motionmill eval serve REPORT_DIR` (`serve.ratings.serve_report`) stores in
SQLite; opened from file:// the page says so instead.

The page loads nothing from the network. Players come from `export.html` and start only when they scroll into view,
playing while visible, so a page of 126+ prompts stays responsive. Beside `report.html` the folder holds
`index.json` (title and, per prompt, id, text, model, frames, fps, metrics and reference values), which the rating
server reads to accept only known prompt ids.

For browser tests the page exposes `window.motionmillReport = {promptIds, player(promptId)}`, where `player` starts
a prompt's player if needed and returns its API (`frame()`, `playing()`, `play()`, `pause()`, `seek(i)`).

Shape legend: T frames, J joints.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionmill.export.html import PLAYER_CSS, PLAYER_JS, embed_player
from motionmill.utils.io import atomic_write

__all__ = ["INDEX_FILE", "MAX_ID_CHARS", "REPORT_FILE", "PromptEntry", "read_index", "write_prompts_report"]

REPORT_FILE = "report.html"
INDEX_FILE = "index.json"
MAX_ID_CHARS = 200  # prompt ids name files (generate's stems), so they are short

# The three rated criteria: (form field and database column, label, question shown to the rater).
CRITERIA = (
    ("text_alignment", "Text alignment", "Does the motion do what the text asks?"),
    ("naturalness", "Naturalness", "Does it look like a real person moving?"),
    ("plausibility", "Physical plausibility", "Feet on the floor, no sliding, floating or impossible poses?"),
)


@dataclass
class PromptEntry:
    """One prompt of the report and its generated motion."""

    prompt_id: str
    """Stable id, e.g. generate's file stem "003_a_person_jumps"; ratings refer to it."""
    prompt: str
    """The text the motion was generated from."""
    joints: np.ndarray
    """(T, 22, 3) joint positions in metres, y up."""
    fps: float = 30.0
    """Frame rate of `joints`."""
    metrics: dict[str, float | None] = field(default_factory=dict)
    """Automatic scores by name (physics metrics, evaluator similarity...), shown in the section's table."""
    reference: dict[str, float | None] = field(default_factory=dict)
    """Ground-truth or reference value of some metrics, by the same names, shown beside them."""
    model: str = ""
    """The model that generated the motion; stored with each rating."""
    group: str | None = None
    """The prompt's group (a prompt file's second column, or MotionMillion-Eval's structural groups)."""
    flagged: bool = False
    """True when the prompt asks for something the body cannot show (fingers, face): marked on the page."""
    notes: list[str] = field(default_factory=list)
    """Lines shown under the prompt: its group, why it is flagged, metrics too short to compute or that failed."""


def write_prompts_report(entries: Iterable[PromptEntry | Mapping], out_dir: str | os.PathLike, title: str,
                         failures: Iterable[Mapping] = ()) -> Path:  # fmt: skip
    """Write `report.html` and `index.json` into `out_dir`.

    Args:
        entries: the prompts in page order, as `PromptEntry` or mappings with its field names.
        out_dir: folder to write to (created if missing); serve it with `motionmill eval serve`.
        title: heading of the page.
        failures: prompts that produced no motion, each a mapping with "prompt_id", "prompt" and "reason"; listed
            at the top of the page and in `index.json` under "failed", without a player or a form.

    Returns:
        The path of `report.html`.

    Raises:
        ValueError: on empty, duplicate or too long prompt ids, no entries nor failures, or bad joints / fps.
    """
    entries = [e if isinstance(e, PromptEntry) else PromptEntry(**e) for e in entries]
    failures = [{"prompt_id": str(f["prompt_id"]), "prompt": str(f["prompt"]), "reason": str(f["reason"])}
                for f in failures]  # fmt: skip
    if not entries and not failures:
        raise ValueError("a report needs at least one prompt")
    _check_ids([e.prompt_id for e in entries] + [f["prompt_id"] for f in failures])
    sections = [_section(i, e, len(entries)) for i, e in enumerate(entries)]
    values = {
        "TITLE": html.escape(str(title)),
        "COUNT": str(len(entries)),
        "CSS": PLAYER_CSS + _CSS,
        "SECTIONS": _failures(failures) + "\n".join(sections),
        "JS": PLAYER_JS + _JS,
    }
    # One pass, so text inserted for one placeholder is never scanned for another.
    page = re.sub(r"%%([A-Z_]+)%%", lambda m: values[m.group(1)], _TEMPLATE)
    out_dir = Path(out_dir)
    index = {**_index(entries, str(title)), "failed": failures}
    atomic_write(out_dir / INDEX_FILE, json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    atomic_write(out_dir / REPORT_FILE, page)
    return out_dir / REPORT_FILE


def read_index(report_dir: str | os.PathLike) -> dict:
    """The `index.json` of a report folder, with a clear error when the folder holds no report."""
    path = Path(report_dir) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{report_dir}: not a prompts report folder (no {INDEX_FILE}; write one first)")
    return json.loads(path.read_text(encoding="utf-8"))


def _check_ids(ids: list[str]) -> None:
    seen = set()
    for prompt_id in ids:
        if not isinstance(prompt_id, str) or not prompt_id.strip():
            raise ValueError(f"prompt_id must be a non-empty string, got {prompt_id!r}")
        if len(prompt_id) > MAX_ID_CHARS:
            raise ValueError(f"prompt_id must be at most {MAX_ID_CHARS} characters, got {len(prompt_id)}")
        if prompt_id in seen:
            raise ValueError(f"prompt_id {prompt_id!r} appears twice; ratings could not tell the prompts apart")
        seen.add(prompt_id)


def _number(value) -> float | int | str | None:
    """A metric value as JSON allows it: numbers stay numbers, NaN and infinities become None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _index(entries: list[PromptEntry], title: str) -> dict:
    prompts = []
    for e in entries:
        prompts.append({
            "prompt_id": e.prompt_id, "prompt": str(e.prompt), "model": str(e.model), "fps": float(e.fps),
            "frames": len(e.joints), "metrics": {str(k): _number(v) for k, v in e.metrics.items()},
            "reference": {str(k): _number(v) for k, v in e.reference.items()},
            "group": e.group, "flagged": bool(e.flagged), "notes": [str(n) for n in e.notes],
        })  # fmt: skip
    return {"format": "motionmill-prompts-report", "version": 1, "title": title, "prompts": prompts}


def _fmt(value) -> str:
    value = _number(value)
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _metrics_table(metrics: Mapping, reference: Mapping) -> str:
    if not metrics and not reference:
        return '<p class="none">no automatic metrics</p>'
    names = list(metrics) + [k for k in reference if k not in metrics]
    head = "<tr><th>metric</th><th>value</th>" + ("<th>reference</th>" if reference else "") + "</tr>"
    rows = []
    for name in names:
        ref = f"<td>{_fmt(reference.get(name))}</td>" if reference else ""
        rows.append(f"<tr><td>{html.escape(str(name))}</td><td>{_fmt(metrics.get(name))}</td>{ref}</tr>")
    return f'<table class="metrics">{head}{"".join(rows)}</table>'


def _rating_form(key: str) -> str:
    fields = []
    for name, label, question in CRITERIA:
        # `required` on one radio makes the browser insist on a choice in the whole group.
        radios = "".join(
            f'<label><input type="radio" name="{name}" value="{v}"{" required" if v == 1 else ""}> {v}</label>'
            for v in range(1, 6)
        )
        fields.append(f'<fieldset><legend>{label}</legend><span class="q">{question}</span>'
                      f'<span class="scale">poor {radios} excellent</span></fieldset>')  # fmt: skip
    return (
        f'<form class="rating" id="{key}-form">{"".join(fields)}'
        '<label class="text">Comment (optional) <textarea name="comment" rows="2" maxlength="2000"></textarea></label>'
        '<label class="text">Your name <input name="rater" maxlength="100" required autocomplete="name"></label>'
        '<button type="submit">Submit rating</button>'
        '<p class="status" role="status" aria-live="polite"></p></form>'
    )


def _failures(failures: list[dict]) -> str:
    if not failures:
        return ""
    items = "".join(f"<li><code>{html.escape(f['prompt_id'])}</code> {html.escape(f['prompt'])}: "
                    f"<span class=\"reason\">{html.escape(f['reason'])}</span></li>" for f in failures)  # fmt: skip
    return (f'<section class="failed"><h2>{len(failures)} prompt(s) produced no motion</h2><ul>{items}</ul>'
            "</section>\n")  # fmt: skip


def _notes(entry: PromptEntry) -> str:
    if not entry.notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{html.escape(str(n))}</li>" for n in entry.notes) + "</ul>\n"


def _section(i: int, entry: PromptEntry, count: int) -> str:
    key = f"p{i}"
    player = embed_player(entry.joints, entry.fps, key=f"{key}-")
    model = f" &middot; model <code>{html.escape(str(entry.model))}</code>" if entry.model else ""
    return (
        f'<section class="prompt{" flagged" if entry.flagged else ""}" id="{key}" data-key="{key}" '
        f'data-prompt-id="{html.escape(entry.prompt_id)}">\n'
        f'<h2>{i + 1} / {count} &middot; <code>{html.escape(entry.prompt_id)}</code>{model}</h2>\n'
        f'<p class="text">{html.escape(str(entry.prompt))}</p>\n{_notes(entry)}'
        f'<div class="row"><div class="player">{player}</div>\n'
        f'<div class="side">{_metrics_table(entry.metrics, entry.reference)}\n{_rating_form(key)}</div></div>\n'
        "</section>"
    )  # fmt: skip


_CSS = """
body { margin: 0; background: #f4f6f9; color: #1f2430;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header, main { max-width: 1200px; margin: 0 auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 18px 0 6px; }
#offline { padding: 8px 12px; border-radius: 6px; background: #fff3cd; border: 1px solid #e6c65c; }
section.prompt { background: #fff; border: 1px solid #d7dce4; border-radius: 8px; margin: 16px 0; padding: 12px 16px; }
section.prompt h2 { font-size: 13px; font-weight: normal; color: #5d6675; margin: 0; }
section.prompt.rated h2::after { content: " \\2713 rated"; color: #1d7a3a; font-weight: bold; }
p.text { font-size: 17px; margin: 6px 0 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
.row { display: flex; gap: 16px; flex-wrap: wrap; }
.player { flex: 1 1 460px; min-width: 300px; }
.player .mm-player { height: 380px; border-radius: 6px; overflow: hidden; border: 1px solid #d7dce4; }
.side { flex: 1 1 340px; min-width: 280px; }
table.metrics { border-collapse: collapse; margin-bottom: 10px; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { border-bottom: 1px solid #e3e7ee; padding: 2px 10px 2px 0; text-align: left; }
p.none { color: #5d6675; }
ul.notes { margin: 0 0 8px; padding-left: 18px; color: #5d6675; }
section.prompt.flagged ul.notes { color: #8a5a00; }
section.failed { background: #fdecea; border: 1px solid #e6a5a0; border-radius: 8px; margin: 16px 0;
  padding: 8px 16px; }
form.rating fieldset { border: 1px solid #d7dce4; border-radius: 6px; margin: 0 0 8px; padding: 4px 10px 6px; }
form.rating legend { font-weight: 600; }
form.rating .q { display: block; color: #5d6675; font-size: 12px; }
form.rating .scale label { margin: 0 4px; white-space: nowrap; }
form.rating label.text { display: block; margin: 6px 0; }
form.rating textarea, form.rating input[name=rater] { display: block; width: 100%; box-sizing: border-box;
  font: inherit; }
form.rating button { padding: 5px 14px; font: inherit; cursor: pointer; }
.status { min-height: 1.4em; margin: 6px 0 0; }
.status.ok { color: #1d7a3a; }
.status.error { color: #b3261e; font-weight: 600; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="motionmill">
<title>%%TITLE%%</title>
<style>%%CSS%%</style>
</head>
<body>
<header>
<h1>%%TITLE%%</h1>
<p>%%COUNT%% prompts. Watch each motion (it plays when on screen; drag to orbit), then rate it from 1 (poor) to 5
(excellent) on each criterion and submit. Each submission is stored as a separate rating.</p>
<p id="offline" hidden>This page was opened as a file, so ratings cannot be saved. Serve its folder with
<code id="serve-command">motionmill eval serve REPORT_DIR</code> and open the address it prints.</p>
</header>
<main>
%%SECTIONS%%
</main>
<script>%%JS%%</script>
</body>
</html>
"""

# Page logic: players start on first view and play only while visible; forms post JSON to the serving folder.
_JS = """
(function () {
  "use strict";
  const sections = Array.from(document.querySelectorAll("section.prompt"));
  const byPromptId = new Map(sections.map((s) => [s.dataset.promptId, s]));
  const players = new Map(), seen = new Set(), autoPaused = new Set();

  function player(section) {
    const key = section.dataset.key;
    if (!players.has(key)) {
      const root = document.getElementById(key + "-player");
      root.tabIndex = 0;  // space and arrows act on the focused player only, never on every player of the page
      players.set(key, motionmillPlayer(key + "-", { autoplay: false, keyTarget: root }));
    }
    return players.get(key);
  }

  // Only players on screen animate: each starts on its first view and pauses when scrolled away; one the reader
  // paused stays paused when it comes back.
  const observer = new IntersectionObserver((changes) => {
    for (const change of changes) {
      const section = change.target.closest("section.prompt"), key = section.dataset.key;
      if (change.isIntersecting) {
        if (!seen.has(key) || autoPaused.has(key)) player(section).play();
        seen.add(key);
        autoPaused.delete(key);
      } else if (players.has(key) && players.get(key).playing()) {
        players.get(key).pause();
        autoPaused.add(key);
      }
    }
  }, { rootMargin: "50px 0px" });
  sections.forEach((s) => observer.observe(s.querySelector(".mm-player")));

  // Ratings need the server (`motionmill eval serve`); a file:// page has nowhere to send them.
  const offline = location.protocol === "file:";
  if (offline) {
    const dir = decodeURIComponent(location.pathname).replace(/[\\\\/][^\\\\/]*$/, "") || "REPORT_DIR";
    document.getElementById("serve-command").textContent = "motionmill eval serve " + dir;
    document.getElementById("offline").hidden = false;
  }

  // The rater's name is remembered and filled into every form, so it is typed once per page.
  const NAME_KEY = "motionmill.rater";
  let savedName = "";
  try { savedName = localStorage.getItem(NAME_KEY) || ""; } catch (err) { /* storage may be disabled */ }
  function shareName(name) {
    try { localStorage.setItem(NAME_KEY, name); } catch (err) { /* storage may be disabled */ }
    document.querySelectorAll("input[name=rater]").forEach((input) => { if (!input.value) input.value = name; });
  }

  function show(status, text, kind) { status.textContent = text; status.className = "status " + kind; }

  async function submit(section, form) {
    const status = form.querySelector(".status");
    if (offline) {
      show(status, "Not saved: ratings need the server; run " +
        document.getElementById("serve-command").textContent + " and open the address it prints.", "error");
      return;
    }
    const f = form.elements;
    const body = {
      prompt_id: section.dataset.promptId, rater: f.rater.value.trim(), comment: f.comment.value.trim(),
      text_alignment: Number(f.text_alignment.value), naturalness: Number(f.naturalness.value),
      plausibility: Number(f.plausibility.value),
    };
    show(status, "Saving...", "");
    try {
      const reply = await fetch("ratings", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await reply.json().catch(() => ({}));
      if (reply.ok) {
        show(status, "Saved as rating #" + answer.id + ". Thank you!", "ok");
        section.classList.add("rated");
      } else {
        show(status, "Not saved: " + (answer.error || reply.status + " " + reply.statusText), "error");
      }
    } catch (err) {
      show(status, "Not saved: the server did not answer (" + err.message + ").", "error");
    }
  }

  sections.forEach((section) => {
    const form = section.querySelector("form.rating");
    if (savedName) form.elements.rater.value = savedName;
    form.elements.rater.addEventListener("change", (e) => shareName(e.target.value.trim()));
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(section, form); });
  });

  window.motionmillReport = {
    promptIds: sections.map((s) => s.dataset.promptId),
    player: (promptId) => player(byPromptId.get(promptId)),
  };
})();
"""
