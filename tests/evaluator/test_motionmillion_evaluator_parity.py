"""`motionmillion:` evaluators give the embeddings MotionMillion's own evaluation computes.

The reference below is MotionMillion's 272 evaluator (https://github.com/VankouF/MotionMillion-Codes:
`models/evaluator_wrapper_motionmillion_rpr272.py` and the TEMOS encoders it imports from `mld/`), rewritten here in
plain torch with the published module and attribute names, so that `state_dict()` yields their checkpoint layout
(`textencoder.*` with the frozen DistilBERT under `textencoder.text_model.*`, `motionencoder.*`, the sinusoid
buffers `*.sequence_pos_encoding.pe`), plus the steps of their evaluation loop (`utils/eval_trans.py`,
`evaluation_transformer_motionmillion`) that shape the evaluator's inputs. Weights are random; DistilBERT is a tiny
random model with an uncased WordPiece tokenizer of the real kind, saved to a local folder: nothing is downloaded.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from motion_factory import random_motion
from motionmill.inference.evaluator import MotionMillionEvaluator, evaluator_from_spec, load_motionmillion_evaluator
from motionmill.motion.container import Motion

pytest.importorskip("transformers", reason="the DistilBERT side needs the [text] extra")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "'", "-", "a", "the", "person", "man",
         "woman", "walk", "walks", "run", "forward", "back", "##ward", "##s", "##ing", "then", "jump", "high", "and",
         "turn", "left", "right", "slow", "##ly", "arms", "up", "wave", "s", "circle", "in", "while"]  # fmt: skip

TEXTS = [
    "a person walks.",  # short
    "A Person WALKS Forward, then JUMPS high!",  # upper case and punctuation: the uncased tokenizer lower-cases
    "the man's arms wave up - and he jumps?",  # apostrophe, dash, a word the vocabulary lacks
    " ".join(["a woman walks slowly forward then turns left and runs in a circle while she waves her arms"] * 6),
    "",  # no words: [CLS] [SEP] alone
]
FRAMES = [45, 120, 299, 300, 301, 450]  # shorter and longer than the evaluator's 300 frames, in one batch


# ==================================================================== MotionMillion's classes, plain torch


class PositionalEncoding(nn.Module):
    """`mld.models.operator.position_encoding_layer`: sin on even channels, cos on odd ones, a (max_len, 1, d)
    buffer added to a sequence-first input, then dropout."""

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=False):
        super().__init__()
        self.batch_first = batch_first
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len, dtype=torch.float)[:, None]
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-np.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe[:, None])  # (max_len, 1, d), persistent: it is in their checkpoint

    def forward(self, x):
        if self.batch_first:
            x = x + self.pe.permute(1, 0, 2)[:, : x.shape[1]]
        else:
            x = x + self.pe[: x.shape[0]]
        return self.dropout(x)


def _seq_trans_encoder(latent_dim, num_heads, ff_size, dropout, activation, num_layers):
    layer = nn.TransformerEncoderLayer(latent_dim, num_heads, ff_size, dropout, activation)  # sequence-first
    return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)


def _distribution_tokens(module, x, mask):
    """[mu, logvar, x...] sequence-first with the mask grown by two always-visible tokens; x (N, B, D)."""
    bs = x.shape[1]
    mu_token = torch.tile(module.mu_token, (bs,)).reshape(bs, -1)
    logvar_token = torch.tile(module.logvar_token, (bs,)).reshape(bs, -1)
    xseq = torch.cat((mu_token[None], logvar_token[None], x), 0)
    aug_mask = torch.cat((torch.ones((bs, 2), dtype=bool, device=x.device), mask), 1)
    return xseq, aug_mask


def _normal_of(module, xseq, aug_mask):
    final = module.seqTransEncoder(module.sequence_pos_encoding(xseq), src_key_padding_mask=~aug_mask)
    return torch.distributions.Normal(final[0], final[1].exp().pow(0.5))


class DistilbertActorAgnosticEncoder(nn.Module):
    """`mld.models.architectures.temos.textencoder.distillbert_actor` (with its `DistilbertEncoderBase`), vae=True."""

    def __init__(self, modelpath, finetune=False, vae=True, latent_dim=256, ff_size=1024, num_layers=4,
                 num_heads=4, dropout=0.1, activation="gelu"):  # fmt: skip
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.hparams = SimpleNamespace(finetune=finetune, vae=vae)
        self.tokenizer = AutoTokenizer.from_pretrained(modelpath)
        self.text_model = AutoModel.from_pretrained(modelpath)  # comes in eval mode; the override keeps it there
        if not finetune:
            self.text_model.training = False
            for p in self.text_model.parameters():
                p.requires_grad = False
        self.text_encoded_dim = self.text_model.config.hidden_size
        self.projection = nn.Sequential(nn.ReLU(), nn.Linear(self.text_encoded_dim, latent_dim))
        self.mu_token = nn.Parameter(torch.randn(latent_dim))
        self.logvar_token = nn.Parameter(torch.randn(latent_dim))
        self.sequence_pos_encoding = PositionalEncoding(latent_dim, dropout)
        self.seqTransEncoder = _seq_trans_encoder(latent_dim, num_heads, ff_size, dropout, activation, num_layers)

    def train(self, mode=True):
        self.training = mode
        for module in self.children():
            if module is self.text_model and not self.hparams.finetune:
                continue
            module.train(mode)
        return self

    def get_last_hidden_state(self, texts):
        encoded_inputs = self.tokenizer(texts, return_tensors="pt", padding=True)  # no truncation, no max length
        output = self.text_model(**encoded_inputs)
        return output.last_hidden_state, encoded_inputs.attention_mask.to(dtype=bool)

    def forward(self, texts):
        text_encoded, mask = self.get_last_hidden_state(texts)
        x = self.projection(text_encoded).permute(1, 0, 2)  # (L, B, D)
        return _normal_of(self, *_distribution_tokens(self, x, mask))


class ActorAgnosticEncoder(nn.Module):
    """`mld.models.architectures.temos.motionencoder.actor`, vae=True: the mask is always `max_len` wide."""

    def __init__(self, nfeats, vae, latent_dim=256, ff_size=1024, num_layers=4, num_heads=4, dropout=0.1,
                 activation="gelu", max_len=300):  # fmt: skip
        super().__init__()
        self.hparams = SimpleNamespace(vae=vae)
        self.skel_embedding = nn.Linear(nfeats, latent_dim)
        self.max_len = max_len
        self.mu_token = nn.Parameter(torch.randn(latent_dim))
        self.logvar_token = nn.Parameter(torch.randn(latent_dim))
        self.sequence_pos_encoding = PositionalEncoding(latent_dim, dropout)
        self.seqTransEncoder = _seq_trans_encoder(latent_dim, num_heads, ff_size, dropout, activation, num_layers)

    def lengths_to_mask(self, lengths, max_len):
        return torch.arange(max_len, device=lengths.device).expand(len(lengths), max_len) < lengths.unsqueeze(1)

    def forward(self, features, lengths):
        mask = self.lengths_to_mask(lengths, self.max_len).to(features.device)
        x = self.skel_embedding(features).permute(1, 0, 2)  # (T, B, D)
        return _normal_of(self, *_distribution_tokens(self, x, mask))


class TrainedModel(nn.Module):
    """What the Lightning checkpoint was saved from: the two encoders and a decoder the evaluator does not use."""

    def __init__(self, distilbert):
        super().__init__()
        self.textencoder = DistilbertActorAgnosticEncoder(str(distilbert), num_layers=4, latent_dim=512)
        self.motionencoder = ActorAgnosticEncoder(nfeats=272, vae=True, num_layers=4, max_len=300, latent_dim=512)
        self.motiondecoder = nn.Linear(512, 272)  # stands in for the training-time decoder


class EvaluatorModelWrapper272RPR:
    """models/evaluator_wrapper_motionmillion_rpr272.py with its paths as arguments."""

    def __init__(self, checkpoint, distilbert, stats):
        self.textencoder = DistilbertActorAgnosticEncoder(str(distilbert), num_layers=4, latent_dim=512)
        self.motionencoder = ActorAgnosticEncoder(nfeats=272, vae=True, num_layers=4, max_len=300, latent_dim=512)
        sd = torch.load(checkpoint, map_location="cpu")["state_dict"]
        for name in ("textencoder", "motionencoder"):
            part = {k.removeprefix(name + "."): v for k, v in sd.items() if k.split(".")[0] == name}
            getattr(self, name).load_state_dict(part, strict=True)
        self.textencoder.eval()
        self.motionencoder.eval()
        self.mean, self.std = np.load(stats / "mean.npy"), np.load(stats / "std.npy")

    def normalize_motion(self, motions):
        return (motions - torch.from_numpy(self.mean)) / torch.from_numpy(self.std)

    @torch.no_grad()
    def get_co_embeddings(self, texts, motions, m_lens):
        et = self.textencoder(texts).loc
        em = self.motionencoder(self.normalize_motion(motions).float(), m_lens).loc
        return et, em


def their_generated_batch(features: list[np.ndarray], mean, std, seq: int = 300):
    """What `evaluation_transformer_motionmillion` hands `get_co_embeddings` for decoded motions.

    The decoder's output is normalised (here: the raw features normalised with the dataset's stats, the same files as
    the evaluator's); it lands in a zero batch as wide as the loader's padded clips (300 frames), cut to `seq`, with
    length min(frames, seq), and the batch is de-normalised with the dataset's stats. Real clips take the same path
    (the loader normalises and zero-pads them to 300 frames; the loop casts to float32 and de-normalises).
    """
    pred_pose_eval = torch.zeros(len(features), seq, features[0].shape[-1])
    pred_len = torch.ones(len(features)).long()
    for k, f in enumerate(features):
        pred_pose = torch.from_numpy((f.astype(np.float64) - mean) / std).float()[None]
        cur_len = pred_pose.shape[1]
        pred_len[k] = min(cur_len, seq)
        pred_pose_eval[k : k + 1, :cur_len] = pred_pose[:, :seq]
    return torch.from_numpy(pred_pose_eval.numpy() * std + mean), pred_len


# ==================================================================== fixtures


def _save_tiny_distilbert(folder, cased: bool = False) -> None:
    """A random 2-layer DistilBERT whose tokenizer is built like distilbert-base-uncased's `tokenizer.json`: BERT
    normaliser (lower-casing unless `cased`), BERT pre-tokeniser (splits punctuation), WordPiece ("##" pieces),
    [CLS] $A [SEP]; 512 positions."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(VOCAB)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=not cased)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])  # fmt: skip
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **specials).save_pretrained(folder)
    config = DistilBertConfig(vocab_size=len(VOCAB), dim=64, n_layers=2, n_heads=2, hidden_dim=128,
                              max_position_embeddings=512, pad_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(folder)


def _motion(seed: int, frames: int, fps: float = 30.0) -> Motion:
    return Motion.from_rotations(*random_motion(seed, frames=frames), fps=fps)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A checkpoint in MotionMillion's layout with random weights, its DistilBERT folder and 272 stats."""
    root = tmp_path_factory.mktemp("motionmillion_evaluator")
    _save_tiny_distilbert(root / "distilbert")
    torch.manual_seed(1)
    model = TrainedModel(root / "distilbert")
    with torch.no_grad():  # every tensor random, DistilBERT's too: the checkpoint's copy must replace the folder's
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    torch.save({"state_dict": model.state_dict(), "epoch": 199, "global_step": 1000}, root / "epoch=199.ckpt")
    motions = [_motion(seed, frames) for seed, frames in enumerate(FRAMES)]
    frames = np.concatenate([m.features for m in motions]).astype(np.float64)
    stats = root / "mean_std" / "vector_272"
    stats.mkdir(parents=True)
    np.save(stats / "mean.npy", frames.mean(0))  # float64, as released
    np.save(stats / "std.npy", frames.std(0) + 1e-3)
    return SimpleNamespace(root=root, checkpoint=root / "epoch=199.ckpt", distilbert=root / "distilbert",
                           stats=stats, motions=motions, state_dict=model.state_dict())  # fmt: skip


@pytest.fixture(scope="module")
def theirs(released):
    return EvaluatorModelWrapper272RPR(released.checkpoint, released.distilbert, released.stats)


@pytest.fixture(scope="module")
def ours(released):
    spec = f"motionmillion:{released.checkpoint},distilbert={released.distilbert},stats={released.stats}"
    return evaluator_from_spec(spec)


# ==================================================================== parity


def test_checkpoint_layout_is_theirs(released):
    """The reference produces the key names their wrapper loads strictly (guards the reference itself)."""
    keys = set(released.state_dict)
    assert {"textencoder.projection.1.weight", "textencoder.mu_token", "textencoder.sequence_pos_encoding.pe",
            "textencoder.seqTransEncoder.layers.3.self_attn.in_proj_weight", "motionencoder.skel_embedding.weight",
            "motionencoder.logvar_token", "motionencoder.seqTransEncoder.layers.0.linear1.weight",
            "textencoder.text_model.embeddings.word_embeddings.weight"} <= keys  # fmt: skip
    assert released.state_dict["motionencoder.sequence_pos_encoding.pe"].shape == (5000, 1, 512)


def test_text_embeddings_match_theirs(released, theirs, ours):
    assert isinstance(ours, MotionMillionEvaluator) and ours.dim == 512
    their_text, _ = theirs.get_co_embeddings(TEXTS, *their_generated_batch([released.motions[0].features],
                                                                           theirs.mean, theirs.std))  # fmt: skip
    got = ours.text_embeddings(TEXTS)
    assert got.shape == (len(TEXTS), 512) and got.dtype == np.float64
    diff = np.abs(got - their_text.double().numpy()).max()
    assert diff < 1e-5, f"text embeddings differ from MotionMillion's by up to {diff:.2e}"
    # each text alone (their batch pads to its longest text) and in another order give the same embeddings
    np.testing.assert_allclose(ours.text_embeddings(TEXTS[::-1])[::-1], got, atol=1e-5)
    np.testing.assert_allclose(ours.text_embeddings(TEXTS[3:4])[0], got[3], atol=1e-5)
    assert np.abs(got[0] - got[1]).max() > 1e-3  # different texts, different embeddings: the test can fail
    # past our batch sizes (32 texts per DistilBERT pass, 64 per evaluator pass) against one batch of theirs
    many = TEXTS[:3] * 24
    their_many, _ = theirs.get_co_embeddings(many, *their_generated_batch([released.motions[0].features],
                                                                          theirs.mean, theirs.std))  # fmt: skip
    np.testing.assert_allclose(ours.text_embeddings(many), their_many.double().numpy(), rtol=0, atol=1e-5)


def test_motion_embeddings_match_theirs(released, theirs, ours):
    features = [m.features for m in released.motions]
    _, their_motion = theirs.get_co_embeddings(TEXTS[:1], *their_generated_batch(features, theirs.mean, theirs.std))
    got = ours.motion_embeddings(released.motions)
    assert got.shape == (len(FRAMES), 512) and got.dtype == np.float64
    diff = np.abs(got - their_motion.double().numpy()).max()
    assert diff < 1e-5, f"motion embeddings differ from MotionMillion's by up to {diff:.2e}"
    # 301 and 450 frames: only the first 300 count (and the 300th does count)
    first = [Motion(released.motions[i].features[:n]) for i, n in ((4, 300), (5, 300), (5, 299))]
    cut = ours.motion_embeddings(first)
    np.testing.assert_allclose(got[4:6], cut[:2], atol=1e-5)
    assert np.abs(cut[1] - cut[2]).max() > 1e-4
    # an embedding does not depend on its batch
    np.testing.assert_allclose(ours.motion_embeddings(released.motions[1:2])[0], got[1], atol=1e-5)


def test_other_frame_rates_are_resampled_to_30(released, theirs, ours):
    """A 20 fps motion is scored as its 30 fps resampling, the rate of MotionMillion's data."""
    motion = _motion(7, 80, fps=20.0)
    _, their_motion = theirs.get_co_embeddings(TEXTS[:1], *their_generated_batch([motion.resample(30.0).features],
                                                                                  theirs.mean, theirs.std))  # fmt: skip
    np.testing.assert_allclose(ours.motion_embeddings([motion])[0], their_motion[0].double().numpy(), atol=1e-5)


# ==================================================================== layout variants and errors


def test_position_ids_of_older_transformers_are_accepted(released, theirs, tmp_path):
    """transformers < 4.31 saved DistilBERT's `embeddings.position_ids` buffer; such a checkpoint loads."""
    sd = dict(released.state_dict)
    sd["textencoder.text_model.embeddings.position_ids"] = torch.arange(512)[None]
    torch.save({"state_dict": sd}, tmp_path / "old.ckpt")
    ev = load_motionmillion_evaluator(tmp_path / "old.ckpt", released.distilbert, released.stats)
    their_text, _ = theirs.get_co_embeddings(TEXTS[:2], *their_generated_batch([released.motions[0].features],
                                                                               theirs.mean, theirs.std))  # fmt: skip
    np.testing.assert_allclose(ev.text_embeddings(TEXTS[:2]), their_text.double().numpy(), atol=1e-5)


def test_a_different_positional_table_is_refused(released, tmp_path):
    sd = dict(released.state_dict)
    sd["motionencoder.sequence_pos_encoding.pe"] = sd["motionencoder.sequence_pos_encoding.pe"].flip(-1)
    torch.save({"state_dict": sd}, tmp_path / "pe.ckpt")
    with pytest.raises(ValueError, match=r"motionencoder\.sequence_pos_encoding\.pe .*sinusoid"):
        load_motionmillion_evaluator(tmp_path / "pe.ckpt", released.distilbert, released.stats)


def test_a_cased_tokenizer_is_refused(released, tmp_path):
    _save_tiny_distilbert(tmp_path / "cased", cased=True)
    with pytest.raises(ValueError, match=r"cased.* does not lower-case"):
        load_motionmillion_evaluator(released.checkpoint, tmp_path / "cased", released.stats)


class _Payload:
    """Anything that is not a plain container: must never be unpickled from a user's file."""


def test_checkpoints_that_need_code_are_refused(released, tmp_path):
    torch.save({"state_dict": released.state_dict, "hyper_parameters": _Payload()}, tmp_path / "code.ckpt")
    with pytest.raises(ValueError, match=r"not unpickled here\. Extract its state dict"):
        load_motionmillion_evaluator(tmp_path / "code.ckpt", released.distilbert, released.stats)


def test_key_errors_name_the_keys(released, tmp_path):
    bad = dict(released.state_dict)
    del bad["motionencoder.skel_embedding.bias"]
    bad["textencoder.seqTransEncoder.layers.0.extra"] = torch.zeros(2)
    torch.save({"state_dict": bad}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError) as info:
        load_motionmillion_evaluator(tmp_path / "bad.ckpt", released.distilbert, released.stats)
    assert "missing keys: ['motionencoder.skel_embedding.bias']" in str(info.value)
    assert "unexpected keys: ['textencoder.seqTransEncoder.layers.0.extra']" in str(info.value)
    torch.save({"state_dict": {"model.weight": torch.zeros(2)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"no textencoder.\* or motionencoder.\* keys; top-level names: \['model'\]"):
        load_motionmillion_evaluator(tmp_path / "other.ckpt", released.distilbert, released.stats)
