"""Review s42 of the openai teacher: each test failed before its fix.

Tested here: OPENAI_BASE_URL's `user:password@` with `teacher.base_url: null` (the SDK sent it as Basic auth), a
reply holding half a UTF-16 pair (validated, then stopped the stage where it was written), an API key echoed
escaped (a backslash or a quote), a failure message that counted the retries allowed, not those made, and a
judgment named by punctuation alone.
"""

from __future__ import annotations

import json

import pytest

from mira_core.teachers.base import Doc, ReplyError, Request, extract_json, validate_reply
from mira_core.teachers.http import masked
from tests.mira_core.teachers.conftest import TEST_ANCHORS
from tests.mira_core.teachers.test_http import Scripted, reply
from tests.mira_core.teachers.test_review_teachers_s30 import ask, completion

KEY = "sk-live-S42abc\\def'gh\"ij0123"  # printable ASCII, so a usable key: a backslash and both quotes
DOC = Doc("r0", "web", "text", "A record about tide pools and the animals that live in them.")


def test_the_sdk_does_not_send_the_environments_base_url_credentials(tmp_path, transport, monkeypatch):
    # with teacher.base_url null the SDK read OPENAI_BASE_URL itself, and httpx sent its user:password@ as Basic
    # auth in place of the Bearer key: every request a 401 whose echo showed the credentials, base64-encoded
    server = Scripted([reply(body=completion(json.dumps(
        {"scores": [{"anchor": a.id, "score": 4, "rationale": "Says why."} for a in TEST_ANCHORS]})))])
    monkeypatch.setenv("OPENAI_BASE_URL", server.url.replace("http://", "http://user:pw@"))
    o = ask(server, tmp_path, {"MIRA_S42_KEY": "sk-plain-key"}, base_url=None, api_key_env="MIRA_S42_KEY")
    assert o.ok, o.error
    head = server.requests[0][0].lower()
    assert "authorization: bearer sk-plain-key\r\n" in head and "basic" not in head


def test_half_a_utf16_pair_in_a_reply_is_replaced_not_written(tmp_path, transport):
    # json.loads keeps `\ud83d` alone as a lone surrogate: the reply validated and was cached as an answer, then
    # every run stopped where its labels were written (no UTF-8 writer takes one)
    content = json.dumps({"scores": [{"anchor": a.id, "score": 3, "rationale": "cites \ud83d here"}
                                     for a in TEST_ANCHORS]})
    assert "\\ud83d" in content
    o = ask(Scripted([reply(body=completion(content))]), tmp_path)
    assert o.ok, o.error
    said = [s["rationale"] for s in o.data["scores"].values()]
    assert said == ["cites \ufffd here"] * len(TEST_ANCHORS)
    json.dumps(o.data, ensure_ascii=False).encode("utf-8")  # raised UnicodeEncodeError
    assert extract_json('{"a": "\\ud83d\\ude00 \\udc00"}') == {"a": "\U0001F600 \ufffd"}  # a whole pair is kept


def test_a_key_echoed_escaped_is_masked_too(tmp_path, transport):
    # a 401 body is JSON: the key's backslash came back as \\ and its quote as \", which the plain form missed
    body = json.dumps({"detail": f"Invalid API key: {KEY}"}).encode()
    server = Scripted([reply(401, body)])
    from mira_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        ask(server, tmp_path, {"MIRA_S42_KEY": KEY}, api_key_env="MIRA_S42_KEY")
    assert "S42abc" not in str(err.value), str(err.value)
    for form in (KEY, json.dumps(KEY)[1:-1], repr(KEY)[1:-1]):
        assert masked(f"echo: {form}.", KEY) == "echo: ***."


def test_a_retry_after_too_long_to_wait_is_no_retry_in_the_message(tmp_path, transport):
    # the message said "after 1 retry" where the 429's Retry-After (100,000 s) was not waited for: none was made
    server = Scripted([reply(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "100000"})])
    o = ask(server, tmp_path, max_retries=1)
    assert not o.ok and o.error_kind == "transient" and len(server.requests) == 1
    assert "HTTP 429" in o.error and "retr" not in o.error.split(":")[0], o.error


@pytest.mark.parametrize("name", ["???", "\u2026", "--"])
def test_a_judgment_named_by_punctuation_alone_is_refused_not_unnamed(name):
    # it was renamed "unnamed", which discovery could make an anchor of; a blank name was already refused
    judge = Request("judge", DOC)
    with pytest.raises(ReplyError, match="a judgment needs a name with a letter or a digit"):
        validate_reply({"judgments": [{"name": name, "score": 3, "reason": "r"}]}, judge, (1, 5))
    kept = validate_reply({"judgments": [{"name": "\u53ef\u8bfb\u6027", "score": 3, "reason": "r"}]}, judge, (1, 5))
    assert kept["judgments"][0]["name"] == "\u53ef\u8bfb\u6027"  # a name in another script is a name


def test_half_a_utf16_pair_in_a_failures_text_is_replaced_too(tmp_path, transport):
    # a refusal or a server's error message quoting it went into Outcome.error, which the cache's sqlite refused:
    # the batch was lost and every re-run paid for it again
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": None, "refusal": "no \ud83d"},
                                    "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    assert "\\ud83d" in body
    o = ask(Scripted([reply(body=body.encode())]), tmp_path)
    assert not o.ok and "\ufffd" in o.error and "\ud83d" not in o.error
