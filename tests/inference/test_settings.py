"""`SamplingSettings`: one declaration, the same options on every command that samples, and a typed request from
the command line to the pipeline."""

import json
from dataclasses import asdict, fields

import pytest

from motionmill import cli
from motionmill.inference.settings import DEFAULTS, SamplingSettings

SAMPLING_COMMANDS = ("generate", "eval alignment", "eval protocol", "eval zeroshot", "eval prompts", "export pipeline")
FLAGS = {"--" + f.name.replace("_", "-") for f in fields(SamplingSettings)}


def options_of(command: str) -> set[str]:
    parser = cli.build_parser()
    for word in command.split():
        parser = next(a for a in parser._actions if a.dest in ("command", "subcommand")).choices[word]
    return {flag for action in parser._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", SAMPLING_COMMANDS)
def test_every_sampling_command_takes_every_sampling_option(command):
    assert FLAGS <= options_of(command)
    assert {"--greedy", "--no-greedy", "--compose", "--no-compose"} <= options_of(command)


def test_commands_that_do_not_sample_take_no_sampling_option():
    for command in ("convert", "corpus build", "train generator", "eval tokenizer", "eval serve"):
        assert not FLAGS & options_of(command), command


def test_every_field_is_documented_and_has_a_default():
    for f in fields(SamplingSettings):
        assert len(f.metadata["help"]) > 20, f.name
        assert getattr(SamplingSettings(), f.name) is None and getattr(DEFAULTS, f.name) is not None


def capture(monkeypatch, command: str) -> dict:
    """Replace `command`'s function by one that records its arguments."""
    seen = {}
    fn, add_args, help_text = cli.COMMANDS[command]
    monkeypatch.setitem(cli.COMMANDS, command, (lambda **kw: seen.update(kw), add_args, help_text))
    return seen


def test_the_command_line_passes_one_typed_request(monkeypatch):
    seen = capture(monkeypatch, "generate")
    assert cli.main(["generate", "a person walks", "--temperature", "0.7", "--top-k", "0", "--greedy",
                     "--no-compose"]) == 0  # fmt: skip
    assert seen["sampling"] == SamplingSettings(temperature=0.7, top_k=0, greedy=True, compose=False)
    assert not FLAGS & {"--" + k.replace("_", "-") for k in seen}  # no loose sampling keyword remains
    seen = capture(monkeypatch, "eval alignment")
    assert cli.main(["eval", "alignment", "--greedy"]) == 0 and seen["sampling"] == SamplingSettings(greedy=True)
    assert cli.main(["eval", "alignment"]) == 0 and seen["sampling"] == SamplingSettings()


def test_a_bad_option_is_a_one_line_error_naming_the_flag(monkeypatch, capsys):
    capture(monkeypatch, "eval zeroshot")
    assert cli.main(["eval", "zeroshot", "--out", "x", "--top-p", "1.5"]) == 2
    assert capsys.readouterr().err.strip() == "motionmill: error: top_p (--top-p) must be a number in (0, 1], got 1.5"


def test_over_fills_unset_fields_from_the_base():
    request = SamplingSettings(temperature=0.5, candidates=4)
    model = SamplingSettings(temperature=0.6, guidance=1.5, compose=True).over(DEFAULTS)
    resolved = request.over(model)
    assert asdict(resolved) == {"temperature": 0.5, "top_k": 0, "top_p": 1.0, "guidance": 1.5, "greedy": False,
                                "candidates": 4, "compose": True, "min_seconds": 1.0}  # fmt: skip
    assert request.given() == {"temperature": 0.5, "candidates": 4}
    assert SamplingSettings().over(model) == model


@pytest.mark.parametrize(("field", "value"), [("temperature", 0), ("temperature", float("nan")), ("top_k", -1),
                                              ("top_k", 2.5), ("top_p", 0), ("guidance", float("inf")),
                                              ("greedy", 1), ("candidates", 0), ("candidates", True),
                                              ("compose", "yes")])  # fmt: skip
def test_invalid_values_name_the_field_and_flag(field, value):
    with pytest.raises(ValueError, match=rf"^{field} \(--{field.replace('_', '-')}\) must be"):
        SamplingSettings(**{field: value})


def test_stored_settings_load_by_name_and_unknown_names_are_errors():
    stored = json.loads(json.dumps({"temperature": 0.6, "top_k": None, "top_p": None, "guidance": 1.5}))
    loaded = SamplingSettings.from_dict(stored).over(DEFAULTS)
    assert loaded.top_k == 0 and loaded.top_p == 1.0 and loaded.guidance == 1.5  # null: unset, so the defaults
    with pytest.raises(ValueError, match=r"unknown sampling settings \['topk'\]"):
        SamplingSettings.from_dict({"topk": 5})
