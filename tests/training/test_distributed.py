"""Training on 2 processes under torchrun (gloo on CPU) against 1 process with the same global batch: DDP and FSDP2
give the same losses and weights, sharded checkpoints resume exactly after SIGKILL and on another number of
processes (2 -> 1 -> 2), rank 1 writes nothing but checkpoint shards, and a fault on rank 1 ends the run with its
message and leaves the last checkpoint intact."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from corpus_factory import tiny_runs
from motionmill.cli import main
from motionmill.training.state import export_checkpoint, latest_checkpoint

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

JOB = Path(__file__).with_name("dist_job.py")
STEPS = 50
TOKENIZER = {"model": {"preset": "tiny", "width": 32}, "data": {"window": 32, "eval_clips": 2},
             "train": {"steps": STEPS, "ckpt_every": 10, "log_every": 1}}  # fmt: skip
GENERATOR = {"model": {"preset": "tiny", "n_layer": 2, "dim": 32, "n_head": 2, "length_condition": True},
             "train": {"steps": STEPS, "ckpt_every": 5, "log_every": 1}, "data": {"eval_items": 8}}  # fmt: skip
PER_RANK_BATCH = 4  # a global batch of 8: 2 processes x 4, or 1 process accumulating 2 micro-batches of 4


def _recipe(folder: Path, name: str, base: dict, processes: int, **train) -> Path:
    """A recipe with a global batch of 8. One process accumulates 2 micro-batches of 4 as 2 processes split it:
    the sums of gradients are then the same two-term sums (a batch of 8 in one piece would only agree to the
    rounding of a longer sum, which Adam's per-element scaling turns into weight differences of about 3e-5)."""
    recipe = {**base, "train": {**base["train"], "batch_size": PER_RANK_BATCH, "grad_accum": 2 // processes, **train}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _args(kind: str, recipe: Path, corpus: Path, tokenizer: Path, out: Path) -> list[str]:
    args = ["train", kind, "--config", str(recipe), "--corpus", str(corpus), "--out", str(out)]
    return args + (["--tokenizer", str(tokenizer)] if kind == "generator" else [])


def _launch(args: list[str], processes: int, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, str(JOB), *args]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                   str(processes), str(JOB), *args]  # fmt: skip
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def _run(args: list[str], processes: int, env: dict | None = None, timeout: float = 300) -> str:
    proc = _launch(args, processes, env)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _losses(run: Path) -> dict[int, float]:
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    return {ln["step"]: ln["loss"] for ln in lines if "loss" in ln}


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (torchrun starts each worker in a session of its own, so a process group kill
    would miss them)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += parents.get(tree[-1], [])
    return tree


def _kill_after(args: list[str], processes: int, run: Path, step: int) -> str:
    """Start a slowed run, SIGKILL all its processes once it has logged `step`; returns its output so far."""
    proc = _launch(args, processes, {"JOB_SLOW": "0.05"})
    deadline = time.time() + 240
    while not (run / "metrics.jsonl").is_file() or max(_losses(run), default=0) < step:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "the run did not reach the step in time"
        time.sleep(0.02)
    for pid in reversed(_process_tree(proc.pid)):  # workers first, as when a machine is lost
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    return proc.stdout.read()


def _weights(run: Path, out: Path) -> dict:
    return load_file(str(export_checkpoint(run, out) / "model.safetensors"))


def _assert_same(run: Path, reference: Path, tmp: Path, rtol: float) -> None:
    got, want = _losses(run), _losses(reference)
    assert sorted(got) == list(range(1, STEPS + 1)) == sorted(want)
    loss_gap = max(abs(got[s] - want[s]) / abs(want[s]) for s in want)
    a, b = _weights(run, tmp / f"{run.name}-export"), _weights(reference, tmp / f"{reference.name}-export")
    assert sorted(a) == sorted(b)
    weight_gap = max(float((a[k] - b[k]).abs().max()) for k in a)
    print(f"{run.name} vs {reference.name}: losses {loss_gap:.2e} (relative), weights {weight_gap:.2e}")
    assert loss_gap <= rtol, f"per-step losses differ by up to {loss_gap:.2e} (relative)"
    assert weight_gap <= rtol, f"final weights differ by up to {weight_gap:.2e}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The corpus, a tokenizer, and 1-process reference runs of the tokenizer and the generator."""
    corpus, runs = tiny_runs(tmp_path_factory)
    folder = tmp_path_factory.mktemp("distributed")
    references = {}
    for kind, base in (("tokenizer", TOKENIZER), ("generator", GENERATOR)):
        recipe = _recipe(folder, f"{kind}-1", base, 1)
        references[kind] = folder / f"{kind}-reference"
        assert main(_args(kind, recipe, corpus, runs / "tok", references[kind])) == 0
    return {"corpus": corpus, "tokenizer": runs / "tok", "folder": folder, "references": references, "runs": {}}


def _two_process_run(setup, kind: str, parallel: str, env: dict | None = None) -> Path:
    base = TOKENIZER if kind == "tokenizer" else GENERATOR
    extra = {"activation_checkpointing": True} if (kind, parallel) == ("generator", "fsdp") else {}
    recipe = _recipe(setup["folder"], f"{kind}-{parallel}", base, 2, parallel=parallel, **extra)
    run = setup["folder"] / f"{kind}-{parallel}"
    _run(_args(kind, recipe, setup["corpus"], setup["tokenizer"], run), 2, env)
    setup["runs"][(kind, parallel)] = run
    return run


@pytest.mark.parametrize("kind", ["tokenizer", "generator"])
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_give_the_losses_and_weights_of_one(setup, kind, parallel, tmp_path):
    audit = tmp_path / "writes"
    env = {"JOB_AUDIT": str(audit), "JOB_WATCH": os.pathsep.join([str(setup["folder"]), str(setup["corpus"])])}
    run = _two_process_run(setup, kind, parallel, env)
    _assert_same(run, setup["references"][kind], tmp_path, rtol=1e-5)
    assert (audit.parent / "writes.1").read_text() == "", "rank 1 wrote files other than checkpoint shards"
    shards = sorted(p.name for p in (run / "checkpoint" / "state").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"]


def test_the_evaluator_sees_the_negatives_of_the_whole_global_batch(setup, tmp_path):
    """Its contrastive loss gathers every rank's embeddings (with mirror pairs and changed-detail captions, which
    differ in number between ranks): 2 processes x 4 give the losses of 1 process with batches of 8 (accumulating
    micro-batches would not, since negatives come from within a batch). Dropout off: its masks differ by rank."""
    base = {"model": {"preset": "tiny", "dropout": 0.0}, "data": {"eval_items": 16, "mirror_pairs": True,
            "detail_negatives": True}, "train": {"steps": 20, "ckpt_every": 10, "log_every": 1}}  # fmt: skip
    runs = {}
    for processes in (1, 2):
        recipe = tmp_path / f"evaluator-{processes}.yaml"
        recipe.write_text(yaml.safe_dump({**base, "train": {**base["train"], "batch_size": 8 // processes}}))
        runs[processes] = tmp_path / f"evaluator-{processes}"
        _run(_args("evaluator", recipe, setup["corpus"], setup["tokenizer"], runs[processes]), processes)
    got, want = _losses(runs[2]), _losses(runs[1])
    assert sorted(got) == sorted(want) == list(range(1, 21))
    gap = max(abs(got[s] - want[s]) / abs(want[s]) for s in want)
    print(f"evaluator, 2 processes vs 1: losses {gap:.2e} (relative)")
    assert gap <= 1e-5


def test_sigkill_of_a_two_process_fsdp_run_then_resume_is_exact(setup, tmp_path):
    uninterrupted = setup["runs"].get(("generator", "fsdp")) or _two_process_run(setup, "generator", "fsdp")
    recipe = _recipe(setup["folder"], "generator-fsdp", GENERATOR, 2, parallel="fsdp", activation_checkpointing=True)
    run = tmp_path / "killed"
    args = _args("generator", recipe, setup["corpus"], setup["tokenizer"], run)
    kill_at = int(np.random.default_rng(int(time.time())).integers(8, 45))
    print(f"killed after step {kill_at}")
    _kill_after(args, 2, run, kill_at)
    assert latest_checkpoint(run) is not None and not (run / "checkpoint.old").exists()
    _run(args, 2)
    _assert_same(run, uninterrupted, tmp_path, rtol=1e-6)


def test_a_run_resumes_on_one_process_then_on_two(setup, tmp_path):
    """2 processes (per-rank batch 4), killed; 1 process, which keeps the global batch of 8 by accumulating 2
    micro-batches of 4, killed; 2 processes again to the end: the losses and weights of one process throughout."""
    recipe = _recipe(setup["folder"], "generator-fsdp", GENERATOR, 2, parallel="fsdp", activation_checkpointing=True)
    run = tmp_path / "moved"
    args = _args("generator", recipe, setup["corpus"], setup["tokenizer"], run)
    _kill_after(args, 2, run, 12)
    assert "grad_accum 2, which keeps the global batch of 8" in _kill_after(args, 1, run, 27)
    assert (run / "checkpoint" / "model.safetensors").is_file()  # written by the 1-process part
    _run(args, 2)
    _assert_same(run, setup["references"]["generator"], tmp_path, rtol=1e-5)


def test_a_fault_on_rank_1_stops_every_rank_and_keeps_the_last_checkpoint(setup, tmp_path):
    recipe = _recipe(setup["folder"], "generator-ddp", GENERATOR, 2, parallel="ddp")
    run = tmp_path / "faulty"
    proc = _launch(_args("generator", recipe, setup["corpus"], setup["tokenizer"], run), 2,
                   {"JOB_FAIL_RANK": "1", "JOB_FAIL_STEP": "17"})  # fmt: skip
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert "injected fault on rank 1 at step 17" in out
    assert max(_losses(run)) == 16
    checkpoint = latest_checkpoint(run)
    assert checkpoint == run / "checkpoint" and not (run / ".checkpoint.tmp").exists()
    import torch

    assert torch.load(checkpoint / "trainer.pt", weights_only=True)["step"] == 15
    assert len(_weights(run, tmp_path / "export")) > 0
