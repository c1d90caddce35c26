"""Finite Scalar Quantization (Mentzer et al., "FSQ: VQ-VAE Made Simple", ICLR 2024, arXiv:2309.15505).

Each of d = len(levels) latent dims is squashed with tanh into its level range and rounded; the code is the tuple
of rounded values and the index is that tuple read as a mixed-radix number, first level least significant (the
reference convention, so indices match released MotionMillion tokens). The codebook is implicit: its size is the
product of the levels (64,000 for [8, 8, 8, 5, 5, 5], which MotionMillion calls "65536").

Even levels: bound() shifts the range by 0.5 so that rounding yields L integers q in [-L/2, L/2 - 1]; the code is
q / floor(L/2), so for L = 8 the codes are {-1, -0.75, ..., 0.75} and the level index is q + L/2 in [0, L).

Legend: B batch, N tokens, D model width, d = len(levels).
"""

import math

import torch
from torch import nn

__all__ = ["FSQ"]


def round_ste(z: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass (straight-through estimator)."""
    return z + (z.round() - z).detach()


class FSQ(nn.Module):
    """Project D -> d, quantise each dim to its level set, project d -> D.

    Args:
        levels: number of levels per latent dim, each >= 2.
        dim: width D of the features around the quantiser.
    """

    def __init__(self, levels: list[int], dim: int):
        super().__init__()
        if not levels or any(int(level) < 2 for level in levels):
            raise ValueError(f"levels must be a non-empty list of integers >= 2, got {levels}")
        # Plain tuples, not buffers: nothing to save, and a model built on the meta device needs no re-init.
        self.levels = tuple(int(level) for level in levels)
        self.basis = tuple(math.prod(self.levels[:i]) for i in range(len(self.levels)))
        self.codebook_size = math.prod(self.levels)
        self.project_in = nn.Linear(dim, len(self.levels))
        self.project_out = nn.Linear(len(self.levels), dim)

    def _table(self, values: tuple[int, ...], like: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=like.device)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """(..., d) latents -> (..., d) fp32 codes in [-1, 1], always computed in fp32 (or fp64)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            if z.dtype not in (torch.float32, torch.float64):
                z = z.float()
            levels = self._table(self.levels, z, z.dtype)
            half = (levels - 1) * (1 + 1e-3) / 2  # 1e-3 slack so tanh can reach the outermost level
            offset = (levels % 2 == 0).to(z.dtype) * 0.5  # even L: centre the range between two integers
            shift = torch.atanh(offset / half)  # keeps bound(0) = 0 after the offset
            bounded = torch.tanh(z + shift) * half - offset
            return round_ste(bounded) / torch.div(levels, 2, rounding_mode="floor")

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., d) codes -> (...,) int64 indices in [0, codebook_size)."""
        half = self._table(self.levels, codes).div(2, rounding_mode="floor")
        # round(): codes such as q / 3 are inexact in floating point; truncation would lose one level.
        level_idx = torch.round(codes.float() * half + half).long()
        return (level_idx * self._table(self.basis, codes, torch.long)).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) integer indices -> (..., d) fp32 codes (the inverse of `codes_to_indices`)."""
        if indices.dtype.is_floating_point:
            raise TypeError(f"indices must be an integer tensor, got {indices.dtype}")
        levels = self._table(self.levels, indices, torch.long)
        level_idx = (indices.long().unsqueeze(-1) // self._table(self.basis, indices, torch.long)) % levels
        half = levels // 2
        return (level_idx - half).float() / half.float()

    def dequantize(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, N) indices -> (B, D, N) quantised features, as `forward` returns them."""
        codes = self.indices_to_codes(indices).to(self.project_out.weight.dtype)  # (B, N, d)
        return self.project_out(codes).transpose(1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Channels-first (B, D, N) features -> (quantised (B, D, N), indices (B, N) int64)."""
        codes = self.quantize(self.project_in(z.transpose(1, 2)))  # (B, N, d) fp32
        indices = self.codes_to_indices(codes.detach())  # (B, N)
        out = self.project_out(codes.to(self.project_out.weight.dtype))  # autocast still applies here
        return out.transpose(1, 2), indices
