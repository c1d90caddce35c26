"""Step-by-step sampling (`compose`) on the briefly trained tiny pipeline."""

import json

import numpy as np
import pytest

from corpus_factory import tiny_runs
from motionmill.cli import main
from motionmill.inference.pipeline import TextToMotion, candidate_seed, share_tokens, step_seed
from motionmill.inference.sampling import generate_tokens
from motionmill.text.steps import split_steps

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

PROMPT = "A person walks forward, then jumps. After that, they wave."


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return TextToMotion.from_pretrained(tiny_runs(tmp_path_factory)[1] / "pipeline")


def sample_alone(pipe, text, seed, length=None):
    """One step sampled on its own: at the model's chosen length, or at exactly `length` tokens."""
    states, mask = pipe.text_encoder.encode([text])
    bounds = dict(min_tokens=1, max_tokens=pipe.generator.cfg.max_motion_tokens, target_tokens=0)
    if length is not None:
        bounds = dict(min_tokens=length, max_tokens=length, target_tokens=length)
    return generate_tokens(pipe.generator, states, mask, top_k=50, seeds=[seed], **bounds)[0]


def test_share_tokens_is_proportional_and_exact():
    rng = np.random.default_rng(0)
    for _ in range(500):
        natural = rng.integers(1, 60, rng.integers(2, 6)).tolist()
        total = int(rng.integers(len(natural), 160))
        shares = share_tokens(natural, total)
        ideal = np.array(natural) * total / sum(natural)
        assert sum(shares) == total and min(shares) >= 1
        if ideal.min() >= 1:  # nobody needed raising to one token: every share is its ideal rounded up or down
            assert np.all(np.abs(np.array(shares) - ideal) < 1)
    with pytest.raises(ValueError, match="one each"):
        share_tokens([3, 4, 5], 2)


def test_a_prompt_of_one_step_samples_as_without_compose(pipe):
    plain = pipe("a person waves", seed=3, top_k=50, seconds=2.0)[0]
    composed = pipe("a person waves", seed=3, top_k=50, seconds=2.0, compose=True)[0]
    assert "steps" not in composed.meta and np.array_equal(plain.features, composed.features)


def test_steps_are_sampled_alone_and_joined_at_their_chosen_lengths(pipe):
    motion = pipe(PROMPT, seed=4, top_k=50, compose=True, raw=True)[0]  # the decoded tokens, not reconciled
    texts = split_steps(PROMPT)
    pieces = [sample_alone(pipe, t, step_seed(4, k)) for k, t in enumerate(texts)]
    expected = pipe.decode([[c for p in pieces for c in p]])[0]
    assert np.allclose(motion.features, expected.features, atol=1e-4)
    assert [s["text"] for s in motion.meta["steps"]] == texts == ["A person walks forward", "jumps", "they wave"]


def test_an_asked_duration_is_met_exactly_and_shared_as_the_model_paces_the_steps(pipe):
    seconds = 3.0
    motion = pipe(PROMPT, seed=6, top_k=50, seconds=seconds, compose=True, raw=True)[0]
    texts = split_steps(PROMPT)
    natural = [len(sample_alone(pipe, t, step_seed(6, k))) for k, t in enumerate(texts)]
    shares = share_tokens(natural, round(seconds / pipe.seconds_per_token))
    pieces = [sample_alone(pipe, t, step_seed(6, k), n) for k, (t, n) in enumerate(zip(texts, shares, strict=True))]
    assert motion.meta["tokens"] == 45 and motion.num_frames / motion.fps == seconds
    assert np.allclose(motion.features, pipe.decode([[c for p in pieces for c in p]])[0].features, atol=1e-4)
    spans = motion.meta["steps"]
    assert spans[0]["start"] == 0 and spans[-1]["end"] == pytest.approx(seconds)
    assert all(a["end"] == b["start"] for a, b in zip(spans[:-1], spans[1:], strict=True))
    step_seconds = [n * pipe.seconds_per_token for n in shares]
    assert [s["end"] - s["start"] for s in spans] == pytest.approx(step_seconds, abs=2e-3)  # meta keeps ms


def test_a_duration_too_short_for_every_step_samples_the_prompt_whole(pipe):
    tiny = 2 * pipe.seconds_per_token  # two tokens for three steps
    motion = pipe(PROMPT, seed=1, top_k=50, seconds=tiny, compose=True)[0]
    assert "steps" not in motion.meta
    assert np.array_equal(motion.features, pipe(PROMPT, seed=1, top_k=50, seconds=tiny)[0].features)


@pytest.fixture(scope="module")
def composed_folder(tmp_path_factory):
    """The tiny pipeline exported to sample step by step with best of 3 by default."""
    runs = tiny_runs(tmp_path_factory)[1]
    folder = tmp_path_factory.mktemp("composed") / "pipeline"
    assert main(["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
                 "--out", str(folder), "--candidates", "3", "--reranker", "builtin", "--compose"]) == 0  # fmt: skip
    assert json.loads((folder / "pipeline.json").read_text())["sampling"]["compose"] is True
    return folder


def test_best_of_n_keeps_per_step_the_candidate_closest_to_the_step(composed_folder):
    from motionmill.inference.evaluator import evaluator_from_spec

    pipe, judge, n, seconds = TextToMotion.from_pretrained(composed_folder), evaluator_from_spec("builtin"), 3, 4.0
    kept = pipe(PROMPT, seed=2, seconds=seconds, top_k=50, raw=True)[0]
    texts = split_steps(PROMPT)
    seeds = [[step_seed(candidate_seed(2, c), k) for c in range(n)] for k in range(len(texts))]
    natural = [int(np.median([len(sample_alone(pipe, t, s)) for s in seeds[k]])) for k, t in enumerate(texts)]
    shares = share_tokens(natural, round(seconds / pipe.seconds_per_token))
    chosen = []
    for k, (text, length) in enumerate(zip(texts, shares, strict=True)):
        pieces = [sample_alone(pipe, text, s, length) for s in seeds[k]]
        emb = judge.motion_embeddings(pipe.decode(pieces))
        t = judge.text_embeddings([text])[0]
        cosine = emb @ t / (np.linalg.norm(emb, axis=1) * np.linalg.norm(t))
        best = int(np.argmax(cosine))
        assert kept.meta["steps"][k]["candidate"] == best
        assert kept.meta["steps"][k]["similarity"] == pytest.approx(cosine[best], abs=1e-5)
        chosen += pieces[best]
    assert kept.meta["candidates"] == n and kept.num_frames == seconds * pipe.fps
    assert np.allclose(kept.features, pipe.decode([chosen])[0].features, atol=1e-4)


def test_compose_from_the_command_line(composed_folder, tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", PROMPT, "a person bows", "--model", str(composed_folder), "--out", str(out),
                 "--seconds", "3", "--no-compose", "--candidates", "1"]) == 0  # fmt: skip
    assert json.loads((out / "000_a_person_walks_forward_then_jumps_after.json").read_text())["steps"] is None
    assert main(["generate", PROMPT, "--model", str(composed_folder), "--out", str(out), "--seconds", "3"]) == 0
    record = json.loads((out / "000_a_person_walks_forward_then_jumps_after.json").read_text())
    assert record["sampling"]["compose"] and [s["text"] for s in record["steps"]] == split_steps(PROMPT)
    assert record["steps"][-1]["end"] == pytest.approx(3.0) and record["duration"] == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("seconds", [0, -1, 10_000, float("nan")])
def test_bad_seconds_are_rejected_before_steps_are_split(pipe, seconds):
    with pytest.raises(ValueError, match="seconds must be in"):
        pipe(PROMPT, seconds=seconds, compose=True)


def test_compose_must_be_a_boolean():
    from motionmill.inference.settings import SamplingSettings

    with pytest.raises(ValueError, match="compose"):
        SamplingSettings(compose="yes")
