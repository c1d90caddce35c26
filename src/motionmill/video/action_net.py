"""A per-frame action classifier over body-relative motion features: a stack of dilated 1D convolutions.

Each frame gets four estimates: the action of the whole body (a catalogue action such as "walk" or "squat"), the
upper-body action layered on it ("none", "wave", ...), the rate of repetitions (per second: summed over a part and
divided by the frame rate, it counts the jumps, squats or punches of the part) and the side doing a one-sided action
("left", "right", "both"). The receptive field is about two seconds at 30 fps (kernel 5,
dilations 1, 2, 4, 8: 61 frames), long enough to see one cycle of a gait or a repetition, short enough to follow
one action after another. Convolutions are centred (the whole clip is known when it is captioned).

Imports only torch. Shape legend: B batch, T frames, F features, C channels, A actions, L layer labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ActionNet", "ActionNetConfig"]


@dataclass(frozen=True)
class ActionNetConfig:
    features: int = 136
    actions: int = 47
    layers: int = 20
    """Labels of the layered upper-body action, "none" included."""
    sides: int = 3
    width: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    kernel: int = 5
    dropout: float = 0.1


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each frame: a frame's output never depends on the clip's length or padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    """Residual block: norm, dilated convolution, GELU, pointwise convolution."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = _ChannelNorm(width)
        self.conv = nn.Conv1d(width, width, kernel, padding=dilation * (kernel // 2), dilation=dilation,
                              padding_mode="replicate")  # fmt: skip
        self.mix = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return x + self.drop(self.mix(nn.functional.gelu(self.conv(self.norm(x)))))


class ActionNet(nn.Module):
    def __init__(self, config: ActionNetConfig):
        super().__init__()
        self.config = config
        self.inp = nn.Conv1d(config.features, config.width, 1)
        self.blocks = nn.ModuleList(_Block(config.width, config.kernel, d, config.dropout) for d in config.dilations)
        self.norm = _ChannelNorm(config.width)
        self.action_head = nn.Conv1d(config.width, config.actions, 1)
        self.layer_head = nn.Conv1d(config.width, config.layers, 1)
        self.rate_head = nn.Conv1d(config.width, 1, 1)
        self.side_head = nn.Conv1d(config.width, config.sides, 1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """features (B, T, F), normalised -> action logits (B, T, A), layer logits (B, T, L), repetitions per
        second (B, T), never negative, and side logits (B, T, S)."""
        x = self.inp(features.transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        rate = nn.functional.softplus(self.rate_head(x))[:, 0]
        return (
            self.action_head(x).transpose(1, 2),
            self.layer_head(x).transpose(1, 2),
            rate,
            self.side_head(x).transpose(1, 2),
        )
