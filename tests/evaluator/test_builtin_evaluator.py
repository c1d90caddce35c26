"""The evaluator shipped in the package, on ground truth of the built-in corpus (clips made on the fly)."""

import numpy as np
import pytest

from motionmill.eval import metrics
from motionmill.eval.alignment import alignment_clips, whole_caption
from motionmill.inference.evaluator import evaluator_from_spec
from motionmill.motion.container import Motion
from motionmill.synth.corpus import make_clip, split_of

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")


def _motions(clips) -> list[Motion]:
    return [Motion.from_rotations(c.rotations, c.joints, c.plan.fps) for c in clips]


@pytest.fixture(scope="module")
def evaluator():
    return evaluator_from_spec("builtin")


@pytest.fixture(scope="module")
def real_pairs(evaluator):
    clips = alignment_clips("test", 256)
    return evaluator.text_embeddings([whole_caption(c) for c in clips]), evaluator.motion_embeddings(_motions(clips))


def test_real_pairs_rank_far_above_chance_and_shuffled_pairs_at_chance(real_pairs):
    text, motion = real_pairs
    rng = np.random.default_rng(0)
    top = metrics.r_precision(text, motion, rng)
    assert top[2] >= 0.8 and top[0] >= 0.5  # chance is 1/32 and 3/32
    shuffled = metrics.r_precision(text, motion[rng.permutation(len(motion))], rng)
    assert shuffled[0] < 0.12


def _split_clips(split: str, count: int) -> list:
    indices = [i for i in range(40 * count) if split_of(0, i) == split][:count]
    return [make_clip(0, i, captions=False) for i in indices]


def test_real_test_motions_against_real_train_motions_give_fid_near_zero(evaluator):
    test_clips = _split_clips("test", 512)
    test = evaluator.motion_embeddings(_motions(test_clips))
    train = evaluator.motion_embeddings(_motions(_split_clips("train", 512)))
    frozen = [Motion.from_rotations(np.repeat(c.rotations[:1], len(c.rotations), 0),
                                    np.repeat(c.joints[:1], len(c.joints), 0), c.plan.fps)
              for c in test_clips]  # fmt: skip
    real_fid = metrics.fid(train, test)
    spread = (np.linalg.norm(test - test.mean(0), axis=1) ** 2).mean()  # FID of a set against a point, on average
    assert real_fid < 0.05 * spread
    assert real_fid < 0.05 * metrics.fid(evaluator.motion_embeddings(frozen), test)  # first poses held still
