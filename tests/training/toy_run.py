"""A tiny regression run driven by the real training loop; used by the resume tests (also as a subprocess).

Usage: python toy_run.py RUN_DIR STEPS
"""

import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from motionmill.training.loop import TrainConfig, train


class ToyData(torch.utils.data.Dataset):
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 1))


def task(model, batch):
    # dropout and this noise use the global torch RNG, so resume must restore it
    noise = 0.01 * torch.randn_like(batch["y"])
    loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"] + noise)
    return loss, {"noise": noise.abs().mean().item()}


def save_model(model, folder: Path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))


def slow_task(model, batch):
    time.sleep(0.03)  # lets a test kill the process mid-run; the numbers are the same as `task`
    return task(model, batch)


def run(run_dir, steps, task_fn=task, **overrides):
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, warmup_steps=3, ckpt_every=4, log_every=1, **overrides)
    model = make_model()
    return model, train(model, task_fn, ToyData(), cfg, run_dir, save_model=save_model, progress=False)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), task_fn=slow_task)
