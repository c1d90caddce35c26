"""`motionmill train generator` end to end on a small built-in corpus with the built-in text encoder."""

import json

import pytest
import torch
import yaml

from corpus_factory import builtin_corpus
from motionmill.cli import main
from motionmill.data.store import Corpus
from motionmill.inference.checkpoint import load_generator
from motionmill.training.generator import GeneratorDataConfig, TokenTextDataset, generator_task, load_tokens

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

TOKENIZER = {"model": {"preset": "tiny", "width": 32}, "train": {"steps": 4, "batch_size": 8, "ckpt_every": 4},
             "data": {"window": 32, "eval_clips": 2}}  # fmt: skip
GENERATOR = {"model": {"preset": "tiny", "n_layer": 1, "dim": 32, "n_head": 2},
             "train": {"steps": 6, "batch_size": 8, "log_every": 1, "ckpt_every": 3, "eval_every": 3},
             "data": {"eval_items": 8}}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    corpus = builtin_corpus(tmp_path_factory)
    folder = tmp_path_factory.mktemp("gen")
    (folder / "tok.yaml").write_text(yaml.safe_dump(TOKENIZER))
    (folder / "gen.yaml").write_text(yaml.safe_dump(GENERATOR))
    assert main(["train", "tokenizer", "--config", str(folder / "tok.yaml"), "--corpus", str(corpus),
                 "--out", str(folder / "tok")]) == 0  # fmt: skip
    assert main(["train", "generator", "--config", str(folder / "gen.yaml"), "--corpus", str(corpus),
                 "--tokenizer", str(folder / "tok"), "--out", str(folder / "gen")]) == 0  # fmt: skip
    return corpus, folder


def test_generator_run_folder(runs):
    corpus, folder = runs
    run = folder / "gen"
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "config.json", "model.safetensors", "optimizer.pt", "trainer.pt"
    ]
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "loss" in ln] == list(range(1, 7))
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
    loss, logs = generator_task(model, batch, text_dropout=0.0)
    assert torch.isfinite(loss) and 0 <= logs["token_acc"] <= 1
