"""The text-conditioned motion generator: a LLaMA-style decoder-only prefix-LM over FSQ motion tokens.

Architecture of MotionMillion ("Go to Zero", Fan et al., ICCV 2025; see docs/models.md): per-token text-encoder
states are projected to the model width and form a prefix that attends to itself bidirectionally; motion tokens follow
it and are causal. Blocks are LLaMA (Touvron et al., 2023): pre-RMSNorm, RoPE (Su et al., 2021), fused qkv, SwiGLU
(Shazeer, 2020), no biases, no dropout. What we do differently from their code, and why:
- weights are initialised on purpose (`init_weights`; their init function is never called, embeddings start at N(0,1));
- a learned null prefix (`null_text`) exists, so text dropout in training gives classifier-free guidance at inference;
- a KV cache (`KVCache`) turns sampling from O(N^2) full recomputes into O(N) single-token steps;
- optionally (`length_condition`) the target length is one more prefix token, so the model can pace a caption of
  several actions over the duration asked for instead of finishing early and padding (MotionMillion's model never
  knows the length it will be cut to).
Three switches exist only to run their released weights (`checkpoints/motionmillion_generator.py`): interleaved RoPE
(`rope_interleaved`), a bias on the text projection (`text_proj_bias`) and no null condition (`null_condition`
false: they never drop the text, so their model cannot guide).

Vocabulary: motion codes 0..K-1, END = K, PAD = K + 1. The embedding has K + 2 rows, the head K + 1 (PAD is never
predicted).

Text padding: any layout works (right padding is what `collate` functions usually give; left padding works too).
`text_mask` marks real tokens; padded slots stay in the sequence (and the cache) but no query ever attends to them,
and RoPE positions are counted over real tokens only, so a sample gets the positions it would have alone:
text token j is at position j, motion token i at position n_text + i. Motion tokens are stored right after the full
text width L for every row, which lets a batch decode in lockstep with one shared cache length.

Legend: B batch, L text tokens, N motion tokens, S = L + N sequence, D model width, H heads, Dh head width,
K motion codebook size, V = K + 1 output classes.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PRESETS", "GeneratorConfig", "KVCache", "MotionGenerator"]


def _ceil_to(x: int, multiple: int) -> int:
    return multiple * math.ceil(x / multiple)


@dataclass
class GeneratorConfig:
    """Shape of a `MotionGenerator`. Defaults are the `tiny` preset."""

    vocab_codes: int = 1000
    """Motion codebook size K; END = K and PAD = K + 1 (--vocab-codes)."""
    n_layer: int = 2
    """Transformer blocks (--n-layer)."""
    n_head: int = 4
    """Attention heads; dim must divide by it into an even head width (--n-head)."""
    dim: int = 128
    """Model width D (--dim)."""
    hidden: int | None = None
    """SwiGLU hidden width; None gives ceil_to_256(floor(2 * 4 * dim / 3)) as in LLaMA (--hidden)."""
    text_dim: int = 256
    """Width of the per-token text-encoder states (2048 for flan-t5-xl) (--text-dim)."""
    max_text_tokens: int = 150
    """Longest text prefix, end-of-sequence token included (--max-text-tokens)."""
    max_motion_tokens: int = 150
    """Longest motion token sequence (END excluded); block size = text + motion + END (--max-motion-tokens)."""
    rope_base: float = 10000.0
    """RoPE frequency base (--rope-base)."""
    rope_interleaved: bool = False
    """Rotate dims (2i, 2i+1) as MotionMillion does, instead of the half-split layout; only for their weights
    (--rope-interleaved). Angles are fp32 in either layout, as in their fp32 inference (their bf16 training built the
    table in bf16)."""
    norm_eps: float = 1e-5
    """RMSNorm epsilon (--norm-eps)."""
    init_std: float = 0.02
    """Std of the normal init of linears and embeddings (--init-std)."""
    length_condition: bool = False
    """Prepend a learned embedding of the target motion length (in tokens; 0 = not given) to the text prefix
    (--length-condition)."""
    text_proj_bias: bool = False
    """Give the text projection a bias, as MotionMillion's `llama_proj` has; only for their weights
    (--text-proj-bias)."""
    null_condition: bool = True
    """Learn the null text condition (`null_text`) that text dropout trains and classifier-free guidance needs; False
    for weights trained without text dropout (MotionMillion's), which can then neither drop text nor guide
    (--null-condition)."""

    def __post_init__(self) -> None:
        for name in ("vocab_codes", "n_layer", "n_head", "dim", "text_dim", "max_text_tokens", "max_motion_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.n_head or (self.dim // self.n_head) % 2:
            raise ValueError(f"--dim {self.dim} must split into --n-head {self.n_head} heads of even width")
        if self.hidden is None:
            self.hidden = _ceil_to(int(2 * 4 * self.dim / 3), 256)
        if self.hidden < 1:
            raise ValueError(f"--hidden must be >= 1, got {self.hidden}")
        for name in ("rope_base", "norm_eps", "init_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")

    @property
    def end_id(self) -> int:
        return self.vocab_codes

    @property
    def pad_id(self) -> int:
        return self.vocab_codes + 1

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_head

    @property
    def block_size(self) -> int:
        """Longest sequence: text prefix + motion tokens + END (301 for MotionMillion)."""
        return self.max_text_tokens + self.max_motion_tokens + 1

    @classmethod
    def from_name(cls, name: str, **overrides) -> "GeneratorConfig":
        """A preset by name, with fields overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"unknown generator preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


_T5_XL = dict(text_dim=2048)  # flan-t5-xl encoder states, as MotionMillion
PRESETS: dict[str, dict] = {
    # CPU in minutes: 0.81 M params with the tiny tokenizer's 1,000 codes.
    "tiny": dict(vocab_codes=1000, n_layer=2, n_head=4, dim=128, text_dim=256),
    # One GPU or a patient CPU: 22.7 M params, the small tokenizer's 15,360 codes, t5-base-sized text states.
    "small": dict(vocab_codes=15360, n_layer=6, n_head=6, dim=384, text_dim=768),
    # MotionMillion's sizes. The names count parameters with 16,384 codes (111M..775M) or 64,000 codes (1B..7B):
    # 111.7 M, 344.0 M, 776.0 M, 1.56 B, 3.40 B, 7.82 B.
    "111M": dict(vocab_codes=16384, n_layer=12, n_head=12, dim=768, **_T5_XL),
    "343M": dict(vocab_codes=16384, n_layer=24, n_head=16, dim=1024, **_T5_XL),
    "775M": dict(vocab_codes=16384, n_layer=36, n_head=20, dim=1280, **_T5_XL),
    "1B": dict(vocab_codes=64000, n_layer=48, n_head=24, dim=1536, hidden=4096, **_T5_XL),
    "3B": dict(vocab_codes=64000, n_layer=24, n_head=32, dim=3200, hidden=8704, **_T5_XL),
    "7B": dict(vocab_codes=64000, n_layer=36, n_head=32, dim=4096, hidden=11008, **_T5_XL),
}


def rope_angles(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the RoPE angles for integer positions (B, S): two (B, 1, S, Dh/2) fp32 tensors.

    Computed per call from the positions (cheap at Dh/2 x S per row) rather than stored as a buffer, so a model built
    on the meta device needs no buffer re-initialisation.
    """
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    angles = positions.to(torch.float32)[:, None, :, None] * inv_freq  # (B, 1, S, Dh/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """Rotate channel pairs of x (B, H, S, Dh) by the angles in cos/sin (B, 1, S, Dh/2).

    Pair i is (i, i + Dh/2) in the default half-split layout (GPT-NeoX, Hugging Face LLaMA) and (2i, 2i+1) in the
    interleaved layout (Meta LLaMA, MotionMillion). Both are the same function up to a fixed permutation of the
    q/k channels of each head, which is why the layout only matters when loading weights.
    """
    xf = x.float()
    if interleaved:
        x1, x2 = xf[..., 0::2], xf[..., 1::2]
        out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    else:
        x1, x2 = xf.chunk(2, dim=-1)
        out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.type_as(x)


class KVCache:
    """Preallocated keys and values of every layer, for incremental decoding.

    Layout per layer: (B, H, max_len, Dh), the text prefix in slots [0, L) (padded slots included, masked out) and
    motion token i in slot L + i for every row, so the batch shares one fill `length`. The text mask of the prefix is
    kept to rebuild attention masks and RoPE positions. `select(rows)` drops finished rows (per-sample stopping);
    rows never interact, so a row's values do not depend on which other rows are in the batch.
    """

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):  # fmt: skip
        shape = (batch, n_head, max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.max_len = max_len
        self.length = 0
        """Filled slots, shared by all rows."""
        self.text_mask: torch.Tensor | None = None
        """(B, L) real text tokens of the prefix, set by the prefill call."""

    @property
    def batch_size(self) -> int:
        return self.k[0].shape[0]

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (B, H, S, Dh) at slots [start, start + S) of `layer`; return all filled slots (B, H, end, Dh)."""
        end = start + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} slots; writing up to {end} overflows it")
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the batch rows `rows` (1-D long index), in that order."""
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        if self.text_mask is not None:
            self.text_mask = self.text_mask.index_select(0, rows)


class RMSNorm(nn.Module):
    """x / rms(x) * weight, computed in fp32 (Zhang & Sennrich, 2019; as LLaMA)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class Attention(nn.Module):
    """Multi-head self-attention with fused qkv, RoPE and an explicit boolean mask (True = may attend)."""

    def __init__(self, cfg: GeneratorConfig, layer: int):
        super().__init__()
        self.layer, self.n_head, self.interleaved = layer, cfg.n_head, cfg.rope_interleaved
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)  # rows: [q | k | v], each head-major
        self.proj = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, start: int) -> torch.Tensor:  # fmt: skip
        B, S, D = x.shape
        q, k, v = self.qkv(x).view(B, S, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)  # 3 x (B, H, S, Dh)
        q = apply_rope(q, cos, sin, self.interleaved)
        k = apply_rope(k, cos, sin, self.interleaved)
        if cache is not None:
            k, v = cache.update(self.layer, start, k, v)  # (B, H, start + S, Dh): the past and this call
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, S, Dh)
        return self.proj(y.transpose(1, 2).reshape(B, S, D))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) (Shazeer, 2020)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """x += Attn(RMSNorm(x)); x += SwiGLU(RMSNorm(x))."""

    def __init__(self, cfg: GeneratorConfig, layer: int):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.dim, cfg.hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, start: int) -> torch.Tensor:  # fmt: skip
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, cache, start)
        return x + self.mlp(self.mlp_norm(x))


def prefix_lm_mask(text_mask: torch.Tensor, q_idx: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Boolean attention mask (B, 1, Q, n_keys) of the prefix-LM: causal OR (text x text), never onto padded text.

    Args:
        text_mask: (B, L) real text tokens; slots [0, L) are text, slots >= L are motion.
        q_idx: (Q,) sequence slots of the queries.
        n_keys: number of key slots, [0, n_keys).

    A padded text query would see no key at all (and make SDPA return NaN), so every query also sees itself; those
    rows are never read.
    """
    B, L = text_mask.shape
    k_idx = torch.arange(n_keys, device=q_idx.device)
    key_ok = torch.cat([text_mask, text_mask.new_ones(B, n_keys - L)], dim=1)  # (B, n_keys)
    causal = k_idx[None, :] <= q_idx[:, None]  # (Q, n_keys)
    prefix = (q_idx[:, None] < L) & (k_idx[None, :] < L)  # (Q, n_keys): text sees all text
    self_ = k_idx[None, :] == q_idx[:, None]
    return (((causal | prefix)[None] & key_ok[:, None, :]) | self_[None])[:, None]


def rope_positions(text_mask: torch.Tensor, q_idx: torch.Tensor) -> torch.Tensor:
    """RoPE positions (B, Q) of sequence slots q_idx: text slots count real text tokens, motion follows the text."""
    L = text_mask.shape[1]
    text_pos = (text_mask.long().cumsum(1) - 1).clamp(min=0)  # (B, L)
    motion_pos = text_mask.sum(1, keepdim=True) + (q_idx[None, :] - L)  # (B, Q)
    return torch.where(q_idx[None, :] < L, text_pos[:, q_idx.clamp(max=L - 1)], motion_pos)


class MotionGenerator(nn.Module):
    """Text states + motion tokens -> next-token logits over K codes + END.

    Two ways to call `forward`:
    - prefill (`text_states` given): the text prefix plus N >= 0 motion tokens; returns (B, N + 1, V) where row 0
      comes from the last real text token (it predicts motion token 0) and row 1 + i from motion token i. This is
      the training call (targets = codes + END), and with a `cache` it also fills the cache.
    - decode (`text_states=None`, `cache` required): N new motion tokens at motion positions n .. n + N - 1, where
      n = `start_pos` (default: the tokens already cached), appended to the cache; returns (B, N, V), row i
      predicting token n + i + 1.
    """

    def __init__(self, cfg: GeneratorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else GeneratorConfig()
        self.text_proj = nn.Linear(cfg.text_dim, cfg.dim, bias=cfg.text_proj_bias)
        if cfg.null_condition:  # the prefix of a dropped caption: one learned token
            self.null_text = nn.Parameter(torch.empty(cfg.dim))
        if cfg.length_condition:  # row n: a target of n motion tokens; row 0: no target given
            self.length_emb = nn.Embedding(cfg.max_motion_tokens + 1, cfg.dim)
        self.tok_emb = nn.Embedding(cfg.vocab_codes + 2, cfg.dim)  # codes, END, PAD
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.vocab_codes + 1, bias=False)  # PAD is never predicted
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """N(0, init_std) for linears, embeddings and the null token; residual outputs (attention `proj`, SwiGLU
        `down`) scaled by 1/sqrt(2 n_layer) as in GPT-2; norms at 1, the text projection's bias (if any) at 0. Call
        again after `to_empty` on a meta model."""
        std = self.cfg.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std)
            elif isinstance(module, RMSNorm):
                nn.init.ones_(module.weight)
        if self.cfg.text_proj_bias:
            nn.init.zeros_(self.text_proj.bias)
        if self.cfg.null_condition:
            nn.init.normal_(self.null_text, 0.0, std)
        for block in self.blocks:
            for out in (block.attn.proj, block.mlp.down):
                nn.init.normal_(out.weight, 0.0, std / math.sqrt(2 * self.cfg.n_layer))

    def new_cache(self, batch: int, text_len: int, motion_len: int | None = None,
                  dtype: torch.dtype | None = None) -> KVCache:  # fmt: skip
        """An empty cache for `batch` rows, a text width of `text_len` (plus the length token, if any) and up to
        `motion_len` motion tokens (default: the trained maximum + 1), on the model's device and dtype."""
        p = self.head.weight
        motion_len = self.cfg.max_motion_tokens + 1 if motion_len is None else motion_len
        prefix_len = text_len + int(self.cfg.length_condition)
        return KVCache(self.cfg.n_layer, batch, self.cfg.n_head, prefix_len + motion_len, self.cfg.head_dim,
                       dtype or p.dtype, p.device)  # fmt: skip

    def embed_text(self, text_states: torch.Tensor, text_mask: torch.Tensor,
                   drop_text: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Project text states (B, L, text_dim) to the prefix (B, L, D); rows with `drop_text` (B,) become the null
        condition: the learned `null_text` token in slot 0 and every other slot padded. Returns prefix and mask."""
        if text_states.ndim != 3 or text_states.shape[-1] != self.cfg.text_dim:
            raise ValueError(f"text_states must be (B, L, {self.cfg.text_dim}), got {tuple(text_states.shape)}")
        B, L, _ = text_states.shape
        if text_mask.dtype != torch.bool or text_mask.shape != (B, L):
            raise ValueError(f"text_mask must be bool {(B, L)}, got {text_mask.dtype} {tuple(text_mask.shape)}")
        if L > self.cfg.max_text_tokens:
            raise ValueError(f"{L} text tokens exceed max_text_tokens = {self.cfg.max_text_tokens}")
        x = self.text_proj(text_states)  # (B, L, D)
        if drop_text is not None and not self.cfg.null_condition and bool(drop_text.any()):
            why = "null_condition is false: it was trained without text dropout, as MotionMillion's released weights"
            raise ValueError(f"this generator has no learned null condition ({why}), so it cannot drop the text: it "
                             "needs guidance 1 (--guidance 1) and, in training, text_dropout 0")  # fmt: skip
        if drop_text is not None and self.cfg.null_condition:
            first = torch.arange(L, device=x.device) == 0  # (L,)
            x = torch.where(drop_text[:, None, None], self.null_text.to(x.dtype).expand_as(x), x)
            text_mask = torch.where(drop_text[:, None], first[None], text_mask)
        if not bool(text_mask.any(1).all()):
            raise ValueError("every row needs at least one real text token (text_mask is all False for some row)")
        return x, text_mask

    def embed_length(self, prefix: torch.Tensor, text_mask: torch.Tensor,
                     lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """With `length_condition`, put the target-length token (B,) (0 or None: not given) in front of the prefix
        (B, L, D), which becomes (B, L + 1, D); otherwise `lengths` must be None."""
        if not self.cfg.length_condition:
            if lengths is not None:
                raise ValueError("this generator was not trained with length_condition; pass lengths=None")
            return prefix, text_mask
        B = prefix.shape[0]
        lengths = torch.zeros(B, dtype=torch.long, device=prefix.device) if lengths is None else lengths
        if lengths.shape != (B,) or not bool(((lengths >= 0) & (lengths <= self.cfg.max_motion_tokens)).all()):
            raise ValueError(f"lengths must be ({B},) in [0, {self.cfg.max_motion_tokens}], got {lengths.tolist()}")
        first = self.length_emb(lengths).to(prefix.dtype)[:, None]  # (B, 1, D)
        return torch.cat([first, prefix], dim=1), torch.cat([text_mask.new_ones(B, 1), text_mask], dim=1)

    def _inputs(self, text_states: torch.Tensor | None, text_mask: torch.Tensor | None, tokens: torch.Tensor,
                cache: KVCache | None, start_pos: int | None, drop_text: torch.Tensor | None,
                lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int]:  # fmt: skip
        """Embedded inputs (B, S, D), the prefix mask (B, L) and the motion tokens before `tokens`."""
        if text_states is not None:  # prefill
            if start_pos:
                raise ValueError(f"start_pos must be 0 on prefill, got {start_pos}; pass text_states=None to decode")
            prefix, text_mask = self.embed_length(*self.embed_text(text_states, text_mask, drop_text), lengths)
            x, m0 = torch.cat([prefix, self.tok_emb(tokens)], dim=1), 0  # (B, L + N, D)
            if cache is not None:
                cache.text_mask = text_mask
        elif cache is None or cache.text_mask is None:
            raise ValueError("decoding (text_states=None) needs a cache filled by a prefill call")
        else:
            text_mask, x = cache.text_mask, self.tok_emb(tokens)  # (B, N, D)
            m0 = cache.length - text_mask.shape[1] if start_pos is None else start_pos
            if not 0 <= m0 <= cache.length - text_mask.shape[1]:
                raise ValueError(f"start_pos {m0} is beyond the {cache.length - text_mask.shape[1]} cached tokens")
        if m0 + tokens.shape[1] > self.cfg.max_motion_tokens + 1:
            raise ValueError(f"{m0 + tokens.shape[1]} motion tokens exceed max_motion_tokens + END = "
                             f"{self.cfg.max_motion_tokens + 1}")  # fmt: skip
        return x, text_mask, m0

    def forward(self, text_states: torch.Tensor | None, text_mask: torch.Tensor | None, tokens: torch.Tensor,
                cache: KVCache | None = None, start_pos: int | None = None, drop_text: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Logits (B, N + 1, V) on prefill (`text_states` given), (B, N, V) on decode (`text_states=None`).

        Args:
            text_states: (B, L, text_dim) text-encoder states; None to decode from the cache.
            text_mask: (B, L) bool, True at real text tokens (None on decode).
            tokens: (B, N) motion token ids (codes, END or PAD); N may be 0 on prefill.
            cache: a `new_cache` to fill on prefill or extend on decode.
            start_pos: on decode, the motion tokens kept before `tokens` (default: all cached ones; smaller values
                rewind the cache). Must be 0 or None on prefill.
            drop_text: (B,) bool, rows that get the null condition instead of their text (prefill only).
            lengths: (B,) long target motion lengths in tokens, 0 = not given (prefill, `length_condition` only).
        """
        x, text_mask, m0 = self._inputs(text_states, text_mask, tokens, cache, start_pos, drop_text, lengths)
        L, N = text_mask.shape[1], tokens.shape[1]
        start = 0 if text_states is not None else L + m0  # first sequence slot computed by this call
        q_idx = torch.arange(start, L + m0 + N, device=x.device)  # (Q,)
        cos, sin = rope_angles(rope_positions(text_mask, q_idx), self.cfg.head_dim, self.cfg.rope_base)
        mask = prefix_lm_mask(text_mask, q_idx, L + m0 + N)  # (B, 1, Q, L + m0 + N)
        for block in self.blocks:
            x = block(x, cos, sin, mask, cache, start)
        if cache is not None:
            cache.length = L + m0 + N
        if text_states is not None:  # keep the last real text token (it predicts motion token 0), then the motion
            last = L - 1 - text_mask.flip(1).long().argmax(1)  # (B,)
            x = torch.cat([x[torch.arange(x.shape[0], device=x.device), last][:, None], x[:, L:]], dim=1)
        return self.head(self.norm(x))  # (B, N + 1 or N, V)
