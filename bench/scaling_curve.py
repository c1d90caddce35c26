"""Does a bigger generator follow text better? Three generator sizes on one corpus and one token budget.

MotionMillion's claim is that scale buys zero-shot generalisation. This script trains the built-in generator recipe
at three sizes (`configs/generator/scaling-{s,m,l}.yaml`: the shipped shape, about 4x and about 16x its parameters;
everything but the shape is the same recipe) on the same corpus and tokenizer for the same number of steps of the
same batches (so the same training tokens), then measures each size the same way: validation loss and next-token
accuracy at the end of training, and predicate accuracy (`motionmill eval alignment`) on the test, zero-shot and
free-form prompts with one sample per caption, step by step, at the shipped guidance and temperature. The
default budget, 1,000 steps of 64 clips, is what the largest size trains in about two hours on 2 cores (5 to 7 s
a step), a quarter of the shipped model's 4,000 steps. It writes
a Markdown table, `results.json` and `docs/scaling.png` and prints the table. Runs resume, so a stopped curve goes on.

Run: `python bench/scaling_curve.py --corpus runs/builtin/corpus --tokenizer runs/builtin/tokenizer
[--out runs/scaling] [--steps 1000] [--clips 500] [--plot docs/scaling.png]`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SIZES = ("s", "m", "l")
SPLITS = ("test", "zeroshot", "freeform")


def train_size(size: str, corpus: str, tokenizer: str, out: Path, steps: int) -> dict:
    """Train (or resume) one size; the last validation record of its run."""
    from motionmill.training.generator import train_generator

    run = out / size
    train_generator(f"configs/generator/scaling-{size}.yaml", corpus, tokenizer, str(run), steps=steps)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    return [r for r in records if any(k.startswith("eval/") for k in r)][-1]


def measure(size: str, tokenizer: str, out: Path, clips: int, sampling) -> dict:
    """Parameters and predicate accuracy per split of one trained size (cached in its run folder)."""
    from motionmill.eval.alignment import evaluate_alignment
    from motionmill.inference.pipeline import TextToMotion, assemble_pipeline

    run, cached = out / size, out / size / "alignment.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    pipe = TextToMotion.from_pretrained(assemble_pipeline(tokenizer, run, run / "pipeline"))
    result = {"parameters": sum(p.numel() for p in pipe.generator.parameters())}
    for split in SPLITS:
        result[split] = evaluate_alignment(pipe, split, clips, sampling=sampling)["accuracy"]
    cached.write_text(json.dumps(result, indent=2) + "\n")
    return result


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy per split and validation loss against parameters (log scale), drawn with Pillow."""
    import math

    from PIL import Image, ImageDraw

    width, height, pad = 900, 420, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    xs = [math.log10(r["parameters"]) for r in rows]
    lo, hi = min(xs) - 0.1, max(xs) + 0.1
    panels = [("predicate accuracy (%)", [(s, [100 * r[s] for r in rows]) for s in SPLITS]),
              ("validation loss", [("val loss", [r["val_loss"] for r in rows])])]  # fmt: skip
    colours = {"test": "#1f77b4", "zeroshot": "#d62728", "freeform": "#2ca02c", "val loss": "#444444"}
    panel_width = (width - 3 * pad) // 2
    for k, (title, series) in enumerate(panels):
        left, top, bottom = pad + k * (panel_width + pad), pad, height - pad
        values = [v for _, ys in series for v in ys]
        y_lo, y_hi = min(values), max(values)
        y_lo, y_hi = y_lo - 0.1 * (y_hi - y_lo or 1), y_hi + 0.1 * (y_hi - y_lo or 1)
        draw.rectangle([left, top, left + panel_width, bottom], outline="black")
        draw.text((left, top - 20), title, fill="black")
        for x, row in zip(xs, rows, strict=True):
            px = left + (x - lo) / (hi - lo) * panel_width
            draw.text((px - 20, bottom + 8), f"{row['parameters'] / 1e6:.1f}M", fill="black")
        for j, (name, ys) in enumerate(series):
            points = [(left + (x - lo) / (hi - lo) * panel_width, bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top))
                      for x, y in zip(xs, ys, strict=True)]  # fmt: skip
            draw.line(points, fill=colours[name], width=3)
            for px, py in points:
                draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colours[name])
            for (px, py), y in zip(points, ys, strict=True):
                draw.text((px + 6, py - 14), f"{y:.1f}" if y > 2 else f"{y:.3f}", fill=colours[name])
            draw.text((left + 8, top + 8 + 16 * j), name, fill=colours[name])
    draw.text((pad, height - 24), "generator parameters (log scale); same corpus, tokenizer, recipe and training "
              "tokens", fill="black")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    from motionmill.inference.settings import SamplingSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", default="runs/scaling")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of every size (same batches)")
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--plot", default="docs/scaling.png")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated subset of s,m,l")
    args = parser.parse_args()
    out = Path(args.out)
    sampling = SamplingSettings(temperature=0.6, guidance=1.5, candidates=1, compose=True)
    rows = []
    for size in args.sizes.split(","):
        last = train_size(size, args.corpus, args.tokenizer, out, args.steps)
        row = {"size": size, **measure(size, args.tokenizer, out, args.clips, sampling)}
        row.update(val_loss=last["eval/loss"], val_accuracy=last.get("eval/token_acc"), steps=last["step"])
        rows.append(row)
    lines = ["| size | parameters | steps | val loss | val next-token acc | test | zero-shot | free-form |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        acc = f"{100 * r['val_accuracy']:.1f}%" if r["val_accuracy"] is not None else "-"
        lines.append(f"| {r['size']} | {r['parameters'] / 1e6:.2f} M | {r['steps']} | {r['val_loss']:.3f} | {acc} | "
                     + " | ".join(f"{100 * r[s]:.1f}%" for s in SPLITS) + " |")  # fmt: skip
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    if len(rows) > 1:
        plot(rows, Path(args.plot))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
