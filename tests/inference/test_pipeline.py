"""TextToMotion and `motionmill generate` on a briefly trained tiny pipeline."""

import json

import numpy as np
import pytest

from corpus_factory import tiny_runs
from motionmill.cli import main
from motionmill.inference.pipeline import TextToMotion
from motionmill.inference.settings import SamplingSettings
from motionmill.motion.container import Motion

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")


@pytest.fixture(scope="module")
def pipe_folder(tmp_path_factory):
    return tiny_runs(tmp_path_factory)[1] / "pipeline"


@pytest.fixture(scope="module")
def pipe(pipe_folder):
    return TextToMotion.from_pretrained(pipe_folder)


def test_pipeline_folder_and_motions(pipe, pipe_folder):
    assert sorted(p.name for p in pipe_folder.iterdir()) == ["generator", "pipeline.json", "tokenizer"]
    motions = pipe(["a person walks forward", "someone jumps twice"], seed=3, top_k=20)
    assert len(motions) == 2
    for m in motions:
        assert m.features.shape[1] == 272 and m.fps == 30 and np.isfinite(m.features).all()
        assert m.num_frames == 2 * m.meta["tokens"]


def test_seeds_make_sampling_reproducible_and_batch_independent(pipe):
    alone = pipe("a person waves", seed=7, top_k=50)[0]
    batched = pipe(["a person kicks", "a person waves"], seed=[1, 7], top_k=50)[1]
    # same tokens; the decoder's batched convolutions may differ in the last float bits
    assert alone.meta["tokens"] == batched.meta["tokens"]
    assert np.allclose(alone.features, batched.features, atol=1e-4)


def test_decoding_does_not_depend_on_the_other_rows_of_a_batch(pipe):
    short, long = [5, 17, 301, 42], [9] * 12
    alone = pipe.decode([short])[0].features
    beside_a_longer_row = pipe.decode([short, long])[0].features
    assert alone.shape == beside_a_longer_row.shape == (8, 272)
    assert np.allclose(alone, beside_a_longer_row, atol=1e-5)


def test_length_control_over_many_prompts(pipe):
    rng = np.random.default_rng(0)
    seconds = rng.uniform(2, 10, 200).tolist()
    prompts = [f"a person does action number {i}" for i in range(200)]
    motions = pipe(prompts, seconds=seconds, seed=0, top_k=50)
    durations = np.array([m.num_frames / m.fps for m in motions])
    assert (np.abs(durations - seconds) <= 0.1 * np.array(seconds)).all()


def test_the_generator_is_told_the_asked_length(pipe, monkeypatch):
    told = []
    forward = type(pipe.generator).forward

    def spy(self, text_states, *args, **kwargs):
        if text_states is not None:  # the prefill call carries the length
            told.append(kwargs["lengths"].tolist())
        return forward(self, text_states, *args, **kwargs)

    monkeypatch.setattr(type(pipe.generator), "forward", spy)
    pipe(["a person walks", "a person jumps", "a person waves"], seconds=[2.0, None, 3.3], guidance=2.0)
    assert pipe.generator.cfg.length_condition and pipe.seconds_per_token == 2 / 30
    assert told == [[30, 0, 50] * 2]  # 15 tokens per second; both guidance passes; 0 = the model decides


@pytest.mark.parametrize("seconds", [0, -1, 10_000, float("nan")])
def test_bad_seconds_are_rejected(pipe, seconds):
    with pytest.raises(ValueError, match="seconds"):
        pipe("a person walks", seconds=seconds)


@pytest.mark.parametrize("prompt,match", [("", "empty"), ("   ", "empty"), ("x" * 100_000, "100,000 characters")])
def test_bad_prompts_are_rejected(pipe, prompt, match):
    with pytest.raises(ValueError, match=match):
        pipe(prompt)


def test_generate_command_writes_every_file(pipe_folder, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "a person jumps", "someone claps", "--model", str(pipe_folder), "--out", str(out),
                 "--seconds", "3", "--seed", "5", "--top-k", "30"]) == 0  # fmt: skip
    record = json.loads((out / "000_a_person_jumps.json").read_text())
    assert record["prompt"] == "a person jumps" and record["seed"] == 5 and abs(record["duration"] - 3) < 0.3
    for suffix in (".npy", ".joints.npy", ".bvh", ".glb", ".gif", ".html"):
        assert (out / f"000_a_person_jumps{suffix}").stat().st_size > 0
    assert np.load(out / "001_someone_claps.joints.npy").shape[1:] == (22, 3)
    assert record["feet_cleaned"] is None


def test_cleanup_flag_cleans_the_feet_of_every_output(pipe_folder, tmp_path, capsys):
    """generate --cleanup and convert --cleanup give the motion clean_feet returns, in every file."""
    from motionmill.motion.cleanup import clean_feet

    out = tmp_path / "gen"
    assert main(["generate", "a person walks forward", "--model", str(pipe_folder), "--out", str(out), "--seconds",
                 "3", "--cleanup"]) == 0  # fmt: skip
    record = json.loads((out / "000_a_person_walks_forward.json").read_text())
    assert record["feet_cleaned"] in (True, False)
    raw = tmp_path / "raw.npy"
    assert main(["generate", "a person walks forward", "--model", str(pipe_folder), "--out", str(tmp_path / "raw"),
                 "--seconds", "3"]) == 0  # fmt: skip
    (tmp_path / "raw" / "000_a_person_walks_forward.npy").rename(raw)
    expected, _ = clean_feet(Motion(np.load(raw)))
    assert np.allclose(np.load(out / "000_a_person_walks_forward.npy"), expected.features, atol=1e-5)
    assert main(["convert", str(raw), str(tmp_path / "clean.joints.npy"), "--cleanup"]) == 0
    assert np.allclose(np.load(tmp_path / "clean.joints.npy"), expected.joints(), atol=1e-5)
    assert "feet" in capsys.readouterr().out


def test_generate_command_bad_input_is_one_line(pipe_folder, tmp_path, capsys):
    (tmp_path / "prompts.txt").write_bytes(b"a person walks\n\xff\xfe broken\n")
    cases = [
        ["", "--model", str(pipe_folder)],
        ["--prompts-file", str(tmp_path / "prompts.txt"), "--model", str(pipe_folder)],
        ["a person walks", "--seconds", "0", "--model", str(pipe_folder)],
        ["a person walks", "--model", str(tmp_path / "nowhere")],
        ["a person walks", "--candidates", "0", "--model", str(pipe_folder)],
    ]
    for args in cases:
        assert main(["generate", *args, "--out", str(tmp_path / "o")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(e.startswith("motionmill: error: ") for e in errors)
    assert "line 2: not valid UTF-8" in errors[1] and "seconds" in errors[2] and "pipeline.json" in errors[3]
    assert "candidates (--candidates) must be an integer >= 1, got 0" in errors[4]


def test_alignment_evaluation_runs_and_ground_truth_scores_high(pipe):
    from motionmill.eval.alignment import evaluate_alignment

    result = evaluate_alignment(pipe, "test", clips=6, batch_size=3, sampling=SamplingSettings(top_k=20))
    assert result["clips"] == 6 and result["predicates"] >= 6
    assert 0.0 <= result["accuracy"] <= 1.0 and result["ground_truth_accuracy"] >= 0.8
    assert 0.0 <= result["foot_skating"] <= 1.0


def test_pipeline_folder_carries_sampling_defaults_that_calls_override(pipe, tmp_path):
    from dataclasses import replace

    pipe.sampling = replace(pipe.sampling, guidance=2.0, top_k=5)
    try:
        pipe.save_pretrained(tmp_path / "tuned")
    finally:
        pipe.sampling = replace(pipe.sampling, guidance=1.0, top_k=0)
    tuned = TextToMotion.from_pretrained(tmp_path / "tuned")
    assert tuned.sampling.guidance == 2.0 and tuned.sampling.top_k == 5
    assert tuned.settings(guidance=None, temperature=0.5).guidance == 2.0
    defaulted = tuned("a person walks forward", seed=4)[0]
    explicit = pipe("a person walks forward", seed=4, guidance=2.0, top_k=5)[0]
    assert np.allclose(defaulted.features, explicit.features)
    unguided = tuned("a person walks forward", seed=4, guidance=1.0)[0]
    assert np.allclose(unguided.features, pipe("a person walks forward", seed=4, top_k=5)[0].features)


def test_demo_generates_every_prompt_with_the_given_model(pipe_folder, tmp_path, capsys):
    from motionmill.demo import DEMO_PROMPTS

    assert main(["demo", "--model", str(pipe_folder), "--out", str(tmp_path / "demo")]) == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "demo").glob("*.json"))]
    assert [r["prompt"] for r in records] == [p for p, _ in DEMO_PROMPTS]
    for record, (_, seconds) in zip(records, DEMO_PROMPTS, strict=True):
        assert record["sampling"]["guidance"] == 1.0 and record["seconds_asked"] == seconds
        if seconds is not None:
            assert abs(record["duration"] - seconds) <= 0.1 * seconds
        assert all((tmp_path / "demo" / name).stat().st_size > 0 for name in record["files"])


@pytest.fixture(scope="module")
def reranked_folder(pipe_folder, tmp_path_factory):
    """The tiny pipeline exported with the shipped evaluator as reranker and best of 4 by default."""
    runs = pipe_folder.parent
    out = tmp_path_factory.mktemp("reranked") / "pipeline"
    assert main(["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
                 "--out", str(out), "--candidates", "4", "--reranker", "builtin"]) == 0  # fmt: skip
    return out


def test_best_of_n_keeps_the_candidate_closest_to_the_prompt(reranked_folder):
    from motionmill.inference.evaluator import evaluator_from_spec
    from motionmill.inference.pipeline import candidate_seed

    reranked = TextToMotion.from_pretrained(reranked_folder)
    prompts, seeds = ["a person walks forward", "someone claps twice"], [5, 9]
    # the reranker judges the decoded candidates, before reconciliation: compare raw motions
    kept = reranked(prompts, seed=seeds, top_k=50, raw=True)  # the folder's default: 4 candidates
    judge = evaluator_from_spec("builtin")
    for prompt, seed, motion in zip(prompts, seeds, kept, strict=True):
        candidates = [
            reranked(prompt, seed=candidate_seed(seed, c), top_k=50, candidates=1, raw=True)[0] for c in range(4)
        ]
        text = judge.text_embeddings([prompt])[0]
        emb = judge.motion_embeddings(candidates)
        cosine = emb @ text / (np.linalg.norm(emb, axis=1) * np.linalg.norm(text))
        best = int(np.argmax(cosine))
        assert motion.meta["candidates"] == 4 and motion.meta["candidate"] == best
        assert motion.meta["similarity"] == pytest.approx(cosine[best], abs=1e-6)
        assert np.allclose(motion.features, candidates[best].features, atol=1e-4)
    assert candidate_seed(5, 0) == 5 and len({candidate_seed(s, c) for s in range(50) for c in range(16)}) == 800


def test_best_of_n_in_chunks_equals_one_batch(reranked_folder, monkeypatch):
    import motionmill.inference.pipeline as pipeline

    reranked = TextToMotion.from_pretrained(reranked_folder)
    prompts = ["a person jumps", "a person waves", "a person bows"]
    whole = reranked(prompts, seed=2, seconds=2.0, top_k=50)
    monkeypatch.setattr(pipeline, "MAX_ROWS", 5)  # 12 rows in chunks of 5: boundaries fall inside prompts
    chunked = reranked(prompts, seed=2, seconds=2.0, top_k=50)
    assert [m.meta["candidate"] for m in whole] == [m.meta["candidate"] for m in chunked]
    assert all(np.allclose(a.features, b.features, atol=1e-4) for a, b in zip(whole, chunked, strict=True))


def test_best_of_n_needs_a_reranker(pipe, pipe_folder, tmp_path, capsys):
    with pytest.raises(ValueError, match="no reranker"):
        pipe("a person walks", candidates=2)
    with pytest.raises(ValueError, match="candidates"):
        SamplingSettings(candidates=0)
    runs = pipe_folder.parent
    assert main(["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
                 "--out", str(tmp_path / "p"), "--candidates", "2"]) == 2  # fmt: skip
    assert "needs a reranker" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_a_copied_reranker_travels_with_the_folder(pipe_folder, tmp_path):
    from motionmill.inference.evaluator import BUILTIN_EVALUATOR

    runs = pipe_folder.parent
    assert main(["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
                 "--out", str(tmp_path / "a"), "--reranker", str(BUILTIN_EVALUATOR)]) == 0  # fmt: skip
    assert json.loads((tmp_path / "a" / "pipeline.json").read_text())["reranker"] == "reranker"
    (tmp_path / "a").rename(tmp_path / "b")
    moved = TextToMotion.from_pretrained(tmp_path / "b")
    assert moved.sampling.candidates == 1 and moved("a person kicks", seed=1)[0].meta.keys() == {"tokens", "reconciled"}
    assert moved("a person kicks", seed=1, candidates=3)[0].meta["candidates"] == 3
    assert moved.reranker().name == str(tmp_path / "b" / "reranker")


def test_an_ensemble_reranker_is_copied_member_by_member(pipe_folder, tmp_path):
    from motionmill.inference.evaluator import BUILTIN_EVALUATOR, EvaluatorEnsemble

    runs, member = pipe_folder.parent, str(BUILTIN_EVALUATOR)
    assert main(["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
                 "--out", str(tmp_path / "a"), "--reranker", f"builtin+{member}+{member}"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "a" / "pipeline.json").read_text())["reranker"] == "builtin+reranker+reranker-2"
    (tmp_path / "a").rename(tmp_path / "b")
    moved = TextToMotion.from_pretrained(tmp_path / "b")
    ranker = moved.reranker()
    assert isinstance(ranker, EvaluatorEnsemble) and len(ranker.members) == 3
    assert [m.name for m in ranker.members[1:]] == [str(tmp_path / "b" / n) for n in ("reranker", "reranker-2")]
    moved.save_pretrained(tmp_path / "b")  # saving over itself keeps the copies
    assert TextToMotion.from_pretrained(tmp_path / "b").reranker_spec == moved.reranker_spec
    assert moved("a person kicks", seed=1, candidates=2)[0].meta["candidates"] == 2


def test_exporting_again_replaces_the_whole_folder(pipe_folder, tmp_path, capsys):
    from motionmill.inference.evaluator import BUILTIN_EVALUATOR

    runs, out = pipe_folder.parent, tmp_path / "p"
    export = ["export", "pipeline", "--tokenizer", str(runs / "tok"), "--generator", str(runs / "gen"),
              "--out", str(out)]  # fmt: skip
    assert main([*export, "--reranker", str(BUILTIN_EVALUATOR)]) == 0
    assert (out / "reranker").is_dir()
    assert main(export) == 0  # no reranker this time: none may be left over from the first export
    assert sorted(p.name for p in out.iterdir()) == ["generator", "pipeline.json", "tokenizer"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no temporary or old folder left beside it
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert main([*export[:-1], str(other)]) == 2
    assert "is not a pipeline folder" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["mine.txt"]


def test_generate_command_records_the_candidates(reranked_folder, tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", "a person jumps", "--model", str(reranked_folder), "--out", str(out),
                 "--candidates", "2"]) == 0  # fmt: skip
    assert json.loads((out / "000_a_person_jumps.json").read_text())["sampling"]["candidates"] == 2


def test_evaluator_suites_sample_one_candidate_unless_told():
    from motionmill.eval.benchmark import one_candidate_by_default

    assert one_candidate_by_default(SamplingSettings(guidance=2.0)) == SamplingSettings(guidance=2.0, candidates=1)
    assert one_candidate_by_default(None) == SamplingSettings(candidates=1)
    assert one_candidate_by_default(SamplingSettings(candidates=8)).candidates == 8
