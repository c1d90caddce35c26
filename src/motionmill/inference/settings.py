"""`SamplingSettings`: how a text-to-motion pipeline draws tokens, declared once.

One object carries a sampling request from where it is made (the options of `motionmill generate` and of every
`motionmill eval` command, or Python) through `run_generate` and the evaluation suites to `TextToMotion`. A field
left None is not set by the request: the pipeline fills it from its folder's defaults (`pipeline.json` "sampling"),
and those from `DEFAULTS` (`over`). The command-line options are generated from the fields below, so every command
that samples accepts the same ones; each field's help text is its documentation.

This module imports no torch, so building the command line stays fast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

__all__ = ["DEFAULTS", "SamplingSettings"]


def _option(help_text: str):
    """A field that is unset (None) unless given; `help_text` documents it and becomes its command-line help."""
    return field(default=None, metadata={"help": help_text})


@dataclass(frozen=True)
class SamplingSettings:
    """How tokens are drawn; None leaves a field to the pipeline's defaults."""

    temperature: float | None = _option("sampling temperature: below 1 sharpens, above 1 flattens the distribution")
    top_k: int | None = _option("sample among the k most likely codes; 0 keeps them all")
    top_p: float | None = _option("nucleus sampling: the smallest set of codes holding this probability mass, e.g. "
                                  "0.95; 1 keeps them all")  # fmt: skip
    guidance: float | None = _option("classifier-free guidance scale; 1 = none")
    greedy: bool | None = _option("argmax decoding instead of sampling")
    candidates: int | None = _option("best of N: sample N motions per prompt and keep the one the model's reranker "
                                     "finds closest to the prompt; 1 = plain sampling")  # fmt: skip
    compose: bool | None = _option("sample a prompt that lists actions in order (walk, then turn...) one step at a "
                                   "time, each from its own words")  # fmt: skip
    min_seconds: float | None = _option("shortest motion (and step of a split prompt) the model may choose when no "
                                        "duration is asked; 0 lets it stop after its first token")  # fmt: skip

    def __post_init__(self) -> None:
        checks = {
            "temperature": (lambda v: _number(v) and v > 0, "a number > 0"),
            "top_k": (lambda v: _integer(v) and v >= 0, "an integer >= 0 (0 keeps every code)"),
            "top_p": (lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
            "guidance": (lambda v: _number(v) and v >= 0, "a finite number >= 0"),
            "greedy": (lambda v: isinstance(v, bool), "true or false"),
            "candidates": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
            "compose": (lambda v: isinstance(v, bool), "true or false"),
            "min_seconds": (lambda v: _number(v) and v >= 0, "a finite number >= 0"),
        }
        for name, (ok, what) in checks.items():
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ValueError(f"{name} (--{name.replace('_', '-')}) must be {what}, got {value!r}")

    def over(self, base: SamplingSettings) -> SamplingSettings:
        """These settings with each unset field taken from `base`."""
        return replace(base, **self.given())

    def given(self) -> dict:
        """The fields that are set, by name."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict | None) -> SamplingSettings:
        """From a mapping such as pipeline.json's "sampling"; an unknown name is an error that names it."""
        values = dict(values or {})
        if unknown := sorted(set(values) - {f.name for f in fields(cls)}):
            raise ValueError(f"unknown sampling settings {unknown}; known: {[f.name for f in fields(cls)]}")
        return cls(**values)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


DEFAULTS = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, guidance=1.0, greedy=False, candidates=1,
                            compose=False, min_seconds=1.0)  # fmt: skip
"""What a pipeline without stored defaults uses: plain sampling from the whole distribution, no guidance; a chosen
length of at least 1 s, the shortest clip the corpus keeps (`data.quality.QualityConfig.min_frames` at 30 fps):
without it a model may stop after one token, a motion of 2 frames that no measure can score."""
