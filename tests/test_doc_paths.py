"""Every file path named in a docstring or comment of the sources exists in the repository, or is a file of another
project or one written at run time that `docs/` describes; Markdown links between the docs resolve."""

import ast
import io
import os
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src/motionmill", "tests", "bench")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules", "runs",
             "outputs", "corpora", "models", "results", ".import_linter_cache"}  # fmt: skip
# a path of code, docs or recipes: folders/name.ext, or a bare name.ext
PATH = re.compile(r"(?<![\w./*<>-])((?:[\w.*<>-]+/)*[\w*<>-]+\.(?:py|md|yaml|yml|toml|cfg|sh))(?![\w/])")


def repository_files() -> list[str]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        files += [Path(folder, name).relative_to(ROOT).as_posix() for name in names]
    return files


def described_in_docs() -> set[str]:
    """Every `backticked` name in docs/*.md: files of other projects and files written at run time."""
    return {name for doc in (ROOT / "docs").glob("*.md") for name in re.findall(r"`([^`\s]+)`", doc.read_text())}


def commentary(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and string statement (docstrings included) of a Python source."""
    out = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
           if t.type == tokenize.COMMENT]  # fmt: skip
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.append((node.lineno, node.value.value))
    return out


def unknown_paths(source: str, files: list[str], described: set[str]) -> list[tuple[int, str]]:
    bad = []
    for line, text in commentary(source):
        for path in PATH.findall(text):
            if any(c in path for c in "*<>"):
                continue  # a pattern, not one file
            exists = any(f == path or f.endswith("/" + path) for f in files)
            if not exists and path not in described:
                bad.append((line, path))
    return bad


@pytest.fixture(scope="module")
def known() -> tuple[list[str], set[str]]:
    return repository_files(), described_in_docs()


def test_the_check_finds_paths_that_do_not_exist(known):
    source = '"""See spec/models.md and STYLE.md; docs/models.md is ours."""\n# models/vqvae.py of MotionMillion\n'
    assert unknown_paths(source, *known) == [(1, "spec/models.md"), (1, "STYLE.md")]
    assert unknown_paths("# tokenizer/checkpoint.py\nx = 'src/nowhere.py'  # motion/skeleton.py\n", *known) == [
        (1, "tokenizer/checkpoint.py")]  # fmt: skip
    assert unknown_paths('"""Files like `data_*.py` or <id>.py are patterns."""', *known) == []


@pytest.mark.parametrize("folder", SOURCES)
def test_every_path_in_docstrings_and_comments_exists(folder, known):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        bad += [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in unknown_paths(path.read_text(), *known)]
    assert bad == [], "paths that are neither in the repository nor described in docs/:\n" + "\n".join(bad)


def test_markdown_links_resolve_and_nothing_points_outside_the_repository():
    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/spec" not in text, page.name
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: link to {target}"
