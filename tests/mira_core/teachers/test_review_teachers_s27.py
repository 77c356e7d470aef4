"""The openai teacher against replies that broke its guarantees: a reply cut off on a kept-alive connection (sent
again unseen by the spending caps), a usage it could not count (a spend hold left open, a billed request settled as
free), a non-completion echoing the API key where the quoted reply is cut, and a bad URL's credentials."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from mira_core.config import TeacherParams
from mira_core.teachers import make_teacher, prompts
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.http import JSONClient
from tests.mira_core.teachers.conftest import TEST_ANCHORS
from tests.mira_core.teachers.test_http import Cut, Scripted, reply

KEY = "sk-live-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
DOCS = [Doc(f"r{i}", "web", "text", f"Record {i} talks about subject {i * 17} in some words.") for i in range(2)]
CONTENT = json.dumps({"scores": [{"anchor": a.id, "score": 3, "rationale": "Reads well."} for a in TEST_ANCHORS]})


def completion(usage: object = None) -> bytes:
    body = {"choices": [{"message": {"role": "assistant", "content": CONTENT}, "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


def params(server: Scripted, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "m", "base_url": server.url, "api_key_env": None, "client": "lean",
            "timeout_s": 5.0, "max_retries": 0, "max_repairs": 0, "concurrency": 1, "max_tokens": 200,
            "price_input_per_1m": 2.0, "price_output_per_1m": 8.0, "response_format": "none",
            "cache_path": "c.sqlite"}
    return TeacherParams(**{**base, **kw})


def test_a_reply_cut_off_on_a_kept_alive_connection_is_not_sent_again_past_the_cap(tmp_path):
    """The server took the second request (its status and headers came back) before the connection broke: sending it
    again on a new connection, inside the same attempt, was a provider request no spend hold counted."""
    cut = Cut(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"choices\"")
    server = Scripted([reply(body=completion()), cut, reply(body=completion())])
    t = make_teacher(params(server, max_requests=2, max_retries=1), tmp_path, {}, run_id="run")
    first, second = t.score(DOCS, TEST_ANCHORS, "v1")
    requests, _ = t.backend.budget.totals()
    t.cache.close()
    assert first.ok and not second.ok
    assert len(server.requests) == requests == 2  # the cap: never more requests than holds taken
    assert second.error_kind == "capped"  # the policy's retry took its own hold, which the cap refused


def test_a_reply_cut_off_after_it_began_is_an_error_of_its_attempt():
    partial = Cut(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ok\"")
    server = Scripted([reply(), partial, reply()])

    async def go():
        client = JSONClient(server.url, {}, 2.0, 0)
        first = await client.attempt("/x", {}, 0)
        try:
            await client.attempt("/x", {}, 0)
        except Exception as e:  # noqa: BLE001 - the error is what is checked
            second = e
        await client.close()
        return first, second

    first, second = asyncio.run(go())
    assert first == {"ok": True} and "IncompleteRead" in str(second)
    assert len(server.requests) == 2  # one attempt, one request


@pytest.mark.parametrize("usage", [[1, 2], {"prompt_tokens": None, "completion_tokens": None},
                                   {"prompt_tokens": "n/a", "completion_tokens": 3}, {"prompt_tokens": 12}],
                         ids=["a-list", "nulls", "not-a-number", "no-completion-tokens"])
def test_a_usage_the_reply_does_not_count_is_charged_its_worst_case(tmp_path, transport, usage):
    server = Scripted([reply(body=completion(usage))])
    p = params(server, max_cost=1.0)
    t = make_teacher(p, tmp_path, {}, run_id="run")
    [o] = t.score(DOCS[:1], TEST_ANCHORS, "v1")
    budget = t.backend.budget
    worst = budget.worst_case(prompts.messages(Request("score", DOCS[0], TEST_ANCHORS, "v1"), (p.scale_min, p.scale_max),
                                               p.max_doc_chars, p.max_judgments))
    open_holds = budget._con.execute("SELECT COUNT(*) FROM spend_holds").fetchone()[0]
    requests, settled = budget.totals()
    t.cache.close()
    assert o.ok  # the answer was paid for: kept, not lost as a transient failure to be paid for again
    assert open_holds == 0  # an open hold blocks the others' requests until it goes stale, then vanishes uncharged
    assert requests == 1 and settled == pytest.approx(worst)  # billed, by an unknown amount: its worst case


def test_a_key_echoed_in_a_reply_that_is_no_completion_is_masked_whole(tmp_path, transport, caplog):
    """An echo endpoint (a proxy's debug page) answers 200 with the request's headers; the key falls where the
    quoted reply is cut."""
    caplog.set_level(logging.DEBUG)
    echo = {"url": "x" * 130, "headers": {"Authorization": f"Bearer {KEY}"}}
    assert 150 < str(echo).find(KEY) < 200 < str(echo).find(KEY) + len(KEY)
    server = Scripted([reply(body=json.dumps(echo).encode())])
    t = make_teacher(params(server, api_key_env="MIRA_S27_KEY"), tmp_path, {"MIRA_S27_KEY": KEY})
    [o] = t.score(DOCS[:1], TEST_ANCHORS, "v1")
    t.cache.close()
    assert not o.ok and o.error_kind == "permanent" and "not a chat completion" in o.error and "***" in o.error
    prefix = KEY[:12]
    stored = b"".join(f.read_bytes() for f in Path(tmp_path).rglob("c.sqlite*"))
    assert prefix not in o.error and prefix not in caplog.text and prefix.encode() not in stored


def test_a_url_that_is_not_http_has_its_credentials_starred():
    with pytest.raises(ValueError, match="not an http") as e:
        JSONClient("htp://bob:hunter2secret@127.0.0.1:9/v1", {}, 1.0, 0)
    assert "hunter2secret" not in str(e.value) and "***" in str(e.value)


def test_an_ipv6_endpoint_is_named_in_brackets_in_the_host_header():
    # "Host: ::1:8000" is no valid host; a strict server (or proxy) refuses it
    assert "Host: [::1]:8000\r\n" in JSONClient("http://[::1]:8000/v1", {}, 1.0, 0)._head
    assert "Host: [::1]\r\n" in JSONClient("http://[::1]/v1", {}, 1.0, 0)._head
    assert "Host: 127.0.0.1:9\r\n" in JSONClient("http://127.0.0.1:9/v1", {}, 1.0, 0)._head
