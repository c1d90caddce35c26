"""The converter maps a checkpoint in the released MotionMillion layout onto our model, function for function.

`RefHumanVQVAE` below re-creates the released module structure (HumanVQVAE -> vqvae -> encoder/decoder/quantizer,
nn.Sequential "model" lists, Resnet1D blocks named norm1/conv1/norm2/conv2, a Patcher1D slot with two persistent
buffers at the head of the encoder and an UnPatcher1D at the tail of the decoder) so its state dict has the
released key names, and its forward is an independent implementation of their function (patch size 1).
"""

import argparse

import numpy as np
import pytest
import torch
from torch import nn

from motionmill.checkpoints.convert_motionmillion import convert, main
from motionmill.checkpoints.tokenizer import load_tokenizer
from motionmill.motion.normalize import Normalizer


class RefResBlock(nn.Module):
    def __init__(self, w, dilation):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.activation1, self.activation2 = nn.ReLU(), nn.ReLU()
        self.conv1 = nn.Conv1d(w, w, 3, 1, dilation, dilation)
        self.conv2 = nn.Conv1d(w, w, 1, 1, 0)

    def forward(self, x):
        h = self.activation1(self.norm1(x.transpose(-2, -1)).transpose(-2, -1))
        h = self.activation2(self.norm2(self.conv1(h).transpose(-2, -1)).transpose(-2, -1))
        return x + self.conv2(h)


class RefResnet(nn.Module):
    def __init__(self, w, depth, growth):
        super().__init__()
        self.model = nn.Sequential(*[RefResBlock(w, growth**d) for d in range(depth)][::-1])

    def forward(self, x):
        return self.model(x)


class RefPatcher(nn.Module):
    """Patch size 1: zero Haar levels, an identity that still owns two persistent buffers."""

    def __init__(self):
        super().__init__()
        self.register_buffer("wavelets", torch.tensor([0.7071067811865476, 0.7071067811865476]))
        self.register_buffer("_arange", torch.arange(2))

    def forward(self, x):
        return x


def ref_encoder(f, w, down_t, depth, growth, patcher):
    blocks = [RefPatcher()] if patcher else []
    blocks += [nn.Conv1d(f, w, 3, 1, 1), nn.ReLU()]
    blocks += [nn.Sequential(nn.Conv1d(w, w, 4, 2, 1), RefResnet(w, depth, growth)) for _ in range(down_t)]
    return nn.Sequential(*blocks, nn.Conv1d(w, w, 3, 1, 1))


def ref_decoder(f, w, down_t, depth, growth, patcher):
    blocks = [nn.Conv1d(w, w, 3, 1, 1), nn.ReLU()]
    blocks += [nn.Sequential(RefResnet(w, depth, growth), nn.Upsample(scale_factor=2, mode="nearest"),
                             nn.Conv1d(w, w, 3, 1, 1)) for _ in range(down_t)]  # fmt: skip
    blocks += [nn.Conv1d(w, w, 3, 1, 1), nn.ReLU(), nn.Conv1d(w, f, 3, 1, 1)]
    return nn.Sequential(*blocks, *([RefPatcher()] if patcher else []))


class RefFSQ(nn.Module):
    def __init__(self, levels, dim):
        super().__init__()
        self.levels = torch.tensor(levels)
        self.project_in, self.project_out = nn.Linear(dim, len(levels)), nn.Linear(len(levels), dim)

    def forward(self, z):  # (B, D, N)
        z = self.project_in(z.permute(0, 2, 1))
        half = (self.levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        q = torch.round(torch.tanh(z + torch.atanh(offset / half)) * half - offset)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), self.levels[:-1]]), 0)
        idx = ((q + self.levels // 2).long() * basis).sum(-1)
        return self.project_out(q / (self.levels // 2)).permute(0, 2, 1), idx


class RefVQVAE(nn.Module):
    def __init__(self, f, w, down_t, depth, growth, levels, patcher):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.model = ref_encoder(f, w, down_t, depth, growth, patcher)
        self.decoder = nn.Module()
        self.decoder.model = ref_decoder(f, w, down_t, depth, growth, patcher)
        self.quantizer = RefFSQ(levels, w)

    def forward(self, x):  # (B, T, F)
        q, idx = self.quantizer(self.encoder.model(x.permute(0, 2, 1)))
        return self.decoder.model(q).permute(0, 2, 1), idx


class RefHumanVQVAE(nn.Module):
    def __init__(self, f=272, w=32, down_t=1, depth=3, growth=3, levels=(8, 8, 8, 5, 5, 5), patcher=True):
        super().__init__()
        self.vqvae = RefVQVAE(f, w, down_t, depth, growth, list(levels), patcher)
        with torch.no_grad():  # LayerNorm starts at 1/0; randomise it so a swapped norm would show
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)

    def forward(self, x):
        return self.vqvae(x)


def save_released(path, ref, ddp=False):
    sd = {("module." if ddp else "") + k: v for k, v in ref.state_dict().items()}
    torch.save({"net": sd}, path)
    return path


def assert_same_function(ref, model):
    x = torch.randn(3, 32, model.cfg.feature_dim)
    with torch.no_grad():
        ref_recon, ref_ids = ref(x)
        recon, ids = model(x)
    torch.testing.assert_close(recon, ref_recon, rtol=0, atol=1e-5)
    assert torch.equal(ids, ref_ids)


def test_released_key_layout_is_what_we_expect():
    keys = RefHumanVQVAE().state_dict().keys()
    for key in ("vqvae.encoder.model.0.wavelets", "vqvae.encoder.model.1.weight", "vqvae.encoder.model.3.0.weight",
                "vqvae.encoder.model.3.1.model.0.norm1.weight", "vqvae.encoder.model.4.weight",
                "vqvae.decoder.model.2.0.model.2.conv2.bias", "vqvae.decoder.model.2.2.weight",
                "vqvae.decoder.model.5.weight", "vqvae.decoder.model.6._arange",
                "vqvae.quantizer.project_in.weight"):  # fmt: skip
        assert key in keys


@pytest.mark.parametrize("ddp", [False, True])
@pytest.mark.parametrize(("down_t", "patcher"), [(1, True), (2, True), (1, False)])
def test_converted_model_computes_the_reference_function(tmp_path, ddp, down_t, patcher):
    torch.manual_seed(0)
    ref = RefHumanVQVAE(down_t=down_t, patcher=patcher).eval()
    src = save_released(tmp_path / "fsq_net_6000000.pth", ref, ddp=ddp)
    convert(src, tmp_path / "out")
    model, stats = load_tokenizer(tmp_path / "out")
    cfg = model.cfg
    assert (cfg.width, cfg.down_t, cfg.depth, cfg.levels, cfg.feature_dim) == (32, down_t, 3, (8, 8, 8, 5, 5, 5), 272)
    assert stats is None
    assert_same_function(ref, model)


def test_levels_are_taken_from_the_flag_when_given(tmp_path):
    torch.manual_seed(1)
    ref = RefHumanVQVAE(levels=(8, 8, 8, 6, 5)).eval()
    src = save_released(tmp_path / "fsq.pth", ref)
    main([str(src), str(tmp_path / "out"), "--levels", "8,8,8,6,5"])
    model, _ = load_tokenizer(tmp_path / "out")
    assert model.cfg.levels == (8, 8, 8, 6, 5)
    assert_same_function(ref, model)
    with pytest.raises(ValueError, match="has 4 entries but the quantizer has 5"):
        convert(src, tmp_path / "bad", levels=[8, 5, 5, 5])


def test_non_272_features_convert_with_block_weights_off(tmp_path):
    ref = RefHumanVQVAE(f=263, w=16).eval()
    convert(save_released(tmp_path / "fsq.pth", ref), tmp_path / "out")
    model, _ = load_tokenizer(tmp_path / "out")
    assert model.cfg.feature_dim == 263 and model.cfg.positions_weight == 0
    assert_same_function(ref, model)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    sd = RefHumanVQVAE().state_dict()
    del sd["vqvae.decoder.model.2.2.weight"]
    sd["vqvae.encoder.extra.weight"] = torch.zeros(1)
    torch.save({"net": sd}, tmp_path / "fsq.pth")
    with pytest.raises(ValueError, match=r"(?s)unexpected keys: \['encoder.extra.weight'\].*decoder.up.0.conv.weight"):
        convert(tmp_path / "fsq.pth", tmp_path / "out")
    sd = RefHumanVQVAE().state_dict()
    sd["vqvae.decoder.model.5.weight"] = torch.zeros(272, 32, 5)
    torch.save({"net": sd}, tmp_path / "fsq.pth")
    with pytest.raises(ValueError, match="shape mismatches: .*decoder.conv_out.weight"):
        convert(tmp_path / "fsq.pth", tmp_path / "out")


def test_refuses_to_unpickle_arbitrary_objects(tmp_path):
    torch.save({"net": RefHumanVQVAE().state_dict(), "args": argparse.Namespace(lr=1)}, tmp_path / "fsq.pth")
    with pytest.raises(ValueError, match="weights_only"):
        convert(tmp_path / "fsq.pth", tmp_path / "out")


def test_released_stats_folder_is_bundled(tmp_path):
    rng = np.random.default_rng(0)
    Normalizer(rng.normal(size=272), rng.uniform(0.5, 2, size=272)).save(tmp_path / "mean_std")
    convert(save_released(tmp_path / "fsq.pth", RefHumanVQVAE()), tmp_path / "out", stats=tmp_path / "mean_std")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"config.json", "model.safetensors", "stats.safetensors"}
    assert load_tokenizer(tmp_path / "out")[1].dim == 272
