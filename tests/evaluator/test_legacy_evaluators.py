"""The standard HumanML3D evaluator loads from text2motion's released `finest.tar` and embeds exactly as its
architecture says.

The fixture writes random weights under the released key names and shapes, and the references below recompute the
embeddings from those raw tensors with their own arithmetic (GRU cells, convolutions, layer norms written out),
never through our modules. MotionMillion's 272 evaluator is compared with a rebuild of MotionMillion's own classes in
`test_motionmillion_evaluator_parity.py`.
"""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motion_factory import random_motion
from motionmill.inference.evaluator import Evaluator, evaluator_from_spec
from motionmill.motion.container import Motion

POS = ["VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV", "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP",
       "Desc_VIP", "OTHER"]  # fmt: skip
WORDS = ["sos", "eos", "unk", "a", "man", "walk", "forward", "quickly", "the", "person", "jump"]


def _motion(seed: int, frames: int, fps: float = 30.0) -> Motion:
    return Motion.from_rotations(*random_motion(seed, frames=frames), fps=fps)


def _random(shape, gen, scale=0.05) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * scale


def _layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


# ================================================================================= HumanML3D (text2motion)


def _gru_layout(prefix: str, size: int) -> dict:
    shapes = {}
    for s in ("", "_reverse"):
        shapes |= {f"{prefix}.weight_ih_l0{s}": (3 * size, size), f"{prefix}.weight_hh_l0{s}": (3 * size, size),
                   f"{prefix}.bias_ih_l0{s}": (3 * size,), f"{prefix}.bias_hh_l0{s}": (3 * size,)}  # fmt: skip
    return shapes


def _output_net_layout(hidden: int, out: int) -> dict:
    return {"output_net.0.weight": (hidden, 2 * hidden), "output_net.0.bias": (hidden,),
            "output_net.1.weight": (hidden,), "output_net.1.bias": (hidden,),
            "output_net.3.weight": (out, hidden), "output_net.3.bias": (out,)}  # fmt: skip


HML_LAYOUT = {  # text2motion TextEncoderBiGRUCo / MovementConvEncoder / MotionEncoderBiGRUCo, released sizes
    "text_encoder": {"hidden": (2, 1, 512), "pos_emb.weight": (300, 15), "pos_emb.bias": (300,),
                     "input_emb.weight": (512, 300), "input_emb.bias": (512,), **_gru_layout("gru", 512),
                     **_output_net_layout(512, 512)},
    "movement_encoder": {"main.0.weight": (512, 259, 4), "main.0.bias": (512,), "main.3.weight": (512, 512, 4),
                         "main.3.bias": (512,), "out_net.weight": (512, 512), "out_net.bias": (512,)},
    "motion_encoder": {"hidden": (2, 1, 1024), "input_emb.weight": (1024, 512), "input_emb.bias": (1024,),
                       **_gru_layout("gru", 1024), **_output_net_layout(1024, 512)},
}  # fmt: skip


@pytest.fixture(scope="module")
def hml(tmp_path_factory):
    """(folder, state dicts, glove vectors, mean, std) of a random HumanML3D evaluator written to disk."""
    folder = tmp_path_factory.mktemp("humanml3d")
    gen = torch.Generator().manual_seed(0)
    parts = {part: {k: _random(s, gen) for k, s in layout.items()} for part, layout in HML_LAYOUT.items()}
    torch.save({**parts, "epoch": 42, "opt_text_encoder": {"state": {}, "param_groups": []}}, folder / "finest.tar")
    glove = folder / "glove"
    glove.mkdir()
    vectors = np.random.default_rng(1).normal(size=(len(WORDS), 300)).astype(np.float32)
    np.save(glove / "our_vab_data.npy", vectors)
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(WORDS))
    (glove / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(WORDS)}))
    meta = folder / "meta"
    meta.mkdir()
    rng = np.random.default_rng(2)
    mean, std = rng.normal(size=263).astype(np.float32), rng.uniform(0.5, 2, 263).astype(np.float32)
    np.save(meta / "mean.npy", mean)
    np.save(meta / "std.npy", std)
    return folder, parts, vectors, mean, std


def _hml_spec(folder, checkpoint="finest.tar") -> str:
    return f"humanml3d:{folder / checkpoint},glove={folder / 'glove'},meta={folder / 'meta'}"


def _gru_direction(x, sd, prefix, suffix, h0, reverse):
    """One GRU direction over the sequence x (T, In), PyTorch's gate equations; returns the last hidden state."""
    w_ih, w_hh = sd[f"{prefix}.weight_ih_l0{suffix}"], sd[f"{prefix}.weight_hh_l0{suffix}"]
    b_ih, b_hh = sd[f"{prefix}.bias_ih_l0{suffix}"], sd[f"{prefix}.bias_hh_l0{suffix}"]
    h = h0
    for t in reversed(range(len(x))) if reverse else range(len(x)):
        gi, gh = w_ih @ x[t] + b_ih, w_hh @ h + b_hh
        (ir, iz, in_), (hr, hz, hn) = gi.chunk(3), gh.chunk(3)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        h = (1 - z) * n + z * h
    return h


def _bigru_output(x, sd):
    """Output net on [last forward state, last backward state] of the bi-GRU with the learned initial state."""
    h = torch.cat([_gru_direction(x, sd, "gru", "", sd["hidden"][0, 0], False),
                   _gru_direction(x, sd, "gru", "_reverse", sd["hidden"][1, 0], True)])  # fmt: skip
    h = sd["output_net.0.weight"] @ h + sd["output_net.0.bias"]
    h = F.leaky_relu(_layer_norm(h, sd["output_net.1.weight"], sd["output_net.1.bias"]), 0.2)
    return sd["output_net.3.weight"] @ h + sd["output_net.3.bias"]


def _hml_text_reference(tokens, parts, vectors):
    """tokens: (word, POS tag) with sos/eos, already resolved to vocabulary words and final tags."""
    sd = {k: v.double() for k, v in parts["text_encoder"].items()}
    words = torch.tensor(np.stack([vectors[WORDS.index(w)] for w, _ in tokens]), dtype=torch.float64)
    onehot = torch.zeros(len(tokens), 15, dtype=torch.float64)
    onehot[torch.arange(len(tokens)), [POS.index(p) for _, p in tokens]] = 1
    x = words + onehot @ sd["pos_emb.weight"].T + sd["pos_emb.bias"]
    x = x @ sd["input_emb.weight"].T + sd["input_emb.bias"]
    return _bigru_output(x, sd)


def _hml_motion_reference(motion: Motion, parts, mean, std):
    f = (motion.features263() - mean) / std
    n = min(len(f), 196) // 4 * 4
    x = torch.zeros(196, 263, dtype=torch.float64)  # the protocol pads every motion to 196 frames
    x[:n] = torch.from_numpy(f[:n])
    mv = {k: v.double() for k, v in parts["movement_encoder"].items()}
    h = x[:, :259].T[None]  # (1, 259, 196): foot contacts dropped
    h = F.leaky_relu(F.conv1d(h, mv["main.0.weight"], mv["main.0.bias"], stride=2, padding=1), 0.2)
    h = F.leaky_relu(F.conv1d(h, mv["main.3.weight"], mv["main.3.bias"], stride=2, padding=1), 0.2)
    h = h[0].T @ mv["out_net.weight"].T + mv["out_net.bias"]  # (49, 512)
    sd = {k: v.double() for k, v in parts["motion_encoder"].items()}
    x = h[: n // 4] @ sd["input_emb.weight"].T + sd["input_emb.bias"]
    return _bigru_output(x, sd)


def test_humanml3d_text_embeddings_match_reference(hml):
    folder, parts, vectors, _, _ = hml
    ev = evaluator_from_spec(_hml_spec(folder))
    assert isinstance(ev, Evaluator) and ev.dim == 512
    texts = [
        "a man walk forward quickly#a/DET man/NOUN walk/VERB forward/ADV quickly/ADV#0.0#0.0",  # HumanML3D line
        "the/DET person/NOUN jump/VERB",  # its token field alone
        "A man walks forward!",  # raw text: no lemmas ("walks" is unknown), closed-class tags
    ]
    expected_tokens = [
        [("sos", "OTHER"), ("a", "DET"), ("man", "NOUN"), ("walk", "Act_VIP"), ("forward", "Loc_VIP"),
         ("quickly", "Desc_VIP"), ("eos", "OTHER")],
        [("sos", "OTHER"), ("the", "DET"), ("person", "NOUN"), ("jump", "Act_VIP"), ("eos", "OTHER")],
        [("sos", "OTHER"), ("a", "DET"), ("man", "OTHER"), ("unk", "OTHER"), ("forward", "Loc_VIP"),
         ("eos", "OTHER")],
    ]  # fmt: skip
    got = ev.text_embeddings(texts)
    assert got.shape == (3, 512) and got.dtype == np.float64
    for row, tokens in zip(got, expected_tokens, strict=True):
        np.testing.assert_allclose(row, _hml_text_reference(tokens, parts, vectors).numpy(), rtol=1e-4, atol=1e-5)


def test_humanml3d_text_keeps_twenty_words(hml):
    folder, parts, vectors, _, _ = hml
    ev = evaluator_from_spec(_hml_spec(folder))
    long = " ".join(["walk/VERB"] * 25)
    tokens = [("sos", "OTHER")] + [("walk", "Act_VIP")] * 20 + [("eos", "OTHER")]
    np.testing.assert_allclose(ev.text_embeddings([long])[0], _hml_text_reference(tokens, parts, vectors).numpy(),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_humanml3d_motion_embeddings_match_reference(hml):
    folder, parts, _, mean, std = hml
    ev = evaluator_from_spec(_hml_spec(folder))
    # 3 s, 5.5 s and 15 s at 30 fps: 60, 110 and 299 frames at 20 fps (the last is cut to 196)
    motions = [_motion(0, 91), _motion(1, 166), _motion(2, 450)]
    got = ev.motion_embeddings(motions)
    assert got.shape == (3, 512)
    for row, motion in zip(got, motions, strict=True):
        np.testing.assert_allclose(row, _hml_motion_reference(motion, parts, mean, std).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ev.motion_embeddings(motions[1:2])[0], got[1], atol=1e-5)  # batch-independent


def test_humanml3d_key_errors_name_the_keys(hml, tmp_path):
    folder, parts, _, _, _ = hml
    bad = {part: dict(sd) for part, sd in parts.items()}
    del bad["text_encoder"]["input_emb.bias"]
    bad["motion_encoder"]["extra.weight"] = torch.zeros(3)
    bad["movement_encoder"]["out_net.weight"] = torch.zeros(512, 511)
    torch.save(bad, tmp_path / "finest.tar")
    (tmp_path / "glove").symlink_to(folder / "glove")
    (tmp_path / "meta").symlink_to(folder / "meta")
    with pytest.raises(ValueError) as info:
        evaluator_from_spec(_hml_spec(tmp_path))
    message = str(info.value)
    assert "missing keys: ['text_encoder.input_emb.bias']" in message
    assert "unexpected keys: ['motion_encoder.extra.weight']" in message
    assert "movement_encoder.out_net.weight: (512, 511) != (512, 512)" in message
    torch.save({"text_encoder": parts["text_encoder"], "epoch": 1}, tmp_path / "partial.tar")
    with pytest.raises(ValueError, match=r"expected a dict with state dicts \['text_encoder', 'movement_encoder', "
                                         r"'motion_encoder'\]; found \['epoch', 'text_encoder'\]"):  # fmt: skip
        evaluator_from_spec(_hml_spec(tmp_path, "partial.tar"))


class _Payload:
    """Anything that is not a plain container: must never be unpickled from a user's file."""


def test_glove_pickles_must_be_plain(hml, tmp_path):
    folder, _, _, _, _ = hml
    glove = tmp_path / "glove"
    glove.mkdir()
    for name in ("our_vab_data.npy", "our_vab_idx.pkl"):
        (glove / name).write_bytes((folder / "glove" / name).read_bytes())
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps([_Payload()]))
    spec = f"humanml3d:{folder / 'finest.tar'},glove={glove},meta={folder / 'meta'}"
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        evaluator_from_spec(spec)
