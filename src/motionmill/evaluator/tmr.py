"""Our text-motion evaluator: a TMR-style pair of transformer encoders trained contrastively (the built-in one).

TMR (Petrovich et al., "TMR: Text-to-Motion Retrieval Using Contrastive 3D Human Motion Synthesis", ICCV 2023,
https://github.com/Mathux/TMR) and MotionMillion's 272 evaluator (docs/evaluation.md) encode each side with a
transformer that reads a learned summary token in front of the sequence. We keep that shape and change four things:
- the text side reads the frozen per-token states of our text encoder (all-MiniLM-L6-v2, 384-d), which training
  takes from the embedding cache, instead of running DistilBERT at every step;
- contrastive loss only: no motion decoder and no VAE, because TEMOS' reconstruction and KL terms serve generation,
  not retrieval; the embedding is the summary token's output, projected to E dims;
- embeddings are L2-normalised. The loss scores cosine similarities, and on the unit sphere the Euclidean distance of
  the metrics, sqrt(2 - 2 cos), ranks pairs exactly as training did. MotionMillion returns the raw mu, whose norm
  the InfoNCE loss never constrained, so its distances mix the trained direction with an untrained length;
- the temperature is fixed (0.1, TMR's value): a learned one only rescales logits, and a fixed one keeps runs
  comparable. In-batch pairs whose captions are the same text are not negatives (TMR drops pairs whose text
  embeddings are more than 0.8 similar; the built-in captions repeat exactly, so identity is the test that matters).

Shape legend: B batch, L text tokens, T frames, F motion features (272), D model width, E embedding width.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PRESETS", "EvaluatorConfig", "SequenceEncoder", "TextMotionEvaluator", "contrastive_loss",
           "sinusoidal_positions"]  # fmt: skip


@dataclass
class EvaluatorConfig:
    """Shape of a `TextMotionEvaluator`. Defaults are the `tiny` preset."""

    text_dim: int = 384
    """Width of the per-token text-encoder states (384 for MiniLM) (--text-dim)."""
    feature_dim: int = 272
    """Motion features per frame (--feature-dim)."""
    dim: int = 128
    """Transformer width D of both encoders; even, for the sinusoidal positions (--dim)."""
    n_layer: int = 2
    """Transformer layers on each side (--n-layer)."""
    n_head: int = 4
    """Attention heads; dim must divide by it (--n-head)."""
    ff: int = 256
    """Feed-forward hidden width (--ff)."""
    embed_dim: int = 128
    """Width E of the shared text-motion embedding (--embed-dim)."""
    frames_per_token: int = 2
    """Consecutive motion frames concatenated into one transformer token; 2 halves the sequence (and more than
    halves the cost) while keeping every frame, 1 is MotionMillion's layout (--frames-per-token)."""
    dropout: float = 0.1
    """Dropout inside the transformer layers (--dropout)."""
    temperature: float = 0.1
    """Fixed InfoNCE temperature over cosine similarities (--temperature)."""

    def __post_init__(self) -> None:
        for name in ("text_dim", "feature_dim", "dim", "n_layer", "n_head", "ff", "embed_dim", "frames_per_token"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.dim % 2 or self.dim % self.n_head:
            raise ValueError(f"--dim {self.dim} must be even and divisible by --n-head {self.n_head}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")

    @classmethod
    def from_name(cls, name: str, **overrides) -> "EvaluatorConfig":
        """A preset by name, with fields overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"unknown evaluator preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict] = {
    # The built-in evaluator: 0.68 M parameters with MiniLM states; minutes on one CPU core for the built-in corpus.
    "tiny": dict(dim=128, n_layer=2, n_head=4, ff=256, embed_dim=128, frames_per_token=2),
    "small": dict(dim=256, n_layer=4, n_head=4, ff=512, embed_dim=256, frames_per_token=2),
    # MotionMillion's evaluator sizes (d 512, 4 layers, 4 heads, ff 1024, 512-d embedding, one frame per token).
    "base": dict(dim=512, n_layer=4, n_head=4, ff=1024, embed_dim=512, frames_per_token=1),
}


def sinusoidal_positions(n: int, dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(n, dim) fixed sinusoids of "Attention Is All You Need": sin on even channels, cos on odd ones.

    Computed per call (cheap next to attention) so the table never lands in a state dict.
    """
    position = torch.arange(n, dtype=torch.float32, device=device)[:, None]  # (n, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(n, dim, device=device)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


class SequenceEncoder(nn.Module):
    """Project a padded sequence to D, prepend a learned summary token, add positions, run a pre-norm transformer
    with a padding mask and return the token's output projected to E."""

    def __init__(self, in_dim: int, cfg: EvaluatorConfig):
        super().__init__()
        self.proj = nn.Linear(in_dim, cfg.dim)
        self.token = nn.Parameter(torch.randn(cfg.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.n_head, cfg.ff, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)  # fmt: skip
        # pre-norm layers need a final norm; nested tensors only serve post-norm layers
        self.layers = nn.TransformerEncoder(layer, cfg.n_layer, norm=nn.LayerNorm(cfg.dim), enable_nested_tensor=False)
        self.head = nn.Linear(cfg.dim, cfg.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, N, in_dim), mask (B, N) True on real elements -> (B, E), not normalised."""
        B, N, _ = x.shape
        h = self.proj(x)  # (B, N, D)
        h = torch.cat([self.token.expand(B, 1, -1), h], dim=1)  # (B, 1 + N, D)
        h = h + sinusoidal_positions(N + 1, h.shape[-1], h.device)
        keep = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), mask.bool()], dim=1)
        h = self.layers(h, src_key_padding_mask=~keep)
        return self.head(h[:, 0])


class TextMotionEvaluator(nn.Module):
    """Two encoders into one E-dim space: per-token text states -> unit vector, normalised motion -> unit vector."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.text = SequenceEncoder(cfg.text_dim, cfg)
        self.motion = SequenceEncoder(cfg.feature_dim * cfg.frames_per_token, cfg)

    def encode_text(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """states (B, L, text_dim), mask (B, L) -> (B, E) unit vectors."""
        return F.normalize(self.text(states, mask), dim=-1)

    def encode_motion(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """motion (B, T, F) normalised features, mask (B, T) -> (B, E) unit vectors."""
        k = self.cfg.frames_per_token
        B, T, _ = motion.shape
        # padded frames are zeroed: the last real token may hold one, and its value must not depend on the batch
        motion = motion * mask[..., None]
        pad = -T % k  # zero frames to a whole number of tokens; a token is real if any of its frames is
        motion, mask = F.pad(motion, (0, 0, 0, pad)), F.pad(mask.bool(), (0, pad))
        tokens = motion.reshape(B, (T + pad) // k, -1)  # (B, T / k, k * F), frames of a token side by side
        return F.normalize(self.motion(tokens, mask.reshape(B, -1, k).any(-1)), dim=-1)

    def forward(self, text_states, text_mask, motion, motion_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Both embeddings of a batch of pairs: ((B, E) text, (B, E) motion)."""
        return self.encode_text(text_states, text_mask), self.encode_motion(motion, motion_mask)


def contrastive_loss(text: torch.Tensor, motion: torch.Tensor, temperature: float,
                     same: torch.Tensor | None = None, negatives: torch.Tensor | None = None,
                     negative_same: torch.Tensor | None = None,
                     negative_motions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Symmetric InfoNCE over the in-batch pairs (text i, motion i).

    Args:
        text, motion: (B, E) unit vectors; row i of each is a positive pair.
        temperature: the softmax temperature of the cosine similarities.
        same: optional (B, B) bool, True where two rows share a caption; those off-diagonal pairs are left out of
            both softmax denominators instead of being pushed apart.
        negatives: optional (K, E) unit vectors of texts that match no motion; they join the denominators of
            motion -> text only.
        negative_same: optional (B, K) bool, True where negative k is motion i's own caption (left out).
        negative_motions: optional (M, E) unit vectors of motions that match no text; they join the denominators
            of text -> motion only.

    Returns:
        (loss, top-1 accuracy of text -> motion retrieval in the batch).
    """
    logits = text @ motion.T / temperature  # (B, B)
    if same is not None:
        eye = torch.eye(len(text), dtype=torch.bool, device=text.device)
        logits = logits.masked_fill(same & ~eye, float("-inf"))
    motion_to_text, text_to_motion = logits.T, logits
    if negative_motions is not None:
        text_to_motion = torch.cat([logits, text @ negative_motions.T / temperature], dim=1)
    if negatives is not None:
        extra = motion @ negatives.T / temperature  # (B, K)
        if negative_same is not None:
            extra = extra.masked_fill(negative_same, float("-inf"))
        motion_to_text = torch.cat([motion_to_text, extra], dim=1)
    labels = torch.arange(len(text), device=text.device)
    loss = (F.cross_entropy(text_to_motion, labels) + F.cross_entropy(motion_to_text, labels)) / 2
    accuracy = (logits.argmax(dim=1) == labels).float().mean()
    return loss, accuracy
