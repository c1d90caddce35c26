"""The prompts suite with the built-in model: MotionMillion-Eval's 126 prompts run to the end, a killed run resumes
without redoing finished prompts, one prompt's fault is one failed row, and defects are reported as such."""

import json
from importlib import resources

import numpy as np
import pytest

from motionmill.cli import main
from motionmill.eval import benchmark
from motionmill.eval.benchmark import run_prompts, write_results
from motionmill.inference.evaluator import evaluator_from_spec
from motionmill.inference.pipeline import TextToMotion
from motionmill.inference.settings import SamplingSettings

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

FAST = SamplingSettings(candidates=1)
PROMPTS = ["a person walks forward", "Jump high", "Snap fingers", "someone waves with the right hand", "Bow",
           "a man squats twice"]  # fmt: skip


@pytest.fixture(scope="module")
def builtin():
    return TextToMotion.from_pretrained("builtin"), evaluator_from_spec("builtin"), benchmark.reference_physics(5)


class Counting:
    """The pipeline, counting generation calls; raises `fail_with` for a prompt in `fail_on`, and a kill
    (KeyboardInterrupt) once `kill_after` calls have finished."""

    def __init__(self, pipe, fail_on=(), fail_with=RuntimeError, kill_after=None):
        self.pipe, self.calls, self.fail_on, self.fail_with, self.kill_after = pipe, [], fail_on, fail_with, kill_after

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, prompts, **kwargs):
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            raise KeyboardInterrupt
        self.calls.append(list(prompts))
        if any(p in self.fail_on for p in prompts):
            raise self.fail_with("injected generation fault")
        return self.pipe(prompts, **kwargs)


def _comparable(result):
    return [{k: v for k, v in row.items()} for row in result["per_prompt"]], result["mean"], result["groups"]


def test_motionmillion_eval_runs_to_the_end_with_groups_and_flags(tmp_path, capsys):
    shipped = resources.files("motionmill") / "assets" / "motionmillion_eval" / "infer_batch_prompt.txt"
    prompts_file = tmp_path / "infer_batch_prompt.txt"
    prompts_file.write_bytes(shipped.read_bytes())
    assert len(prompts_file.read_text(encoding="utf-8").splitlines()) == 126
    out = tmp_path / "mmeval"
    assert main(["eval", "prompts", str(prompts_file), "--out", str(out), "--candidates", "1", "--seconds", "1"]) == 0
    assert len(list((out / "motions").glob("*.joints.npy"))) == 126
    assert (out / "report.html").is_file()
    result = json.loads((out / "results.json").read_text())
    assert result["prompts"] == 126 and result["failed"] == 0 and len(result["per_prompt"]) == 126
    counts = {g["group"]: g["prompts"] for g in result["groups"]}
    assert counts == {"long scripts": 18, "role and activity": 19, "short imperatives": 10,
                      "compositional sentences": 37, "atomic verbs": 42,
                      "flagged (body cannot show)": result["flagged"]}  # fmt: skip
    flagged = {r["prompt"] for r in result["per_prompt"] if r["unshowable"]}
    assert {"Snap fingers", "Wink quickly"} <= flagged and "Jump high" not in flagged
    for group in result["groups"][:5]:  # flagged prompts stay out of their group's figures
        assert group["scored"] == group["prompts"] - group["flagged"]
        assert group["mean"]["text_motion_distance"] is not None and group["mean"]["duration"] > 0
    summary = (out / "summary.md").read_text()
    for name in ("long scripts", "role and activity", "short imperatives", "compositional sentences", "atomic verbs",
                 "flagged (body cannot show)"):  # fmt: skip
        assert f"| {name} |" in summary
    page = (out / "report.html").read_text()
    assert "the body cannot show this (fingers: fingers)" in page and "group: atomic verbs" in page


def test_motions_a_few_frames_long_are_scored_with_the_too_short_mark(builtin, tmp_path):
    """The original failure: a motion of 3 frames broke foot skating and lost the whole run."""
    pipe, evaluator, reference = builtin
    result = run_prompts(pipe, evaluator, ["Jump high", "Bow"], tmp_path, seconds=0.1, reference=reference,
                         sampling=FAST)  # fmt: skip
    for row in result["per_prompt"]:
        assert row["status"] == "ok" and row["frames"] >= 2 and not row["errors"]
        assert 0 <= row["foot_skating_ratio"] <= 1
        for name in ("jitter_mm", "mean_jerk"):
            assert (row[name] is None) == (name in row.get("too_short", {}))
    write_results(result, tmp_path, "short")
    assert "| atomic verbs |" not in (tmp_path / "summary.md").read_text()  # no group column, not MotionMillion-Eval


def test_a_killed_run_resumes_and_generates_only_the_missing_prompts(builtin, tmp_path):
    pipe, evaluator, reference = builtin
    whole = Counting(pipe)
    expected = run_prompts(whole, evaluator, PROMPTS, tmp_path / "whole", seconds=1, reference=reference,
                           sampling=FAST)  # fmt: skip
    assert len(whole.calls) == len(PROMPTS)

    killed = Counting(pipe, kill_after=3)
    with pytest.raises(KeyboardInterrupt):
        run_prompts(killed, evaluator, PROMPTS, tmp_path / "resumed", seconds=1, reference=reference, sampling=FAST)
    assert len(list((tmp_path / "resumed" / benchmark.RECORDS).glob("*.json"))) == 3
    again = Counting(pipe)
    resumed = run_prompts(again, evaluator, PROMPTS, tmp_path / "resumed", seconds=1, reference=reference,
                          sampling=FAST)  # fmt: skip
    assert again.calls == [[p] for p in PROMPTS[3:]] and resumed["generated_this_run"] == 3
    assert _comparable(resumed) == _comparable(expected)
    for row in expected["per_prompt"]:
        name = f"{row['id']}.joints.npy"
        assert np.array_equal(np.load(tmp_path / "whole" / "motions" / name),
                              np.load(tmp_path / "resumed" / "motions" / name))  # fmt: skip
    done = Counting(pipe)
    assert _comparable(run_prompts(done, evaluator, PROMPTS, tmp_path / "resumed", seconds=1, reference=reference,
                                   sampling=FAST)) == _comparable(expected) and done.calls == []  # fmt: skip
    other = Counting(pipe)  # other settings: the records do not apply, every prompt is generated again
    run_prompts(other, evaluator, PROMPTS[:2], tmp_path / "resumed", seconds=1, seed=5, reference=reference,
                sampling=FAST)  # fmt: skip
    assert len(other.calls) == 2


class FailingEvaluator:
    """The evaluator, raising on the motion embedding of the `fail_at`-th motion it sees."""

    def __init__(self, evaluator, fail_at):
        self.evaluator, self.fail_at, self.seen = evaluator, fail_at, 0

    def text_embeddings(self, texts):
        return self.evaluator.text_embeddings(texts)

    def motion_embeddings(self, motions):
        self.seen += len(motions)
        if self.seen > self.fail_at >= self.seen - len(motions):
            raise FloatingPointError("injected metric fault")
        return self.evaluator.motion_embeddings(motions)


def test_a_prompt_whose_generation_or_metric_raises_is_one_failed_row(builtin, tmp_path):
    pipe, evaluator, reference = builtin
    faulty = Counting(pipe, fail_on={"Jump high"})
    lines = [f"{p}\t{'verbs' if len(p.split()) < 3 else 'sentences'}" for p in PROMPTS]
    result = run_prompts(faulty, FailingEvaluator(evaluator, fail_at=3), lines, tmp_path, seconds=1,
                         reference=reference, sampling=FAST)  # fmt: skip
    rows = {r["prompt"]: r for r in result["per_prompt"]}
    assert len(rows) == len(PROMPTS) and result["failed"] == 1
    assert rows["Jump high"]["status"] == "failed"
    assert rows["Jump high"]["errors"] == {"generate": "RuntimeError: injected generation fault"}
    hit = [r for r in result["per_prompt"] if "text_motion_distance" in r["errors"]]
    assert len(hit) == 1 and hit[0]["status"] == "ok" and hit[0]["text_motion_distance"] is None
    assert hit[0]["errors"]["text_motion_distance"] == "FloatingPointError: injected metric fault"
    assert all(r["foot_skating_ratio"] is not None for r in result["per_prompt"] if r["status"] == "ok")
    assert {g["group"]: (g["prompts"], g["failed"]) for g in result["groups"]} == {
        "sentences": (3, 0),
        "verbs": (3, 1),
        "flagged (body cannot show)": (1, 0),
    }
    summary = write_results(result, tmp_path, "faults").read_text()
    assert "RuntimeError: injected generation fault" in summary and "| verbs | 3 |" in summary
    page = (tmp_path / "report.html").read_text()
    assert "1 prompt(s) produced no motion" in page and "injected generation fault" in page
    index = json.loads((tmp_path / "index.json").read_text())
    assert [f["prompt"] for f in index["failed"]] == ["Jump high"] and len(index["prompts"]) == len(PROMPTS) - 1


def test_ratings_given_appear_per_group_on_the_next_run(builtin, tmp_path):
    from motionmill.serve.ratings import RatingStore

    pipe, evaluator, reference = builtin
    lines = ["Jump high\tverbs", "a man squats twice\tsentences"]
    first = run_prompts(pipe, evaluator, lines, tmp_path, seconds=1, reference=reference, sampling=FAST)
    assert all(g["ratings"] == 0 for g in first["groups"])
    store = RatingStore.for_report(tmp_path)
    for score in (2, 4):
        store.add({"prompt_id": first["per_prompt"][0]["id"], "rater": "r", "text_alignment": score,
                   "naturalness": 3, "plausibility": 5})  # fmt: skip
    again = run_prompts(pipe, evaluator, lines, tmp_path, seconds=1, reference=reference, sampling=FAST)
    verbs = next(g for g in again["groups"] if g["group"] == "verbs")
    assert verbs["ratings"] == 2 and verbs["mean_ratings"]["text_alignment"] == 3.0
    summary = write_results(again, tmp_path, "rated").read_text()
    assert "| verbs | 1 | 1 | 0 | 0 |" in summary and "| 2 | 3.00 | 3.00 | 5.00 |" in summary


def test_a_defect_is_reported_as_an_internal_error_with_its_stage(monkeypatch, tmp_path, capsys):
    from motionmill.eval.faults import in_stage

    def broken(*args, **kwargs):
        with in_stage("report", "results/x"):
            raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(benchmark, "run_prompts", broken)
    monkeypatch.setattr(TextToMotion, "from_pretrained", classmethod(lambda cls, *a, **k: None))
    (tmp_path / "p.txt").write_text("Bow\n")
    assert main(["eval", "prompts", str(tmp_path / "p.txt"), "--out", str(tmp_path / "o")]) == 70
    err = capsys.readouterr().err.strip()
    assert err == ("motionmill: internal error in report on results/x: ValueError: operands could not be broadcast "
                   "together; rerun with --debug for the traceback, and report it")  # fmt: skip

    def crash(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(benchmark, "run_prompts", crash)
    assert main(["eval", "prompts", str(tmp_path / "p.txt"), "--out", str(tmp_path / "o")]) == 70
    assert "internal error in eval prompts on its input: ZeroDivisionError" in capsys.readouterr().err
    assert main(["eval", "prompts", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("motionmill: error: ")


def test_a_process_killed_mid_run_resumes_from_its_records(builtin, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    pipe, evaluator, _ = builtin
    (tmp_path / "p.txt").write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "motionmill.cli", "eval", "prompts", str(tmp_path / "p.txt"), "--out", str(out),
               "--seconds", "1", "--candidates", "1"]  # fmt: skip
    # one torch thread, as in this process (conftest): float sums in another order differ in the last bits
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while len(list((out / benchmark.RECORDS).glob("*.json"))) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list((out / benchmark.RECORDS).glob("*.json")))
    assert 3 <= done < len(PROMPTS)
    reference = benchmark.reference_physics()  # what the command compares with
    again = Counting(pipe)
    resumed = run_prompts(again, evaluator, PROMPTS, out, seconds=1, reference=reference, sampling=FAST)
    assert len(again.calls) == len(PROMPTS) - done
    expected = run_prompts(pipe, evaluator, PROMPTS, tmp_path / "whole", seconds=1, reference=reference,
                           sampling=FAST)  # fmt: skip
    assert _comparable(resumed) == _comparable(expected)


class Raw:
    """The pipeline, returning the decoded features as predicted (`raw=True`), not reconciled."""

    def __init__(self, pipe):
        self.pipe = pipe

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, prompts, **kwargs):
        return self.pipe(prompts, raw=True, **kwargs)


def test_rigidity_figures_are_those_of_the_written_motions(builtin, tmp_path):
    from motionmill.export.formats import read_motion
    from motionmill.motion.reconcile import rigidity_report

    pipe, evaluator, reference = builtin
    prompts = ["a person walks forward", "a man squats twice"]
    drift = {}
    for name, model in (("reconciled", pipe), ("raw", Raw(pipe))):
        out = tmp_path / name
        summary = write_results(run_prompts(model, evaluator, prompts, out, seconds=2, reference=reference,
                                            sampling=FAST), out, name).read_text()  # fmt: skip
        saved = json.loads((out / "results.json").read_text())
        for row in saved["per_prompt"]:
            written = rigidity_report(read_motion(out / "motions" / f"{row['id']}.npy"))
            assert row["bone_drift_mm"] == pytest.approx(written["bone_drift_mm"], rel=1e-6, abs=1e-6)
            assert row["output_agreement_mm"] == pytest.approx(written["output_agreement_mm"], rel=1e-6, abs=1e-6)
        drift[name] = [max(r["bone_drift_mm"], r["output_agreement_mm"]) for r in saved["per_prompt"]]
        assert saved["mean"]["bone_drift_mm"] == pytest.approx(
            np.mean([r["bone_drift_mm"] for r in saved["per_prompt"]])
        )
        assert "bone_drift_mm" in summary and "output_agreement_mm" in summary
    assert max(drift["reconciled"]) < 1.0 and min(drift["raw"]) > 1.0
