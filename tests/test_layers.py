"""The layers contract of pyproject.toml (`[tool.importlinter]`, docs/architecture.md) holds for the package, and the
check can fail: an upward import, a cycle or an unlisted package in a scratch copy of the sources each break it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import motionmill

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(motionmill.__file__).resolve().parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts on the `motionmill` package found in `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=package_parent,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def scratch(tmp_path) -> Path:
    shutil.copytree(SRC, tmp_path / "motionmill", ignore=shutil.ignore_patterns("assets", "__pycache__"))
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_package_keeps_every_contract():
    result = lint(SRC.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers(scratch):
    assert lint(scratch).returncode == 0  # the copy itself is clean
    add_line(scratch / "motionmill" / "motion" / "skeleton.py", "from motionmill.inference import pipeline")
    result = lint(scratch)
    assert result.returncode == 1
    assert "motionmill.motion is not allowed to import motionmill.inference" in result.stdout
    assert "motionmill.motion.skeleton -> motionmill.inference.pipeline" in result.stdout


def test_models_import_nothing_of_the_package(scratch):
    add_line(scratch / "motionmill" / "generator" / "model.py", "from motionmill.utils import io")
    result = lint(scratch)
    assert result.returncode == 1
    assert "motionmill.generator is not allowed to import motionmill.utils" in result.stdout


def test_siblings_on_one_layer_are_independent(scratch):
    add_line(scratch / "motionmill" / "text" / "steps.py", "from motionmill.data import store")
    result = lint(scratch)
    assert result.returncode == 1
    assert "motionmill.text is not allowed to import motionmill.data" in result.stdout


def test_a_cycle_inside_a_package_breaks_the_acyclic_contract(scratch):
    add_line(scratch / "motionmill" / "synth" / "actions.py", "from motionmill.synth import compose")
    result = lint(scratch)
    assert result.returncode == 1
    assert "No cycles are allowed in motionmill.synth" in result.stdout


def test_a_new_package_must_be_placed_in_a_layer(scratch):
    (scratch / "motionmill" / "annotate").mkdir()
    (scratch / "motionmill" / "annotate" / "__init__.py").write_text('"""New."""\n')
    result = lint(scratch)
    assert result.returncode == 1
    assert "motionmill.annotate" in result.stdout and "not listed as layers" in result.stdout
