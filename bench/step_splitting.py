"""How well step splitting reads free-form English: the held-aside set of 100 multi-step sentences.

`tests/text/steps_heldaside.yaml` holds sentences written in plain English (other verbs, other connectors, slang)
that were never used to tune `motionmill.text.steps.split_steps`; each lists one word per step in the order the steps
happen. A sentence counts as split right when it gives exactly these steps in this order. Prints the count and every
sentence split wrong with what the splitter made of it.

Run: `python bench/step_splitting.py`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from motionmill.text.steps import split_steps

HELD_ASIDE = Path(__file__).resolve().parents[1] / "tests" / "text" / "steps_heldaside.yaml"


def split_right(text: str, markers: list[str]) -> bool:
    steps = split_steps(text)
    return len(steps) == len(markers) and all(m.lower() in s.lower() for m, s in zip(markers, steps, strict=True))


def main() -> None:
    items = yaml.safe_load(HELD_ASIDE.read_text())
    wrong = [item for item in items if not split_right(item["text"], item["steps"])]
    print(f"{len(items) - len(wrong)} of {len(items)} held-aside sentences split into the right steps in order")
    for item in wrong:
        print(f"  {item['text']!r}: expected {item['steps']}, got {split_steps(item['text'])}")


if __name__ == "__main__":
    main()
