"""`motionmill plan`: exact parameter counts from the meta device, sharding, checkpointing and the CLI table."""

import pytest
import torch

from motionmill.cli import main
from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.training.plan import count_parameters, plan


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_meta_counts_equal_a_real_model(preset):
    cfg = GeneratorConfig.from_name(preset)
    real = MotionGenerator(cfg)
    total, matmul, _ = count_parameters(cfg)
    assert total == sum(p.numel() for p in real.parameters())
    assert matmul == sum(m.weight.numel() for m in real.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize(("preset", "billions"), [("1B", 1.56), ("3B", 3.40), ("7B", 7.82)])
def test_large_counts_match_the_documented_sizes(preset, billions):
    # the comment above PRESETS gives these sizes to two decimals
    assert round(count_parameters(GeneratorConfig.from_name(preset))[0] / 1e9, 2) == billions


def test_fsdp_divides_model_state_by_the_gpu_count():
    cfg = GeneratorConfig.from_name("7B")
    ddp = plan(cfg, 8, 300, 16, "ddp", "bf16", False)
    fsdp = plan(cfg, 8, 300, 16, "fsdp", "bf16", False)
    assert fsdp.model_state_gib == pytest.approx(ddp.model_state_gib / 8)
    assert fsdp.activations_gib == pytest.approx(ddp.activations_gib)  # batch is per GPU: activations unchanged
    assert fsdp.total_gib < ddp.total_gib


def test_checkpointing_lowers_activation_memory():
    cfg = GeneratorConfig.from_name("1B")
    full = plan(cfg, 1, 300, 16, "ddp", "bf16", False)
    ckpt = plan(cfg, 1, 300, 16, "ddp", "bf16", True)
    assert ckpt.activations_gib < full.activations_gib / 4
    assert ckpt.total_gib < full.total_gib


def test_flops_are_the_matmuls_that_run():
    """The plan's matmul FLOPs against torch's own count of one forward and backward pass (FlopCounterMode counts
    the matmuls, not CPU flash attention: the attention term is added back by its formula)."""
    from torch.utils.flop_counter import FlopCounterMode

    from motionmill.generator.model import MotionGenerator
    from motionmill.training.generator import generator_task

    cfg = GeneratorConfig.from_name("tiny")
    B, T, text = 4, 300, 150
    model = MotionGenerator(cfg)
    n = T - text - 1
    data = {"text_states": torch.randn(B, text, cfg.text_dim), "text_mask": torch.ones(B, text, dtype=torch.bool),
            "tokens": torch.randint(0, cfg.vocab_codes, (B, n)), "lengths": torch.full((B,), n)}  # fmt: skip
    with FlopCounterMode(display=False) as counter:
        loss, _ = generator_task(model, data)
        loss.backward()
    attention = 12 * cfg.n_layer * cfg.dim * T**2 * B
    p = plan(cfg, 1, T, B, "ddp", "fp32", False, text_tokens=text)
    assert p.flops_step - attention == pytest.approx(counter.get_total_flops(), rel=0.02)
    assert plan(cfg, 4, T, B, "ddp", "fp32", False, text_tokens=text).flops_per_gpu == pytest.approx(p.flops_step)


def test_math_attention_stores_scores():
    cfg = GeneratorConfig.from_name("small")
    fused = plan(cfg, 1, 300, 16, "ddp", "bf16", False)
    math = plan(cfg, 1, 300, 16, "ddp", "bf16", False, attention="math")
    assert fused.attention_scores_gib == 0
    scores = 2 * cfg.n_head * 300 * 300 * 16 * cfg.n_layer / 1024**3
    assert math.attention_scores_gib == pytest.approx(scores)
    assert math.activations_gib - fused.activations_gib == pytest.approx(scores, rel=0.01)


def test_cli_prints_the_table_and_a_verdict(capsys):
    assert main(["plan", "--preset", "7B", "--gpus", "8", "--seq-tokens", "300", "--batch", "16"]) == 0
    out = capsys.readouterr().out
    assert "AdamW state" in out and "activations" in out and "total" in out
    assert "verdict: does NOT fit in 80 GiB" in out
    args = ["plan", "--preset", "7B", "--gpus", "8", "--seq-tokens", "300", "--batch", "16", "--parallel", "fsdp",
            "--checkpointing", "--gpu-memory", "80"]  # fmt: skip
    assert main(args) == 0
    assert "verdict: fits in 80 GiB" in capsys.readouterr().out


def test_cli_rejects_bad_settings(capsys):
    assert main(["plan", "--preset", "tiny", "--gpus", "0"]) == 2
    assert "--gpus" in capsys.readouterr().err


def test_the_8_gpu_recipe_is_valid_and_fits_an_80_gib_gpu():
    """configs/generator/7B-fsdp.yaml, the README's 8-GPU command: every key is a real setting, the global batch is
    MotionMillion's 640, and the plan of its step fits 80 GiB."""
    from pathlib import Path

    from motionmill.training.generator import SECTIONS, GeneratorDataConfig
    from motionmill.training.loop import TrainConfig
    from motionmill.utils.config import build_dataclass, load_recipe

    recipe = load_recipe(Path(__file__).parents[2] / "configs/generator/7B-fsdp.yaml", SECTIONS)
    train = build_dataclass(TrainConfig, recipe["train"], "train")
    build_dataclass(GeneratorDataConfig, recipe["data"], "data")
    model = dict(recipe["model"])
    cfg = GeneratorConfig.from_name(model.pop("preset"), **model)
    assert train.parallel == "fsdp" and train.activation_checkpointing
    assert train.batch_size * 8 * train.grad_accum == 640
    step = plan(cfg, 8, 300, train.batch_size, "fsdp", "bf16", checkpointing=True)
    assert step.fits and step.total_gib < 80
