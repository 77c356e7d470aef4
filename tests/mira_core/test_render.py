"""Tests of the canonical renderings: text, code, QA, chat and agent traces with tool calls."""

from __future__ import annotations

import json

import pytest

from mira_core.errors import RecordError
from mira_core.ingest.render import render, render_messages


def _render(fmt, payload, **kw):
    args = {"text_field": "text", "question_field": "question", "answer_field": "answer",
            "messages_field": "messages", **kw}
    return render(fmt, payload, **args)


def test_text_keeps_the_rest_as_meta():
    text, meta = _render("code", {"content": "x = 1\n", "lang": "py"}, text_field="content")
    assert text == "x = 1\n" and meta == {"lang": "py"}


def test_qa_from_named_fields():
    text, meta = _render("qa", {"q": " What is 2+2? ", "a": "4", "src": "s"}, question_field="q", answer_field="a")
    assert text == "Question:\nWhat is 2+2?\n\nAnswer:\n4"
    assert meta == {"src": "s"}


def test_agent_trace_with_tool_calls_and_results():
    messages = [
        {"role": "system", "content": "You run tools."},
        {"role": "user", "content": [{"type": "text", "text": "List files"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.py\nb.py"},
        {"role": "assistant", "content": "Two files.", "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "read", "arguments": {"path": "a.py"}}}]},
    ]
    assert render_messages(messages) == (
        "[system]\nYou run tools.\n\n[user]\nList files\n\n"
        '[assistant]\n[tool_call id=c1] shell\n{"cmd": "ls"}\n\n'
        "[tool id=c1]\na.py\nb.py\n\n"
        '[assistant]\nTwo files.\n[tool_call id=c2] read\n{"path": "a.py"}'
    )


def test_invalid_tool_call_arguments_are_kept_verbatim():
    """Broken JSON in arguments is a quality signal for the teacher, not an ingest error."""
    msgs = [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}{"b": 2}'}}]}]
    assert render_messages(msgs).endswith('{"a": 1}{"b": 2}')


def test_messages_as_a_json_string():
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    text, _ = _render("chat", {"messages": json.dumps(msgs)})
    assert text == "[user]\nhi\n\n[assistant]\nhello"


def test_sharegpt_messages_render_as_the_openai_ones():
    openai = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
              {"role": "assistant", "content": "hello"}, {"role": "tool", "content": "42"}]
    sharegpt = [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "hi"},
                {"from": "gpt", "value": "hello"}, {"from": "observation", "value": "42"}]
    assert render_messages(sharegpt) == render_messages(openai)


@pytest.mark.parametrize(("fmt", "payload", "reason", "detail"), [
    ("text", {"body": "x"}, "missing_field", "no field 'text'"),
    ("text", {"text": 5}, "missing_field", "is a number"),
    ("text", {"text": b"\xff"}, "invalid_utf8", "byte 0"),
    ("qa", {"question": "q", "answer": "  "}, "empty_text", "answer is empty"),
    ("qa", {"question": "q"}, "missing_field", "'answer'"),
    ("chat", {"messages": []}, "invalid_messages", "non-empty list"),
    ("chat", {"messages": [{"role": "robot", "content": "x"}]}, "invalid_messages", "messages[0].role 'robot'"),
    ("agent", {"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]}, "invalid_messages",
     "tool_calls[0] has no function name"),
    ("chat", {"messages": "[not json"}, "invalid_messages", "not JSON"),
    ("chat", {"messages": "[" * 5000}, "invalid_messages", "nested too deep"),  # a RecursionError, not a crash
    ("chat", {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "  "}]}, "empty_text",
     "all 2 messages are empty"),  # its role headers are not text
    ("chat", {"messages": [{"from": "robot", "value": "x"}]}, "invalid_messages", "messages[0].from 'robot'"),
    ("chat", {"msgs": []}, "missing_field", "'messages'"),
])
def test_bad_records_raise_record_errors(fmt, payload, reason, detail):
    with pytest.raises(RecordError) as e:
        _render(fmt, payload)
    assert e.value.reason == reason
    assert detail in e.value.detail
