"""The protocol's item selection against reference implementations of the published evaluation loaders.

The references below follow the published loaders (HumanML3D's `Text2MotionDatasetV2`,
https://github.com/EricGuo5513/text-to-motion `data/dataset.py`; MotionMillion's evaluation `Text2MotionDataset`,
https://github.com/VankouF/MotionMillion-Codes `dataset/dataset_TM_eval_motionmillion.py`): torch datasets that
draw from python's, numpy's and torch's global RNGs, read through a real `torch.utils.data.DataLoader` with
`shuffle=True, drop_last=True` in one process. Each clip's "motion" is its frame numbers, so a returned crop names
its first frame.
"""

import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from motionmill.eval.benchmark import ProtocolConfig, _run_items, protocol_loader, run_protocol
from motionmill.eval.loaders import LOADERS, loader_batches, run_seed


class HumanML3DReference(Dataset):
    """HumanML3D's evaluation dataset with its windows given in frames at the clips' frame rate."""

    def __init__(self, clips, fps, min_len, max_len, unit, pointer_len):
        self.unit, entries, lengths, names = unit, {}, [], []
        for clip in clips:
            motion = np.arange(clip["frames"])
            if len(motion) < min_len or len(motion) >= max_len:
                continue
            whole = []
            for caption in clip["texts"]:
                f_tag, to_tag = caption["start"] or 0.0, caption["end"] or 0.0
                if f_tag == 0.0 and to_tag == 0.0:
                    whole.append(caption["text"])
                    continue
                part = motion[int(f_tag * fps) : int(to_tag * fps)]
                if len(part) < min_len or len(part) >= max_len:
                    continue
                name = random.choice("ABCDEFGHIJKLMNOPQRSTUVW") + "_" + clip["id"]
                while name in entries:
                    name = random.choice("ABCDEFGHIJKLMNOPQRSTUVW") + "_" + clip["id"]
                entries[name] = (clip["row"], part, [caption["text"]])
                names.append(name)
                lengths.append(len(part))
            if whole:
                entries[clip["id"]] = (clip["row"], motion, whole)
                names.append(clip["id"])
                lengths.append(len(motion))
        pairs = sorted(zip(names, lengths, strict=True), key=lambda x: x[1])
        self.names, self.entries = [p[0] for p in pairs], entries
        self.pointer = np.searchsorted(np.array([p[1] for p in pairs]), pointer_len)

    def __len__(self):
        return len(self.entries) - self.pointer

    def __getitem__(self, item):
        row, motion, texts = self.entries[self.names[self.pointer + item]]
        text = random.choice(texts)
        coin = np.random.choice(["single", "single", "double"])
        m_length = (len(motion) // self.unit - (1 if coin == "double" else 0)) * self.unit
        start = random.randint(0, len(motion) - m_length)
        return row, text, int(motion[start]), m_length


class MotionMillionReference(Dataset):
    """MotionMillion's evaluation dataset (30 fps windows), with its doubled length list."""

    def __init__(self, clips, min_len=60, max_len=200, unit=4):
        self.unit, self.data, self.ids = unit, {}, []
        names, lengths = [], []
        for clip in clips:
            motion = np.arange(clip["frames"])
            if len(motion) < min_len or len(motion) > max_len:
                continue
            self.ids.append(clip["id"])
            lengths.append(len(motion))
            texts = [c["text"] for c in clip["texts"]]
            if texts:
                self.data[clip["id"]] = (clip["row"], motion, texts)
                names.append(clip["id"])
                lengths.append(len(motion))
        names, lengths = zip(*sorted(zip(names, lengths), key=lambda x: x[1]))  # noqa: B905 (cut, as published)
        self.names = names
        self.pointer = np.searchsorted(np.array(lengths), 20)

    def __len__(self):
        return len(self.ids) - self.pointer

    def __getitem__(self, item):
        row, motion, texts = self.data[self.names[self.pointer + item]]
        text = random.choice(texts)
        coin = np.random.choice(["single", "single", "double"])
        units = len(motion) // self.unit - (1 if coin == "double" else 0)
        m_length = units * self.unit
        start = random.randint(0, len(motion) - m_length)
        return row, text, int(motion[start]), m_length


def reference_batches(dataset_fn, seed):
    """One pass of the published DataLoader with the global RNGs seeded by `seed`, the dataset built after."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dataset = dataset_fn()
    loader = DataLoader(dataset, batch_size=32, shuffle=True, drop_last=True, num_workers=0, collate_fn=list)
    return [list(batch) for batch in loader]


def synthetic_clips(count, fps, seed=0):
    """Clips of 20 to 360 frames with 1-4 captions, some on time spans (inside, across and outside the window)."""
    rng = np.random.default_rng(seed)
    clips = []
    for row in range(count):
        frames = int(rng.integers(20, 360))
        texts = []
        for k in range(int(rng.integers(1, 5))):
            if rng.random() < 0.35:
                start = round(float(rng.uniform(0, frames / fps)), 2)
                end = round(start + float(rng.uniform(0.5, 12.0)), 2)
                texts.append({"text": f"clip {row} span {k}", "start": start, "end": end})
            else:
                texts.append({"text": f"clip {row} caption {k}", "start": None if k % 2 else 0.0, "end": 0.0})
        clips.append({"row": 3 * row + 1, "id": f"c{row:04d}", "frames": frames, "fps": float(fps), "texts": texts})
    return clips


def as_tuples(batches):
    return [[(it.row, it.text, it.first, it.last - it.first) for it in batch] for batch in batches]


@pytest.mark.parametrize("fps", [20, 30])
@pytest.mark.parametrize("seed", [0, 1, 1234, run_seed(7, 3)])
def test_humanml3d_loader_matches_the_published_draws(fps, seed):
    clips = synthetic_clips(260, fps)
    scale = fps / 20  # the published windows are frames at 20 fps
    ours = as_tuples(loader_batches(LOADERS["humanml3d"], clips, seed))
    expected = reference_batches(lambda: HumanML3DReference(clips, fps, int(40 * scale), int(200 * scale),
                                                            int(4 * scale), int(20 * scale)), seed)  # fmt: skip
    assert len(ours) >= 4 and ours == expected
    spans = [it for batch in ours for it in batch if "span" in it[1]]
    assert spans and any(first > 0 for _, _, first, _ in spans)
    assert {m % int(4 * scale) for batch in ours for *_, m in batch} == {0}


@pytest.mark.parametrize("seed", [0, 5, 99, run_seed(0, 19)])
def test_motionmillion_loader_matches_the_published_draws(seed):
    clips = synthetic_clips(300, 30, seed=1)
    ours = as_tuples(loader_batches(LOADERS["motionmillion"], clips, seed))
    assert len(ours) >= 3 and ours == reference_batches(lambda: MotionMillionReference(clips), seed)
    lengths = [m for batch in ours for *_, m in batch]
    assert min(lengths) >= 56 and max(lengths) <= 200 and all(m % 4 == 0 for m in lengths)


def test_motionmillion_sorts_by_its_doubled_length_list():
    """Clip i is sorted by the length of clip i // 2: reordering by the true lengths gives other batches."""
    clips = synthetic_clips(300, 30, seed=1)
    ours = as_tuples(loader_batches(LOADERS["motionmillion"], clips, 3))
    aligned = reference_batches(lambda: _aligned_motionmillion(clips), 3)
    assert ours != aligned and sorted(map(sorted, ours)) != sorted(map(sorted, aligned))


def _aligned_motionmillion(clips):
    dataset = MotionMillionReference(clips)
    dataset.names = sorted(dataset.names, key=lambda n: len(dataset.data[n][1]))
    return dataset


def test_protocol_run_items_are_the_loaders_with_the_run_seed():
    clips = synthetic_clips(200, 30)
    cfg = ProtocolConfig(seed=11)
    for r in (0, 4):
        items, batches = _run_items("humanml3d", clips, {}, np.array([]), None, cfg, r)
        expected = reference_batches(lambda: HumanML3DReference(clips, 30, 60, 300, 6, 30), run_seed(11, r))
        assert [[(items[i].row, items[i].text, items[i].first, items[i].last - items[i].first) for i in b]
                for b in batches] == expected  # fmt: skip


class Evaluator:
    """Embeddings that are a function of the text and of the motion's length; named as one kind or the other."""

    def __init__(self, name):
        self.name = name

    def text_embeddings(self, texts):
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], float)

    def motion_embeddings(self, motions):
        return np.array([[len(m.features), float(m.features[:, 0].mean()), 2.0] for m in motions], float)


class Pipe:
    """Returns the first frames of one real clip at every requested length and records what it was asked."""

    name, max_seconds = "stub", 10.0

    def __init__(self, features):
        self.features, self.asked = features, []

    def settings(self, sampling=None):
        from motionmill.inference.settings import SamplingSettings

        return SamplingSettings()

    def __call__(self, prompts, seconds, seed, sampling=None):
        from motionmill.motion.container import Motion

        self.asked += list(zip(prompts, seconds, strict=True))
        return [Motion(self.features[: round(s * 30)], 30.0) for s in seconds]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from corpus_factory import builtin_corpus

    return builtin_corpus(tmp_path_factory, clips=120)


def test_protocol_generates_the_loader_items_and_keeps_the_spans_option(corpus):
    from motionmill.data.store import Corpus

    store = Corpus(corpus)
    table = {n: store.table.column(n).to_pylist() for n in ("id", "texts", "frames", "fps")}
    rows = [i for i in store.indices("train") if table["texts"][i]]
    clips = [{"row": i, "id": table["id"][i], "frames": table["frames"][i], "fps": table["fps"][i],
              "texts": table["texts"][i]} for i in rows]  # fmt: skip
    cfg = ProtocolConfig(split="train", repeats=1, mm_captions=0, diversity_pairs=20, seed=3)
    assert protocol_loader(cfg, Evaluator("builtin")) == "motionmillion"
    assert protocol_loader(cfg, Evaluator("humanml3d:finest.tar")) == "humanml3d"
    pipe = Pipe(store.clip(rows[0]).astype(np.float64))
    result = run_protocol(pipe, Evaluator("builtin"), corpus, cfg)
    expected = [it for batch in reference_batches(lambda: MotionMillionReference(clips), run_seed(3, 0))
                for it in batch]  # fmt: skip
    assert result["loader"] == "motionmillion" and result["items"] == [len(expected)]
    assert pipe.asked == [(text, m / 30.0) for _, text, _, m in expected]
    assert {"bone_drift_mm_mean", "bone_drift_mm_max", "output_agreement_mm_mean"} <= set(result["generated"])
    pipe.asked.clear()
    spans = run_protocol(pipe, Evaluator("builtin"), corpus, ProtocolConfig(**{**cfg.__dict__, "loader": "spans"}))
    assert spans["loader"] == "spans" and spans["items"] == [len(rows)] and len(pipe.asked) == len(rows)
    assert np.isfinite(spans["generated"]["r_precision_top3"]["mean"])
    with pytest.raises(ValueError, match="--loader"):
        ProtocolConfig(loader="kit")


class FaultyPipe(Pipe):
    """Raises whenever a batch holds the first caption it was ever asked for."""

    bad = None

    def __call__(self, prompts, seconds, seed, sampling=None):
        self.bad = self.bad or prompts[0]
        if self.bad in prompts:
            raise RuntimeError("injected fault")
        return super().__call__(prompts, seconds, seed, sampling)


def test_a_fault_leaves_its_loader_batch_one_item_smaller(corpus):
    from motionmill.data.store import Corpus

    store = Corpus(corpus)
    pipe = FaultyPipe(store.clip(int(store.indices("train")[0])).astype(np.float64))
    cfg = ProtocolConfig(split="train", repeats=1, mm_captions=0, diversity_pairs=20, seed=3)
    result = run_protocol(pipe, Evaluator("builtin"), corpus, cfg)
    lost = sum(f["stage"] == "generate" for f in result["faults"])
    assert lost >= 1 and result["captions_scored"] == [result["items"][0] - lost]
    assert all(np.isfinite(result["generated"][f"r_precision_top{k}"]["mean"]) for k in (1, 2, 3))
