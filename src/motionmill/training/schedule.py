"""Learning-rate schedule: linear warmup, cosine decay to a floor, then the floor forever.

MotionMillion's schedule could rise again after its cosine period and was multiplied per process
(docs/models.md, "Defects we fix"); this one is a pure function of the step, monotone after warmup.
"""

from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(step: int, base_lr: float, warmup_steps: int, decay_steps: int, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Args:
        step: the step about to be taken.
        base_lr: peak learning rate, reached at the end of warmup.
        warmup_steps: steps of linear warmup from base_lr / warmup_steps.
        decay_steps: the step at which the cosine reaches the floor (usually the total step count).
        min_lr_ratio: the floor as a fraction of base_lr.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    floor = base_lr * min_lr_ratio
    span = max(decay_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
