"""Spec strings `PATH[,key=value...]` (utils/spec.py)."""

import math

import pytest

from motionmill.utils.spec import parse_spec


def test_parse_spec_options():
    assert parse_spec("/data/x", {"n": int}) == ("/data/x", {})
    assert parse_spec("/data/x,n=3,s=v1/a", {"n": int, "s": str}) == ("/data/x", {"n": 3, "s": "v1/a"})
    assert math.isclose(parse_spec("d,f=2.5", {"f": float})[1]["f"], 2.5)
    with pytest.raises(ValueError, match="bad option"):
        parse_spec("d,zzz=1", {"n": int})
    with pytest.raises(ValueError, match="no path"):
        parse_spec("", {})
