"""Faults of one item of a suite: the stage and item an exception happened in, and its one-line record.

The suites run each item (a prompt, a caption) inside `in_stage(stage, item)`; an exception leaving it carries
`(stage, item)` as its `motionmill_stage` attribute, so a suite records "generate on 012_snap_fingers: ..." and
`motionmill.cli.main` can print where an unexpected error happened (docs/evaluation.md, "Faults").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["describe", "in_stage", "where"]

ATTRIBUTE = "motionmill_stage"


@contextlib.contextmanager
def in_stage(stage: str, item: str) -> Iterator[None]:
    """Mark an exception raised inside the block with `(stage, item)`; the innermost mark wins."""
    try:
        yield
    except Exception as e:
        if getattr(e, ATTRIBUTE, None) is None:
            try:
                setattr(e, ATTRIBUTE, (stage, item))
            except (AttributeError, TypeError):  # an exception type without an instance dict
                pass
        raise


def where(error: BaseException) -> tuple[str, str] | None:
    """The `(stage, item)` an exception was marked with by `in_stage`, or None."""
    return getattr(error, ATTRIBUTE, None)


def describe(error: BaseException) -> str:
    """One line naming the exception type and its message, for a report row."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
