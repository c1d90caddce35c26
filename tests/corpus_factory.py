"""Small built-in corpora for tests, built once per test session by the real pipeline."""

from __future__ import annotations

from pathlib import Path

_BUILT: dict[tuple[int, int], Path] = {}


def builtin_corpus(tmp_path_factory, clips: int = 48, seed: int = 0) -> Path:
    """A corpus folder with `clips` built-in clips (cached for the session)."""
    from motionmill.data.pipeline import BuildConfig, build_corpus

    key = (clips, seed)
    if key not in _BUILT:
        out = tmp_path_factory.mktemp(f"builtin{clips}")
        build_corpus([f"builtin:{clips}:{seed}"], out, BuildConfig(workers=1, shard_size=16, progress=False))
        _BUILT[key] = out
    return _BUILT[key]


_PIPELINES: dict[str, Path] = {}

TINY_TOKENIZER = {"model": {"preset": "tiny", "width": 32}, "train": {"steps": 4, "batch_size": 8, "ckpt_every": 4},
                  "data": {"window": 32, "eval_clips": 2}}  # fmt: skip
TINY_GENERATOR = {"model": {"preset": "tiny", "n_layer": 1, "dim": 32, "n_head": 2, "length_condition": True},
                  "train": {"steps": 6, "batch_size": 8, "log_every": 1, "ckpt_every": 3, "eval_every": 3},
                  "data": {"eval_items": 8}}  # fmt: skip


def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    """(corpus, folder with tok/ and gen/ runs and an assembled pipeline/), trained for a few steps only."""
    import yaml

    from motionmill.cli import main

    if "runs" not in _PIPELINES:
        corpus = builtin_corpus(tmp_path_factory)
        folder = tmp_path_factory.mktemp("runs")
        (folder / "tok.yaml").write_text(yaml.safe_dump(TINY_TOKENIZER))
        (folder / "gen.yaml").write_text(yaml.safe_dump(TINY_GENERATOR))
        common = ["--corpus", str(corpus)]
        assert (
            main(["train", "tokenizer", "--config", str(folder / "tok.yaml"), *common, "--out", str(folder / "tok")])
            == 0
        )
        assert main(["train", "generator", "--config", str(folder / "gen.yaml"), *common, "--tokenizer",
                     str(folder / "tok"), "--out", str(folder / "gen")]) == 0  # fmt: skip
        assert main(["export", "pipeline", "--tokenizer", str(folder / "tok"), "--generator", str(folder / "gen"),
                     "--out", str(folder / "pipeline")]) == 0  # fmt: skip
        _PIPELINES["runs"] = folder
        _PIPELINES["corpus"] = corpus
    return _PIPELINES["corpus"], _PIPELINES["runs"]
