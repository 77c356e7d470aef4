"""Canonical text renderings, one per record format.

text and code: the text field as it is. qa: the question and the answer under fixed headers.
chat and agent: OpenAI-style messages, one block per message, with tool calls and tool results
written out (arguments verbatim, even when they are not valid JSON: judging that is the teacher's
job, not ingest's). ShareGPT's {from, value} messages are read too, their speakers mapped to roles
(`SHAREGPT_ROLES`), and a `function_call` turn whose value is a call object as the assistant's tool call.
Content given as a list of parts is read as its text parts, and Anthropic's `tool_use` / `tool_result` blocks
as the tool calls and tool messages they are (`_anthropic`), and Hermes-style `<tool_call>` blocks in an
assistant's text as its tool calls (`_hermes_calls`).
A conversation whose every message is empty is empty text, whatever its role headers add. What a record had
besides the rendered fields is kept as `meta`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from mira_core.errors import JSON_REFUSED, RecordError, json_refusal, json_type
from mira_core.schema import QuarantineReason as Q

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# ShareGPT speakers (`from`) as roles: the original human/gpt, and the tool-use variants' function_call (the
# model's call, written as text) and observation (the tool's answer).
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool", "tool": "tool"}


def _as_text(value: object, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as e:
            raise RecordError(Q.INVALID_UTF8, f"field {field!r}: invalid UTF-8 at byte {e.start}") from None
    raise RecordError(Q.MISSING_FIELD, f"field {field!r} is {json_type(value)}, not text")


def _field(payload: dict, field: str) -> str:
    if field not in payload:
        raise RecordError(Q.MISSING_FIELD, f"no field {field!r} (fields: {', '.join(sorted(payload)) or 'none'})")
    if payload[field] is None:  # a JSON null, or a Parquet column's null: the field is there, its value is not
        raise RecordError(Q.MISSING_FIELD, f"field {field!r} is null")
    return _as_text(payload[field], field)


def render_qa(question: str, answer: str) -> str:
    """The canonical QA rendering."""
    return f"Question:\n{question.strip()}\n\nAnswer:\n{answer.strip()}"


# The words the renderings add around a record's own text: a qa record's two header lines, a chat record's role
# header lines and a tool call's tag. Decontaminate reads every text without them, so an item copied into a qa or
# chat source matches as it does in a text source ("Answer" between a short question and its answer split every
# 13-gram of the pair).
HEADERS = re.compile(r"^(?:Question:|Answer:|\[(?:" + "|".join(sorted(ROLES)) + r")(?: id=[^\]\n]*)?\])[ \t]*$"
                     r"|^\[tool_call(?: id=[^\]\n]*)?\] ", re.MULTILINE)


def without_headers(text: str) -> str:
    """`text` without the header lines and tags the qa and chat renderings add (`HEADERS`)."""
    return HEADERS.sub("", text)


def _content(msg: dict, i: int) -> str:
    content = msg.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return "\n".join(_part_text(part, f"messages[{i}].content[{j}]") for j, part in enumerate(content))
    raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].content is {json_type(content)}")


def _part_text(part: object, where: str) -> str:
    """The text of one content part, or a RecordError naming it (`where`) and what it is."""
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        return part["text"]
    if isinstance(part, str):
        return part
    what = f"a {part['type']!r} block" if isinstance(part, dict) and isinstance(part.get("type"), str) else (
        "an object" if isinstance(part, dict) else json_type(part))
    raise RecordError(Q.INVALID_MESSAGES, f"{where} is {what}, not text")


def _own_calls(msg: dict, i: int) -> list:
    """The message's `tool_calls` as given, checked to be a list before another form's calls join it: `[*5, ...]`
    was a TypeError that stopped ingest."""
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].tool_calls is not a list")
    return calls


def _tool_calls(msg: dict, i: int) -> list[str]:
    calls = _own_calls(msg, i)
    if "function_call" in msg and msg["function_call"]:  # the older single-call form
        calls = [*calls, {"id": None, "function": msg["function_call"]}]
    out = []
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].tool_calls[{j}] has no function name")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            try:
                args = json.dumps(args, ensure_ascii=False, sort_keys=True)
            except (TypeError, ValueError) as e:  # a Parquet binary field (bytes), a circular structure
                raise RecordError(Q.INVALID_MESSAGES,
                                  f"messages[{i}].tool_calls[{j}] arguments are not JSON-writable: {e}") from None
        cid = f" id={call['id']}" if call.get("id") else ""
        out.append(f"[tool_call{cid}] {fn['name']}\n{args}")
    return out


def render_messages(messages: object) -> str:
    """The canonical chat/agent rendering of OpenAI-style messages."""
    if not isinstance(messages, list) or not messages:
        raise RecordError(Q.INVALID_MESSAGES, "messages must be a non-empty list")
    blocks = []
    said = 0  # characters of content and tool calls, role headers left out
    for i, msg in ((j, m) for j, raw in enumerate(messages) for m in _anthropic(raw, j)):
        if not isinstance(msg, dict):
            raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}] is not an object")
        if "role" not in msg and "from" in msg:  # ShareGPT: {from: human|gpt|..., value: ...}
            speaker = msg["from"]
            # a list or object is no speaker, and unhashable: the set lookup alone stopped ingest with a TypeError
            if not isinstance(speaker, str) or speaker not in SHAREGPT_ROLES:
                raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].from {speaker!r} (ShareGPT) is not one of "
                                  f"{sorted(SHAREGPT_ROLES)}")
            msg = _sharegpt_call(msg.get("value")) if speaker == "function_call" else {
                "role": SHAREGPT_ROLES[speaker], "content": msg.get("value")}
        role = msg.get("role")
        if not isinstance(role, str) or role not in ROLES:  # as for `from`: a list or an object is refused
            raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].role {role!r} is not one of {sorted(ROLES)}")
        head = f"[{role}"
        if role in ("tool", "function"):
            ref = msg.get("tool_call_id") or msg.get("name")
            head += f" id={ref}" if ref else ""
        head += "]"
        if role == "assistant" and isinstance(msg.get("content"), str) and "<tool_call>" in msg["content"]:
            msg = _hermes_calls(msg, i)
        body = [_content(msg, i).strip()]
        if role == "assistant":
            body += _tool_calls(msg, i)
        said += sum(len(b) for b in body)
        blocks.append(head + "\n" + "\n".join(b for b in body if b))
    if not said:
        raise RecordError(Q.EMPTY_TEXT, f"all {len(messages)} messages are empty")
    return "\n\n".join(blocks)


TOOL_BLOCKS = ("tool_use", "tool_result")


def _anthropic(msg: object, i: int) -> list:
    """An Anthropic Messages API turn as the OpenAI-style messages it holds: its `tool_use` blocks are the assistant's
    tool calls (`input` as the arguments), each `tool_result` block a tool message answering its `tool_use_id`, and
    the other blocks (text) the turn's content. A turn without such blocks is itself."""
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, list) or not any(isinstance(b, dict) and b.get("type") in TOOL_BLOCKS for b in content):
        return [msg]
    results, rest, calls = [], [], []
    for j, b in enumerate(content):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "tool_use":
            if msg.get("role") != "assistant":
                raise RecordError(Q.INVALID_MESSAGES, f"messages[{i}].content[{j}] is a tool_use block in a "
                                  f"{msg.get('role')!r} message")
            calls.append({"id": b.get("id"), "function": {"name": b.get("name"), "arguments": b.get("input", {})}})
        elif kind == "tool_result":
            body = b.get("content")
            if isinstance(body, list):  # read here, where its parts' place in the record is known
                body = "\n".join(_part_text(x, f"messages[{i}].content[{j}].content[{k}]") for k, x in enumerate(body))
            results.append({"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": body})
        else:
            # checked here: once the tool blocks are taken out, `_content` would name a later part by a shifted index
            _part_text(b, f"messages[{i}].content[{j}]")
            rest.append(b)
    turn = [{**msg, "content": rest, "tool_calls": [*_own_calls(msg, i), *calls]}] if rest or calls else []
    return results + turn


def _sharegpt_call(value: object) -> dict:
    """A ShareGPT `function_call` turn as the assistant's tool call it is: its value is the call as JSON
    ({"name": ..., "arguments": ...}, glaive / ToolACE style). Read as plain assistant text, the tool-call
    statistics and the rules teacher's `tool_call_validity` never saw it, so a broken call counted as valid. A value
    that is broken JSON but names its function is that call with the value, verbatim, as its arguments (which are
    then not a JSON object, as they are not); any other value stays the assistant's text, as before."""
    try:
        call = json.loads(value) if isinstance(value, str) else value
    except JSON_REFUSED:
        named = CALL_NAME.search(value)
        call = {"name": named.group(1), "arguments": value} if named else None
    if isinstance(call, dict) and isinstance(call.get("name"), str) and call["name"].strip():
        return {"role": "assistant", "content": "",
                "tool_calls": [{"function": {"name": call["name"], "arguments": call.get("arguments", "")}}]}
    return {"role": "assistant", "content": value}


# Hermes / Qwen tool calls written in the assistant's text: <tool_call>{"name": ..., "arguments": ...}</tool_call>;
# the last one may be cut off (no closing tag), as a truncated reply is
HERMES_OPEN, HERMES_CLOSE = "<tool_call>", "</tool_call>"


def _hermes_blocks(content: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, body stripped) of each `<tool_call>` block, the last one possibly unclosed (to the end).

    Found with str.find: the regex `<tool_call>\\s*(.*?)\\s*(?:</tool_call>|\\Z)` took time in the square of a
    whitespace run in an unclosed block (25 s for 40,000 spaces), and ingest reads untrusted text."""
    at = 0
    while (start := content.find(HERMES_OPEN, at)) != -1:
        body_at = start + len(HERMES_OPEN)
        close = content.find(HERMES_CLOSE, body_at)
        body_end, at = (len(content), len(content)) if close == -1 else (close, close + len(HERMES_CLOSE))
        yield start, at, content[body_at:body_end].strip()


def _hermes_calls(msg: dict, i: int) -> dict:
    """An assistant message whose text holds Hermes-style `<tool_call>` blocks, as the message without them and
    with them as its tool calls (after any it has). Read as text, a trace in this format (NousResearch's
    function-calling sets, Qwen's chat template) had no tool call for the statistics and the rules teacher's
    `tool_call_validity` to check. A block is read as `_sharegpt_call` reads a call: JSON naming the function, or
    broken JSON whose function name is legible (its text verbatim as the arguments); a block that is no JSON object,
    or names no function, stays in the text."""
    content, rest, calls, at = msg["content"], [], [], 0
    for start, end, body in _hermes_blocks(content):
        # a call is a JSON object: prose that names the tag ("wrap it in <tool_call>") and later quotes a "name" is
        # no call, whether or not the tag is closed
        call = _sharegpt_call(body) if body.startswith("{") else {}
        if call.get("tool_calls"):
            rest.append(content[at:start])
            calls += call["tool_calls"]
            at = end
    if not calls:
        return msg
    return {**msg, "content": "".join([*rest, content[at:]]), "tool_calls": [*_own_calls(msg, i), *calls]}


CALL_NAME = re.compile(r'"name"\s*:\s*"([^"\\\n]+)"')  # a broken call's function name, where it is still legible


def render(fmt: str, payload: dict, text_field: str, question_field: str, answer_field: str, messages_field: str,
           context_field: str | None = None) -> tuple[str, dict]:
    """Render one record; returns (text, meta) or raises RecordError. `context_field` (qa): a field whose text, when
    the record has it and it is not empty, follows the question (Alpaca's `input`)."""
    if fmt in ("text", "code"):
        used = {text_field}
        text = _field(payload, text_field)
    elif fmt == "qa":
        used = {question_field, answer_field}
        q, a = _field(payload, question_field), _field(payload, answer_field)
        if not q.strip() or not a.strip():
            raise RecordError(Q.EMPTY_TEXT, f"the {'question' if not q.strip() else 'answer'} is empty")
        if context_field is not None and payload.get(context_field) is not None:  # absent or null: no context
            used.add(context_field)
            context = _field(payload, context_field)
            q = f"{q.strip()}\n\n{context.strip()}" if context.strip() else q
        text = render_qa(q, a)
    elif fmt in ("chat", "agent"):
        used = {messages_field}
        if messages_field not in payload:
            raise RecordError(Q.MISSING_FIELD, f"no field {messages_field!r}")
        messages = payload[messages_field]
        if messages is None:  # as a null text field: the field is there, its value is not (docs/sources.md)
            raise RecordError(Q.MISSING_FIELD, f"field {messages_field!r} is null")
        if isinstance(messages, str):  # Parquet sources often hold the messages as a JSON string
            try:
                messages = json.loads(messages)
            except JSON_REFUSED as e:
                raise RecordError(Q.INVALID_MESSAGES,
                                  f"{messages_field!r} is a string but not JSON: {json_refusal(e)}") from None
        text = render_messages(messages)
    else:  # the config model admits only the formats above
        raise ValueError(f"unknown format {fmt!r}")
    meta = {k: v for k, v in payload.items() if k not in used}
    return text, meta
