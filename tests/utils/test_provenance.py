"""Provenance: runs record corpus, split, recipe and commit; exported model folders carry it."""

from __future__ import annotations

import json
import re

from corpus_factory import tiny_runs
from motionmill.utils.provenance import (
    PROVENANCE,
    copy_provenance,
    read_provenance,
    source_commit,
    write_run_provenance,  # fmt: skip
)


def test_source_commit_names_this_checkout():
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", source_commit())


def test_a_run_keeps_the_provenance_it_started_with(tmp_path):
    manifest = {"sources": ["BuiltinSource(size=8, seed=0)"], "counts": {"splits": {"train": 6, "val": 2}}}
    first = write_run_provenance(tmp_path, tmp_path / "corpus", manifest, "train", {"train": {"steps": 4}}, "val")
    again = write_run_provenance(tmp_path, tmp_path / "other", {}, "train", {"train": {"steps": 9}})
    assert again == first == json.loads((tmp_path / PROVENANCE).read_text())
    assert first["corpus"]["splits"] == {"train": 6, "val": 2} and first["recipe"] == {"train": {"steps": 4}}
    (tmp_path / "checkpoint").mkdir()
    assert read_provenance(tmp_path / "checkpoint") == first  # a checkpoint folder inside the run
    assert copy_provenance(tmp_path / "nowhere", tmp_path / "out") is None


def test_exported_pipeline_names_corpus_split_recipe_and_commit(tmp_path_factory):
    corpus, runs = tiny_runs(tmp_path_factory)
    for part, run in (("tokenizer", "tok"), ("generator", "gen")):
        record = json.loads((runs / "pipeline" / part / PROVENANCE).read_text())
        assert record == {**json.loads((runs / run / PROVENANCE).read_text()), "exported": record["exported"]}
        assert record["split"] == "train" and record["validation_split"] == "val"
        assert record["corpus"]["path"] == str(corpus.resolve()) and "BuiltinSource" in record["corpus"]["sources"][0]
        assert record["recipe"]["train"]["steps"] > 0 and re.match(r"[0-9a-f]{40}", record["commit"])
        assert record["exported"]["from"] == str((runs / run).resolve())
