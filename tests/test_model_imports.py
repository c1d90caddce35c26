"""Model files import only torch, math and dataclasses (docs/architecture.md, "Model files"); their I/O lives in
checkpoints/."""

import ast
from pathlib import Path

import pytest

import motionmill

SRC = Path(motionmill.__file__).parent
PACKAGES = ("tokenizer", "generator", "evaluator")
ALLOWED_ROOTS = {"__future__", "dataclasses", "math", "torch", "typing", "motionmill"}
FORBIDDEN = ("os", "sys", "io", "logging", "json", "yaml", "pathlib", "pickle", "subprocess", "torch.distributed")


def imported_modules(source: str) -> set[str]:
    """Every module a source imports, as dotted names (`from torch import distributed` -> torch.distributed)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(source: str) -> list[str]:
    """Imports of modules outside torch, math, dataclasses and typing (imports of other motionmill packages are the
    layers contract's to refuse: tests/test_layers.py)."""
    bad = []
    for name in imported_modules(source):
        forbidden = any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
        outside = name.split(".")[0] not in ALLOWED_ROOTS and not name.startswith(".")
        if forbidden or outside:
            bad.append(name)
    return sorted(bad)


def test_the_checker_catches_forbidden_imports():
    assert violations("import os\nfrom torch import distributed\nimport torch.distributed as d") == [
        "os", "torch.distributed"]  # fmt: skip
    assert violations("import json\nfrom pathlib import Path\nimport yaml") == [
        "json", "pathlib", "pathlib.Path", "yaml"]  # fmt: skip
    assert violations("import numpy as np\nfrom safetensors.torch import save") == [
        "numpy", "safetensors.torch", "safetensors.torch.save"]  # fmt: skip
    clean = "import math\nimport torch.nn.functional as F\nfrom dataclasses import dataclass"
    assert violations(clean) == []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_model_files_import_only_torch_math_dataclasses(package):
    checked = []
    for path in sorted((SRC / package).glob("*.py")):
        assert violations(path.read_text(encoding="utf-8")) == [], path.name
        checked.append(path.name)
    assert len(checked) >= 2  # __init__.py and at least one model file
