"""Structured outputs: the `openai` teacher asks for the reply schema and steps down to what an endpoint accepts.

Each kind of endpoint is a real HTTP server (tests/fake_openai.py `formats=`): one whose model keeps the
shape only under the right json_schema, llama.cpp (a 500 on json_schema, a schema inside json_object
honoured), one that refuses any json_schema, one that refuses any response_format.
"""

from __future__ import annotations

import json
import logging

import pytest

from mira_core.config import TeacherParams
from mira_core.teachers import prompts
from mira_core.teachers.base import Doc, Request, Teacher, reply_schema, validate_reply
from mira_core.teachers.cache import RequestCache
from mira_core.teachers.openai_teacher import OpenAIBackend
from tests.fake_openai import FakeOpenAI, answer
from tests.mira_core.teachers.conftest import TEST_ANCHORS

ANCHORS = TEST_ANCHORS[:2]


pytestmark = pytest.mark.usefixtures("transport")  # every test runs through both clients (conftest.py)


def docs(n: int) -> list[Doc]:
    return [Doc(f"r{i}", "web", "text", f"Record {i}: a short text about topic {i * 13} and why it matters.")
            for i in range(n)]


def params(server: FakeOpenAI, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "fake-teacher", "base_url": server.base_url, "timeout_s": 5.0,
            "max_retries": 2, "max_repairs": 1, "concurrency": 4}
    return TeacherParams(**{**base, **kw})


def score(ds: list[Doc]) -> list[Request]:
    return [Request("score", d, ANCHORS, "rv1") for d in ds]


def formats_sent(server: FakeOpenAI) -> list[str]:
    out = []
    for r in server.requests:
        rf = r.body.get("response_format")
        out.append("none" if rf is None else "json_object_schema" if "schema" in rf else rf["type"])
    return out


# ---------------------------------------------------------------- the schema itself

def test_reply_schema_is_strict_and_narrowed_to_the_request():
    name, schema = reply_schema("score", ("a00", "a01"), (0, 10), 8)
    item = schema["properties"]["scores"]["items"]
    assert name == "score_reply" and schema["additionalProperties"] is False and schema["required"] == ["scores"]
    assert item["properties"]["anchor"]["enum"] == ["a00", "a01"]
    assert item["properties"]["score"]["minimum"] == 0 and item["properties"]["score"]["maximum"] == 10
    assert set(item["required"]) == set(item["properties"]) and item["additionalProperties"] is False
    assert schema["properties"]["scores"]["minItems"] == schema["properties"]["scores"]["maxItems"] == 2
    name, schema = reply_schema("judge", (), (1, 5), 6)
    judgment = schema["properties"]["judgments"]["items"]
    assert name == "judge_reply" and schema["properties"]["judgments"]["maxItems"] == 6
    assert "$ref" not in str(schema) and set(judgment["required"]) == {"name", "description", "score", "reason"}


# ---------------------------------------------------------------- each kind of endpoint

def test_schema_only_endpoint_answers_in_shape_under_json_schema(caplog):
    caplog.set_level(logging.INFO)
    with FakeOpenAI(formats="schema_only") as server:
        backend = OpenAIBackend(params(server), None)
        out = backend.run(score(docs(6)))
        assert all(o.ok and o.response_format == "json_schema" for o in out)
        assert formats_sent(server) == ["json_schema"] * 6 and backend.response_format == "json_schema"
        assert "accepts response_format json_schema" in caplog.text
        # the same model asked without the schema replies JSON of another shape: the schema is what helps
        [o] = OpenAIBackend(params(server, response_format="json_object", max_repairs=0), None).run(score(docs(1)))
        assert not o.ok and o.error_kind == "permanent" and "scores: Field required" in o.error


def test_llama_cpp_500_on_json_schema_steps_down_once_to_a_schema_in_json_object(caplog):
    caplog.set_level(logging.INFO)
    with FakeOpenAI(formats="llama_cpp") as server:
        backend = OpenAIBackend(params(server, max_retries=3), None)
        out = backend.run(score(docs(8)))
        assert all(o.ok and o.response_format == "json_object_schema" for o in out)
        # one refusal, not retried by the client (1 + max_retries), and the other requests waited for the verdict
        assert formats_sent(server) == ["json_schema"] + ["json_object_schema"] * 8
        schema = server.requests[1].body["response_format"]["schema"]
        assert schema["properties"]["scores"]["items"]["properties"]["anchor"]["enum"] == ["a00", "a01"]
        assert "refuses response_format json_schema (HTTP 500" in caplog.text
        assert out[0].calls == 2  # the refused request was sent, so it counts
        # learned once per process: a new backend on the same endpoint sends no probe
        OpenAIBackend(params(server), None).run(score(docs(2)))
        assert formats_sent(server)[9:] == ["json_object_schema"] * 2


def test_endpoint_without_json_schema_steps_down_to_plain_json_object():
    with FakeOpenAI(formats="no_json_schema") as server:
        out = OpenAIBackend(params(server), None).run(score(docs(5)))
        assert all(o.ok for o in out)
        assert formats_sent(server) == ["json_schema", "json_object_schema"] + ["json_object"] * 5
        assert [r.body["response_format"] for r in server.requests[2:]] == [{"type": "json_object"}] * 5


def test_endpoint_without_response_format_steps_down_to_the_prompt_alone():
    with FakeOpenAI(formats="no_response_format") as server:
        backend = OpenAIBackend(params(server), None)
        t = Teacher(backend, RequestCache(":memory:"), prompts.prompt_version(), {}, (1, 5))
        out = t.ask(score(docs(4)))
        assert all(o.ok for o in out)
        assert formats_sent(server) == ["json_schema", "json_object_schema", "json_object"] + ["none"] * 4
        assert t.stats.as_dict()["response_format"] == {"none": 4}
        assert t.stats.as_dict()["calls"] == 7  # the refused probes are provider requests too


def test_a_configured_format_is_not_probed_and_its_refusal_is_permanent():
    with FakeOpenAI(formats="llama_cpp") as server:
        out = OpenAIBackend(params(server, response_format="json_schema", max_retries=3), None).run(score(docs(2)))
        assert [o.error_kind for o in out] == ["permanent", "permanent"]
        assert "refuses response_format json_schema" in out[0].error and "teacher.response_format" in out[0].error
        assert len(server.requests) == 2  # not retried
        ok = OpenAIBackend(params(server, response_format="json_object_schema"), None).run(score(docs(2)))
        assert all(o.ok for o in ok) and formats_sent(server)[2:] == ["json_object_schema"] * 2


def test_a_transient_failure_while_probing_teaches_nothing():
    with FakeOpenAI(formats="llama_cpp") as server:
        server.fail_next(3, "429", retry_after=0.01)  # json_object_schema's first try and both retries
        backend = OpenAIBackend(params(server, concurrency=1, max_retries=2), None)
        first, second = backend.run(score(docs(2)))
        assert first.error_kind == "transient" and second.ok
        # the second request probes from the top again: a 429 says nothing about the format
        assert formats_sent(server) == ["json_schema"] + ["json_object_schema"] * 3 + [
            "json_schema", "json_object_schema"]


# ---------------------------------------------------------------- done when: faults, budget of requests, re-run

FAULT_MIX = [("429", {"retry_after": 0.01}), ("500", {"retry_after_ms": 10}), ("slow", {"delay": 1.0}),
             ("malformed", {}), ("truncated", {})]


def test_schema_only_endpoint_with_one_record_in_five_faulty(tmp_path):
    n = 60
    ds = docs(n)
    with FakeOpenAI(formats="schema_only") as server:
        for i, d in enumerate(ds[::5]):  # 20 % of the records, each fault kind as often
            fault, opts = FAULT_MIX[i % len(FAULT_MIX)]
            server.on_document(d.text, fault, times=1, **opts)
        p = params(server, timeout_s=0.4, max_retries=2, max_repairs=1, concurrency=8)

        def teacher() -> Teacher:
            return Teacher(OpenAIBackend(p, None), RequestCache(tmp_path / "c.sqlite"), prompts.prompt_version(),
                           {"response_format": "auto"}, (1, 5))

        t = teacher()
        out = t.ask(score(ds))
        for o, d in zip(out, ds, strict=True):
            assert o.record_id == d.record_id
            assert (o.ok and set(o.data["scores"]) == {"a00", "a01"}) or (o.error and o.error_kind)
        assert sum(o.ok for o in out) == n  # every fault is one the client or a repair gets past
        sent = len(server.requests)
        assert all(rule.used == 1 for rule in server._rules)  # every fault did happen
        assert n + n // 5 <= sent <= 1.3 * n  # each fault costs one more request (a retry or a repair)
        for o, req in zip(out, score(ds), strict=True):  # what was kept is what a well-behaved model says
            expected = validate_reply(json.loads(answer(
                [{"role": "user", "content": m["content"]} for m in prompts.messages(req, (1, 5), 12_000, 8)])),
                req, (1, 5))
            assert o.data == expected
        again = teacher().ask(score(ds))
        assert len(server.requests) == sent  # a re-run asks nothing already answered
        assert all(o.cached and o.ok for o in again)


@pytest.mark.parametrize("formats", ["any", "llama_cpp", "no_json_schema", "no_response_format"])
def test_every_kind_of_endpoint_ends_with_every_record_answered(formats):
    with FakeOpenAI(formats=formats) as server:
        out = OpenAIBackend(params(server, concurrency=8), None).run(score(docs(20)))
        assert all(o.ok for o in out)
        assert len(server.requests) <= 20 + 3  # at most the three refused probes on top
