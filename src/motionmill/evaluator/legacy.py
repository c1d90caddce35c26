"""The published evaluators, rebuilt so their released weights load by name: HumanML3D's and MotionMillion's.

(a) The standard HumanML3D evaluator (Guo et al., "Generating Diverse and Natural 3D Human Motions from Text",
CVPR 2022; text2motion `networks/modules.py`, `networks/evaluator_wrapper.py`). Text: GloVe-300 word vectors plus a
15-way part-of-speech one-hot mapped to 300 dims (`pos_emb`), summed, projected to 512 (`input_emb`), a bi-GRU whose
two last hidden states go through Linear-LayerNorm-LeakyReLU-Linear to 512. Motion: HumanML3D-263 features without
the 4 foot contacts, two stride-2 convolutions (4 frames -> one 512-d "movement"), then a bi-GRU of width 1024 over
the movements and the same kind of output net to 512. Both GRUs start from a learned hidden state (`hidden`).
The module and attribute names are the released ones, so `finest.tar`'s three state dicts load as they are:

    text_encoder.     pos_emb (300, 15)  input_emb (512, 300)  gru (hidden 512, bidirectional)  hidden (2, 1, 512)
                      output_net.0 (512, 1024)  output_net.1 LayerNorm(512)  output_net.3 (512, 512)
    movement_encoder. main.0 Conv1d(259, 512, 4, 2, 1)  main.3 Conv1d(512, 512, 4, 2, 1)  out_net (512, 512)
    motion_encoder.   input_emb (1024, 512)  gru (hidden 1024, bidirectional)  hidden (2, 1, 1024)
                      output_net.0 (1024, 2048)  output_net.1 LayerNorm(1024)  output_net.3 (512, 1024)

(b) MotionMillion's 272 evaluator (MotionStreamer `Evaluator_272`, TEMOS/TMR's ACTOR-style encoders; MotionMillion
`models/evaluator_wrapper_motionmillion_rpr272.py`, https://github.com/VankouF/MotionMillion-Codes). Each side:
input projection (text: ReLU then Linear(768, 512) on DistilBERT's last hidden states; motion: Linear(272, 512)),
two learned tokens [mu, logvar] in front, sinusoidal positions on every element, a 4-layer post-norm transformer
encoder (d 512, 4 heads, ff 1024, GELU) with a padding mask; the embedding is the output at the mu token, not
normalised. DistilBERT itself runs outside this file (the loader feeds its states in), so model code stays
torch-only.

What their code does, step by step, and how it is matched here (tests/evaluator/test_motionmillion_evaluator_parity.py
rebuilds their classes and compares; on CPU the embeddings are equal to the last bit):

- Text (`DistilbertEncoderBase`, `DistilbertActorAgnosticEncoder`): distilbert-base-uncased's tokenizer on the batch
  of captions, `padding=True`, no truncation and no max length, [CLS] and [SEP] included (its tokenizer lower-cases);
  `last_hidden_state` of DistilBERT in eval mode (their `train()` override never switches the frozen model back to
  training); `attention_mask` is the padding mask. The checkpoint holds DistilBERT's weights under
  `textencoder.text_model.*` and their strict load puts them in place of the pretrained ones.
- Motion (`ActorAgnosticEncoder`): the features are normalised with `mean_std/vector_272/mean.npy` and `std.npy`
  (float64) and cast to float32; the padding mask is built from the lengths and is always `max_len` = 300 frames
  wide, so every batch must be padded to exactly 300 frames (longer motions cannot be scored; their loop cuts
  them).
- Both sides, after the projection: sequence-first tensors (N, B, D); the two tokens are concatenated before the
  positions are added, so mu sits at position 0, logvar at 1 and the first frame or word at 2; the table is
  TEMOS's `PositionalEncoding` (sin on even channels, cos on odd ones, 10000^(2i / D), a (5000, 1, 512) buffer in
  the checkpoint), then dropout 0.1 (inactive in eval mode); `nn.TransformerEncoder` with
  `src_key_padding_mask` = not(mask), the tokens never masked. The output is a Normal(mu, exp(logvar / 2)) and
  `get_co_embeddings` keeps `.loc` = mu.
- Our layout runs the same operations in the same order and memory layout (sequence-first), which is what makes
  the results bit-equal rather than equal to float32 rounding.

Shape legend: B batch, L text tokens, T frames, U movement units (T / 4), D width.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from motionmill.evaluator.tmr import sinusoidal_positions

__all__ = ["HumanML3DEvaluatorConfig", "HumanML3DEvaluatorNet", "MotionEncoderBiGRUCo", "MotionMillionEncoder",
           "MotionMillionEvaluatorConfig", "MotionMillionEvaluatorNet", "MovementConvEncoder", "POS_TAGS",
           "TextEncoderBiGRUCo"]  # fmt: skip

POS_TAGS = ("VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
            "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER")  # fmt: skip
"""The 15 part-of-speech classes of the one-hot, in index order (text2motion `POS_enumerator`)."""


@dataclass
class HumanML3DEvaluatorConfig:
    """Sizes of the HumanML3D evaluator. Defaults are the released `t2m` model."""

    word_dim: int = 300
    """GloVe width."""
    pos_dim: int = 15
    """Part-of-speech one-hot width (`POS_TAGS`)."""
    text_hidden: int = 512
    """Text GRU width."""
    embed_dim: int = 512
    """Co-embedding width of both sides."""
    movement_in: int = 259
    """Movement encoder input: the 263 features without the 4 foot contacts."""
    movement_hidden: int = 512
    movement_latent: int = 512
    motion_hidden: int = 1024
    """Motion GRU width."""
    unit_length: int = 4
    """Frames per movement (two stride-2 convolutions)."""
    max_text_len: int = 20
    """Words kept per caption, before "sos" and "eos" are added."""
    max_motion_length: int = 196
    """Frames per motion (9.8 s at 20 fps); motions are cut to it and zero-padded to it, as in the protocol."""


def _output_net(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out))


def _bigru_last(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Last forward and backward hidden states of a bi-GRU over the first `lengths` steps: (B, 2H)."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, last = gru(packed, h0.expand(-1, x.shape[0], -1).contiguous())  # (2, B, H), back in input order
    return torch.cat([last[0], last[1]], dim=-1)


class TextEncoderBiGRUCo(nn.Module):
    """Word vectors + POS one-hots (B, L, 300), (B, L, 15) with lengths (B,) -> (B, 512)."""

    def __init__(self, cfg: HumanML3DEvaluatorConfig):
        super().__init__()
        self.pos_emb = nn.Linear(cfg.pos_dim, cfg.word_dim)
        self.input_emb = nn.Linear(cfg.word_dim, cfg.text_hidden)
        self.gru = nn.GRU(cfg.text_hidden, cfg.text_hidden, batch_first=True, bidirectional=True)
        self.output_net = _output_net(cfg.text_hidden, cfg.embed_dim)
        self.hidden = nn.Parameter(torch.randn(2, 1, cfg.text_hidden))

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(word_embs + self.pos_emb(pos_onehot))  # (B, L, H)
        return self.output_net(_bigru_last(self.gru, x, lengths, self.hidden))


class MovementConvEncoder(nn.Module):
    """(B, T, 259) -> (B, T / 4, 512): one vector per 4-frame unit. Dropout slots keep the released indices."""

    def __init__(self, cfg: HumanML3DEvaluatorConfig):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(cfg.movement_in, cfg.movement_hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Conv1d(cfg.movement_hidden, cfg.movement_latent, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.out_net = nn.Linear(cfg.movement_latent, cfg.movement_latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class MotionEncoderBiGRUCo(nn.Module):
    """Movements (B, U, 512) with unit counts (B,) -> (B, 512)."""

    def __init__(self, cfg: HumanML3DEvaluatorConfig):
        super().__init__()
        self.input_emb = nn.Linear(cfg.movement_latent, cfg.motion_hidden)
        self.gru = nn.GRU(cfg.motion_hidden, cfg.motion_hidden, batch_first=True, bidirectional=True)
        self.output_net = _output_net(cfg.motion_hidden, cfg.embed_dim)
        self.hidden = nn.Parameter(torch.randn(2, 1, cfg.motion_hidden))

    def forward(self, movements: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        return self.output_net(_bigru_last(self.gru, self.input_emb(movements), units, self.hidden))


class HumanML3DEvaluatorNet(nn.Module):
    """The three released parts under their `finest.tar` names."""

    def __init__(self, cfg: HumanML3DEvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.text_encoder = TextEncoderBiGRUCo(cfg)
        self.movement_encoder = MovementConvEncoder(cfg)
        self.motion_encoder = MotionEncoderBiGRUCo(cfg)

    def encode_text(self, word_embs, pos_onehot, lengths) -> torch.Tensor:
        """(B, L, 300), (B, L, 15), (B,) token counts -> (B, 512)."""
        return self.text_encoder(word_embs, pos_onehot, lengths)

    def encode_motion(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised 263 features (B, T, 263), zero-padded to max_motion_length, frame counts (B,) -> (B, 512).

        The padding is part of the protocol: the last unit's convolution window reaches into it.
        """
        movements = self.movement_encoder(motion[..., :-4])  # foot contacts are not used
        return self.motion_encoder(movements, lengths // self.cfg.unit_length)


@dataclass
class MotionMillionEvaluatorConfig:
    """Sizes of MotionMillion's 272 evaluator. Defaults are the released model."""

    text_dim: int = 768
    """DistilBERT width."""
    feature_dim: int = 272
    dim: int = 512
    n_layer: int = 4
    n_head: int = 4
    ff: int = 1024
    max_frames: int = 300
    """Motions are cut to this many frames (10 s at 30 fps), as the released evaluator's padding mask requires."""


class MotionMillionEncoder(nn.Module):
    """TEMOS/ACTOR-style encoder: (B, N, in_dim) with mask (B, N) -> mu (B, D).

    Sequence-first inside, as the original: the same function as a batch-first transformer, and the same order of
    float32 operations (memory layout included), so the embeddings equal theirs bit for bit on CPU.
    """

    def __init__(self, in_dim: int, cfg: MotionMillionEvaluatorConfig, relu_input: bool):
        super().__init__()
        self.relu_input = relu_input  # the text side applies ReLU to DistilBERT's states before projecting
        self.proj = nn.Linear(in_dim, cfg.dim)
        self.mu_token = nn.Parameter(torch.randn(cfg.dim))
        self.logvar_token = nn.Parameter(torch.randn(cfg.dim))
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.n_head, cfg.ff, 0.1, activation="gelu")  # (N, B, D) input
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layer, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        h = self.proj(F.relu(x) if self.relu_input else x).permute(1, 0, 2)  # (N, B, D)
        tokens = torch.stack([self.mu_token, self.logvar_token])[:, None].expand(2, B, -1)
        h = torch.cat([tokens, h])  # (2 + N, B, D): positions 0 and 1 are the tokens, frames or words from 2
        h = h + sinusoidal_positions(N + 2, h.shape[-1], h.device)[:, None]
        keep = torch.cat([torch.ones(B, 2, dtype=torch.bool, device=x.device), mask.bool()], dim=1)  # (B, 2 + N)
        h = self.encoder(h, src_key_padding_mask=~keep)
        return h[0]  # mu; logvar (h[1]) only mattered for the KL term in training


class MotionMillionEvaluatorNet(nn.Module):
    """Text and motion encoders of MotionMillion's evaluator, DistilBERT excluded."""

    def __init__(self, cfg: MotionMillionEvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.text = MotionMillionEncoder(cfg.text_dim, cfg, relu_input=True)
        self.motion = MotionMillionEncoder(cfg.feature_dim, cfg, relu_input=False)

    def encode_text(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """DistilBERT last hidden states (B, L, 768), attention mask (B, L) -> (B, 512)."""
        return self.text(states, mask)

    def encode_motion(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised 272 features (B, T, 272), mask (B, T) -> (B, 512)."""
        return self.motion(motion, mask)
