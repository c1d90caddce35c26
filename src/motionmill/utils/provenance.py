"""Where a trained model came from: `provenance.json` beside its weights.

A training run writes it when it starts (corpus folder, the corpus' sources and split sizes, the split it trains on,
the resolved recipe, the source commit, the start time); exporting a run into a model folder copies it there, adding
the commit that exported it. A shipped model thus names the corpus, split, recipe and commit that made it.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from motionmill.utils.config import plain_data
from motionmill.utils.io import atomic_write

__all__ = ["PROVENANCE", "copy_provenance", "read_provenance", "source_commit", "write_run_provenance"]

PROVENANCE = "provenance.json"


def source_commit() -> str:
    """The git commit of the motionmill sources, "+dirty" when they differ from it, or "unknown" outside a
    checkout (an installed wheel)."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "src"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_run_provenance(run: Path, corpus: Path, manifest: dict, split: str, recipe: dict,
                         validation_split: str | None = None) -> dict:  # fmt: skip
    """Write `run`/provenance.json unless the run already has one (a resumed run keeps where it started)."""
    path = Path(run) / PROVENANCE
    if path.exists():
        return json.loads(path.read_text())
    record = {
        "corpus": {"path": str(Path(corpus).resolve()), "sources": manifest.get("sources", []),
                   "splits": manifest.get("counts", {}).get("splits", {}), "stats_from": manifest.get("stats_from")},
        "split": split,
        "validation_split": validation_split,
        "recipe": plain_data(recipe),
        "commit": source_commit(),
        "started": _now(),
    }  # fmt: skip
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return record


def read_provenance(folder: str | Path) -> dict | None:
    """The provenance of a run or model folder (or of the run a `checkpoint` folder sits in); None if unrecorded."""
    folder = Path(folder)
    candidates = [folder / PROVENANCE] + ([folder.parent / PROVENANCE] if folder.name == "checkpoint" else [])
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return None


def copy_provenance(source: str | Path, dest: str | Path) -> dict | None:
    """Copy the provenance of `source` into model folder `dest`, adding the exporting commit; None if `source`
    recorded none."""
    record = read_provenance(source)
    if record is None:
        return None
    record = {**record, "exported": {"from": str(Path(source).resolve()), "commit": source_commit(), "at": _now()}}
    atomic_write(Path(dest) / PROVENANCE, json.dumps(record, indent=2) + "\n")
    return record
