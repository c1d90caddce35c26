"""`motionmill import motionmillion` makes a pipeline that computes what MotionMillion's released code computes.

`RefLLaMAHF` below has the module tree of their `LLaMAHF` (lm_head, transformer.wte / h.i.{rms_1, attn.c_attn,
attn.c_proj, rms_2, mlp.c_fc1, mlp.c_fc2, mlp.c_proj} / ln_f, llama_proj with a bias), so its state dict has the
released key names, and its forward is an independent implementation of their function: projected T5 states cut to
the real tokens, then motion tokens; RoPE over adjacent channel pairs as complex rotations, with fp32 angles;
attention that is causal, except that text sees all text; explicit softmax. `ref_greedy` is their sampler: argmax,
the whole sequence recomputed per token, 50 tokens at most, and the one token [1] when END comes first. The
tokenizer side reuses the released-layout FSQ reference of `test_convert_motionmillion.py`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("transformers", reason="needs the [text] extra")

from motionmill.checkpoints.generator import load_generator  # noqa: E402
from motionmill.checkpoints.motionmillion_generator import (  # noqa: E402
    build_generator,
    read_released_generator,
    released_generator_config,
)
from motionmill.cli import main  # noqa: E402
from motionmill.inference.pipeline import TextToMotion  # noqa: E402
from motionmill.inference.sampling import generate_tokens  # noqa: E402
from motionmill.motion.features272 import decode_joints  # noqa: E402
from motionmill.text.encoders import load_text_encoder  # noqa: E402

K, D, LAYERS, HEADS, TEXT_DIM = 512, 64, 2, 4, 48  # codes of the FSQ levels 8,8,8; a tiny LLaMAHF; tiny T5 width
LEVELS = (8, 8, 8)
WORDS = "a person walks forward then turns left and jumps runs in circle slowly waves kicks".split()
PROMPT = "a person walks forward then turns left"
END_BOOST = 0.5  # with seed 0 and PROMPT, greedy decoding ends after 8 tokens (asserted where it matters)


def _fsq_reference():
    """test_convert_motionmillion.py as a module: pytest's importlib mode gives test files no importable name."""
    path = Path(__file__).with_name("test_convert_motionmillion.py")
    spec = importlib.util.spec_from_file_location("fsq_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- their generator, written from the facts ----


class RefRMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.empty(d).uniform_(0.5, 1.5))  # not ones, so a swapped norm would show

    def forward(self, x):
        return self.scale * x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5)


def rotate_pairs(x, positions):
    """RoPE on adjacent channel pairs (2i, 2i+1) of x (B, H, T, hs), as complex numbers times e^(i pos theta_i)."""
    hs = x.shape[-1]
    theta = 1.0 / 10000 ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
    turn = torch.polar(torch.ones(len(positions), hs // 2), positions[:, None].float() * theta)  # (T, hs/2)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], hs // 2, 2).contiguous())
    return torch.view_as_real(pairs * turn).flatten(-2)


class RefAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D, bias=False)

    def forward(self, x, n_text):
        B, T, _ = x.shape
        q, k, v = (t.reshape(B, T, HEADS, D // HEADS).transpose(1, 2) for t in self.c_attn(x).split(D, dim=-1))
        pos = torch.arange(T)
        q, k = rotate_pairs(q, pos), rotate_pairs(k, pos)
        allowed = (pos[None, :] <= pos[:, None]) | ((pos[:, None] < n_text) & (pos[None, :] < n_text))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed, float("-inf"))
        return self.c_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


class RefMLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.c_fc1, self.c_fc2 = nn.Linear(D, hidden, bias=False), nn.Linear(D, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, D, bias=False)

    def forward(self, x):
        return self.c_proj(nn.functional.silu(self.c_fc1(x)) * self.c_fc2(x))


class RefBlock(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rms_1, self.attn, self.rms_2, self.mlp = RefRMSNorm(D), RefAttention(), RefRMSNorm(D), RefMLP(hidden)

    def forward(self, x, n_text):
        x = x + self.attn(self.rms_1(x), n_text)
        return x + self.mlp(self.rms_2(x))


class RefLLaMAHF(nn.Module):
    def __init__(self):
        super().__init__()
        hidden = 256 * math.ceil(int(2 * 4 * D / 3) / 256)  # their MLP width rule
        self.lm_head = nn.Linear(D, K + 1, bias=False)
        self.transformer = nn.ModuleDict({"wte": nn.Embedding(K + 2, D), "ln_f": RefRMSNorm(D),
                                          "h": nn.ModuleList(RefBlock(hidden) for _ in range(LAYERS))})  # fmt: skip
        self.llama_proj = nn.Linear(TEXT_DIM, D)  # biased, and default-initialised: the bias is far from zero

    def forward(self, tokens, text, n_text):
        """Logits at every position of [text | motion]: tokens (N,) codes, text (1, L, TEXT_DIM), n_text real."""
        x = torch.cat([self.llama_proj(text)[:, :n_text], self.transformer.wte(tokens)[None]], dim=1)
        for block in self.transformer.h:
            x = block(x, n_text)
        return self.lm_head(self.transformer.ln_f(x))[0]  # (n_text + N, K + 1)


def ref_greedy(ref, text, n_text):
    """Their sampler: argmax from a full forward per token; END stops, at most 50 tokens, [1] if END comes first."""
    tokens = []
    for _ in range(51):
        nxt = int(ref(torch.tensor(tokens, dtype=torch.long), text, n_text)[-1].argmax())
        if nxt == K:
            return tokens or [1]
        tokens.append(nxt)
    return tokens[:50]


def save_released_generator(path, ref, dtype=torch.float32, extra=None):
    """The file train_t2m_llama.py saves: {"trans": state dict} with DDP's "module." prefixes, beside its counter."""
    sd = {f"module.{k}": v.to(dtype) for k, v in ref.state_dict().items()}
    torch.save({"trans": sd, "nb_iter": 240000, **(extra or {})}, path)
    return path


def make_reference(seed, end_boost=0.0):
    """A random RefLLaMAHF; `end_boost` scales END's output row, so greedy decoding ends after a few tokens."""
    torch.manual_seed(seed)
    ref = RefLLaMAHF().eval()
    with torch.no_grad():
        ref.lm_head.weight[K] *= 1.0 + end_boost
    return ref


# ---- the released files, a tiny T5 and the pipelines imported from them ----


def save_tiny_t5(folder):
    """A random 2-layer T5 encoder and a word-level tokenizer that appends </s> (limit 512, as flan-t5's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                            model_max_length=512).save_pretrained(folder)  # fmt: skip
    config = T5Config(d_model=TEXT_DIM, d_kv=16, num_layers=2, num_heads=3, d_ff=96, vocab_size=len(vocab),
                      pad_token_id=0, eos_token_id=1)  # fmt: skip
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(folder)
    return folder


def their_t5_states(folder, text):
    """T5 states as their inference computes them: one caption, padding=True, truncation=True (the tokenizer's own
    limit), the encoder's last hidden state, then the first 150 states and mask entries."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = T5EncoderModel.from_pretrained(folder, local_files_only=True).eval()
    inputs = tokenizer(text, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        states = model(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask).last_hidden_state
    return states[:, :150], inputs.attention_mask[:, :150]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Their files: a tokenizer, mean/std, two generators (one that ends early under greedy decoding, one that
    runs past 50 tokens) and a T5 folder."""
    root = tmp_path_factory.mktemp("motionmillion")
    torch.manual_seed(0)
    fsq_module = _fsq_reference()
    fsq = fsq_module.RefHumanVQVAE(levels=LEVELS).eval()
    fsq_module.save_released(root / "fsq_net_6000000.pth", fsq, ddp=True)
    stats = root / "mean_std" / "vector_272"
    stats.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(stats / "mean.npy", rng.normal(size=272).astype(np.float32))
    np.save(stats / "std.npy", rng.uniform(0.5, 2.0, size=272).astype(np.float32))
    refs = {"short": make_reference(0, END_BOOST), "long": make_reference(0)}
    for name, ref in refs.items():
        save_released_generator(root / f"{name}.pth", ref)
    return argparse.Namespace(root=root, fsq=fsq, stats=stats, refs=refs, t5=save_tiny_t5(root / "flan-t5-tiny"))


def import_args(released, generator, out, *extra, tokenizer=None, stats=None, text_encoder=None):
    """The import command's arguments: the released files of the fixture unless given."""
    return ["import", "motionmillion", "--tokenizer", str(tokenizer or released.root / "fsq_net_6000000.pth"),
            "--generator", str(generator), "--stats", str(stats or released.stats), "--text-encoder",
            text_encoder or f"t5:{released.t5}", "--out", str(out), "--n-head", str(HEADS), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def pipelines(released):
    out = {}
    for name in released.refs:
        out[name] = released.root / f"pipeline-{name}"
        assert main(import_args(released, released.root / f"{name}.pth", out[name])) == 0
    return out


# ---- what the import computes ----


def _logits_max_diff(ref, model):
    """Largest |ours - theirs| over two prompts of different lengths (ours batched with padding, theirs alone) and
    12 motion tokens, at every position that predicts a motion token."""
    torch.manual_seed(1)
    states, lengths = torch.randn(2, 9, TEXT_DIM), [9, 5]
    mask = torch.arange(9)[None] < torch.tensor(lengths)[:, None]
    tokens = torch.randint(0, K + 1, (2, 12))
    with torch.no_grad():
        ours = model(states, mask, tokens)  # (2, 13, K + 1): last text token, then each motion token
        theirs = [ref(tokens[b], states[b : b + 1], n)[n - 1 :] for b, n in enumerate(lengths)]
    return max(float((ours[b] - theirs[b]).abs().max()) for b in range(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_logits_equal_their_model(released, tmp_path, dtype):
    ref = released.refs["short"]
    if dtype == torch.bfloat16:  # their training casts to bf16 and saves that; their inference loads it into fp32
        ref = make_reference(0, END_BOOST)
        ref.load_state_dict({k: v.to(dtype).float() for k, v in ref.state_dict().items()})
    src = save_released_generator(tmp_path / "gen.pth", ref, dtype)
    assert main(import_args(released, src, tmp_path / "pipe")) == 0
    model = load_generator(tmp_path / "pipe" / "generator")
    cfg = model.cfg
    assert (cfg.vocab_codes, cfg.dim, cfg.n_layer, cfg.n_head, cfg.text_dim) == (K, D, LAYERS, HEADS, TEXT_DIM)
    assert cfg.rope_interleaved and cfg.text_proj_bias and not cfg.null_condition
    assert float(model.text_proj.bias.detach().abs().min()) > 0  # their bias arrived
    from safetensors import safe_open

    with safe_open(str(tmp_path / "pipe" / "generator" / "model.safetensors"), "pt") as f:
        assert f.get_slice("tok_emb.weight").get_dtype() == {torch.float32: "F32", torch.bfloat16: "BF16"}[dtype]
    diff = _logits_max_diff(ref, model)
    print(f"logits max |ours - theirs| ({dtype}): {diff:.2e}")
    assert diff < 1e-5


def test_greedy_tokens_equal_their_sampler_over_its_50_tokens(released, pipelines):
    states, mask = their_t5_states(released.t5, PROMPT)
    for name in ("short", "long"):
        with torch.no_grad():
            theirs = ref_greedy(released.refs[name], states, int(mask.sum()))
        pipe = TextToMotion.from_pretrained(pipelines[name])
        ours = generate_tokens(pipe.generator, *pipe.text_encoder.encode([PROMPT]), greedy=True, min_tokens=1)[0]
        print(f"{name}: their {len(theirs)} tokens, our {len(ours)}; equal over theirs: {ours[:50] == theirs}")
        assert ours[: len(theirs)] == theirs
        if name == "short":  # END before the cap: the same sequence, END included
            assert 5 < len(theirs) < 50 and ours == theirs
        else:  # their cap cut it; ours goes on to END or the trained maximum
            assert len(theirs) == 50 and len(ours) > 50


def test_generate_writes_the_motion_of_their_chain(released, pipelines, tmp_path):
    """T5 -> their sampler -> their decoder -> de-normalise -> joints, against `motionmill generate`'s files."""
    states, mask = their_t5_states(released.t5, PROMPT)
    with torch.no_grad():
        tokens = ref_greedy(released.refs["short"], states, int(mask.sum()))
        levels = torch.tensor(LEVELS)
        basis = torch.cumprod(torch.tensor([1, *LEVELS[:-1]]), 0)
        digits = (torch.tensor(tokens)[:, None] // basis) % levels  # their index: first level least significant
        codes = ((digits - levels // 2) / (levels // 2)).float()  # (N, levels) in [-1, 1]
        latent = released.fsq.vqvae.quantizer.project_out(codes).T[None]  # (1, W, N)
        normalised = released.fsq.vqvae.decoder.model(latent)[0].T.numpy()  # (2N, 272)
    features = normalised * np.load(released.stats / "std.npy") + np.load(released.stats / "mean.npy")
    # --raw: their chain has no reconciliation, so the decoded features are what must match; --min-seconds 0: their
    # sampler lets the model stop after its first token
    assert main(["generate", PROMPT, "--model", str(pipelines["short"]), "--out", str(tmp_path), "--greedy",
                 "--guidance", "1", "--candidates", "1", "--no-compose", "--raw",
                 "--min-seconds", "0"]) == 0  # fmt: skip
    ours = np.load(next(p for p in tmp_path.glob("*.npy") if not p.name.endswith(".joints.npy")))
    joints = np.load(next(tmp_path.glob("*.joints.npy")))
    assert ours.shape == features.shape == (2 * len(tokens), 272)
    feature_diff = float(np.abs(ours - features).max())
    joint_diff = float(np.abs(joints - decode_joints(features.astype(np.float64))).max())
    print(f"{len(tokens)} tokens; features max diff {feature_diff:.2e}, joints max diff {joint_diff:.2e}")
    assert feature_diff < 1e-4 and joint_diff < 1e-4


def test_pipeline_json_says_why_guidance_is_off_and_guidance_is_refused(released, pipelines, tmp_path, capsys):
    info = json.loads((pipelines["short"] / "pipeline.json").read_text())
    assert info["sampling"]["guidance"] == 1 and info["sampling"]["greedy"] and info["sampling"]["candidates"] == 1
    assert any("null condition" in note for note in info["notes"])
    assert info["text_encoder"] == f"t5:{released.t5.resolve()},truncate=states"
    capsys.readouterr()
    assert main(["generate", PROMPT, "--model", str(pipelines["short"]), "--out", str(tmp_path), "--guidance",
                 "2"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("motionmill: error: this generator has no learned null condition")
    assert "--guidance 1" in err


def test_text_states_are_computed_as_their_inference_does(released, pipelines):
    """Their inference encodes the whole text (up to the tokenizer's limit) and keeps the first 150 states, so a long
    text's last kept state is not </s>; a short one keeps its </s>."""
    encoder = TextToMotion.from_pretrained(pipelines["short"]).text_encoder
    long_text = " ".join(WORDS * 15)  # 240 words
    ours, our_mask = encoder.encode([PROMPT, long_text])
    for row, text in enumerate([PROMPT, long_text]):
        theirs, mask = their_t5_states(released.t5, text)
        n = int(mask.sum())
        assert int(our_mask[row].sum()) == n == min(150, len(text.split()) + 1)
        torch.testing.assert_close(ours[row, :n], theirs[0, :n], atol=1e-5, rtol=1e-5)
    cut_first = load_text_encoder(f"t5:{released.t5}").encode([long_text])[0]  # the default: cut, then encode
    assert not torch.allclose(cut_first[0], theirs[0], atol=1e-3)  # so the import asks for truncate=states


def test_an_end_first_gives_their_code_1_and_our_most_likely_code(tmp_path):
    """Documented difference (pipeline.json notes): their sampler answers an END before any token with [1]; ours
    never ends before one token, so it takes the most likely code."""
    ref, states = make_reference(0), torch.randn(1, 6, TEXT_DIM)
    with torch.no_grad():
        best = int(ref(torch.zeros(0, dtype=torch.long), states, 6)[-1, :K].argmax())
        ref.lm_head.weight[K] = 3 * ref.lm_head.weight[best]  # END's logit: three times the best code's (> 0)
        assert ref_greedy(ref, states, 6) == [1]
    cfg, tensors = read_released_generator(save_released_generator(tmp_path / "gen.pth", ref), n_head=HEADS)
    with torch.no_grad():
        ours = generate_tokens(build_generator(cfg, tensors), states, torch.ones(1, 6, dtype=torch.bool), greedy=True,
                               min_tokens=1)[0]  # fmt: skip
    assert ours[0] == best != 1


def test_the_model_takes_the_mapped_tensors_without_copying_them(released):
    cfg, tensors = read_released_generator(released.root / "short.pth", n_head=HEADS)
    model = build_generator(cfg, tensors)
    params = dict(model.named_parameters())
    assert params.keys() == tensors.keys()
    assert all(params[k].data_ptr() == t.data_ptr() for k, t in tensors.items())  # the file's memory, renamed


def test_head_count_comes_from_their_size_table():
    def shapes(n_layer, dim, codes=64000, text_dim=2048):  # meta tensors: only shapes are read
        sd = {"transformer.wte.weight": torch.empty(codes + 2, dim, device="meta"),
              "llama_proj.weight": torch.empty(dim, text_dim, device="meta"),
              "transformer.h.0.mlp.c_fc1.weight": torch.empty(4096, dim, device="meta")}  # fmt: skip
        return sd | {f"transformer.h.{i}.rms_1.scale": torch.empty(dim, device="meta") for i in range(n_layer)}

    cfg = released_generator_config(shapes(48, 1536))  # their 1B
    assert (cfg.n_head, cfg.n_layer, cfg.dim, cfg.hidden, cfg.vocab_codes, cfg.text_dim) == (24, 48, 1536, 4096,
                                                                                             64000, 2048)  # fmt: skip
    assert released_generator_config(shapes(36, 4096)).n_head == 32  # their 7B
    with pytest.raises(ValueError, match="pass --n-head"):
        released_generator_config(shapes(2, 64))


def _bad_inputs(released, tmp):
    """name -> (changed arguments, expected message) for inputs that must fail as one line with status 2."""
    sd = {f"module.{k}": v for k, v in released.refs["short"].state_dict().items()}
    variants = {
        "args": {"trans": sd, "args": argparse.Namespace(lr=1)},  # objects weights_only refuses to unpickle
        "no_bias": {"trans": {k: v for k, v in sd.items() if "bias" not in k}},
        "narrow": {"trans": sd | {"module.lm_head.weight": torch.zeros(K + 2, D)}},
        "extra": {"trans": sd | {"module.transformer.wpe.weight": torch.zeros(3)}},
        "wide": {"trans": sd | {"module.llama_proj.weight": torch.zeros(D, 2 * TEXT_DIM)}},
    }
    for name, obj in variants.items():
        torch.save(obj, tmp / f"{name}.pth")
    (tmp / "notes.pth").write_text("not a checkpoint")
    short = released.root / "short.pth"
    return {
        "missing generator": ({"generator": tmp / "nowhere.pth"}, "no generator checkpoint at .*nowhere.pth"),
        "missing tokenizer": ({"tokenizer": tmp / "fsq.pth"}, "no tokenizer checkpoint at .*fsq.pth"),
        "missing stats": ({"stats": tmp / "mean_std"}, "no normalisation stats at .*mean_std"),
        "missing t5": ({"t5": f"t5:{tmp / 'flan-t5-xl'}"}, "text encoder folder not found: .*flan-t5-xl"),
        "not t5": ({"t5": "minilm"}, "reads flan-t5 states: give --text-encoder t5:DIR"),
        "not a checkpoint": ({"generator": tmp / "notes.pth"}, "can be memory-mapped: not in torch.save's zip format"),
        "tokenizer as generator": ({"generator": released.root / "fsq_net_6000000.pth"}, "'net' is the tokenizer's"),
        "pickled objects": ({"generator": tmp / "args.pth"}, "argparse.Namespace.*extract its weights"),
        "missing bias": ({"generator": tmp / "no_bias.pth"}, r"missing keys: \['llama_proj.bias'\]"),
        "shape mismatch": ({"generator": tmp / "narrow.pth"}, r"mismatches: \['lm_head.weight: \(514, 64\) != \(513"),
        "unexpected key": ({"generator": tmp / "extra.pth"}, r"unexpected keys: \['transformer.wpe.weight'\]"),
        "text width": ({"generator": tmp / "wide.pth"}, "gives 48-d states but the generator reads 96-d"),
        "vocabulary": ({"generator": short, "extra": ["--levels", "8,8,7"]}, "predicts 512 codes but .* has 448"),
        "levels syntax": ({"generator": short, "extra": ["--levels", "8,x"]}, "--levels must be comma-separated"),
    }


BAD_INPUTS = ["missing generator", "missing tokenizer", "missing stats", "missing t5", "not t5", "not a checkpoint",
              "tokenizer as generator", "pickled objects", "missing bias", "shape mismatch", "unexpected key",
              "text width", "vocabulary", "levels syntax"]  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_with_status_2(released, tmp_path, capsys, case):
    changed, message = _bad_inputs(released, tmp_path)[case]
    args = import_args(released, changed.get("generator", released.root / "short.pth"), tmp_path / "out",
                       *changed.get("extra", []), tokenizer=changed.get("tokenizer"), stats=changed.get("stats"),
                       text_encoder=changed.get("t5"))  # fmt: skip
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("motionmill: error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()  # every input is checked before anything is written
