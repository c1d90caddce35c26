"""Every source opens from its spec string and survives pickling (as it must to reach worker processes)."""

import pickle

import pytest

from motionmill.data.sources import SOURCES, open_source


@pytest.mark.parametrize(
    "spec",
    ["humanml3d:/d/HumanML3D", "motionmillion:/d/MM,split=version1/tokenizer_96", "amass:/d/AMASS,clip_seconds=5",
     "bvh:/d/bvh,units=cm", "builtin:10:2"],
)  # fmt: skip
def test_open_and_pickle(spec):
    source = open_source(spec)
    assert source.name == spec.partition(":")[0] and source.name in SOURCES
    assert isinstance(source.licence, str) and source.licence
    assert pickle.loads(pickle.dumps(source)) == source
