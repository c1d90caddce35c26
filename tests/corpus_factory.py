"""Small built-in corpora for tests, built once per test session by the real pipeline."""

from __future__ import annotations

from pathlib import Path

_BUILT: dict[tuple[int, int], Path] = {}


def builtin_corpus(tmp_path_factory, clips: int = 48, seed: int = 0) -> Path:
    """A corpus folder with `clips` built-in clips (cached for the session)."""
    from motionmill.data.pipeline import BuildConfig, build_corpus

    key = (clips, seed)
    if key not in _BUILT:
        out = tmp_path_factory.mktemp(f"builtin{clips}")
        build_corpus([f"builtin:{clips}:{seed}"], out, BuildConfig(workers=1, shard_size=16, progress=False))
        _BUILT[key] = out
    return _BUILT[key]
