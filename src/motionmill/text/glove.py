"""Text inputs of the standard HumanML3D evaluator: text2motion's GloVe table and part-of-speech one-hots.

The word lists are pickles; they are read with an unpickler that accepts only plain containers, strings and
numbers, so a released file never runs code here. Texts come as a HumanML3D line `caption#word/POS ...#start#end`,
its token field alone, or raw text. The published numbers use the spaCy tokens of the text files; raw text falls
back to lowercase words, POS tags from a short closed-class list (everything else OTHER) and no lemmatisation, so
"walks" is not "walk" and its scores are not comparable to published ones.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from motionmill.evaluator.legacy import POS_TAGS

__all__ = ["GloVe", "VIP_WORDS", "caption_tokens"]

BATCH = 64  # items per forward pass; results do not depend on it

# text2motion `utils/word_vectorizer.py`: words whose POS tag the evaluator replaces by a motion-specific class;
# the first list holding a word wins.
VIP_WORDS = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll",
                "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}  # fmt: skip

# POS tags for raw text (no tagger): closed word classes only; every other word is OTHER.
_CLOSED_CLASSES = {
    "DET": "a an the this that these those each every another some any all both".split(),
    "ADP": "in on at to from with by for of over under into onto around across through toward towards behind "
           "along near above below between against off out".split(),
    "AUX": "is are was were be been being am has have had does do did can will would should may might".split(),
    "PRON": "he she it they him her his their them its someone somebody something itself himself herself "
            "themselves who which".split(),
    "NUM": "one two three four five six seven eight nine ten".split(),
}  # fmt: skip
_RAW_POS = {word: tag for tag, words in _CLOSED_CLASSES.items() for word in words}


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists, dicts, strings and numbers only (numpy scalars included); refuses any other object."""

    _ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: expected plain lists and dicts")


def _read_plain_pickle(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file missing: {path}")
    with open(path, "rb") as f:
        return _PlainUnpickler(f).load()


class GloVe:
    """text2motion's GloVe table (`our_vab_data.npy`, `our_vab_words.pkl`, `our_vab_idx.pkl`) and POS one-hots."""

    def __init__(self, vectors: np.ndarray, index: dict[str, int]):
        if "unk" not in index:
            raise ValueError("the GloVe vocabulary has no 'unk' entry")
        self.vectors, self.index = np.asarray(vectors, dtype=np.float32), index
        self.vip = {}
        for tag, words in VIP_WORDS.items():
            for word in words:
                self.vip.setdefault(word, tag)

    @classmethod
    def load(cls, folder: str | Path, prefix: str = "our_vab") -> GloVe:
        folder = Path(folder)
        data = folder / f"{prefix}_data.npy"
        if not data.is_file():
            raise FileNotFoundError(f"GloVe file missing: {data}")
        vectors = np.load(data, allow_pickle=False)
        words = _read_plain_pickle(folder / f"{prefix}_words.pkl")
        word_index = _read_plain_pickle(folder / f"{prefix}_idx.pkl")
        return cls(vectors, {str(w): int(word_index[w]) for w in words})

    def encode(self, tokens: list[tuple[str, str]], max_words: int) -> tuple[np.ndarray, np.ndarray]:
        """(word, POS) pairs -> word vectors (N, 300) and POS one-hots (N, 15), "sos" / "eos" added around the
        first `max_words` words. Unknown words get the "unk" vector and OTHER; known ones their VIP class if any."""
        tokens = [("sos", "OTHER"), *tokens[:max_words], ("eos", "OTHER")]
        vectors = np.zeros((len(tokens), self.vectors.shape[1]), np.float32)
        onehot = np.zeros((len(tokens), len(POS_TAGS)), np.float32)
        for i, (word, pos) in enumerate(tokens):
            if word in self.index:
                vectors[i], tag = self.vectors[self.index[word]], self.vip.get(word, pos)
            else:
                vectors[i], tag = self.vectors[self.index["unk"]], "OTHER"
            onehot[i, POS_TAGS.index(tag if tag in POS_TAGS else "OTHER")] = 1.0
        return vectors, onehot


def caption_tokens(text: str) -> list[tuple[str, str]]:
    """(word, POS) pairs of a caption: from a HumanML3D line `caption#word/POS ...#start#end`, from its token field
    `word/POS word/POS ...`, or from raw text (lowercase words, closed-class POS tags, no lemmas)."""
    field = text.split("#")[1] if "#" in text else text
    parts = field.split()
    if parts and all("/" in p for p in parts):
        return [tuple(p.rsplit("/", 1)) for p in parts]
    words = re.findall(r"[a-z]+", text.replace("-", "").lower())
    return [(w, _RAW_POS.get(w, "OTHER")) for w in words]
