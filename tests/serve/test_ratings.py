"""Tests for the ratings store, its CSV export, the report server (over real HTTP) and the two CLI commands."""

from __future__ import annotations

import csv
import json
import socket
import urllib.error
import urllib.request

import pytest

from motion_factory import random_motion
from motionmill.cli import main
from motionmill.export.report import PromptEntry, write_prompts_report
from motionmill.serve.ratings import COLUMNS, DB_FILE, RatingError, RatingStore, serve_report, serving

PROMPTS = {"000_walk": {"prompt": "a person walks", "model": "tiny"}, "001_jump": {"prompt": "jumps", "model": "tiny"}}
GOOD = {"prompt_id": "000_walk", "rater": " ana ", "text_alignment": 4, "naturalness": 5, "plausibility": 3}


def write_report(folder) -> None:
    entries = [PromptEntry(pid, p["prompt"], random_motion(i, frames=10)[1], model=p["model"])
               for i, (pid, p) in enumerate(PROMPTS.items())]  # fmt: skip
    write_prompts_report(entries, folder, "Prompts")


def test_a_good_rating_is_stored_with_the_prompt_from_the_index(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", PROMPTS)
    assert store.add(GOOD) == 1
    assert store.add({**GOOD, "prompt_id": "001_jump", "comment": "feet slide"}) == 2
    first, second = store.rows()
    assert {k: first[k] for k in COLUMNS if k != "created_at"} == {
        "id": 1, "prompt_id": "000_walk", "prompt": "a person walks", "model": "tiny", "rater": "ana",
        "text_alignment": 4, "naturalness": 5, "plausibility": 3, "comment": "",
    }  # fmt: skip
    assert first["created_at"].endswith("+00:00")  # ISO 8601, UTC
    assert second["prompt"] == "jumps" and second["comment"] == "feet slide"


@pytest.mark.parametrize(
    "change, field, problem",
    [
        ({"text_alignment": 7}, "text_alignment", "integer from 1 to 5, got 7"),
        ({"naturalness": 0}, "naturalness", "integer from 1 to 5"),
        ({"plausibility": 4.0}, "plausibility", "integer from 1 to 5, got 4.0"),
        ({"plausibility": "4"}, "plausibility", 'got "4"'),
        ({"naturalness": True}, "naturalness", "got true"),
        ({"text_alignment": None}, "text_alignment", "got null"),
        ({"prompt_id": "999_fly"}, "prompt_id", "unknown prompt '999_fly'"),
        ({"prompt_id": ""}, "prompt_id", "is required"),
        ({"rater": "  "}, "rater", "is required"),
        ({"rater": "x" * 101}, "rater", "at most 100 characters"),
        ({"comment": "x" * 2001}, "comment", "at most 2000 characters"),
        ({"comment": 3}, "comment", "must be text"),
        ({"score": 5}, "score", "unknown field"),
    ],
)
def test_bad_ratings_name_the_field_and_store_nothing(tmp_path, change, field, problem):
    store = RatingStore(tmp_path / "r.sqlite", PROMPTS)
    with pytest.raises(RatingError, match=problem) as info:
        store.add({**GOOD, **change})
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")
    assert store.rows() == []


def test_missing_score_and_non_object_are_rejected(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", PROMPTS)
    with pytest.raises(RatingError, match="naturalness: must be an integer"):
        store.add({k: v for k, v in GOOD.items() if k != "naturalness"})
    with pytest.raises(RatingError, match="must be a JSON object, got list"):
        store.add([GOOD])


def test_without_an_index_any_prompt_id_is_accepted(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite")
    store.add({**GOOD, "prompt_id": "anything"})
    assert store.rows()[0]["prompt_id"] == "anything" and store.rows()[0]["prompt"] == ""


def test_csv_export_round_trip(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", PROMPTS)
    store.add({**GOOD, "comment": 'slides, "floats"\nthen =SUM(A1) 走る'})
    store.add({**GOOD, "prompt_id": "001_jump", "rater": "bo"})
    out = store.export_csv(tmp_path / "out" / "ratings.csv")
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        back = list(reader)
    assert back == [{k: str(v) for k, v in row.items()} for row in store.rows()]


@pytest.fixture
def server(tmp_path):
    write_report(tmp_path)
    with serving(tmp_path, port=0) as srv:
        yield srv


def post(srv, body: bytes | str | dict, content_type: str = "application/json", path: str = "/ratings"):
    """(status, JSON reply) of a POST to the server."""
    data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(srv.url.rsplit("/", 1)[0] + path, data=data, method="POST",
                                     headers={"Content-Type": content_type})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_stores_good_ratings_and_rejects_bad_ones(server, tmp_path):
    assert post(server, GOOD) == (201, {"id": 1})
    status, reply = post(server, {**GOOD, "text_alignment": 7})
    assert status == 400 and reply["field"] == "text_alignment" and "1 to 5" in reply["error"]
    status, reply = post(server, {**GOOD, "prompt_id": "042_fly"})
    assert status == 400 and reply["field"] == "prompt_id" and "unknown prompt" in reply["error"]
    status, reply = post(server, '{"prompt_id": "000_walk", ')
    assert status == 400 and reply["field"] is None and "not valid JSON" in reply["error"]
    assert post(server, b"\xff\xfe")[0] == 400  # not UTF-8
    assert post(server, GOOD, content_type="text/plain")[0] == 415  # what a cross-site form could send
    assert post(server, GOOD, path="/other")[0] == 404
    assert post(server, {**GOOD, "rater": "bo"}) == (201, {"id": 2})  # still serving after all that
    rows = RatingStore(tmp_path / DB_FILE).rows()
    assert [(r["id"], r["rater"], r["prompt_id"]) for r in rows] == [(1, "ana", "000_walk"), (2, "bo", "000_walk")]


def test_server_survives_garbage_and_serves_the_page_and_csv(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"\x00\x01 not http at all\r\n\r\n")
        raw.recv(1024)
    with socket.create_connection((host, port), timeout=10) as raw:  # a body shorter than announced
        raw.sendall(b"POST /ratings HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n{")
    assert post(server, GOOD) == (201, {"id": 1})
    root = server.url.rsplit("/", 1)[0]
    with urllib.request.urlopen(root + "/", timeout=10) as reply:  # / redirects to the report
        assert reply.url == server.url and b"motionmillReport" in reply.read()
    with urllib.request.urlopen(root + "/ratings.csv", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(reply.read().decode("utf-8").splitlines()))
    assert [(r["prompt_id"], r["text_alignment"]) for r in rows] == [("000_walk", "4")]


def test_serve_needs_a_report_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a prompts report folder"):
        serve_report(tmp_path)


def test_cli_exports_ratings_to_csv(tmp_path, capsys):
    write_report(tmp_path)
    assert main(["eval", "ratings", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 2  # nothing rated yet
    assert "no ratings database" in capsys.readouterr().err
    RatingStore.for_report(tmp_path).add(GOOD)
    assert main(["eval", "ratings", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 0
    assert "1 rating(s)" in capsys.readouterr().out
    assert next(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))["rater"] == "ana"
