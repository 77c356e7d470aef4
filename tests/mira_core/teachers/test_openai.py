"""The `openai` teacher against a real OpenAI-compatible HTTP server (tests/fake_openai.py), failures included.

Every test runs twice: with the lean client (mira_core/teachers/http.py, used for direct connections) and
with the OpenAI SDK's client (used where a proxy applies), which must behave the same.
Timeouts and Retry-After delays are kept to tenths of a second so that every test runs in about a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.teachers import make_teacher, prompts
from mira_core.teachers.base import Doc, Request, Teacher
from mira_core.teachers.cache import RequestCache
from mira_core.teachers.openai_teacher import OpenAIBackend
from tests.fake_openai import FakeOpenAI
from tests.mira_core.teachers.conftest import TEST_ANCHORS

KEY = "sk-test-Zq8rT3stK3y0123456789"
DOCS = [
    Doc("r0", "code", "code", "def add(a, b):\n    return a + b\n"),
    Doc("r1", "web", "text", "The mitochondria is the powerhouse of the cell, as every biology student learns."),
    Doc("r2", "math", "text", "Let x be a real number with x^2 = 4. Then x = 2 or x = -2, and both are solutions."),
]
ANCHORS = TEST_ANCHORS[:3]


pytestmark = pytest.mark.usefixtures("transport")  # every test runs through both clients (conftest.py)


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def params(server: FakeOpenAI, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "fake-teacher", "base_url": server.base_url, "timeout_s": 5.0,
            "max_retries": 2, "max_repairs": 1, "concurrency": 4}
    return TeacherParams(**{**base, **kw})


def judge(docs: list[Doc] = DOCS) -> list[Request]:
    return [Request("judge", d) for d in docs]


def score(docs: list[Doc] = DOCS) -> list[Request]:
    return [Request("score", d, ANCHORS, "rv1") for d in docs]


def teacher(backend: OpenAIBackend, path: Path, retry_failed: bool = False) -> Teacher:
    return Teacher(backend, RequestCache(path), prompt_version=prompts.prompt_version(),
                   settings={"temperature": 0.0, "max_tokens": 1024}, scale=(1, 5), retry_failed=retry_failed)


# ---------------------------------------------------------------- round trips

def test_judge_round_trip(server):
    backend = OpenAIBackend(params(server, temperature=0.3, max_tokens=700), KEY)
    out = backend.run(judge())
    assert [o.record_id for o in out] == ["r0", "r1", "r2"] and all(o.ok for o in out)
    for o, d in zip(out, DOCS, strict=True):
        assert 3 <= len(o.data["judgments"]) <= 5
        for j in o.data["judgments"]:
            assert 1 <= j["score"] <= 5 and j["name"] == j["name"].lower()
            assert j["reason"].split('"')[1] in d.text  # the reason quotes the record
        assert o.calls == 1 and o.prompt_tokens > 0 and o.completion_tokens > 0 and o.error is None
    assert len({json.dumps(o.data) for o in out}) == 3  # different records, different judgments
    assert [o.data for o in backend.run(judge())] == [o.data for o in out]  # deterministic server
    body = server.requests[0].body
    assert server.requests[0].path == "/v1/chat/completions"
    assert body["model"] == "fake-teacher" and body["temperature"] == 0.3 and body["max_tokens"] == 700
    assert body["response_format"]["type"] == "json_schema"  # auto: structured outputs, accepted at once
    assert body["response_format"]["json_schema"]["name"] == "judge_reply"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_score_round_trip_without_response_format(server):
    out = OpenAIBackend(params(server, response_format="none"), None).run(score())
    assert all(o.ok for o in out)
    for o in out:
        assert list(o.data["scores"]) == ["a00", "a01", "a02"]
        assert all(1 <= s["score"] <= 5 and s["rationale"] for s in o.data["scores"].values())
    assert "response_format" not in server.requests[0].body
    assert server.requests[0].headers["authorization"] == "Bearer EMPTY"  # no key: a placeholder, not an error


def test_scale_comes_from_params(server):
    out = OpenAIBackend(params(server, scale_min=0, scale_max=10), KEY).run(judge() + score())
    assert all(o.ok for o in out)
    scores = [j["score"] for o in out[:3] for j in o.data["judgments"]]
    scores += [s["score"] for o in out[3:] for s in o.data["scores"].values()]
    assert all(0 <= s <= 10 for s in scores) and max(scores) > 5  # the fake read the scale from the prompt


def test_run_inside_a_running_event_loop(server):
    async def caller() -> list:
        return OpenAIBackend(params(server), KEY).run(judge(DOCS[:1]))  # e.g. from an async Prefect task

    assert asyncio.run(caller())[0].ok


def test_empty_batch_sends_nothing(server):
    assert OpenAIBackend(params(server), KEY).run([]) == []
    assert server.requests == []


# ---------------------------------------------------------------- HTTP failures

def test_429_is_retried_after_retry_after(server, transport):
    server.fail_next(1, "429", retry_after=0.2)
    [o] = OpenAIBackend(params(server, max_retries=1), KEY).run(judge(DOCS[:1]))
    assert o.ok and o.calls == 1 and o.retries == 1  # the retry is not a repair, but a provider request
    first, second = server.requests
    assert second.t - first.t >= 0.19  # the client waited as told
    header = "x-retry-count" if transport == "lean" else "x-stainless-retry-count"
    assert first.headers.get(header) == "0" and second.headers.get(header) == "1"


def test_500_then_success(server):
    server.on_request(1, "500", retry_after_ms=20)
    [o] = OpenAIBackend(params(server, max_retries=2), KEY).run(judge(DOCS[:1]))
    assert o.ok and len(server.requests) == 2


def test_500_on_every_attempt_is_transient(server):
    server.fail_next(100, "500", retry_after_ms=10)
    [o] = OpenAIBackend(params(server, max_retries=2), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "transient" and "500" in o.error
    assert len(server.requests) == 3  # 1 + max_retries


def test_slow_reply_times_out_as_transient(server):
    server.fail_next(1, "slow", delay=2.0)
    [o] = OpenAIBackend(params(server, timeout_s=0.3, max_retries=0), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "transient" and "Timeout" in o.error


def test_a_trickling_reply_times_out_as_a_whole(server):
    """`timeout_s` bounds an attempt, not the gap between bytes: a server sending a byte now and then cannot hold a
    request (and its spend hold) open for as long as it likes. The SDK's own timeout bounds each read only."""
    server.fail_next(1, "trickle", gap=0.05)  # every read within 0.05 s; the whole reply takes over a second
    [o] = OpenAIBackend(params(server, timeout_s=0.3, max_retries=0), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "transient" and "Timeout" in o.error


def test_a_trickling_reply_within_the_timeout_is_read(server):
    server.fail_next(1, "trickle", gap=0.001)
    [o] = OpenAIBackend(params(server, timeout_s=5.0, max_retries=0), KEY).run(judge(DOCS[:1]))
    assert o.ok and o.calls == 1


def test_one_failure_does_not_sink_the_batch(server):
    server.on_document("mitochondria", "500", retry_after_ms=10)
    out = OpenAIBackend(params(server, max_retries=1), KEY).run(judge())
    assert [(o.record_id, o.ok) for o in out] == [("r0", True), ("r1", False), ("r2", True)]
    assert out[1].error_kind == "transient"


def test_connection_refused_is_transient():
    with FakeOpenAI() as gone:
        pass  # the port is closed now
    [o] = OpenAIBackend(params(gone, max_retries=0), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "transient" and "Connection" in o.error


# ---------------------------------------------------------------- bad replies and repairs

def test_malformed_reply_is_repaired(server):
    server.fail_next(1, "malformed")
    [o] = OpenAIBackend(params(server, max_repairs=1), KEY).run(judge(DOCS[:1]))
    assert o.ok and o.calls == 2 and len(server.requests) == 2
    repair = server.requests[1].messages
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"].startswith("Sure!")  # the bad reply goes back to the model
    assert "the reply is not a JSON object" in repair[3]["content"]  # with the error quoted
    words = [len(m["content"].split()) for r in server.requests for m in r.messages]  # the fake's token count
    assert o.prompt_tokens == sum(words)  # usage summed over both calls


def test_malformed_twice_is_permanent(server):
    server.on_document("def add", "malformed")
    [o] = OpenAIBackend(params(server, max_repairs=1), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "permanent" and o.calls == 2 and len(server.requests) == 2
    assert "not a JSON object" in o.error


def test_no_repairs_allowed(server):
    server.fail_next(1, "malformed")
    [o] = OpenAIBackend(params(server, max_repairs=0), KEY).run(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "permanent" and len(server.requests) == 1


def test_out_of_range_scores_are_repaired(server):
    server.fail_next(1, "out_of_range")
    [o] = OpenAIBackend(params(server), KEY).run(score(DOCS[:1]))
    assert o.ok and o.calls == 2
    assert "out of range: a00" in server.requests[1].messages[-1]["content"]


def test_missing_anchor_is_repaired(server):
    server.fail_next(1, "missing_anchor")
    [o] = OpenAIBackend(params(server), KEY).run(score(DOCS[:1]))
    assert o.ok and list(o.data["scores"]) == ["a00", "a01", "a02"]
    assert "missing anchors: a02" in server.requests[1].messages[-1]["content"]


# ---------------------------------------------------------------- concurrency and the key

def test_concurrency_bound(server):
    server.latency = 0.1
    docs = [Doc(f"r{i}", "web", "text", f"record number {i} about topic {i * 7}") for i in range(6)]
    out = OpenAIBackend(params(server, concurrency=2), KEY).run(judge(docs))
    assert all(o.ok for o in out) and len(server.requests) == 6
    assert server.max_in_flight == 2  # in parallel, but never more than allowed


def test_api_key_only_in_authorization_header(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.on_document("mitochondria", "401")  # the server echoes the key in its error message
    t = teacher(OpenAIBackend(params(server), KEY), tmp_path / "cache.sqlite")
    with pytest.raises(ConfigError) as e:
        t.ask(judge())
    assert "HTTP 401" in str(e.value) and "***" in str(e.value) and KEY not in str(e.value)
    for r in server.requests:
        assert r.headers["authorization"] == f"Bearer {KEY}"
        assert KEY not in json.dumps({k: v for k, v in r.headers.items() if k != "authorization"})
        assert KEY not in json.dumps(r.body)
    t.cache.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("cache.sqlite*"))
    assert b"Incorrect API key" in stored and KEY.encode() not in stored
    assert "401" in caplog.text and KEY not in caplog.text
    assert KEY not in repr(t.backend)
    assert not re.search(r"after \d+ retr", caplog.text)  # a 401 is never retried: no message may say it was


def test_a_wrong_key_fails_the_run_at_once_and_a_rerun_with_the_right_key_scores(tmp_path, transport):
    """A 401 is the key's failure, not the records': the run stops with a message naming the status, the endpoint
    and the key's variable (never the key), nothing is kept as a record's final failure, and once the key is
    fixed a re-run asks the endpoint again."""
    wrong, right = "sk-WRONG-0123456789", "sk-right-9876543210"
    docs = [Doc(f"r{i}", "web", "text", f"record {i} about subject {i * 13} in some words") for i in range(6)]
    with FakeOpenAI(api_key=right) as srv:
        p = params(srv, api_key_env="MIRA_TEST_TEACHER_KEY", concurrency=4, cache_path="c.sqlite")
        t = make_teacher(p, tmp_path, {"MIRA_TEST_TEACHER_KEY": wrong})
        with pytest.raises(ConfigError) as e:
            t.judge(docs)
        t.cache.close()
        msg = str(e.value)
        assert "HTTP 401" in msg and srv.base_url in msg and "MIRA_TEST_TEACHER_KEY" in msg
        assert wrong not in msg and right not in msg
        assert len(srv.requests) == 1  # the first (probing the response format) is refused: no other is sent
        t = make_teacher(p, tmp_path, {"MIRA_TEST_TEACHER_KEY": right})
        out = t.judge(docs)
        t.cache.close()
        assert all(o.ok and not o.cached for o in out) and [o.record_id for o in out] == [d.record_id for d in docs]
        assert len(srv.requests) == 1 + len(docs)  # every record asked again, with the right key
        assert {r.headers["authorization"] for r in srv.requests[1:]} == {f"Bearer {right}"}
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("c.sqlite*"))
    assert wrong.encode() not in stored


def test_a_wrong_base_url_is_a_config_error_not_a_cached_failure(server, tmp_path):
    p = params(server, base_url=server.base_url.removesuffix("/v1") + "/v2", concurrency=1)  # the fake has no /v2
    t = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite")
    with pytest.raises(ConfigError, match=r"HTTP 404.*teacher\.base_url"):
        t.ask(judge())
    assert len(server.requests) == 1
    stored = t.cache.get_many([t.key(r) for r in judge()])
    assert [o.error_kind for o in stored.values()] == ["transient"]  # never a record's final failure
    with pytest.raises(ConfigError):  # and the same backend sends nothing more
        t.ask(judge())
    assert len(server.requests) == 1


def test_the_endpoint_named_in_an_error_has_its_credentials_starred(server, tmp_path, monkeypatch):
    # params refuse a URL with credentials (config.endpoint_url); OPENAI_BASE_URL, read when base_url is null, can
    # still hold them
    url = server.base_url.removesuffix("/v1").replace("http://", "http://user:s3cretPW@") + "/v2"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    backend = OpenAIBackend(params(server, base_url=None, concurrency=1), KEY)
    with pytest.raises(ConfigError, match=r"HTTP 404") as e:
        teacher(backend, tmp_path / "c.sqlite").ask(judge())
    assert "s3cretPW" not in str(e.value) and "***:***@" in str(e.value) and "s3cretPW" not in repr(backend)


@pytest.mark.parametrize("json_type", [0, 1])
def test_a_success_whose_body_is_not_json_is_transient(server, tmp_path, json_type):
    server.fail_next(1, "not_json", json_type=json_type)
    p = params(server, max_retries=0)
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert not o.ok and o.error_kind == "transient" and "not JSON" in o.error
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert o.ok and not o.cached and len(server.requests) == 2  # not kept as final: the re-run asked again


# ---------------------------------------------------------------- with the request cache

def test_second_ask_is_served_from_the_cache(server, tmp_path):
    t = teacher(OpenAIBackend(params(server), KEY), tmp_path / "c.sqlite")
    first = t.ask(judge() + score())
    n = len(server.requests)
    assert n == 6 and all(o.ok for o in first)
    again = teacher(OpenAIBackend(params(server), KEY), tmp_path / "c.sqlite").ask(judge() + score())
    assert len(server.requests) == n  # zero requests on the re-run
    assert all(o.cached for o in again) and [o.data for o in again] == [o.data for o in first]


def test_transient_failure_is_asked_again(server, tmp_path):
    server.fail_next(100, "500", retry_after_ms=10)
    p = params(server, max_retries=0)
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert o.error_kind == "transient" and len(server.requests) == 1
    server.clear_faults()
    t = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite")
    [o] = t.ask(judge(DOCS[:1]))
    assert o.ok and not o.cached and len(server.requests) == 2
    assert t.stats.as_dict()["calls"] == 1


def test_records_with_one_text_are_asked_once_and_each_keeps_its_own_id(server, tmp_path):
    same = "an identical boilerplate record, word for word " * 3
    docs = [Doc("a", "s1", "text", same), Doc("b", "s2", "text", same), DOCS[1]]
    out = teacher(OpenAIBackend(params(server), KEY), tmp_path / "c.sqlite").ask(judge(docs))
    assert len(server.requests) == 2  # one request for both copies of the text
    assert [o.record_id for o in out] == ["a", "b", "r1"] and all(o.ok for o in out)
    assert out[0].data == out[1].data and [o.cached for o in out] == [False, True, False]
    t = teacher(OpenAIBackend(params(server), KEY), tmp_path / "c.sqlite")
    again = t.ask(judge(docs))
    assert len(server.requests) == 2 and all(o.cached for o in again)
    assert [o.record_id for o in again] == ["a", "b", "r1"] and again[0] is not again[1]
    assert t.stats.as_dict()["cache_hits"] == 3


def test_a_failure_never_replaces_a_stored_answer(server, tmp_path):
    """Two tasks asking one text at once: the one that failed must not overwrite the one that was answered."""
    p = params(server, max_repairs=0)
    t = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite")
    [ok] = t.ask(judge(DOCS[:1]))
    server.on_document("def add", "malformed")
    other = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite", retry_failed=True)
    [bad] = other.backend.run(judge(DOCS[:1]))  # the other task's reply, asked before it saw the answer
    other.cache.put_many([(other.key(judge(DOCS[:1])[0]), judge(DOCS[:1])[0], bad)])
    assert ok.ok and not bad.ok and bad.error_kind == "permanent"
    [again] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert again.ok and again.cached and again.data == ok.data


def test_two_endpoints_do_not_share_cache_entries(tmp_path):
    with FakeOpenAI() as a, FakeOpenAI() as b:
        first = make_teacher(params(a, api_key_env=None, cache_path="c.sqlite"), tmp_path, {})
        assert all(o.ok for o in first.judge(DOCS))
        second = make_teacher(params(b, api_key_env=None, cache_path="c.sqlite"), tmp_path, {})
        out = second.judge(DOCS)
        assert len(b.requests) == len(DOCS) and not any(o.cached for o in out)  # asked, not served A's answers
        again = make_teacher(params(a, api_key_env=None, cache_path="c.sqlite"), tmp_path, {}).judge(DOCS)
        assert all(o.cached for o in again) and len(a.requests) == len(DOCS)
        repairs = make_teacher(params(a, api_key_env=None, cache_path="c.sqlite", max_repairs=3), tmp_path, {})
        assert repairs.key(judge(DOCS[:1])[0]) != first.key(judge(DOCS[:1])[0])  # a cached invalid reply depends on it


def test_permanent_failure_is_not_asked_again(server, tmp_path):
    server.on_document("def add", "malformed")
    p = params(server, max_repairs=0)
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert o.error_kind == "permanent" and len(server.requests) == 1
    server.clear_faults()
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite").ask(judge(DOCS[:1]))
    assert o.cached and not o.ok and o.error_kind == "permanent" and len(server.requests) == 1
    [o] = teacher(OpenAIBackend(p, KEY), tmp_path / "c.sqlite", retry_failed=True).ask(judge(DOCS[:1]))
    assert o.ok and not o.cached and len(server.requests) == 2



def test_after_an_interrupt_nothing_more_is_sent_or_cached(server, tmp_path):
    """Ctrl-C reaches the flow's main thread only; the teacher threads must stop sending what is still queued."""
    from mira_core.errors import INTERRUPTED

    t = teacher(OpenAIBackend(params(server), KEY), tmp_path / "cache.sqlite")
    INTERRUPTED.set()
    try:
        outcomes = t.ask(judge())
    finally:
        INTERRUPTED.clear()
    assert server.requests == [] and all(not o.ok and "interrupted" in o.error for o in outcomes)
    again = t.ask(judge())  # nothing was kept as an answer or a final failure: the next run asks
    assert all(o.ok for o in again) and len(server.requests) == len(DOCS)
    t.cache.close()


def test_an_interrupt_during_a_retrys_wait_sends_no_retry(server, tmp_path):
    import threading

    from mira_core.errors import INTERRUPTED

    server.fail_next(1, "429", retry_after=1.0)
    t = teacher(OpenAIBackend(params(server, max_retries=2), KEY), tmp_path / "cache.sqlite")
    timer = threading.Timer(0.3, INTERRUPTED.set)  # Ctrl-C while the 429's Retry-After is waited out
    timer.start()
    try:
        [o] = t.ask(judge(DOCS[:1]))
    finally:
        timer.join()
        INTERRUPTED.clear()
    assert len(server.requests) == 1 and not o.ok and "interrupted" in o.error
    [again] = t.ask(judge(DOCS[:1]))  # nothing was kept: the next run asks
    assert again.ok and not again.cached
    t.cache.close()


def test_a_key_echoed_where_an_error_body_is_cut_is_masked_whole(server, transport, tmp_path, caplog):
    # a proxy's HTML 401 page echoes the header near character 500, where the message was cut before masking
    server.fail_next(1, "401_html")
    with caplog.at_level("DEBUG"), pytest.raises(ConfigError) as e:
        teacher(OpenAIBackend(params(server), KEY), tmp_path / "c.sqlite").ask(judge())
    for text in (str(e.value), caplog.text):
        assert not any(KEY[:n] in text for n in range(8, len(KEY) + 1)), text[-300:]


def test_a_gateway_page_that_mentions_a_schema_is_no_refusal_of_the_format(server, transport, tmp_path):
    # a 503 HTML page with schema.org markup read as the endpoint refusing json_schema: a permanent failure, cached
    server.fail_next(1, "503_html")
    out = OpenAIBackend(params(server, response_format="json_schema", concurrency=1), KEY).run(judge(DOCS[:1]))
    assert out[0].ok and len(server.requests) == 2  # retried as any 503 is


def test_the_probe_log_stars_the_endpoints_credentials(server, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url.replace("http://", "http://alice:s3cretPassw0rd@"))
    server.formats = "no_json_schema"
    with caplog.at_level("WARNING"):
        out = OpenAIBackend(params(server, base_url=None, concurrency=1), KEY).run(judge(DOCS[:1]))
    assert out[0].ok and "refuses response_format" in caplog.text and "s3cretPassw0rd" not in caplog.text
