"""Teacher review, round 29: a request cache file SQLite cannot use (not SQLite, cut short, a damaged page, a
folder) is a ConfigError naming it, not a bare 'file is not a database'; a reply whose JSON is followed by prose
holding braces is read (the first {...} span, as extract_json says); the failure budget's message tells a rate from
a limit that agree to seven digits, and names a failure without an error 'unknown error', not None."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.failure_budget import FailureBudgetError, check_failure_budget, top_reasons
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc, Outcome, Request, extract_json
from mira_core.teachers.cache import RequestCache
from mira_core.teachers.spend import SpendLedger
from tests.mira_core.teachers.conftest import TEST_ANCHORS
from tests.mira_core.teachers.test_http import Scripted, reply


def _filled_cache(path) -> None:
    cache = RequestCache(path)
    req = Request("judge", Doc("r", "web", "text", "x"))
    cache.put_many([(f"k{i}", req, Outcome("r", True, {"v": "x" * 1000})) for i in range(100)])
    cache.close()


@pytest.mark.parametrize("damage", ["not-sqlite", "cut-short", "a-folder"])
def test_a_cache_file_sqlite_cannot_open_is_a_config_error_naming_it(tmp_path, damage):
    path = tmp_path / "my cache [1].sqlite"
    if damage == "not-sqlite":
        path.write_text("this is a note, not a database\n" * 20)
    elif damage == "cut-short":
        _filled_cache(path)
        path.write_bytes(path.read_bytes()[:4096])
    else:
        path.mkdir()
    with pytest.raises(ConfigError) as e:
        RequestCache(path)
    assert str(path) in str(e.value) and "move it aside" in str(e.value)
    if damage != "a-folder":  # the spending ledger lives in the same file
        with pytest.raises(ConfigError, match="move it aside"):
            SpendLedger(path, "run", 1, None, None, None, 10)


def test_a_cache_page_damaged_past_its_header_is_named_when_read(tmp_path):
    path = tmp_path / "c.sqlite"
    _filled_cache(path)
    data = bytearray(path.read_bytes())
    data[8192:40000] = b"\xff" * (40000 - 8192)
    path.write_bytes(bytes(data))
    cache = RequestCache(path)  # the header and the schema read fine
    with pytest.raises(ConfigError, match="c.sqlite"):
        cache.get_many([f"k{i}" for i in range(100)])
    cache.close()


@pytest.mark.parametrize("text", ['{"a": 1}\nNote: I read {anchor} as the rubric says.',
                                  '```json\n{"a": 1}\n```\nThe scores follow the {rubric}.',
                                  '{"a": 1} {"a": 2}'])
def test_the_first_json_object_is_read_whatever_prose_follows_it(text):
    assert extract_json(text) == {"a": 1}


def test_an_openai_reply_with_braces_in_the_prose_after_its_json_is_an_answer(tmp_path):
    scores = {"scores": [{"anchor": a.id, "score": 4, "rationale": "Clear."} for a in TEST_ANCHORS]}
    content = json.dumps(scores) + "\n\nNote: each {anchor} was scored on the 1-5 scale."
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 10}}).encode()
    server = Scripted([reply(body=body)])
    p = TeacherParams(provider="openai", model="m", base_url=server.url, api_key_env=None, client="lean",
                      max_retries=0, max_repairs=0, response_format="none", cache_path="c.sqlite")
    t = make_teacher(p, tmp_path, {})
    [o] = t.score([Doc("r0", "web", "text", "A record.")], TEST_ANCHORS, "v1")
    t.cache.close()
    server.close()
    assert o.ok, o.error
    assert {a: s["score"] for a, s in o.data["scores"].items()} == {a.id: 4 for a in TEST_ANCHORS}


def test_the_budget_message_tells_a_rate_from_a_limit_that_agree_to_seven_digits():
    failures = pl.DataFrame({"record_id": ["r0"], "error": ["boom: x"]})
    with pytest.raises(FailureBudgetError) as e:
        check_failure_budget("label", 3, failures, 0.33333333, "x")
    rate, limit = str(e.value).split("failed (")[1].split(")")[0], str(e.value).split("max_failure_rate (")[1].split(")")[0]
    assert rate != limit


def test_a_failure_without_an_error_is_an_unknown_error_reason():
    failures = pl.DataFrame({"record_id": ["r0", "r1"], "error": [None, "boom: x"]},
                            schema={"record_id": pl.String, "error": pl.String})
    assert {r.reason for r in top_reasons(failures)} == {"unknown error", "boom: x"}
