"""Model files in motionmill/tokenizer/ import only torch, math and dataclasses (STYLE.md practice 2).

I/O lives in `checkpoint.py` and `convert.py`, which are exempt.
"""

import ast
from pathlib import Path

import motionmill.tokenizer

PACKAGE = Path(motionmill.tokenizer.__file__).parent
IO_MODULES = {"checkpoint.py", "convert.py"}
ALLOWED_ROOTS = {"__future__", "dataclasses", "math", "torch", "typing", "motionmill"}
FORBIDDEN = ("os", "sys", "io", "logging", "json", "yaml", "pathlib", "pickle", "subprocess", "torch.distributed")


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports, as dotted names (`from torch import distributed` -> torch.distributed)."""
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
    bad = []
    for name in imported_modules(source):
        forbidden = any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
        outside = name.split(".")[0] not in ALLOWED_ROOTS and not name.startswith(".")
        in_package = not name.startswith("motionmill") or name.startswith("motionmill.tokenizer")
        io_module = any(name.startswith(f"motionmill.tokenizer.{m[:-3]}") for m in IO_MODULES)
        if forbidden or outside or not in_package or io_module:
            bad.append(name)
    return sorted(bad)


def test_the_checker_catches_forbidden_imports():
    source = "import os\nfrom torch import distributed\nimport torch.distributed as dist"
    assert violations(source) == ["os", "torch.distributed"]
    assert violations("from motionmill.utils.io import atomic_write") == [
        "motionmill.utils.io", "motionmill.utils.io.atomic_write"]  # fmt: skip
    assert violations("from motionmill.tokenizer.checkpoint import save_pretrained") != []
    assert violations("import math\nimport torch.nn.functional as F\nfrom dataclasses import dataclass") == []


def test_model_files_import_only_torch_math_dataclasses():
    checked = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in IO_MODULES:
            continue
        assert violations(path.read_text(encoding="utf-8")) == [], path.name
        checked.append(path.name)
    assert {"fsq.py", "model.py"} <= set(checked)
