"""How much of a free-form prompt's meaning reaches the model through its text encoder: action retrieval by sentence
embedding.

Each action of the built-in corpus gets a prototype: the mean sentence embedding (mean of the encoder's token states,
as all-MiniLM-L6-v2 is trained to be used) of captions that the caption grammar writes for it with no modifier. Each
step of a free-form prompt (`motionmill.text.steps`) is then matched to the nearest prototypes. If the right action is
rarely among them, the encoder does not carry what the prompt's words mean, and no generator conditioned on it can
follow the prompt; a high figure says the meaning is there for a model to use. The corpus's own test captions, whose
words the grammar knows, are scored the same way for comparison.

Run: `python bench/freeform_encoder.py [--split freeform_dev] [--encoder minilm] [--captions 12]`.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from motionmill.eval.alignment import alignment_clips
from motionmill.synth.captions import captions_for
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.plan import ClipPlan, Segment
from motionmill.text.encoders import load_text_encoder
from motionmill.text.steps import split_steps


def sentence_embeddings(encoder, texts: list[str]) -> torch.Tensor:
    """Unit-length mean of each text's token states."""
    states, mask = encoder.encode(texts)
    weights = mask.unsqueeze(-1).to(states.dtype)
    return torch.nn.functional.normalize((states * weights).sum(1) / weights.sum(1), dim=-1)


def prototypes(encoder, captions_per_action: int) -> tuple[list[str], torch.Tensor]:
    """Action names and the unit-length mean embedding of `captions_per_action` grammar captions of each."""
    names, vectors = list(ACTIONS), []
    for a, name in enumerate(names):
        texts = []
        for k in range(-(-captions_per_action // 3)):
            plan = ClipPlan(0, k, "train", (Segment(name, 0.0, 3.0),))
            texts += [c.text for c in captions_for(plan, np.random.default_rng([5, a, k]), n=3)]
        vectors.append(torch.nn.functional.normalize(sentence_embeddings(encoder, texts[:captions_per_action]).mean(0),
                                                     dim=-1))  # fmt: skip
    return names, torch.stack(vectors)


def retrieval(encoder, names, protos, clips) -> tuple[int, int, int]:
    """(steps, right action first, right action in the first three); a prompt whose steps do not split as planned
    counts once, by its first action."""
    steps = top1 = top3 = 0
    for clip in clips:
        texts, truth = split_steps(clip.captions[0].text), [s.action for s in clip.plan.segments]
        if len(texts) != len(truth):
            texts, truth = [clip.captions[0].text], truth[:1]  # judged on its first action only
        ranked = (sentence_embeddings(encoder, texts) @ protos.T).argsort(dim=1, descending=True)
        for row, action in zip(ranked, truth, strict=True):
            order = [names[int(j)] for j in row[:3]]
            steps, top1, top3 = steps + 1, top1 + (order[0] == action), top3 + (action in order)
    return steps, top1, top3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="freeform_dev", choices=["freeform_dev", "freeform"])
    parser.add_argument("--encoder", default="minilm", help="text encoder spec (default minilm, the built-in one)")
    parser.add_argument("--captions", type=int, default=12, help="grammar captions per action prototype")
    parser.add_argument("--reference-clips", type=int, default=200, help="test captions scored for comparison")
    args = parser.parse_args()
    encoder = load_text_encoder(args.encoder)
    names, protos = prototypes(encoder, args.captions)
    for label, clips in ((args.split, alignment_clips(args.split, 10_000)),
                         ("test captions", alignment_clips("test", args.reference_clips))):  # fmt: skip
        steps, top1, top3 = retrieval(encoder, names, protos, clips)
        print(f"{label}: {steps} steps; right action nearest {top1 / steps:.1%}, among the nearest three "
              f"{top3 / steps:.1%} ({len(names)} actions, chance {1 / len(names):.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
