import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from toy_run import ToyData, make_model, run, save_model, task

from motionmill.training.loop import TrainConfig, TrainingDiverged, train
from motionmill.training.schedule import lr_at

SCRIPT = Path(__file__).with_name("toy_run.py")


def _losses(run_dir):
    lines = [json.loads(ln) for ln in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return {ln["step"]: ln["loss"] for ln in lines if "loss" in ln}


def _weights(run_dir):
    return load_file(str(Path(run_dir) / "checkpoint" / "model.safetensors"))


def test_loss_decreases(tmp_path):
    _, result = run(tmp_path, 40)
    losses = _losses(tmp_path)
    assert result["step"] == 40 and len(losses) == 40
    assert np.mean([losses[s] for s in range(36, 41)]) < 0.3 * np.mean([losses[s] for s in range(1, 6)])


def test_tensorboard_events_are_written_when_installed(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logging needs the [tensorboard] extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tmp_path, 5)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = [e.value for e in events.Scalars("loss")]
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3, 4, 5]
    assert np.allclose(losses, [_losses(tmp_path)[s] for s in range(1, 6)], rtol=1e-6)


def test_checkpoint_file_set(tmp_path):
    run(tmp_path, 5)
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        "model.safetensors",
        "state",
        "trainer.pt",
    ]
    assert not (tmp_path / "checkpoint.old").exists() and not (tmp_path / ".checkpoint.tmp").exists()


def _wait_for_step(run_dir, step, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        path = Path(run_dir) / "metrics.jsonl"
        if path.exists() and len(path.read_text().splitlines()) >= step:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    raise AssertionError("the run did not reach the step in time")


@pytest.mark.parametrize("kill_at", [int(s) for s in np.random.default_rng(7).integers(5, 27, 2)])
def test_sigkill_then_resume_is_exact(tmp_path, kill_at):
    steps = 30
    run(tmp_path / "clean", steps)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "killed"), str(steps)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for_step(tmp_path / "killed", kill_at, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, result = run(tmp_path / "killed", steps)  # resumes from the last checkpoint before the kill
    assert result["step"] == steps
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "clean")
    clean, resumed = _weights(tmp_path / "clean"), _weights(tmp_path / "killed")
    assert all(torch.equal(clean[k], resumed[k]) for k in clean)


def test_sigterm_saves_a_checkpoint_and_the_run_continues_exactly(tmp_path):
    steps = 30
    run(tmp_path / "clean", steps)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "stopped"), str(steps)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for_step(tmp_path / "stopped", 6, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped by SIGTERM" in out
    trainer = torch.load(tmp_path / "stopped" / "checkpoint" / "trainer.pt", weights_only=True)
    assert trainer["step"] == max(_losses(tmp_path / "stopped"))  # checkpointed at the step it stopped
    run(tmp_path / "stopped", steps)
    assert _losses(tmp_path / "stopped") == _losses(tmp_path / "clean")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def exploding(model, batch):
        calls["n"] += 1
        loss, logs = task(model, batch)
        return (loss * float("nan") if calls["n"] > 9 else loss), logs

    cfg = TrainConfig(steps=20, batch_size=8, ckpt_every=4, log_every=1)
    with pytest.raises(TrainingDiverged, match="step 10.*checkpoint"):
        train(make_model(), exploding, ToyData(), cfg, tmp_path, save_model=save_model, progress=False)
    trainer = torch.load(tmp_path / "checkpoint" / "trainer.pt", weights_only=True)
    assert trainer["step"] == 8
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path).values())


def test_gradient_accumulation_matches_a_big_batch(tmp_path):
    big = TrainConfig(steps=3, batch_size=16, lr=1e-2, warmup_steps=0, log_every=1, grad_clip=0)
    accum = TrainConfig(steps=3, batch_size=8, grad_accum=2, lr=1e-2, warmup_steps=0, log_every=1, grad_clip=0)

    def plain(model, batch):  # no dropout/noise: the two runs see the same data in the same order
        return torch.nn.functional.mse_loss(model[3](model[1](model[0](batch["x"]))), batch["y"]), {}

    m1, m2 = make_model(), make_model()
    train(m1, plain, ToyData(), big, tmp_path / "a", save_model=save_model, progress=False)
    train(m2, plain, ToyData(), accum, tmp_path / "b", save_model=save_model, progress=False)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-6)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), rel=1e-6)


def test_micro_batches_are_weighted_by_what_their_loss_averages_over(tmp_path):
    """A task that reports its weight (here a per-item count, as scored tokens are for the generator) gets the
    weighted mean over the whole step, not the mean of its micro-batches' means."""
    cfg = TrainConfig(steps=1, batch_size=2, grad_accum=2, lr=1e-2, warmup_steps=0, log_every=1, grad_clip=0)
    counts = torch.tensor([1.0, 5.0, 2.0, 2.0])

    class Counted(ToyData):
        def __getitem__(self, i):
            return {**super().__getitem__(i), "count": counts[i]}

    def weighted_loss(model, x, y, count):
        err = (model[3](model[1](model[0](x))) - y).square()[:, 0]
        return (err * count).sum() / count.sum()

    def task(model, batch):
        return weighted_loss(model, batch["x"], batch["y"], batch["count"]), {}, float(batch["count"].sum())

    trained, reference = make_model(), make_model()
    data = Counted(n=4)
    train(trained, task, data, cfg, tmp_path, save_model=save_model, progress=False, lengths=[1, 1, 1, 1])
    loss = weighted_loss(reference, data.x, data.y, counts)
    assert _losses(tmp_path)[1] == pytest.approx(loss.item(), rel=1e-6)
    loss.backward()
    torch.optim.AdamW(reference.parameters(), lr=1e-2, betas=cfg.betas, weight_decay=0.0).step()
    for p1, p2 in zip(trained.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p1, p2, atol=1e-6)


def test_schedule_warms_up_then_decays_to_the_floor_and_never_rises():
    lrs = [lr_at(s, 1.0, 10, 100, 0.1) for s in range(200)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    after = np.array(lrs[9:])
    assert (np.diff(after) <= 1e-12).all()
    assert lrs[100] == pytest.approx(0.1) and lrs[199] == pytest.approx(0.1)


def test_config_errors_name_the_flag():
    with pytest.raises(ValueError, match="--lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="--precision"):
        TrainConfig(precision="fp8")
