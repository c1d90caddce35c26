"""The tokenizer commands end to end on a small built-in corpus."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from corpus_factory import builtin_corpus
from motionmill.checkpoints.tokenizer import load_tokenizer
from motionmill.cli import main
from motionmill.data.store import Corpus
from motionmill.inference.pipeline import BUILTIN_MODEL
from motionmill.motion.normalize import Normalizer

RECIPE = {
    "model": {"preset": "tiny", "width": 32},
    "train": {"steps": 12, "batch_size": 8, "lr": 2e-3, "warmup_steps": 2, "log_every": 1, "ckpt_every": 6,
              "eval_every": 6},
    "data": {"window": 32, "eval_clips": 4},
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return builtin_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    code = main(["train", "tokenizer", "--config", str(folder / "recipe.yaml"), "--corpus", str(corpus), "--out",
                 str(folder / "run")])  # fmt: skip
    assert code == 0
    return folder / "run"


def test_run_folder_holds_its_config_logs_and_a_self_contained_checkpoint(run):
    names = sorted(p.name for p in run.iterdir() if p.name != "tensorboard")
    assert names == ["checkpoint", "config.yaml", "metrics.jsonl", "provenance.json"]
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "config.json",
        "model.safetensors",
        "state",
        "stats.safetensors",
        "trainer.pt",
    ]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"] == RECIPE["model"] and saved["train"]["steps"] == 12
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "loss" in ln] == list(range(1, 13))
    assert any("eval/mpjpe_mm" in ln for ln in lines)
    model, stats = load_tokenizer(run)
    assert model.cfg.width == 32 and stats is not None


def test_more_steps_resume_from_the_run_folder_without_a_recipe(run, corpus, capsys):
    assert main(["train", "tokenizer", "--corpus", str(corpus), "--out", str(run), "--steps", "14"]) == 0
    assert "resuming from" in capsys.readouterr().out
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "loss" in ln] == list(range(1, 15))
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"] == 14


def test_eval_and_tokenize(run, corpus, capsys, tmp_path):
    assert main(["eval", "tokenizer", "--tokenizer", str(run), "--corpus", str(corpus), "--split", "train",
                 "--max-clips", "5"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 5 and report["mpjpe_mm"] > 0 and 0 < report["codebook_usage"] <= 1
    out = tmp_path / "tokens"
    assert main(["tokenize", "--tokenizer", str(run), "--corpus", str(corpus), "--out", str(out)]) == 0
    data = Corpus(corpus)
    model, _ = load_tokenizer(run)
    index = json.loads((out / "shard-00000.json").read_text())
    ids = np.load(out / "shard-00000.npy")
    row = index["rows"][1]
    expected, lengths = model.encode(torch.from_numpy(
        _normalised(data, row, load_tokenizer(run)[1], model.cfg.stride))[None])  # fmt: skip
    got = ids[index["offset"][1] : index["offset"][1] + index["count"][1]]
    assert np.array_equal(got, expected[0, : lengths[0]].numpy())
    before = (out / "shard-00000.npy").stat().st_mtime_ns
    assert main(["tokenize", "--tokenizer", str(run), "--corpus", str(corpus), "--out", str(out)]) == 0
    assert (out / "shard-00000.npy").stat().st_mtime_ns == before  # complete shards are not redone


def _normalised(data, row, stats, stride):
    x = data.clip(row)
    return stats.normalize(x[: len(x) // stride * stride]).astype(np.float32)


def test_bad_corpus_fails_at_start_up_with_a_named_reason(corpus, tmp_path, capsys):
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    broken = tmp_path / "no_stats"
    shutil.copytree(corpus, broken)
    (broken / "stats.safetensors").unlink()
    args = ["train", "tokenizer", "--config", str(tmp_path / "recipe.yaml"), "--out", str(tmp_path / "r")]
    assert main([*args, "--corpus", str(broken)]) == 2
    assert "stats.safetensors" in capsys.readouterr().err
    wide = tmp_path / "wide"
    shutil.copytree(corpus, wide)
    manifest = json.loads((wide / "manifest.json").read_text())
    manifest["feature_dim"] = 263
    (wide / "manifest.json").write_text(json.dumps(manifest))
    assert main([*args, "--corpus", str(wide)]) == 2
    assert "263-dim features" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoint").exists()


DECODER_RECIPE = {
    "init": {"train": "decoder"},
    "model": {"effectors_weight": 4.0},
    "train": {"steps": 10, "batch_size": 8, "lr": 2e-3, "warmup_steps": 1, "log_every": 1, "ckpt_every": 5,
              "eval_every": 5},
    "data": {"window": 32, "eval_clips": 4},
}  # fmt: skip


def test_decoder_fine_tune_keeps_every_code_and_changes_only_the_decoder(run, corpus, tmp_path):
    source_folder = tmp_path / "source"
    shutil.copytree(run / "checkpoint", source_folder)
    source, source_stats = load_tokenizer(source_folder)
    source_stats = Normalizer(source_stats.mean + 0.5, source_stats.std * 2)  # not the corpus's own stats
    source_stats.save(source_folder / "stats.safetensors")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(DECODER_RECIPE))
    out = tmp_path / "decoder"
    args = ["train", "tokenizer", "--config", str(tmp_path / "recipe.yaml"), "--corpus", str(corpus), "--out",
            str(out), "--init", str(source_folder)]  # fmt: skip
    assert main(args) == 0
    tuned, tuned_stats = load_tokenizer(out)
    assert tuned.cfg.effectors_weight == 4.0 and tuned.cfg.width == source.cfg.width == 32
    assert np.array_equal(tuned_stats.std, source_stats.std)  # the frozen encoder expects the source's stats
    before, after = source.state_dict(), tuned.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.startswith("decoder."))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("decoder."))
    data = Corpus(corpus)
    x = torch.from_numpy(_normalised(data, 3, source_stats, source.cfg.stride))[None]
    assert torch.equal(tuned.encode(x)[0], source.encode(x)[0])
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("effectors" in ln for ln in lines if "loss" in ln)
    assert yaml.safe_load((out / "config.yaml").read_text())["init"] == {
        "tokenizer": str(source_folder),
        "train": "decoder",
    }
    assert main(["train", "tokenizer", "--corpus", str(corpus), "--out", str(out), "--steps", "12"]) == 0  # resumes
    assert [json.loads(ln)["step"] for ln in (out / "metrics.jsonl").read_text().splitlines()
            if "loss" in json.loads(ln)] == list(range(1, 13))  # fmt: skip
    resumed = load_tokenizer(out)[0].state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in before.items() if not k.startswith("decoder."))


@pytest.mark.parametrize(
    ("recipe", "extra", "message"),
    [({"init": {"train": "decoder"}}, [], "needs a tokenizer to start from"),
     ({"init": {"train": "encoder"}}, [], "init.train must be all or decoder"),
     ({"model": {"width": 64}}, ["--init"], r"\['width'\] cannot be set"),
     ({"init": {"tokenizer": "no/such/tokenizer"}}, [], "no/such/tokenizer")],
)  # fmt: skip
def test_bad_init_is_rejected_before_training_with_a_named_reason(run, corpus, tmp_path, capsys, recipe, extra,
                                                                  message):  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({**RECIPE, **recipe}))
    extra = [*extra, str(run)] if extra else []
    args = ["train", "tokenizer", "--config", str(tmp_path / "recipe.yaml"), "--corpus", str(corpus), "--out",
            str(tmp_path / "r"), *extra]  # fmt: skip
    assert main(args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r" / "checkpoint").exists()


def test_the_decoder_finetune_recipe_runs_and_keeps_the_codes(run, corpus, tmp_path):
    recipe_file = Path(__file__).resolve().parents[2] / "configs" / "tokenizer" / "decoder-finetune.yaml"
    recipe = yaml.safe_load(recipe_file.read_text())
    recipe["train"]["batch_size"] = 8  # the test corpus holds fewer windows than one batch of the recipe
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "decoder"
    assert main(["train", "tokenizer", "--config", str(tmp_path / "recipe.yaml"), "--corpus", str(corpus), "--out",
                 str(out), "--init", str(run), "--steps", "2"]) == 0  # fmt: skip
    weights = recipe["model"]
    tuned = load_tokenizer(out)[0]
    assert weights and all(getattr(tuned.cfg, k) == v for k, v in weights.items())
    source = load_tokenizer(run)[0].state_dict()
    assert all(torch.equal(p, source[k]) for k, p in tuned.state_dict().items() if k.startswith("encoder."))


def test_the_built_in_recipe_made_the_shipped_tokenizer():
    recipe = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs/tokenizer/builtin.yaml").read_text())
    shipped, _ = load_tokenizer(BUILTIN_MODEL / "tokenizer")
    model = dict(recipe["model"])
    model.pop("preset")
    assert model and all(getattr(shipped.cfg, k) == (tuple(v) if isinstance(v, list) else v) for k, v in model.items())
    provenance = json.loads((BUILTIN_MODEL / "tokenizer" / "provenance.json").read_text())
    assert provenance["split"] == "train" and provenance["recipe"]["model"] == recipe["model"]
