"""The web page of `motionmill serve` (`GET /`): prompt, duration, seed and the main sampling options, the 3D player,
this session's motions and a download button per format.

One HTML document with its script inline: no CDN, font or outside request, so it works offline. It calls the
server's own API with `fetch` (sending the token, when the server has one, from a field of the page): the motion's
self-contained HTML player (`export/html.py`) is shown in a sandboxed frame from its `srcdoc`, and downloads are made
from fetched blobs.
"""

from __future__ import annotations

import html
import json

__all__ = ["api_docs", "page"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>motionmill</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 22rem 1fr; height: 100vh; }
form, #history { padding: 1rem; } aside { border-right: 1px solid #ccc; overflow: auto; }
label { display: block; margin: .5rem 0 .2rem; } textarea, input { width: 100%; box-sizing: border-box; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; } button { margin-top: .8rem; padding: .4rem 1rem; }
main { display: grid; grid-template-rows: 1fr auto; } iframe { border: 0; width: 100%; height: 100%; }
#downloads { padding: .5rem 1rem; border-top: 1px solid #ccc; } #downloads button { margin: 0 .3rem 0 0; }
#status { min-height: 1.2rem; color: #a00; } #history li { cursor: pointer; margin: .3rem 0; }
</style></head><body>
<aside><form id="form">
<label for="prompt">Prompt</label><textarea id="prompt" rows="3" maxlength="%%MAXCHARS%%" required
 placeholder="a person walks forward, then jumps twice"></textarea>
<div class="row"><div><label for="seconds">Seconds (empty: the model decides)</label>
<input id="seconds" type="number" min="0.1" max="%%MAXSECONDS%%" step="0.1"></div>
<div><label for="seed">Seed</label><input id="seed" type="number" min="0" step="1" value="0"></div></div>
<div class="row"><div><label for="temperature">Temperature</label>
<input id="temperature" type="number" min="0.05" max="10" step="0.05" placeholder="model default"></div>
<div><label for="guidance">Guidance</label>
<input id="guidance" type="number" min="0" max="50" step="0.1" placeholder="model default"></div></div>
<div class="row"><div><label for="candidates">Best of N</label>
<input id="candidates" type="number" min="1" max="16" step="1" placeholder="model default"></div>
<div><label for="cleanup"><input id="cleanup" type="checkbox"> clean up feet</label></div></div>
<div id="token-box" %%TOKENHIDDEN%%><label for="token">Token</label><input id="token" type="password"></div>
<button id="generate" type="submit">Generate</button><div id="status" role="status"></div>
</form><div id="history"><strong>This session</strong><ol id="list"></ol></div></aside>
<main><iframe id="player" title="3D player" sandbox="allow-scripts"></iframe>
<div id="downloads"></div></main>
<script type="application/json" id="formats">%%FORMATS%%</script>
<script>
"use strict";
const formats = JSON.parse(document.getElementById("formats").textContent);
const $ = (id) => document.getElementById(id);
const headers = () => $("token").value ? { Authorization: "Bearer " + $("token").value } : {};
const history = [];

function number(id) { const v = $(id).value.trim(); return v === "" ? undefined : Number(v); }

async function show(record) {
  $("status").textContent = "";
  const page = await fetch(record.files.html, { headers: headers() });
  $("player").srcdoc = await page.text();
  const box = $("downloads"); box.replaceChildren("Download: ");
  for (const name of formats) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = name; b.dataset.format = name;
    b.onclick = () => download(record, name); box.append(b);
  }
}

async function download(record, name) {
  const r = await fetch(record.files[name], { headers: headers() });
  if (!r.ok) { $("status").textContent = name + ": " + (await r.json()).detail; return; }
  const a = document.createElement("a"); a.href = URL.createObjectURL(await r.blob());
  a.download = "motion-" + record.id.slice(0, 8) + "." + name; document.body.append(a); a.click(); a.remove();
}

function remember(record) {
  history.push(record);
  const li = document.createElement("li");
  li.textContent = record.prompt + " (" + record.duration.toFixed(1) + " s)"; li.onclick = () => show(record);
  $("list").prepend(li);
}

$("form").onsubmit = async (e) => {
  e.preventDefault();
  const body = { prompt: $("prompt").value, seed: number("seed") ?? 0, seconds: number("seconds"),
                 temperature: number("temperature"), guidance: number("guidance"),
                 candidates: number("candidates"), cleanup: $("cleanup").checked };
  $("generate").disabled = true; $("status").textContent = "generating...";
  try {
    const r = await fetch("/v1/motions", { method: "POST", body: JSON.stringify(body),
                                          headers: { "Content-Type": "application/json", ...headers() } });
    const answer = await r.json();
    if (!r.ok) { $("status").textContent = typeof answer.detail === "string" ? answer.detail
                   : answer.detail.map((d) => d.loc.slice(-1)[0] + ": " + d.msg).join("; "); return; }
    remember(answer); await show(answer);
  } catch (err) { $("status").textContent = String(err); }
  finally { $("generate").disabled = false; }
};
</script></body></html>
"""


def page(formats: list[str], max_seconds: float, max_prompt_chars: int, needs_token: bool) -> str:
    """The page for a server that serves `formats` and whose model samples up to `max_seconds` and takes prompts up
    to `max_prompt_chars`; it offers the main sampling options only (the API takes every one)."""
    return (_PAGE.replace("%%MAXCHARS%%", str(int(max_prompt_chars)))
            .replace("%%MAXSECONDS%%", f"{max_seconds:.1f}")
            .replace("%%TOKENHIDDEN%%", "" if needs_token else "hidden")
            .replace("%%FORMATS%%", html.escape(json.dumps(list(formats)), quote=False)))  # fmt: skip


def _number(value) -> str:
    """1 for 1.0, '' for None: JSON schemas give integer bounds as floats."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def api_docs(spec: dict) -> str:
    """A page of the API's routes and of the POST body's fields (type, range, default, meaning), from its OpenAPI
    schema; unlike the usual interactive pages it loads nothing from a CDN."""
    routes = "".join(f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                     f"<td>{html.escape(op.get('description') or op.get('summary', ''))}</td></tr>"
                     for path, ops in spec["paths"].items() for method, op in ops.items())  # fmt: skip
    body = spec["components"]["schemas"]["MotionRequest"]
    rows = []
    for name, prop in body["properties"].items():
        kinds = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        kind = kinds[0] if kinds else {}
        low = kind.get("minimum", kind.get("exclusiveMinimum", kind.get("minLength")))
        high = kind.get("maximum", kind.get("maxLength"))
        bounds = "" if low is None and high is None else f"{_number(low)} .. {_number(high)}"
        required = name in body.get("required", [])
        rows.append(f"<tr><td><code>{name}</code></td><td>{kind.get('type', '')}</td><td>{bounds}</td>"
                    f"<td>{'required' if required else html.escape(json.dumps(prop.get('default')))}</td>"
                    f"<td>{html.escape(prop.get('description', ''))}</td></tr>")  # fmt: skip
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>motionmill API</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:2rem}td,th{border-bottom:1px solid #ddd;"
            "padding:.3rem .6rem;text-align:left;vertical-align:top}</style></head><body><h1>motionmill API</h1>"
            "<p>The machine-readable schema: <a href='/openapi.json'>/openapi.json</a>.</p><h2>Routes</h2>"
            f"<table><tr><th>method</th><th>path</th><th>what</th></tr>{routes}</table>"
            "<h2>POST /v1/motions body (JSON)</h2><table><tr><th>field</th><th>type</th><th>range</th>"
            f"<th>default</th><th>meaning</th></tr>{''.join(rows)}</table></body></html>")  # fmt: skip
