"""Recipes: YAML files whose sections fill config dataclasses, with errors that name the file and the key.

A recipe has one section per component, e.g. `model:` (a preset name plus field overrides), `train:`
(TrainConfig fields) and `data:`. Unknown keys are errors, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

__all__ = ["build_dataclass", "load_recipe", "plain_data", "run_recipe", "save_recipe"]


def load_recipe(path: str | Path, sections: tuple[str, ...]) -> dict[str, dict]:
    """Read a YAML recipe; every top-level key must be one of `sections` (missing sections are empty)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recipe file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a mapping of sections {list(sections)}")
    unknown = set(data) - set(sections)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(sections)}")
    return {s: dict(data.get(s) or {}) for s in sections}


def run_recipe(config: str | Path | None, run: Path, sections: tuple[str, ...],
               steps: int | None = None) -> dict[str, dict]:  # fmt: skip
    """The recipe of a training run: its own `config.yaml` when resuming (it wins over --config), else `config`;
    `steps` (--steps), when given, replaces train.steps."""
    saved = Path(run) / "config.yaml"
    if saved.is_file():
        recipe = load_recipe(saved, sections)
    elif config is None:
        raise ValueError("--config is required for a new run")
    else:
        recipe = load_recipe(config, sections)
    if steps is not None:
        recipe["train"]["steps"] = steps
    return recipe


def build_dataclass(cls, values: dict[str, Any], where: str):
    """cls(**values) with a clear error for keys that are not fields of cls."""
    names = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(names)}")
    return cls(**values)


def save_recipe(path: str | Path, recipe: dict[str, dict]) -> None:
    """Write a resolved recipe (plain data) as YAML, atomically."""
    from motionmill.utils.io import atomic_write

    atomic_write(path, yaml.safe_dump(plain_data(recipe), sort_keys=False))


def plain_data(x):
    """Dataclasses, tuples and nested containers as plain dicts and lists (for YAML and JSON)."""
    if dataclasses.is_dataclass(x):
        return plain_data(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {k: plain_data(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain_data(v) for v in x]
    return x
