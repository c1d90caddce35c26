"""Split a prompt into the steps it describes one after another, in the order they happen.

"A man walks forward, then turns left. Before sitting down, he waves." -> ["A man walks forward", "turns left",
"he waves", "sitting down"]. The pipeline's step-by-step sampling (`compose`) generates each step from its own text
and joins them, because a small generator follows a short description far better than a long one that lists several
actions.

A small English grammar, not a list of caption templates:
- sentences (. ! ? ;) follow one another;
- discourse markers open a later step: "then", "next", "after that", "afterwards", "later", "subsequently",
  "finally", "eventually", "followed by", "after which", ordinals ("first ..., second ..., third ..."), and their
  "and ..." forms; a clause ending in "afterwards" or "later" is the later half of its "and";
- markers that point back open an earlier step: "before that", "but first", "earlier", a clause ending in "first";
- temporal clauses are put in the order of their meaning: "after X", "once X", "as soon as X", "upon X" and a
  leading "when X" or "having X" happen before the main clause, "before X" and "prior to X" after it, whether the
  clause leads or trails ("before he sits, he waves" and "he waves before sitting" both give wave, sit). A trailing
  clause counts only when a verb or a subject opens it ("waves before jumping", "waves after he jumps"), so "stands
  before a door" stays one step;
- a clause that only says the last step ended ("once he is finished", "when that is over") is no step of its own,
  and "having finished punching" keeps "punching";
- in a sentence that has any of these, commas list its steps too ("jumps, claps and then bows").
What happens together stays one step: "while", "as", "at the same time", "meanwhile" and plain "and" never split,
and a sentence that opens with a marker of simultaneity joins the step before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["split_steps"]


def _words(*phrases: str) -> str:
    """A regex alternation of phrases, longest first, each a whole-word match with flexible spaces."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in ordered) + r")\b"


_ORDINALS = ("second", "secondly", "third", "thirdly", "fourth", "fourthly", "fifth", "fifthly", "sixth")
_LATER = ("then", "next", "after that", "after this", "after which", "afterwards", "afterward", "later", "later on",
          "subsequently", "thereafter", "finally", "lastly", "eventually", "at last", "in the end", "at the end",
          "to finish", "to finish off", "to end", "to close", "from there", "followed by", "and is followed by",
          "ends by", "ends with", "ends up", "finishes by", "finishes with", "finishes off by", "and finishes off with",
          *_ORDINALS)  # fmt: skip
_EARLIER = ("before that", "before this", "but first", "but before that", "prior to that", "earlier", "previously")
_OPENING = ("first", "firstly", "first of all", "at first", "to begin", "to begin with", "to start", "to start with",
            "initially", "in the beginning", "at the beginning", "to start off")  # fmt: skip
_TOGETHER = ("at the same time", "simultaneously", "meanwhile", "in the meantime", "meantime", "all the while")
# Subordinators: (phrase, whether its clause happens before the main clause).
_SUBORDINATORS = (("after", True), ("once", True), ("as soon as", True), ("upon", True), ("right after", True),
                  ("just after", True), ("immediately after", True), ("when", True), ("having", True),
                  ("before", False), ("right before", False), ("just before", False), ("prior to", False))  # fmt: skip
_LEADING_ONLY = ("when", "having")  # "waves when he walks" is simultaneity; trailing "having" is rare and vague
_PRONOUNS = ("he", "she", "they", "it", "i", "you", "we", "the", "this", "that", "his", "her", "their")

_CONJUNCTION = r"(?:(?:and|an|n|&|but|so|,)\s+)*"
_SENTENCE = re.compile(r"[.!?;]+(?:\s+|$)")
_LATER_AT = re.compile(r"(?:^|,\s*|\s+)" + _CONJUNCTION + r"(?P<m>" + _words(*_LATER) + r")\s*,?\s*", re.IGNORECASE)
_EARLIER_AT = re.compile(r"(?:^|,\s*|\s+)" + _CONJUNCTION + r"(?P<m>" + _words(*_EARLIER) + r")\s*,?\s*",
                         re.IGNORECASE)  # fmt: skip
_OPENING_AT = re.compile(r"^" + _CONJUNCTION + _words(*_OPENING) + r"\s*,?\s*", re.IGNORECASE)
_TOGETHER_AT = re.compile(r"^" + _CONJUNCTION + _words(*_TOGETHER) + r"\s*,?\s*", re.IGNORECASE)
_TRAILING_LATER = re.compile(r"^(?P<head>.+?)\s+and\s+(?P<tail>.+?)\s+" + _words("afterwards", "afterward", "later",
                             "later on", "after that", "after this", "next") + r"$", re.IGNORECASE)  # fmt: skip
_BUT_FIRST = re.compile(r"^(?P<head>.+?),?\s+but\s+(?P<tail>.+?)\s+" + _words("first", "beforehand", "before that")
                        + r"$", re.IGNORECASE)  # fmt: skip
_TRAILING_ADVERB = re.compile(r",?\s+" + _words("first", "beforehand", "afterwards", "afterward", "later", "later on",
                              "after that", "after this") + r"$", re.IGNORECASE)  # fmt: skip
_LEADING_CLAUSE = re.compile(r"^(?P<sub>" + _words(*(p for p, _ in _SUBORDINATORS)) + r")\s+(?P<clause>[^,]+?),\s*"
                             r"(?P<main>.+)$", re.IGNORECASE)  # fmt: skip
_TRAILING_CLAUSE = re.compile(r"^(?P<main>.+?),?\s+(?P<sub>" + _words(*(p for p, _ in _SUBORDINATORS
                              if p not in _LEADING_ONLY)) + r")\s+(?P<clause>(?:[\w-]+ing\b|having\b|"
                              + _words(*_PRONOUNS) + r").*)$", re.IGNORECASE)  # fmt: skip
# "(he) has finished", "is done with", "completing": the clause's verb says only that something ended.
_ENDED = re.compile(r"^(?:(?:" + _words(*_PRONOUNS) + r"|the\s+\w+)\s+)?(?:(?:has|have|had|is|are|was|'s|gets?|got)"
                    r"\s+)?(?:finish(?:ed|es|ing)?|done|complet(?:ed|es|ing|e)|through|over|end(?:ed|s|ing)?)\b"
                    r"(?:\s+with)?\s*", re.IGNORECASE)  # fmt: skip
_NO_STEP = re.compile(r"^(?:" + _words(*_PRONOUNS, "that", "this", "it", "so", "all", "everything") + r"\s*)*$",
                      re.IGNORECASE)  # fmt: skip
_LIST_COMMA = re.compile(r",\s+")
_ADVERB_ONLY = re.compile(r"^\w+ly$", re.IGNORECASE)
_SUBORDINATOR_FIRST = dict(_SUBORDINATORS)


@dataclass
class _Step:
    text: str
    earlier: bool = False
    """Happens before the step written just before it ("He sits. Before that, he waves.")."""
    together: bool = False
    """Happens with the step written just before it."""


def _clause_step(clause: str) -> str:
    """A subordinate clause as a step: "he has finished punching" -> "punching"; "" when it only says an end."""
    rest = _ENDED.sub("", clause.strip(), count=1)
    return "" if _NO_STEP.match(rest) else rest


def _ordered(main: str, clause: str, clause_first: bool) -> list[_Step]:
    """The main clause's steps and the subordinate clause's step, in the order they happen."""
    steps, sub = _clause_steps(main), _clause_step(clause)
    if not sub:
        return steps
    return [_Step(sub)] + steps if clause_first else steps + [_Step(sub)]


def _clause_steps(text: str) -> list[_Step]:
    """The steps of one sentence (or part of one), in order."""
    text = _OPENING_AT.sub("", text.strip(" ,"))
    pieces = _split_marked(text, _LATER_AT, earlier=False) or [_Step(text)]
    out = []
    for piece in pieces:
        parts = _split_marked(piece.text, _EARLIER_AT, earlier=True) or [piece]
        parts[0].earlier = parts[0].earlier or piece.earlier
        for part in parts:
            out += _expand(part)
    sequenced = len(out) > 1
    if sequenced:  # a sequence: commas list its steps too ("jumps, claps and then bows")
        out = [_Step(t, s.earlier and i == 0) for s in out for i, t in enumerate(_commas(s.text))]
    return out


def _split_marked(text: str, marker: re.Pattern, earlier: bool) -> list[_Step]:
    """`text` cut at each match of `marker`; the pieces after a cut are marked `earlier` (or not). [] if no cut."""
    cuts = [m for m in marker.finditer(text) if m.end() < len(text)]  # a trailing marker is `_expand`'s
    if not cuts:
        return []
    out = [_Step(text[: cuts[0].start()])]
    for m, after in zip(cuts, cuts[1:] + [None], strict=True):
        out.append(_Step(text[m.end() : after.start() if after else len(text)], earlier=earlier))
    return [s for s in out if s.text.strip(" ,")]


def _expand(step: _Step) -> list[_Step]:
    """One piece between markers, with its trailing subordinate clause or trailing adverb resolved."""
    text = step.text.strip(" ,")
    if lead := _LEADING_CLAUSE.match(text):  # its main clause may end in a clause of its own, hence first
        first = _SUBORDINATOR_FIRST[" ".join(lead["sub"].lower().split())]
        steps = _ordered(lead["main"], lead["clause"], first)
    elif trail := _TRAILING_CLAUSE.match(text):
        first = _SUBORDINATOR_FIRST[" ".join(trail["sub"].lower().split())]
        steps = _ordered(trail["main"], trail["clause"], first)
    elif later := _TRAILING_LATER.match(text):
        steps = [_Step(later["head"]), _Step(later["tail"])]
    elif but := _BUT_FIRST.match(text):
        steps = [_Step(but["head"]), _Step(but["tail"], earlier=True)]
    else:
        steps = [_Step(_TRAILING_ADVERB.sub("", text))]
    if steps:
        steps[0].earlier = steps[0].earlier or step.earlier
    return steps


def _commas(text: str) -> list[str]:
    """A sequenced piece's comma list, an adverb alone ("slowly") kept with the item before it."""
    items = []
    for item in _LIST_COMMA.split(text):
        if items and _ADVERB_ONLY.match(item.strip()):
            items[-1] += ", " + item
        else:
            items.append(item)
    return items


def _in_order(steps: list[_Step]) -> list[str]:
    """Step texts in the order they happen: an `earlier` step goes before the one written before it."""
    out: list[str] = []
    for step in steps:
        if step.together and out:
            out[-1] = f"{out[-1]} and {step.text}"
        elif step.earlier and out:
            out.insert(len(out) - 1, step.text)
        else:
            out.append(step.text)
    return out


def split_steps(text: str) -> list[str]:
    """The steps of `text` in the order they happen, each stripped of its sequencing words; `[text]` when it
    describes one step."""
    steps: list[_Step] = []
    for sentence in _SENTENCE.split(text.strip()):
        if not sentence.strip():
            continue
        together = _TOGETHER_AT.match(sentence.strip())
        sentence_steps = _clause_steps(_TOGETHER_AT.sub("", sentence.strip()))
        if together and sentence_steps:
            sentence_steps[0].together = True
        steps += sentence_steps
    for step in steps:
        step.text = _OPENING_AT.sub("", step.text.strip(" .,;!?")).strip(" .,;!?")
    ordered = [s for s in _in_order([s for s in steps if any(ch.isalpha() for ch in s.text)]) if s]
    return ordered if len(ordered) > 1 else [text.strip()]
