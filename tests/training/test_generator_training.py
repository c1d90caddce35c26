"""`motionmill train generator` end to end on a small built-in corpus with the built-in text encoder."""

import json

import pytest
import torch

from corpus_factory import TINY_GENERATOR, tiny_runs
from motionmill.checkpoints.generator import load_generator
from motionmill.data.store import Corpus
from motionmill.training.generator import GeneratorDataConfig, TokenTextDataset, generator_task, load_tokens

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


def test_generator_run_folder(runs):
    corpus, folder = runs
    run = folder / "gen"
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "config.json",
        "model.safetensors",
        "state",
        "trainer.pt",
    ]
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "loss" in ln] == list(range(1, TINY_GENERATOR["train"]["steps"] + 1))
    assert any("eval/token_acc" in ln for ln in lines)
    model = load_generator(run)
    assert model.cfg.text_dim == 384 and model.cfg.vocab_codes == 1000


def test_dataset_crops_to_caption_spans_and_task_scores_end(runs):
    corpus, folder = runs
    data = Corpus(corpus)
    tokens = load_tokens(corpus / "tokens" / "tok")
    ds = TokenTextDataset(data, tokens, "train", stride=2, max_tokens=150, cfg=GeneratorDataConfig(edge_drop=0.0))
    spans = [(i, c) for i, caps in enumerate(ds.texts) for c in caps if c["end"] > c["start"]]
    assert spans, "the built-in corpus has captions with time spans"
    index, caption = spans[0]
    full = tokens[ds.rows[index]]
    part = ds._span(full, caption, ds.fps[index])
    assert len(part) < len(full)
    model = load_generator(folder / "gen")
    tokens = torch.tensor([[1, 2, 3], [4, 5, model.cfg.pad_id]])
    batch = {"text_states": torch.randn(2, 5, 384), "text_mask": torch.ones(2, 5, dtype=torch.bool),
             "tokens": tokens, "lengths": torch.tensor([3, 2])}  # fmt: skip
    loss, logs = generator_task(model, batch)
    assert torch.isfinite(loss) and 0 <= logs["token_acc"] <= 1
