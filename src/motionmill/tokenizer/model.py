"""The FSQ motion tokenizer: a non-causal 1-D conv autoencoder over normalised motion features with an FSQ bottleneck.

Architecture of MotionMillion ("Go to Zero", Fan et al., ICCV 2025), itself the T2M-GPT VQ-VAE (Zhang et al., CVPR
2023) with pre-norm LayerNorm residual blocks and FSQ instead of a learned codebook; see docs/models.md and
github.com/VankouF/MotionMillion-Codes (models/encdec.py, models/resnet.py); `checkpoints/convert_motionmillion.py` maps
their weights here.
The released tokenizer is the `base` preset: width 512, one x2 temporal downsampling (30 fps -> 15 tokens/s),
levels [8, 8, 8, 5, 5, 5] (64,000 codes), 11.35 M parameters.

Padding: every temporal convolution multiplies its input by the frame (or token) mask, so padded positions act
exactly like the zero padding at the end of an unpadded clip. A clip therefore gets the same tokens whether it is
encoded alone or padded inside a batch (see `encode`); with no mask the model is the released function.

Legend: B batch, T frames, F features, W width, N tokens, d = len(levels).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

from motionmill.tokenizer.fsq import FSQ

__all__ = [
    "EFFECTOR_CHANNELS",
    "EFFECTOR_JOINTS",
    "LOSS_BLOCKS",
    "PAD_ID",
    "PRESETS",
    "MotionTokenizer",
    "TokenizerConfig",
    "haar_split",
    "haar_merge",
]

PAD_ID = -1
"""Token id at padded positions in `encode` output; `decode` treats negative ids as padding."""

LATENT_BOUND = 3.0
"""Latents beyond +-3 (tanh 0.995) only saturate; see `TokenizerConfig.latent_bound_weight`."""

TRAJECTORY_FRAMES = 30
"""The trajectory term divides its running sums by one second of frames at 30 fps: errors per second."""

LOSS_BLOCKS = (
    ("root_velocity", 0, 2),
    ("heading_delta", 2, 8),
    ("positions", 8, 74),
    ("velocities", 74, 140),
    ("rotations", 140, 272),
)
"""Feature blocks of the 272-dim layout (docs/representation.md) that can carry an extra loss weight `<name>_weight`."""

EFFECTOR_JOINTS = (7, 8, 10, 11, 20, 21)
"""SMPL-22 ankles, feet and wrists (left, right each)."""

EFFECTOR_CHANNELS = tuple(8 + 3 * joint + axis for joint in EFFECTOR_JOINTS for axis in range(3))
"""Their local positions in the 272-dim layout, where joint j's position is features [8 + 3j : 11 + 3j]."""


@dataclass
class TokenizerConfig:
    """Shape and loss of a `MotionTokenizer`. Defaults are the `tiny` preset."""

    feature_dim: int = 272
    """Features per frame F (--feature-dim)."""
    width: int = 128
    """Channels W of every conv layer (--width)."""
    down_t: int = 1
    """Number of x2 temporal downsamplings (--down-t); tokens/s = fps / 2**(down_t + haar)."""
    depth: int = 3
    """Residual blocks per ResStack (--depth)."""
    dilation_growth: int = 3
    """Dilations are growth**(depth-1), ..., growth, 1 (9, 3, 1 by default) (--dilation-growth)."""
    levels: tuple[int, ...] = (8, 5, 5, 5)
    """FSQ levels per latent dim; the codebook size is their product (--levels)."""
    haar: bool = False
    """Split frames into low/high Haar bands (channels x2, frames /2) before the encoder (--haar). Not their
    "wavelet patcher", which is an identity at the released patch size 1."""
    recon_weight: float = 1.0
    """Weight of SmoothL1 over all features (--recon-weight)."""
    root_velocity_weight: float = 0.0
    """Extra SmoothL1 weight on [0:2], root XZ velocity (--root-velocity-weight)."""
    heading_delta_weight: float = 0.0
    """Extra SmoothL1 weight on [2:8], heading change (--heading-delta-weight)."""
    positions_weight: float = 0.5
    """Extra SmoothL1 weight on [8:74], local joint positions; MotionMillion's "--loss-vel 0.5" (--positions-weight)."""
    velocities_weight: float = 0.0
    """Extra SmoothL1 weight on [74:140], joint velocities (--velocities-weight)."""
    rotations_weight: float = 0.0
    """Extra SmoothL1 weight on [140:272], 6D rotations (--rotations-weight)."""
    trajectory_weight: float = 0.0
    """Weight of SmoothL1 on the running sums of the root velocity and heading change errors [0:8], i.e. on the
    drift of the decoded path and facing (--trajectory-weight). Per-frame SmoothL1 lets a rare turn decode as no
    turn (beyond beta it is L1, whose best constant is the median, 0); its running sum does not."""
    effectors_weight: float = 0.0
    """Extra SmoothL1 weight on the local positions of the ankles, feet and wrists, `EFFECTOR_CHANNELS`
    (--effectors-weight). A punch or a kick moves only these few of the 272 channels, so in the mean over all of
    them a strike decoded as a feint costs almost nothing."""
    latent_bound_weight: float = 0.0
    """Weight of the mean squared excess of the quantiser's latents beyond +-`LATENT_BOUND`
    (--latent-bound-weight). FSQ squashes each latent with tanh before rounding, so a latent pushed far out gets no
    gradient back and stays on the outermost level; once most latents get there the codebook collapses to a few
    codes (runs of the same recipe on 1 and 2 threads reached perplexities of 14 and 46 on the same clips). Every
    level is reached within +-1.5, so the term is zero for a healthy quantiser."""

    def __post_init__(self) -> None:
        self.levels = tuple(int(v) for v in self.levels)
        for name in ("feature_dim", "width", "depth", "dilation_growth"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.down_t < 0:
            raise ValueError(f"--down-t must be >= 0, got {self.down_t}")
        if not self.levels or min(self.levels) < 2:
            raise ValueError(f"--levels must be integers >= 2, got {list(self.levels)}")
        for name in [name for name, _, _ in LOSS_BLOCKS] + ["trajectory", "effectors", "latent_bound"]:
            weight = getattr(self, f"{name}_weight")
            if weight < 0:
                raise ValueError(f"--{name.replace('_', '-')}-weight must be >= 0, got {weight}")
            if weight > 0 and self.feature_dim != 272 and name != "latent_bound":
                raise ValueError(f"--{name.replace('_', '-')}-weight needs the 272-dim layout, "
                                 f"but --feature-dim is {self.feature_dim}; set it to 0")  # fmt: skip

    @property
    def stride(self) -> int:
        """Frames per token."""
        return 2 ** (self.down_t + int(self.haar))

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    @classmethod
    def from_name(cls, name: str, **overrides) -> "TokenizerConfig":
        """A preset by name, with fields overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"unknown tokenizer preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict] = {
    # CPU in minutes: 0.87 M params, 15 tokens/s, 1,000 codes.
    "tiny": dict(width=128, down_t=1, levels=(8, 5, 5, 5)),
    # 3.1 M params, 15 tokens/s, 15,360 codes.
    "small": dict(width=256, down_t=1, levels=(8, 8, 8, 6, 5)),
    # The released MotionMillion tokenizer: 11.35 M params, 15 tokens/s, 64,000 codes.
    "base": dict(width=512, down_t=1, levels=(8, 8, 8, 5, 5, 5)),
}


def haar_split(x: torch.Tensor) -> torch.Tensor:
    """One-level orthonormal Haar transform in time: (B, C, T) -> (B, 2C, T/2) as [low bands | high bands]."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.cat([even + odd, even - odd], dim=1) / math.sqrt(2)


def haar_merge(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `haar_split`: (B, 2C, T/2) -> (B, C, T)."""
    low, high = x.chunk(2, dim=1)
    even, odd = (low + high) / math.sqrt(2), (low - high) / math.sqrt(2)
    return torch.stack([even, odd], dim=-1).flatten(-2)  # interleave back to (B, C, T)


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded positions of (B, C, L) given a (B, L) bool mask (None: nothing is padded)."""
    return x if mask is None else x * mask.unsqueeze(1).to(x.dtype)


def _channel_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the channels of a (B, C, L) tensor."""
    return norm(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    """Pre-norm dilated residual block: x + Conv1x1(relu(LN(ConvK3_dilated(relu(LN(x))))))."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.norm2 = nn.LayerNorm(width)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(_channel_norm(self.norm1, x))  # (B, W, L)
        h = self.conv1(_masked(h, mask))
        h = torch.relu(_channel_norm(self.norm2, h))
        return x + self.conv2(h)  # a 1x1 conv mixes no positions: no mask needed


class ResStack(nn.Module):
    """`depth` residual blocks with dilations growth**(depth-1), ..., 1 (9, 3, 1), in encoder and decoder alike.

    MotionMillion's Resnet1D reverses the dilation list by default and its decoder asks for the reverse again, so
    both sides run the large dilation first.
    """

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(width, growth**i) for i in reversed(range(depth)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


class DownBlock(nn.Module):
    """Strided conv (k4, s2, p1: frames / 2) then a ResStack."""

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.res = ResStack(width, depth, growth)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv(_masked(x, mask))  # (B, W, L/2)
        return self.res(x, None if mask is None else mask[:, ::2])


class UpBlock(nn.Module):
    """ResStack, nearest x2 upsampling, conv k3."""

    def __init__(self, width: int, depth: int, growth: int):
        super().__init__()
        self.res = ResStack(width, depth, growth)
        self.conv = nn.Conv1d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = nnf.interpolate(self.res(x, mask), scale_factor=2.0, mode="nearest")  # (B, W, 2L)
        up_mask = None if mask is None else mask.repeat_interleave(2, dim=1)
        return self.conv(_masked(x, up_mask))


class Encoder(nn.Module):
    """(B, C_in, T) -> (B, W, T / 2**down_t)."""

    def __init__(self, cfg: TokenizerConfig, in_dim: int):
        super().__init__()
        w = cfg.width
        self.conv_in = nn.Conv1d(in_dim, w, 3, padding=1)
        self.down = nn.ModuleList(DownBlock(w, cfg.depth, cfg.dilation_growth) for _ in range(cfg.down_t))
        self.conv_out = nn.Conv1d(w, w, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.relu(self.conv_in(_masked(x, mask)))  # (B, W, T)
        for block in self.down:
            x = block(x, mask)
            mask = None if mask is None else mask[:, ::2]
        return self.conv_out(_masked(x, mask))  # (B, W, N)


class Decoder(nn.Module):
    """(B, W, N) -> (B, C_out, N * 2**down_t)."""

    def __init__(self, cfg: TokenizerConfig, out_dim: int):
        super().__init__()
        w = cfg.width
        self.conv_in = nn.Conv1d(w, w, 3, padding=1)
        self.up = nn.ModuleList(UpBlock(w, cfg.depth, cfg.dilation_growth) for _ in range(cfg.down_t))
        self.conv_mid = nn.Conv1d(w, w, 3, padding=1)
        self.conv_out = nn.Conv1d(w, out_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.relu(self.conv_in(_masked(x, mask)))  # (B, W, N)
        for block in self.up:
            x = block(x, mask)
            mask = None if mask is None else mask.repeat_interleave(2, dim=1)
        x = torch.relu(self.conv_mid(_masked(x, mask)))
        return self.conv_out(_masked(x, mask))  # (B, C_out, T)


class MotionTokenizer(nn.Module):
    """Motion features (B, T, F) <-> FSQ token ids (B, T / stride).

    T must be a multiple of `cfg.stride` in `forward`; `encode` pads to one itself.
    """

    def __init__(self, cfg: TokenizerConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else TokenizerConfig()
        io_dim = cfg.feature_dim * (2 if cfg.haar else 1)  # Haar bands are stacked on the channel axis
        self.encoder = Encoder(cfg, io_dim)
        self.quantizer = FSQ(list(cfg.levels), cfg.width)
        self.decoder = Decoder(cfg, io_dim)

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        if x.ndim != 3 or x.shape[-1] != self.cfg.feature_dim:
            raise ValueError(f"expected features (B, T, {self.cfg.feature_dim}), got {tuple(x.shape)}")
        if x.shape[1] % self.cfg.stride:
            raise ValueError(f"T = {x.shape[1]} frames is not a multiple of the stride {self.cfg.stride}; "
                             "pad the clip or use encode(), which pads")  # fmt: skip
        if mask is not None and (mask.shape != x.shape[:2] or mask.dtype != torch.bool):
            raise ValueError(f"mask must be bool of shape {tuple(x.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")

    def _latent(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T, F) frames -> (B, W, N) encoder output."""
        h = _masked(x.transpose(1, 2), mask)  # (B, F, T)
        if self.cfg.haar:
            h, mask = haar_split(h), None if mask is None else mask[:, ::2]  # (B, 2F, T/2)
        return self.encoder(h, mask)

    def _frames(self, q: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, W, N) quantised latents -> (B, T, F) frames, zero where padded."""
        h = self.decoder(q, token_mask)  # (B, F or 2F, T or T/2)
        if self.cfg.haar:
            h = haar_merge(h)
        out = h.transpose(1, 2)  # (B, T, F)
        if token_mask is None:
            return out
        return out * token_mask.repeat_interleave(self.cfg.stride, dim=1).unsqueeze(-1).to(out.dtype)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_latents: bool = False):
        """Reconstruct features through the quantiser.

        Args:
            x: (B, T, F) normalised features, T a multiple of `cfg.stride`.
            mask: optional (B, T) bool, True on real frames.
            return_latents: also return the quantiser's latents before tanh (B, N, d), for `loss`.

        Returns:
            recon (B, T, F), zero on padded frames, and ids (B, N) int64, `PAD_ID` on padded tokens (a token is
            padding when its first frame is); then the latents if asked.
        """
        self._check(x, mask)
        token_mask = None if mask is None else mask[:, :: self.cfg.stride]  # (B, N)
        h = self._latent(x, mask)  # (B, W, N)
        q, ids = self.quantizer(h)  # (B, W, N), (B, N)
        recon = self._frames(q, token_mask)
        if token_mask is not None:
            ids = ids.masked_fill(~token_mask, PAD_ID)
        return (recon, ids, self.quantizer.project_in(h.transpose(1, 2))) if return_latents else (recon, ids)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features -> token ids.

        Args:
            x: (B, T, F) features; any T (zero-padded here to a multiple of the stride).
            lengths: optional (B,) valid frames per clip; frames past them are ignored.

        Returns:
            ids (B, ceil(T / stride)) int64 with `PAD_ID` past each clip, and token lengths (B,) =
            ceil(lengths / stride). The ids of a clip do not depend on what it is padded with or batched with.
        """
        b, t, _ = x.shape
        pad = -t % self.cfg.stride
        x = nnf.pad(x, (0, 0, 0, pad))  # (B, T + pad, F)
        if lengths is None:
            lengths = torch.full((b,), t, device=x.device)
        mask = torch.arange(t + pad, device=x.device) < lengths.to(x.device)[:, None]  # (B, T + pad)
        self._check(x, mask)
        ids = self.quantizer(self._latent(x, None if mask.all() else mask))[1]  # (B, N)
        token_mask = mask[:, :: self.cfg.stride]
        return ids.masked_fill(~token_mask, PAD_ID), token_mask.sum(1)

    def decode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (B, N) -> features (B, N * stride, F).

        Args:
            ids: (B, N) integer ids in [0, codebook_size); negative ids are padding.
            lengths: optional (B,) valid tokens per row; by default the non-negative ids are the valid ones.

        Returns:
            (B, N * stride, F) features, zero past each row's valid tokens (lengths * stride frames).
        """
        if ids.ndim != 2 or ids.dtype.is_floating_point:
            raise ValueError(f"ids must be an integer tensor (B, N), got {ids.dtype} {tuple(ids.shape)}")
        if (ids >= self.quantizer.codebook_size).any():
            raise ValueError(f"ids must be < codebook_size {self.quantizer.codebook_size}, got {int(ids.max())}")
        if lengths is None:
            token_mask = ids >= 0
        else:
            token_mask = torch.arange(ids.shape[1], device=ids.device) < lengths.to(ids.device)[:, None]
        q = self.quantizer.dequantize(ids.clamp(min=0))  # (B, W, N)
        return self._frames(q, None if token_mask.all() else token_mask)

    def loss(
        self, x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor | None = None,
        latents: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        """SmoothL1 over all features, weighted SmoothL1 per `LOSS_BLOCKS` block and the trajectory term (real
        frames), and the latent bound term when `latents` (from `forward(..., return_latents=True)`) are given.

        Returns:
            the scalar loss and a dict of floats (each term before weighting).
        """
        cfg = self.cfg
        err = nnf.smooth_l1_loss(recon.float(), x.float(), reduction="none")  # (B, T, F), beta = 1
        w = torch.ones_like(err[..., :1]) if mask is None else mask.unsqueeze(-1).to(err.dtype)  # (B, T, 1)
        frames = w.sum().clamp(min=1.0)
        recon_term = (err * w).sum() / (frames * err.shape[-1])
        loss, logs = cfg.recon_weight * recon_term, {"recon": recon_term.item()}
        for name, start, stop in LOSS_BLOCKS:
            weight = getattr(cfg, f"{name}_weight")
            if weight > 0:
                term = (err[..., start:stop] * w).sum() / (frames * (stop - start))
                loss = loss + weight * term
                logs[name] = term.item()
        if cfg.effectors_weight > 0:
            term = (err[..., list(EFFECTOR_CHANNELS)] * w).sum() / (frames * len(EFFECTOR_CHANNELS))
            loss = loss + cfg.effectors_weight * term
            logs["effectors"] = term.item()
        if cfg.trajectory_weight > 0:
            term = self._trajectory_term(recon.float() - x.float(), w, frames)
            loss = loss + cfg.trajectory_weight * term
            logs["trajectory"] = term.item()
        if cfg.latent_bound_weight > 0 and latents is not None:
            term = nnf.relu(latents.float().abs() - LATENT_BOUND).square().mean()
            loss = loss + cfg.latent_bound_weight * term
            logs["latent_bound"] = term.item()
        return loss, logs

    @staticmethod
    def _trajectory_term(diff: torch.Tensor, w: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """SmoothL1 of the running sum over time of the [0:8] errors (root velocity, heading change), per second.

        The decoder integrates these channels into the root path and facing, so what matters is their running sum:
        a turn that decodes as slightly too slow on every frame ends facing the wrong way.
        """
        drift = torch.cumsum(diff[..., 0:8] * w, dim=1) / TRAJECTORY_FRAMES  # (B, T, 8)
        err = nnf.smooth_l1_loss(drift, torch.zeros_like(drift), reduction="none")
        return (err * w).sum() / (frames * 8)
