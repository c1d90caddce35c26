"""Groups of a prompt file and the prompts a 22-joint body cannot show.

- Groups: a line of a prompt file may carry a second, tab-separated column naming its group
  ("Jump high<TAB>atomic verbs"). MotionMillion-Eval's file (`infer_batch_prompt.txt`, shipped with its licence in
  the package's assets/motionmillion_eval folder) has no such column; when a prompt list is exactly that file, its
  five structural groups come from the shipped `groups.txt` (one group a line, by position: the file holds the same
  prompts in two groups, "Snap fingers" and "Drink water", so text alone cannot tell them apart).
- Unshowable prompts: `UNSHOWABLE` is the one list of words naming fingers or the face. A prompt containing one is
  flagged: the SMPL-22 skeleton has no finger or face joints, so its score says nothing about that part of the
  prompt; the prompts report shows the flag and keeps flagged prompts out of the group averages (they get a row of
  their own).
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["UNSHOWABLE", "MOTIONMILLION_EVAL_GROUPS", "assign_groups", "motionmillion_eval", "split_group",
           "unshowable"]  # fmt: skip

# Words naming body parts the SMPL-22 skeleton lacks, by part. Matched as whole words, case-insensitive, with the
# endings given ("smil(e|es|ed|ing)").
UNSHOWABLE: dict[str, tuple[str, ...]] = {
    "fingers": ("fingers?", "fingertips?", "thumbs?"),
    "face": ("wink(s|ed|ing)?", "blink(s|ed|ing)?", "squint(s|ed|ing)?", "frown(s|ed|ing)?", "smil(e|es|ed|ing)",
             "grin(s|ned|ning)?", "eyebrows?", "lips", "mouth", "tearful", "expression"),
}  # fmt: skip
_PATTERNS = {part: re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE) for part, words in UNSHOWABLE.items()}

MOTIONMILLION_EVAL_GROUPS = ("long scripts", "role and activity", "short imperatives", "compositional sentences",
                             "atomic verbs")  # fmt: skip


def unshowable(prompt: str) -> list[str]:
    """The parts of `prompt` the body cannot show, as "part: word, word" (empty when it shows everything)."""
    found = []
    for part, pattern in _PATTERNS.items():
        words = list(dict.fromkeys(m.group(0).lower() for m in pattern.finditer(prompt)))
        if words:
            found.append(f"{part}: {', '.join(words)}")
    return found


def split_group(line: str) -> tuple[str, str | None]:
    """A prompt-file line as (prompt, group): the group is the text after the first tab, if any."""
    prompt, tab, group = line.partition("\t")
    return prompt.strip(), (group.strip() or None) if tab else None


def motionmillion_eval() -> tuple[list[str], list[str]]:
    """MotionMillion-Eval's 126 prompts and their structural groups, from the shipped copy."""
    folder = resources.files("motionmill") / "assets" / "motionmillion_eval"
    prompts = folder.joinpath("infer_batch_prompt.txt").read_text(encoding="utf-8").splitlines()
    groups = folder.joinpath("groups.txt").read_text(encoding="utf-8").splitlines()
    if len(prompts) != len(groups):
        raise ValueError(f"{folder}: {len(prompts)} prompts but {len(groups)} groups")
    return prompts, groups


def assign_groups(lines: list[str]) -> tuple[list[str], list[str | None]]:
    """Prompts and groups of prompt-file lines: a tab-separated second column names the group; without any column,
    MotionMillion-Eval's file gets its shipped groups and any other file none."""
    pairs = [split_group(line) for line in lines]
    prompts, groups = [p for p, _ in pairs], [g for _, g in pairs]
    if all(g is None for g in groups):
        known, known_groups = motionmillion_eval()
        if [p.strip() for p in known] == prompts:
            groups = list(known_groups)
    return prompts, groups
