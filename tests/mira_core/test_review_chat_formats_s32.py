"""Review of chat and agent traces in the formats found in the wild (session 32): a regression test for each bug found,
each failing without its fix (marked xfail, strict, until the fix lands).

Tested here: a tool call whose arguments are empty (`""`, a streamed call cut short) is a call the document statistics
count, and count as invalid, as the rules teacher does (it was no call at all, so `tool_args_json_frac` said every call
was valid while the teacher scored the trace 1 for it); a seeded random check that the statistics and the teacher's
parse see the same messages, tool calls and valid arguments; a tool result holding an INI section header (`[user]`,
as `cat ~/.gitconfig` prints) is one message in the statistics, as in the teacher's parse; an Anthropic-style
`tool_use` block is read as the tool call it is, or refused naming the block's type (it was "has no text"), and
`mira init` does not call such a source "chat, no tool call".
"""

from __future__ import annotations

import json
import math
import random

import pytest

from mira_core.docstats import INDEX, doc_stats
from mira_core.errors import RecordError
from mira_core.ingest.render import render_messages
from mira_core.teachers.rules.dialog import _args_problem, parse_messages, tool_call_validity
from tests.conftest import write_jsonl


def _stat(text: str, name: str) -> float:
    return float(doc_stats("agent", text)[INDEX[name]])


def _count(text: str, name: str) -> int:
    return round(math.expm1(_stat(text, name)))


def test_a_tool_call_with_empty_arguments_is_an_invalid_call_in_the_statistics():
    text = render_messages([
        {"role": "user", "content": "What time is it on the server?"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "12:00Z"},
        {"role": "assistant", "content": "It is noon, UTC."}])
    assert tool_call_validity(text)[0] == 1  # the teacher: "0 of 1 tool call have valid JSON-object arguments"
    assert _count(text, "tool_calls_log") == 1
    assert _stat(text, "tool_args_json_frac") == 0.0


WORDS = ["alpha", "beta", "x = 1", "print(2)", "  indented", '{"k": 1}', "", "über", "[note]", "tool_call", "- item", "ok."]
ARGS = ["", "{}", '{"a": 1}', '{"a": [1, 2]}', '{"q": "multi\\nline"}', "{bad", "[1, 2]", "null", '{"a": 1}\n{"b": 2}',
        json.dumps({"code": "x = 1\nprint(x)"}, indent=2)]


def _random_trace(r: random.Random) -> tuple[list[dict], int, int]:
    def text() -> str:
        return "\n".join(" ".join(r.choice(WORDS) for _ in range(r.randint(0, 4))) for _ in range(r.randint(0, 3)))
    msgs, calls, results = [], 0, 0
    for _ in range(r.randint(1, 6)):
        role = r.choice(["system", "user", "assistant", "assistant", "tool"])
        m: dict = {"role": role, "content": r.choice([text(), None, text()])}
        if role == "assistant" and r.random() < 0.5:
            k = r.randint(1, 3)
            m["tool_calls"] = [{"id": f"c{r.randint(0, 99)}", "type": "function",
                                "function": {"name": r.choice(["f", "grep", "run_py"]), "arguments": r.choice(ARGS)}}
                               for _ in range(k)]
            calls += k
        if role == "tool":
            m["tool_call_id"] = f"c{r.randint(0, 99)}"
            results += 1
        msgs.append(m)
    return msgs, calls, results


def test_random_traces_the_statistics_and_the_teacher_see_the_same_calls():
    checked = 0
    for seed in range(300):
        msgs, n_calls, n_results = _random_trace(random.Random(seed))
        try:
            text = render_messages(msgs)
        except RecordError:  # every message empty
            continue
        checked += 1
        parsed = parse_messages(text)
        calls = [c for m in parsed for c in m.calls]
        valid = sum(_args_problem(c.args) is None for c in calls)
        assert len(parsed) == _count(text, "msg_count_log") == len(msgs), seed
        assert len(calls) == _count(text, "tool_calls_log") == n_calls, seed
        assert _count(text, "tool_results_log") == n_results, seed
        assert _stat(text, "tool_args_json_frac") == pytest.approx(valid / len(calls) if calls else 1.0, abs=1e-6), seed
    assert checked > 250


def test_a_tool_result_holding_an_ini_section_is_one_message_in_the_statistics():
    text = render_messages([
        {"role": "user", "content": "Which name do I commit under?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "cat ~/.gitconfig"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "[user]\n\tname = Bob\n\temail = bob@example.org"},
        {"role": "assistant", "content": "You commit as Bob <bob@example.org>."}])
    assert [m.role for m in parse_messages(text)] == ["user", "assistant", "tool", "assistant"]
    assert _count(text, "msg_count_log") == 4


ANTHROPIC = [
    {"role": "user", "content": [{"type": "text", "text": "Is it raining in Lisbon?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "I'll check."},
                                      {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                       "input": {"city": "Lisbon"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"rain": true}'}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Yes, it is raining in Lisbon."}]}]


def test_an_anthropic_tool_use_block_is_a_tool_call():
    text = render_messages(ANTHROPIC)  # it was quarantined: "messages[1].content[1] has no text"
    assert "[tool_call id=toolu_1] get_weather\n" in text and '"city": "Lisbon"' in text
    assert "[tool id=toolu_1]" in text and _count(text, "tool_calls_log") == 1


def test_an_anthropic_trace_renders_as_its_openai_twin():
    twin = [ANTHROPIC[0],
            {"role": "assistant", "content": "I'll check.",
             "tool_calls": [{"id": "toolu_1", "function": {"name": "get_weather", "arguments": {"city": "Lisbon"}}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": '{"rain": true}'},
            {"role": "assistant", "content": "Yes, it is raining in Lisbon."}]
    assert render_messages(ANTHROPIC) == render_messages(twin)


def test_an_image_block_is_named_in_the_quarantine_detail():
    with pytest.raises(RecordError, match=r"messages\[0\]\.content\[1\] is a 'image_url' block, not text"):
        render_messages([{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                      {"type": "image_url", "image_url": {"url": "x"}}]}])


def test_init_does_not_call_anthropic_tool_traces_chat_without_tool_calls(tmp_path):
    from mira_core.init_project import guess_format

    write_jsonl(tmp_path / "t.jsonl", [{"messages": ANTHROPIC}] * 3)
    guess = guess_format(str(tmp_path / "t.jsonl"))
    assert guess.format == "agent"


def test_an_empty_final_answer_is_not_called_a_tool_call():
    from mira_core.teachers.rules.dialog import task_completion

    text = render_messages([{"from": "human", "value": "When should I avoid Bloom filters?"},
                            {"from": "gpt", "value": "When you need exact answers."},
                            {"from": "human", "value": "And B-trees?"}, {"from": "gpt", "value": ""}])
    score, reason = task_completion(text)
    assert score <= 2 and "tool call" not in reason and "empty" in reason
