import dataclasses

import pytest

from motionmill.utils.config import build_dataclass, load_recipe, save_recipe


@dataclasses.dataclass
class Small:
    width: int = 8
    name: str = "x"


def test_recipe_round_trip(tmp_path):
    save_recipe(tmp_path / "r.yaml", {"model": {"width": 4}, "train": Small(width=2)})
    recipe = load_recipe(tmp_path / "r.yaml", ("model", "train", "data"))
    assert recipe == {"model": {"width": 4}, "train": {"width": 2, "name": "x"}, "data": {}}
    assert build_dataclass(Small, recipe["train"], "train") == Small(width=2)


def test_errors_name_the_file_and_the_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("model: {width: 4}\noptimiser: {}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown section\(s\) \['optimiser'\]"):
        load_recipe(tmp_path / "bad.yaml", ("model",))
    with pytest.raises(ValueError, match=r"train: unknown key\(s\) \['depth'\]"):
        build_dataclass(Small, {"depth": 3}, "train")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ValueError, match="broken.yaml: not valid YAML"):
        load_recipe(tmp_path / "broken.yaml", ("model",))
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_recipe(tmp_path / "missing.yaml", ("model",))
