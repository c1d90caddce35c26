"""Spec strings `PATH[,key=value...]`: how corpus sources and evaluators name a path and its options.

A spec may carry `key=value` options after its path, separated by commas, e.g. `amass:/data/AMASS,clip_seconds=8`,
`motionmillion:/data/MM,split=version1/t2m_60_300` or `humanml3d:finest.tar,glove=DIR,meta=DIR`; the part before
the first colon names the kind and is split off by the caller.
"""

from __future__ import annotations

__all__ = ["parse_spec"]


def parse_spec(arg: str, options: dict[str, type]) -> tuple[str, dict]:
    """Split a source argument "PATH[,key=value...]" into the path and typed options.

    Args:
        arg: the part of the spec after "<source>:".
        options: allowed option names -> type used to convert the value (str, int, float).

    Raises:
        ValueError: empty path, an option without "=", or an unknown option (the message lists the known ones).
    """
    path, *pairs = arg.split(",")
    if not path:
        raise ValueError(f"source spec {arg!r} has no path")
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or key not in options:
            raise ValueError(f"bad option {pair!r} in {arg!r}; options are key=value with key in {sorted(options)}")
        out[key] = options[key](value)
    return path, out
