"""Teacher review, round 30: a reasoning model's reply that opens with its `<think>...</think>` block (DeepSeek-R1,
Qwen3 served without a reasoning parser) is read after the block, not from a brace inside it, and one whose block
never closes fails saying so; an API key with a line end around it (an env file with CRLF) is sent without it, and
one holding what no header may carry is a ConfigError naming its variable, never the key."""

from __future__ import annotations

import json

import pytest

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc, ReplyError, extract_json
from mira_core.teachers.http import JSONClient
from tests.mira_core.teachers.conftest import TEST_ANCHORS
from tests.mira_core.teachers.test_http import Scripted, reply

KEY = "sk-live-S30abcdefghijklmnopqrstuvwxyz0123"
DOC = Doc("r0", "web", "text", "A record about tide pools and the animals that live in them.")


def scores(score: int) -> str:
    return json.dumps({"scores": [{"anchor": a.id, "score": score, "rationale": "Says why."} for a in TEST_ANCHORS]})


def completion(content: str, finish_reason: str = "stop") -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content},
                                    "finish_reason": finish_reason}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 10}}).encode()


def params(server: Scripted, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "m", "base_url": server.url, "api_key_env": None, "client": "lean",
            "timeout_s": 5.0, "max_retries": 0, "max_repairs": 0, "response_format": "none",
            "cache_path": "c.sqlite"}
    return TeacherParams(**{**base, **kw})


def ask(server: Scripted, tmp_path, env: dict | None = None, **kw):
    t = make_teacher(params(server, **kw), tmp_path, env or {})
    try:
        [o] = t.score([DOC], TEST_ANCHORS, "v1")
    finally:
        t.cache.close()
        server.close()
    return o


# ---------------------------------------------------------------- reasoning blocks

def test_the_answer_after_a_reasoning_block_is_read_not_a_brace_inside_it(tmp_path, transport):
    content = (f"<think>\nA first draft: {scores(3)}. But the record explains its terms well, so 4.\n</think>\n\n"
               f"{scores(4)}")
    o = ask(Scripted([reply(body=completion(content))]), tmp_path)
    assert o.ok, o.error
    assert {s["score"] for s in o.data["scores"].values()} == {4}


@pytest.mark.parametrize("text", [
    '<think>\n{"a": 1\n</think>\n```json\n{"a": 2}\n```',  # reasoning with half an object, then a fenced answer
    '<think></think>\n<think>{"a": 1}</think>{"a": 2}',  # Qwen3's empty block with thinking off, and another
    '  <think>weighing it</think>\nThe answer: {"a": 2} (as asked)',
    'Weighing {"a": 1} against the rest.\n</think>\n\n{"a": 2}',  # R1: its template opened <think> in the prompt
])
def test_complete_leading_reasoning_blocks_are_left_out(text):
    assert extract_json(text) == {"a": 2}


@pytest.mark.parametrize("text", ['{"a": 2}', 'Sure: {"a": 2} <think>x</think>', '```json\n{"a": 2}\n```',
                                  'Before <think>{"a": 1}</think> {"a": 2}'])
def test_a_reply_that_does_not_open_with_reasoning_reads_as_before(text):
    assert extract_json(text) == ({"a": 1} if text.startswith("Before") else {"a": 2})


def test_a_reasoning_block_that_never_closes_fails_naming_it_not_an_object_inside(tmp_path, transport):
    content = f'<think>\nPerhaps {scores(3)} fits, though the second paragraph'
    with pytest.raises(ReplyError, match="</think>"):
        extract_json(content)
    o = ask(Scripted([reply(body=completion(content, "length"))]), tmp_path)
    assert not o.ok and o.error_kind == "permanent"
    assert "</think>" in o.error and "cut off at max_tokens" in o.error


# ---------------------------------------------------------------- the API key as the environment holds it

@pytest.mark.parametrize("raw", [KEY + "\r\n", KEY + "\n", f"  {KEY}\t"], ids=["crlf", "lf", "spaces"])
def test_a_key_with_white_space_around_it_is_sent_without_it(tmp_path, transport, raw):
    server = Scripted([reply(body=completion(scores(4)))])
    o = ask(server, tmp_path, {"MIRA_S30_KEY": raw}, api_key_env="MIRA_S30_KEY")
    assert o.ok, o.error  # a line break ended the lean client's headers: the request arrived garbled
    head = server.requests[0][0]
    assert f"\r\nAuthorization: Bearer {KEY}\r\n".lower() in head.lower()


@pytest.mark.parametrize("raw", [KEY.replace("-", "\u2013", 1), KEY[:10] + "\n" + KEY[10:], " \r\n"],
                         ids=["typographic-dash", "inner-line-break", "blank"])
def test_a_key_no_header_can_carry_is_a_config_error_naming_its_variable(tmp_path, raw):
    server = Scripted([reply(body=completion(scores(4)))])
    with pytest.raises(ConfigError) as e:
        ask(server, tmp_path, {"MIRA_S30_KEY": raw}, api_key_env="MIRA_S30_KEY")
    assert "MIRA_S30_KEY" in str(e.value) and KEY[:12] not in str(e.value)
    assert server.requests == []


def test_the_lean_client_refuses_a_header_with_a_line_break_without_quoting_it():
    with pytest.raises(ValueError, match="Authorization header holds a line break") as e:
        JSONClient("http://127.0.0.1:9/v1", {"Authorization": f"Bearer {KEY}\r\n"}, 1.0, 0)
    assert KEY[:12] not in str(e.value)


# ---------------------------------------------------------------- replies of other shapes

def test_an_answer_in_typed_content_chunks_is_read_from_its_text_chunks(tmp_path, transport):
    """Mistral's reasoning models answer with a list of chunks: the thinking, then the text."""
    content = [{"type": "thinking", "thinking": [{"type": "text", "text": f"Maybe {scores(3)}"}]},
               {"type": "text", "text": scores(4)}]
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 10}}).encode()
    o = ask(Scripted([reply(body=body)]), tmp_path)
    assert o.ok, o.error
    assert {s["score"] for s in o.data["scores"].values()} == {4}


def test_a_choice_whose_message_is_no_object_is_a_bad_reply_that_keeps_its_usage(tmp_path, transport):
    body = json.dumps({"choices": [{"message": "a plain string", "finish_reason": "stop"}]}).encode()
    o = ask(Scripted([reply(body=body)]), tmp_path)
    # it was an unexpected AttributeError: a transient failure (paid for again on every run) that counted no call
    assert not o.ok and o.error_kind == "permanent" and "not a chat completion" in o.error
    assert o.calls == 1


def test_the_generative_servers_key_is_checked_as_the_teachers_naming_its_own_knob(monkeypatch):
    # score's generative server sent the key as read: a line end made the lean client raise a bare ValueError
    from mira_core.config import ScoreParams
    from tasks.score import score_one

    monkeypatch.setenv("MIRA_S30_GEN_KEY", KEY + "\u2013x")
    p = ScoreParams(generative_server={"base_url": "http://127.0.0.1:9/v1", "api_key_env": "MIRA_S30_GEN_KEY"})
    with pytest.raises(ConfigError) as e:
        score_one.fn(None, None, None, "g0", p, None)
    assert "score.generative_server.api_key_env" in str(e.value) and "MIRA_S30_GEN_KEY" in str(e.value)
    assert KEY[:12] not in str(e.value)


@pytest.mark.parametrize("choice, said", [
    ({"message": {"role": "assistant", "content": None}, "finish_reason": "content_filter"}, "content filter"),
    ({"message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
      "finish_reason": "stop"}, "the model refused: I can't help with that."),
])
def test_a_filtered_or_refused_reply_is_a_permanent_failure_without_a_paid_repair(tmp_path, transport, choice, said):
    # read as any bad reply ("not a JSON object (Expecting value)"), a repair was sent and paid for, to the same end
    body = json.dumps({"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 0}}).encode()
    server = Scripted([reply(body=body), reply(body=completion(scores(4)))])
    o = ask(server, tmp_path, max_repairs=1)
    assert not o.ok and o.error_kind == "permanent" and said in o.error and "not repaired" in o.error
    assert o.calls == 1
