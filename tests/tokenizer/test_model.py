"""MotionTokenizer: presets, config validation, Haar round trip, shapes, padding invariance, loss, overfitting."""

import time

import pytest
import torch

from motionmill.motion.features272 import LAYOUT_272
from motionmill.motion.skeleton import SMPL22
from motionmill.tokenizer.model import (
    EFFECTOR_CHANNELS,
    EFFECTOR_JOINTS,
    LATENT_BOUND,
    LOSS_BLOCKS,
    PAD_ID,
    PRESETS,
    MotionTokenizer,
    TokenizerConfig,
    haar_merge,
    haar_split,
)


def small_model(seed=0, **overrides) -> MotionTokenizer:
    torch.manual_seed(seed)
    return MotionTokenizer(TokenizerConfig.from_name("tiny", width=32, **overrides)).eval()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_base_preset_has_the_released_size():
    with torch.device("meta"):  # no memory, no init time
        model = MotionTokenizer(TokenizerConfig.from_name("base"))
    assert abs(n_params(model) - 11.35e6) / 11.35e6 < 0.02
    assert model.cfg.codebook_size == 64_000 and model.cfg.stride == 2


def test_presets_grow_and_overrides_apply():
    sizes = []
    for name in ("tiny", "small", "base"):
        with torch.device("meta"):
            sizes.append(n_params(MotionTokenizer(TokenizerConfig.from_name(name))))
    assert sizes == sorted(sizes) and sizes[0] < 1.5e6
    assert set(PRESETS) == {"tiny", "small", "base"}
    assert TokenizerConfig.from_name("base", down_t=2).stride == 4
    assert TokenizerConfig() == TokenizerConfig.from_name("tiny")  # tiny is the default
    with pytest.raises(ValueError, match="unknown tokenizer preset"):
        TokenizerConfig.from_name("huge")


@pytest.mark.parametrize(
    ("fields", "flag"),
    [({"width": 0}, "--width"), ({"down_t": -1}, "--down-t"), ({"levels": (8, 1)}, "--levels"),
     ({"positions_weight": -1.0}, "--positions-weight"), ({"feature_dim": 263}, "--positions-weight"),
     ({"trajectory_weight": -0.1}, "--trajectory-weight"), ({"effectors_weight": -1.0}, "--effectors-weight")],
)  # fmt: skip
def test_config_errors_name_the_flag(fields, flag):
    with pytest.raises(ValueError, match=flag):
        TokenizerConfig(**fields)


def test_loss_blocks_are_the_272_layout_groups():
    assert LOSS_BLOCKS == tuple(LAYOUT_272.groups)


def test_haar_transform_reconstructs_perfectly():
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    bands = haar_split(x)
    assert bands.shape == (2, 10, 8)
    torch.testing.assert_close(haar_merge(bands), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(bands.square().sum(), x.square().sum())  # orthonormal: energy is kept
    assert haar_split(torch.ones(1, 3, 8))[:, 3:].abs().max() < 1e-6  # a constant has no high band


@pytest.mark.parametrize(("overrides", "stride"), [({}, 2), ({"down_t": 2}, 4), ({"haar": True}, 4)])
def test_forward_encode_decode_shapes(overrides, stride):
    model = small_model(**overrides)
    x = torch.randn(2, 32, 272)
    recon, ids = model(x)
    assert recon.shape == x.shape and ids.shape == (2, 32 // stride)
    ids2, n_tok = model.encode(x)
    assert torch.equal(ids2, ids) and n_tok.tolist() == [32 // stride] * 2
    torch.testing.assert_close(model.decode(ids), recon)  # decode(encode(x)) is the forward reconstruction


def test_forward_rejects_a_length_off_the_stride():
    with pytest.raises(ValueError, match="multiple of the stride"):
        small_model()(torch.randn(1, 31, 272))


def test_encode_pads_and_reports_token_lengths():
    model = small_model()
    ids, n_tok = model.encode(torch.randn(2, 31, 272), lengths=torch.tensor([31, 10]))
    assert ids.shape == (2, 16) and n_tok.tolist() == [16, 5]
    assert (ids[1, 5:] == PAD_ID).all() and (ids[1, :5] >= 0).all() and (ids[0] >= 0).all()
    out = model.decode(ids)  # padding found from the negative ids
    assert out.shape == (2, 32, 272)
    assert out[1, 10:].abs().max() == 0 and out[1, :10].abs().max() > 0
    torch.testing.assert_close(model.decode(ids, lengths=n_tok), out)


@pytest.mark.parametrize("overrides", [{}, {"down_t": 2}, {"haar": True}])
def test_a_clip_gets_the_same_tokens_alone_or_padded_in_a_batch(overrides):
    # The guarantee of the per-conv masks: zero-padding at the end of a lone clip and masked positions in a batch
    # are the same thing, so the tokens of a clip never depend on its neighbours or on what the padding holds.
    model = small_model(**overrides).double()
    stride = model.cfg.stride
    short, long = torch.randn(1, 37, 272, dtype=torch.float64), torch.randn(1, 64, 272, dtype=torch.float64)
    garbage = 50 * torch.randn(1, 27, 272, dtype=torch.float64)
    batch = torch.cat([torch.cat([short, garbage], 1), long])
    ids, n_tok = model.encode(batch, lengths=torch.tensor([37, 64]))
    alone, n_alone = model.encode(short)
    assert n_tok[0] == n_alone[0] == -(-37 // stride)
    assert torch.equal(ids[0, : n_tok[0]], alone[0])
    assert torch.equal(ids[1], model.encode(long)[0][0])
    # Decoding is masked the same way.
    torch.testing.assert_close(model.decode(ids)[0, : alone.shape[1] * stride], model.decode(alone)[0])
    # Without the mask the garbage leaks into the valid frames through the receptive field.
    unmasked = model.decode(model.encode(batch)[0])[0, :32]
    assert not torch.allclose(unmasked, model.decode(alone)[0, :32])


def test_loss_ignores_padded_frames_and_logs_each_term():
    model = small_model()
    x, mask = torch.randn(2, 16, 272), torch.ones(2, 16, dtype=torch.bool)
    mask[1, 8:] = False
    recon, _ = model(x, mask)
    loss, logs = model.loss(x, recon, mask)
    changed = recon.clone()
    changed[1, 8:] += 100.0
    assert torch.equal(model.loss(x, changed, mask)[0], loss)
    assert set(logs) == {"recon", "positions"} and all(isinstance(v, float) for v in logs.values())
    assert loss.item() == pytest.approx(logs["recon"] + 0.5 * logs["positions"], rel=1e-5)


def _smooth_l1(d: float) -> float:
    return 0.5 * d * d if abs(d) < 1 else abs(d) - 0.5


def test_trajectory_term_is_the_smooth_l1_of_the_running_heading_and_path_error():
    model = small_model(trajectory_weight=2.0, positions_weight=0.0)
    x, mask = torch.zeros(2, 60, 272), torch.ones(2, 60, dtype=torch.bool)
    mask[1, 40:] = False
    recon = x.clone()
    recon[:, :, 2] = 0.3  # a heading change decoded 0.3 std too large on every frame
    recon[:, :, 0] = torch.tensor([0.5, -0.5]).repeat(30)  # root velocity errors that cancel every two frames
    loss, logs = model.loss(x, recon, mask)
    frames = 60 + 40
    heading = sum(_smooth_l1(0.3 * (t + 1) / 30) for n in (60, 40) for t in range(n))  # both clips' real frames
    root = (60 + 40) // 2 * _smooth_l1(0.5 / 30)  # the running sum is 0.5/30 on every other frame, else 0
    assert logs["trajectory"] == pytest.approx((heading + root) / (frames * 8), rel=1e-5)
    assert loss.item() == pytest.approx(logs["recon"] + 2.0 * logs["trajectory"], rel=1e-5)
    # A steady bias drifts: the same per-frame error, alternating in sign, costs far less.
    alternating = x.clone()
    alternating[:, :, 2] = torch.tensor([0.3, -0.3]).repeat(30)
    assert model.loss(x, alternating, mask)[1]["trajectory"] < 0.01 * model.loss(x, recon, mask)[1]["trajectory"]
    assert "trajectory" not in small_model().loss(x, recon, mask)[1]  # off by default, as MotionMillion trains


def test_effectors_term_weighs_the_local_positions_of_ankles_feet_and_wrists():
    assert [SMPL22.joint_names[j] for j in EFFECTOR_JOINTS] == ["L_Ankle", "R_Ankle", "L_Foot", "R_Foot", "L_Wrist",
                                                            "R_Wrist"]  # fmt: skip
    model = small_model(effectors_weight=4.0, positions_weight=0.0)
    x, mask = torch.zeros(2, 10, 272), torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    recon = x.clone()
    right_wrist = 8 + 3 * 21  # joint j's local position is features [8 + 3j : 11 + 3j]
    recon[:, :, right_wrist + 1] = 2.0  # a punch 2 std too high: SmoothL1 is 2 - 0.5 on this channel
    recon[:, :, 8 + 3 * 15] = 5.0  # the head is not an effector
    loss, logs = model.loss(x, recon, mask)
    frames = 10 + 6
    assert logs["effectors"] == pytest.approx(frames * 1.5 / (frames * 18), rel=1e-6)
    assert loss.item() == pytest.approx(logs["recon"] + 4.0 * logs["effectors"], rel=1e-5)
    assert logs["recon"] == pytest.approx(frames * (1.5 + 4.5) / (frames * 272), rel=1e-6)
    assert EFFECTOR_CHANNELS[-2] == right_wrist + 1
    assert "effectors" not in small_model().loss(x, recon, mask)[1]  # off by default


def test_latent_bound_term_is_the_mean_squared_excess_and_pulls_saturated_latents_back():
    model = small_model(latent_bound_weight=2.0)
    x = torch.zeros(1, 8, 272)
    recon, ids, latents = model(x, return_latents=True)
    assert latents.shape == (1, 4, 4) and torch.equal(ids, model(x)[1])
    inside = torch.full((1, 4, 4), LATENT_BOUND - 0.1)
    assert model.loss(x, recon, latents=inside)[1]["latent_bound"] == 0.0  # a healthy quantiser pays nothing
    outside = inside.clone()
    outside[0, 0, 0] = -(LATENT_BOUND + 2.0)  # 2 beyond the bound: excess 2, squared 4, over 16 latents
    outside.requires_grad_(True)
    loss, logs = model.loss(x, recon, latents=outside)
    assert logs["latent_bound"] == pytest.approx(4.0 / 16)
    assert loss.item() == pytest.approx(logs["recon"] + logs["positions"] * 0.5 + 2.0 * 4.0 / 16, rel=1e-5)
    loss.backward()
    assert outside.grad[0, 0, 0] < 0 and (outside.grad.flatten()[1:] == 0).all()  # descent raises it towards 0
    with pytest.raises(ValueError, match="--latent-bound-weight must be >= 0"):
        TokenizerConfig(latent_bound_weight=-1.0)
    TokenizerConfig(feature_dim=263, positions_weight=0.0, latent_bound_weight=1.0)  # needs no 272 layout


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig.from_name("tiny", width=32))
    x = torch.randn(2, 32, 272).cumsum(1) * 0.1  # smooth, motion-like curves
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    start, losses = time.perf_counter(), []
    for _ in range(100):
        loss, _ = model.loss(x, model(x)[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]  # about 25x lower in practice
    assert time.perf_counter() - start < 30


def test_forward_under_bf16_autocast_on_cpu():
    model = small_model()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        recon, ids = model(torch.randn(1, 16, 272))
    assert recon.shape == (1, 16, 272) and 0 <= ids.min() and ids.max() < model.cfg.codebook_size
