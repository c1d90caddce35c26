"""Benchmark suites end to end on a briefly trained tiny pipeline and evaluator."""

import json

import numpy as np
import pytest
import yaml

from corpus_factory import tiny_runs
from motionmill.cli import main
from motionmill.eval.benchmark import ProtocolConfig, run_protocol, run_zeroshot, write_results
from motionmill.inference.evaluator import evaluator_from_spec
from motionmill.inference.pipeline import TextToMotion
from motionmill.inference.settings import SamplingSettings

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

TINY_EVALUATOR = {"model": {"preset": "tiny", "dim": 32, "ff": 64, "embed_dim": 32, "n_layer": 1},
                  "train": {"steps": 4, "batch_size": 8, "warmup_steps": 1, "ckpt_every": 4, "eval_every": 4},
                  "data": {"eval_items": 8}}  # fmt: skip
# the tiny corpus has too few clips inside the published loaders' windows for a batch of 32: every clip once
SMALL = ProtocolConfig(
    split="train", repeats=2, clips=32, mm_captions=3, mm_generations=2, mm_pairs=2, diversity_pairs=20, loader="spans"
)
RIGIDITY = {f"{name}_{stat}" for name in ("bone_drift_mm", "output_agreement_mm") for stat in ("mean", "max")}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    corpus, runs = tiny_runs(tmp_path_factory)
    recipe = runs / "evaluator.yaml"
    recipe.write_text(yaml.safe_dump(TINY_EVALUATOR))
    evaluator_run = runs / "evaluator"
    if not (evaluator_run / "checkpoint").exists():
        assert main(["train", "evaluator", "--config", str(recipe), "--corpus", str(corpus),
                     "--out", str(evaluator_run)]) == 0  # fmt: skip
    return corpus, TextToMotion.from_pretrained(runs / "pipeline"), evaluator_from_spec(str(evaluator_run)), runs


def test_protocol_reports_every_metric_over_runs_with_confidence_intervals(setup):
    corpus, pipe, evaluator, _ = setup
    result = run_protocol(pipe, evaluator, corpus, SMALL, SamplingSettings(top_k=20))
    assert result["clips"] == 32 and result["sampling"]["top_k"] == 20
    expected = {"fid", "r_precision_top1", "r_precision_top2", "r_precision_top3", "matching_score", "diversity",
                "diversity_distinct_pairs", "multimodality", "multimodality_distinct_pairs", *RIGIDITY}  # fmt: skip
    assert set(result["generated"]) == expected
    assert set(result["real"]) == expected - {"fid", "multimodality", "multimodality_distinct_pairs", *RIGIDITY}
    assert result["generated"]["bone_drift_mm_max"]["mean"] < 1.0  # reconciled motions: one rigid body
    for stats in [*result["generated"].values(), *result["real"].values()]:
        values = np.array(stats["values"])
        assert len(values) == 2 and np.isfinite(values).all()
        assert stats["mean"] == pytest.approx(values.mean())
        assert stats["ci95"] == pytest.approx(1.96 * values.std() / np.sqrt(2))
    top = [result["generated"][f"r_precision_top{k}"]["mean"] for k in (1, 2, 3)]
    assert 0 <= top[0] <= top[1] <= top[2] <= 1
    assert result["fid_real_train_vs_test"] >= -1e-9


def test_protocol_is_reproducible_from_its_seed(setup):
    corpus, pipe, evaluator, _ = setup
    cfg = ProtocolConfig(split="train", repeats=1, clips=32, mm_captions=0, diversity_pairs=20, loader="spans")
    first, again = (run_protocol(pipe, evaluator, corpus, cfg) for _ in range(2))
    assert first["generated"] == again["generated"] and first["real"] == again["real"]
    other = run_protocol(pipe, evaluator, corpus, ProtocolConfig(**{**cfg.__dict__, "seed": 1}))
    assert other["generated"]["fid"]["values"] != first["generated"]["fid"]["values"]


def test_protocol_rejects_splits_smaller_than_a_batch_or_the_diversity_pairs(setup):
    corpus, pipe, evaluator, _ = setup
    with pytest.raises(ValueError, match="at least 32 "):
        run_protocol(pipe, evaluator, corpus, ProtocolConfig(split="zeroshot", repeats=1, diversity_pairs=20))
    with pytest.raises(ValueError, match="at least 300 "):
        run_protocol(pipe, evaluator, corpus, ProtocolConfig(split="train", repeats=1))
    with pytest.raises(ValueError, match="--clips"):
        ProtocolConfig(clips=8)
    with pytest.raises(ValueError, match="--diversity-pairs"):
        ProtocolConfig(clips=64)
    with pytest.raises(ValueError, match="--mm-generations must be at least the 10"):
        ProtocolConfig(mm_generations=5)


def test_zeroshot_scores_both_splits_by_predicates_and_evaluator(setup, tmp_path):
    _, pipe, evaluator, _ = setup
    result = run_zeroshot(pipe, evaluator, clips=32, sampling=SamplingSettings(top_k=20))
    for split in ("test", "zeroshot"):
        assert result[split]["predicates"]["clips"] == 32
        assert result[split]["predicates"]["ground_truth_accuracy"] >= 0.9
        assert {"fid", "r_precision_top3", "matching_score"} <= set(result[split]["generated"])
    ratio = result["zeroshot"]["predicates"]["accuracy"] / result["test"]["predicates"]["accuracy"]
    assert result["zeroshot_vs_test_accuracy"] == pytest.approx(ratio)
    summary = write_results(result, tmp_path, "Zero-shot")
    assert json.loads((tmp_path / "results.json").read_text())["suite"] == "zeroshot"
    assert "| predicate accuracy |" in summary.read_text()


class CaptionFault:
    """The pipeline, raising whenever asked for the first caption it was ever given."""

    def __init__(self, pipe):
        self.pipe, self.bad = pipe, None

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, prompts, **kwargs):
        self.bad = self.bad or prompts[0]
        if self.bad in prompts:
            raise RuntimeError("injected fault on one caption")
        return self.pipe(prompts, **kwargs)


def test_protocol_records_a_fault_on_one_caption_and_goes_on(setup, tmp_path):
    corpus, pipe, evaluator, _ = setup
    faulty = CaptionFault(pipe)
    cfg = ProtocolConfig(split="train", repeats=2, clips=40, mm_captions=2, mm_generations=2, mm_pairs=2,
                         diversity_pairs=20, loader="spans")  # fmt: skip
    result = run_protocol(faulty, evaluator, corpus, cfg)
    assert result["faults"] and all(f["caption"] == faulty.bad and f["stage"] == "generate" for f in result["faults"])
    assert result["faults"][0] == {"where": "run 1", "stage": "generate", "caption": faulty.bad,
                                   "error": "RuntimeError: injected fault on one caption"}  # fmt: skip
    assert result["captions_scored"][0] < 40 and min(result["captions_scored"]) >= 32
    for stats in [*result["generated"].values(), *result["real"].values()]:
        assert stats["mean"] is not None and np.isfinite(stats["values"]).all()
    summary = write_results(result, tmp_path, "Protocol").read_text()
    assert "injected fault on one caption" in summary and "| fid |" in summary


def test_zeroshot_records_a_fault_on_one_caption_and_goes_on(setup, tmp_path):
    _, pipe, evaluator, _ = setup
    faulty = CaptionFault(pipe)
    result = run_zeroshot(faulty, evaluator, clips=33)
    assert result["faults"] and all(f["caption"] == faulty.bad for f in result["faults"])
    test = result["test"]
    assert 0 < test["clips_scored"] < 33 and test["predicates"]["clips"] == test["clips_scored"]
    assert np.isfinite(result["test"]["generated"]["fid"]) and np.isfinite(result["zeroshot"]["generated"]["fid"])
    assert "injected fault on one caption" in write_results(result, tmp_path, "Zero-shot").read_text()


def test_cli_runs_the_protocol_and_reports_bad_input_in_one_line(setup, tmp_path, capsys):
    corpus, _, _, runs = setup
    args = ["eval", "protocol", "--model", str(runs / "pipeline"), "--evaluator", str(runs / "evaluator"),
            "--corpus", str(corpus), "--split", "train", "--repeats", "1", "--mm-captions", "2",
            "--mm-generations", "2", "--mm-pairs", "2", "--diversity-pairs", "20", "--loader", "spans"]  # fmt: skip
    assert main([*args, "--clips", "32", "--out", str(tmp_path / "ok")]) == 0
    summary = (tmp_path / "ok" / "summary.md").read_text()
    assert "| fid |" in summary and "| bone_drift_mm_mean |" in summary and "spans" in summary
    capsys.readouterr()  # progress bars so far
    assert main([*args, "--clips", "4", "--out", str(tmp_path / "bad")]) == 2
    assert main(["eval", "zeroshot", "--evaluator", str(tmp_path / "none"), "--model", str(runs / "pipeline"),
                 "--out", str(tmp_path / "z")]) == 2  # fmt: skip
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("motionmill: error: ") for e in errors)


def test_prompts_suite_writes_outputs_metrics_and_a_rating_report(setup, tmp_path, capsys):
    from motionmill.export.report import read_index

    _, _, _, runs = setup
    prompts = ["a person walks forward", "someone jumps twice", "a man waves with the right hand"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n\n")
    out = tmp_path / "report"
    assert main(["eval", "prompts", str(tmp_path / "prompts.txt"), "--model", str(runs / "pipeline"), "--evaluator",
                 str(runs / "evaluator"), "--seconds", "2", "--top-k", "20", "--out", str(out)]) == 0  # fmt: skip
    result = json.loads((out / "results.json").read_text())
    assert [r["prompt"] for r in result["per_prompt"]] == prompts
    for row in result["per_prompt"]:
        assert abs(row["duration"] - 2) <= 0.2 and row["text_motion_distance"] >= 0
        assert 0 <= row["foot_skating_ratio"] <= 1 and row["penetration_mm"] >= 0
        joints = np.load(out / "motions" / f"{row['id']}.joints.npy")
        assert joints.shape[1:] == (22, 3) and abs((len(joints) - 1) / 30 - row["duration"]) < 1e-6
    assert result["mean"]["duration"] == pytest.approx(np.mean([r["duration"] for r in result["per_prompt"]]))
    assert result["reference"]["foot_skating_ratio"] < 0.05  # the built-in corpus barely skates
    assert [p["prompt"] for p in read_index(out)["prompts"]] == prompts
    assert "motionmill eval serve" in capsys.readouterr().out
