"""TextToMotion and `motionmill generate` on a briefly trained tiny pipeline."""

import json

import numpy as np
import pytest

from corpus_factory import tiny_runs
from motionmill.cli import main
from motionmill.inference.pipeline import TextToMotion

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


def test_length_control_over_many_prompts(pipe):
    rng = np.random.default_rng(0)
    seconds = rng.uniform(2, 10, 200).tolist()
    prompts = [f"a person does action number {i}" for i in range(200)]
    motions = pipe(prompts, seconds=seconds, seed=0, top_k=50)
    durations = np.array([m.num_frames / m.fps for m in motions])
    assert (np.abs(durations - seconds) <= 0.1 * np.array(seconds)).all()


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
    for suffix in (".npy", ".joints.npy", ".bvh", ".gif", ".html"):
        assert (out / f"000_a_person_jumps{suffix}").stat().st_size > 0
    assert np.load(out / "001_someone_claps.joints.npy").shape[1:] == (22, 3)


def test_generate_command_bad_input_is_one_line(pipe_folder, tmp_path, capsys):
    (tmp_path / "prompts.txt").write_bytes(b"a person walks\n\xff\xfe broken\n")
    cases = [
        ["", "--model", str(pipe_folder)],
        ["--prompts-file", str(tmp_path / "prompts.txt"), "--model", str(pipe_folder)],
        ["a person walks", "--seconds", "0", "--model", str(pipe_folder)],
        ["a person walks", "--model", str(tmp_path / "nowhere")],
    ]
    for args in cases:
        assert main(["generate", *args, "--out", str(tmp_path / "o")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("motionmill: error: ") for e in errors)
    assert "line 2: not valid UTF-8" in errors[1] and "seconds" in errors[2] and "pipeline.json" in errors[3]


def test_alignment_evaluation_runs_and_ground_truth_scores_high(pipe):
    from motionmill.eval.alignment import evaluate_alignment

    result = evaluate_alignment(pipe, "test", clips=6, batch_size=3, top_k=20)
    assert result["clips"] == 6 and result["predicates"] >= 6
    assert 0.0 <= result["accuracy"] <= 1.0 and result["ground_truth_accuracy"] >= 0.8
    assert 0.0 <= result["foot_skating"] <= 1.0
