"""Training data hygiene: trainers read the train split only, and no augmentation of a train clip (mirror image,
caption with a changed detail, twin) describes a combination held out for the zero-shot split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corpus_factory import builtin_corpus
from motionmill.data.store import Corpus
from motionmill.synth.corpus import plan_clip
from motionmill.synth.holdout import (
    HELDOUT_PAIRS,
    clean_detail_changes,
    clean_mirror,
    detail_changes,
    heldout_rules,  # fmt: skip
    mirrored,
)
from motionmill.synth.plan import Segment
from motionmill.synth.twins import changeable, twin_plan
from motionmill.text.sides import names_a_side

TRAIN_PLANS = [p for p in map(lambda i: plan_clip(0, i), range(6000)) if p.split == "train"]


def test_mirror_swaps_sides_directions_and_turns():
    seg = Segment("walk", 0, 2, (("direction", "left"), ("turn", 90)), "punch", (("side", "right"),))
    (image,) = mirrored([seg])
    assert image.modifiers == (("direction", "right"), ("turn", -90)) and image.layer_modifiers == (("side", "left"),)
    assert mirrored(mirrored([seg])) == (seg,)


def test_a_mirror_or_changed_detail_that_makes_a_heldout_pair_is_refused():
    lunge_left = Segment("lunge", 0, 2, (("side", "left"),))
    assert ("lunge", ("side", "right")) in HELDOUT_PAIRS and not clean_mirror([lunge_left])
    walk_turn_90 = Segment("walk", 0, 2, (("turn", -90),))  # its caption changed to 180 degrees is held out
    assert ("walk", ("turn", -180)) in HELDOUT_PAIRS and not clean_detail_changes([walk_turn_90])
    assert clean_mirror([Segment("jump", 0, 2, (("direction", "forward"),))])


def test_every_augmentation_the_filters_allow_is_clean_and_the_filters_bite():
    refused = {"mirror": 0, "details": 0, "twin": 0}
    for plan in TRAIN_PLANS:
        if clean_mirror(plan.segments):
            assert not heldout_rules(mirrored(plan.segments))
        else:
            refused["mirror"] += 1
        if clean_detail_changes(plan.segments):
            assert not any(heldout_rules(c) for c in detail_changes(plan.segments))
        else:
            refused["details"] += 1
        twin, changed = twin_plan(plan)
        assert not heldout_rules(twin.segments)
        refused["twin"] += not changed and any(map(changeable, plan.segments))
    assert all(refused.values()), refused  # each rule met real train clips it had to refuse


def _seed_with_unclean_augmentations(clips: int) -> int:
    """A built-in corpus seed whose first `clips` clips include train clips with a held-out mirror image (and a
    side-naming caption) and with a held-out changed detail, so the collate test below checks something."""
    for seed in range(1, 400):
        plans = [plan_clip(seed, i) for i in range(clips)]
        train = [p for p in plans if p.split == "train"]
        if any(not clean_mirror(p.segments) for p in train) and any(
            not clean_detail_changes(p.segments) for p in train
        ):
            return seed
    raise AssertionError("no seed found")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return Corpus(builtin_corpus(tmp_path_factory, clips=48, seed=_seed_with_unclean_augmentations(48)))


def test_evaluator_batches_hold_no_heldout_augmentation(corpus):
    from motionmill.data.datasets import TextMotionDataset
    from motionmill.training.evaluator import augmentable_rows, make_collate

    class Cache:  # text states are not what this test is about
        def get(self, texts):
            return torch.zeros(len(texts), 2, 4), torch.ones(len(texts), 2, dtype=torch.bool)

    stats = corpus.stats()
    dataset = TextMotionDataset(corpus, "train", normalizer=stats)
    mirror_rows, detail_rows = augmentable_rows(corpus, dataset.clips)
    assert set(dataset.clips) - mirror_rows and set(dataset.clips) - detail_rows
    collate = make_collate(Cache(), stats, detail_negatives=True, allowed=(mirror_rows, detail_rows))
    ids = corpus.table.column("id").to_pylist()
    for index in range(len(dataset)):
        for epoch in range(3):  # other captions of the clip
            dataset.set_epoch(epoch)
            item = dataset[index]
            _, seed, key = ids[item["clip"]].split("/")
            plan = plan_clip(int(seed), int(key))
            batch = collate([item])
            mirrored_in = len(batch["motion"]) - 1
            assert mirrored_in == (names_a_side(item["text"]) and item["clip"] in mirror_rows)
            assert not mirrored_in or not heldout_rules(mirrored(plan.segments))
            if "negative_states" in batch:
                assert not any(heldout_rules(c) for c in detail_changes(plan.segments))


@pytest.mark.parametrize("trainer", ["tokenizer", "generator", "evaluator"])
def test_trainers_read_the_train_split_only(trainer, corpus, monkeypatch, tmp_path):
    """Each trainer hands the training loop a dataset of train clips only (validation reads val)."""
    import motionmill.training.evaluator as evaluator_training
    import motionmill.training.generator as generator_training
    import motionmill.training.tokenizer as tokenizer_training

    module = {"tokenizer": tokenizer_training, "generator": generator_training, "evaluator": evaluator_training}
    seen = {}

    class Stop(Exception):
        pass

    def spy(model, task, dataset, *args, **kwargs):
        seen["dataset"] = dataset
        raise Stop

    monkeypatch.setattr(module[trainer], "train", spy)
    splits = corpus.table.column("split").to_pylist()
    with pytest.raises(Stop):
        _start(trainer, corpus, tmp_path)
    dataset = seen["dataset"]
    rows = getattr(dataset, "clips", None)
    rows = getattr(dataset, "rows", rows)
    assert len(rows) > 0 and {splits[int(r)] for r in rows} == {"train"}
    assert len(rows) == len(corpus.indices("train")) or trainer != "tokenizer"


def _start(trainer: str, corpus: Corpus, tmp_path) -> None:
    import yaml

    from corpus_factory import TINY_GENERATOR, TINY_TOKENIZER

    root = str(corpus.root)
    if trainer == "tokenizer":
        from motionmill.training.tokenizer import train_tokenizer

        (tmp_path / "t.yaml").write_text(yaml.safe_dump(TINY_TOKENIZER))
        train_tokenizer(str(tmp_path / "t.yaml"), root, str(tmp_path / "tok"), progress=False)
    elif trainer == "generator":
        from motionmill.training.generator import train_generator
        from motionmill.training.tokenizer import train_tokenizer

        (tmp_path / "t.yaml").write_text(yaml.safe_dump(TINY_TOKENIZER))
        train_tokenizer(str(tmp_path / "t.yaml"), root, str(tmp_path / "tok"), progress=False)
        (tmp_path / "g.yaml").write_text(yaml.safe_dump(TINY_GENERATOR))
        train_generator(str(tmp_path / "g.yaml"), root, str(tmp_path / "tok"), str(tmp_path / "gen"), progress=False)
    else:
        from motionmill.training.evaluator import train_evaluator

        recipe = {"model": {"preset": "tiny"}, "train": {"steps": 1, "batch_size": 4}}
        (tmp_path / "e.yaml").write_text(yaml.safe_dump(recipe))
        train_evaluator(str(tmp_path / "e.yaml"), root, str(tmp_path / "ev"), progress=False)


def test_split_column_matches_the_plans(corpus):
    """The corpus' split column is the plan's split, which the trainers filter on."""
    ids, splits = corpus.table.column("id").to_pylist(), corpus.table.column("split").to_pylist()
    for clip_id, split in zip(ids, splits, strict=True):
        _, seed, index = clip_id.split("/")
        assert plan_clip(int(seed), int(index)).split == split
    assert np.unique(splits).size >= 2
