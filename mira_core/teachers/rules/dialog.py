"""The rules teacher's chat and agent dimensions: tool calls, error recovery, use of tool results, turn structure.

`parse_messages` reads the canonical chat/agent rendering back into messages and tool calls (cached on
the text, so every dialog dimension parses a record once).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from mira_core.errors import JSON_REFUSED, json_refusal
from mira_core.teachers.rules.code_facts import py_facts
from mira_core.teachers.rules.registry import DIALOG, Signal, _at_least, _at_most, _pct, _plural, _quote, dimension


@dataclass(frozen=True)
class Call:
    id: str | None
    name: str
    args: str


@dataclass(frozen=True)
class Message:
    role: str
    ref: str | None  # id= on the header: the tool call a tool result answers
    content: str
    calls: tuple[Call, ...] = ()


_HEADER = re.compile(r"(?:\A|\n\n)\[(system|developer|user|assistant|tool|function)(?: id=([^\]\n]*))?\](?=\n|\Z)")
_CALL = re.compile(r"^\[tool_call(?: id=([^\]\n]*))?\] ([^\n]*)$", re.M)


@lru_cache(maxsize=16)
def parse_messages(text: str) -> tuple[Message, ...]:
    """Messages back from the canonical chat/agent rendering (mira_core.ingest.render.render_messages)."""
    heads = list(_HEADER.finditer(text))
    out = []
    for i, h in enumerate(heads):
        body = text[h.end() + 1: heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        calls: list[Call] = []
        if h.group(1) == "assistant":
            marks = list(_CALL.finditer(body))
            for j, c in enumerate(marks):
                end = marks[j + 1].start() if j + 1 < len(marks) else len(body)
                calls.append(Call(c.group(1), c.group(2).strip(), body[c.end() + 1: end].strip()))
            if marks:
                body = body[: marks[0].start()]
        out.append(Message(h.group(1), h.group(2), body.strip(), tuple(calls)))
    return tuple(out)


def _calls(msgs: tuple[Message, ...]) -> list[tuple[int, Call]]:
    return [(i, c) for i, m in enumerate(msgs) for c in m.calls]


def _args_problem(args: str) -> str | None:
    """Why a tool call's arguments are not exactly one JSON object, or None when they are."""
    s = args.strip()
    if not s:
        return "empty arguments"
    dec = json.JSONDecoder()
    try:
        obj, end = dec.raw_decode(s)
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg} at char {e.pos})"
    except JSON_REFUSED as e:  # valid JSON past Python's limits: a 5,000-digit number, deep nesting
        return f"not readable as JSON ({json_refusal(e)})"
    rest, n = s[end:].strip(), 1
    while rest:
        try:
            _, end = dec.raw_decode(rest)
        except JSON_REFUSED:
            return f"JSON object followed by {len(rest)} characters of trailing text"
        rest, n = rest[end:].strip(), n + 1
    if n > 1:
        return f"{n} JSON values packed into one arguments field"
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not an object"
    return None


def _norm_call(c: Call) -> tuple[str, str]:
    try:
        return c.name, json.dumps(json.loads(c.args), sort_keys=True)
    except JSON_REFUSED:
        return c.name, " ".join(c.args.split())


@dimension("tool_call_validity", "Share of tool calls whose arguments parse as exactly one JSON object (several "
           "objects packed into one field, or broken JSON, count as invalid).", DIALOG, "traces with tool calls")
def tool_call_validity(text: str) -> Signal | None:
    calls = _calls(parse_messages(text))
    if not calls:
        return None
    bad = [(c, p) for _, c in calls if (p := _args_problem(c.args))]
    empty = [c for _, c in calls if c.args.strip() in ("{}",)]
    ok = len(calls) - len(bad)
    reason = f"{ok} of {_plural(len(calls), 'tool call')} have valid JSON-object arguments"
    if bad:
        c, p = bad[0]
        reason += f"; {c.id or c.name}: {p}"
        share = ok / len(calls)
        return (3 if share >= 0.9 else 2 if share >= 0.5 else 1), reason
    if empty:
        return 4, reason + f"; {len(empty)} with empty arguments {{}}"
    return 5, reason


_ERROR = re.compile(r"^(?:Traceback \(most recent call last\)|[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b:?|"
                    r"error\b|fatal\b|command not found)", re.M | re.I)


def _is_error(content: str) -> bool:
    return bool(_ERROR.search(content[:2000]))


def _results(msgs: tuple[Message, ...]) -> list[tuple[int, Message]]:
    return [(i, m) for i, m in enumerate(msgs) if m.role in ("tool", "function")]


def _answered_call(msgs: tuple[Message, ...], i: int) -> Call | None:
    """The call a tool result at index i answers: by id, else the latest call before it."""
    ref = msgs[i].ref
    before = [c for _, c in _calls(msgs[:i])]
    if ref:
        for c in reversed(before):
            if c.id == ref or c.name == ref:
                return c
    return before[-1] if before else None


@dimension("error_recovery", "After a tool result that is an error, whether the next call changes course instead of "
           "repeating the failed call.", DIALOG, "traces with a tool error")
def error_recovery(text: str) -> Signal | None:
    msgs = parse_messages(text)
    errors = [(i, m) for i, m in _results(msgs) if _is_error(m.content)]
    if not errors:
        return None
    credit, notes, repeated = 0.0, [], False
    for i, m in errors:
        failed = _answered_call(msgs, i)
        later = [c for _, c in _calls(msgs[i + 1:])]
        label = m.ref or f"message {i}"
        if later and failed is not None and _norm_call(later[0]) == _norm_call(failed):
            notes.append(f"after the error in {label} the same call is repeated")
            repeated = True
        elif later:
            credit += 1
        else:
            final = next((x.content for x in reversed(msgs[i + 1:]) if x.role == "assistant" and x.content), "")
            first = m.content.strip().split("\n")[-1][:40]
            acknowledged = bool(re.search(r"error|exception|fail|raise", final, re.I))
            # Stopping after an error is no recovery; saying so in the answer is at least honest.
            credit += 0.75 if acknowledged else 0.25
            if not acknowledged:
                notes.append(f"the last error ({_quote(first, 40)}) is not mentioned in the final answer")
    share = credit / len(errors)
    reason = f"{_plural(len(errors), 'tool error')}, recovery credit {credit:g} of {len(errors)}"
    if notes:
        reason += "; " + "; ".join(notes[:2])
    score = _at_least(share, (0.25, 0.5, 0.75, 0.95))
    return (min(score, 2) if repeated else score), reason


_TOKEN = re.compile(r"[A-Za-z_][\w.]{2,}|\d+(?:\.\d+)?")


# Words every Python repr or summary uses; sharing one of them proves nothing about reading a result.
_GENERIC_TOKENS = {"array", "list", "dict", "none", "true", "false", "tensor", "object", "int", "float", "str",
                   "dtype", "int64", "float64", "the", "and", "for", "with", "value", "values", "error", "name"}


def _tokens(s: str) -> set[str]:
    return {t.lower().rstrip(".") for t in _TOKEN.findall(s)} - _GENERIC_TOKENS


def _final_answer(msgs: tuple[Message, ...]) -> str:
    return next((m.content for m in reversed(msgs) if m.role == "assistant" and m.content), "")


@dimension("tool_result_usage", "Whether the final assistant message uses what the tools returned (values that "
           "appear in tool results and nowhere in the request or the calls).", DIALOG,
           "traces with informative tool results")
def tool_result_usage(text: str) -> Signal | None:
    msgs = parse_messages(text)
    known = set().union(*(_tokens(m.content) for m in msgs if m.role in ("system", "developer", "user")),
                        *(_tokens(c.args) for _, c in _calls(msgs)))
    novel = [(m.ref or f"message {i}", _tokens(m.content) - known) for i, m in _results(msgs)
             if m.content.strip() not in ("", "(no output)")]
    novel = [(ref, toks) for ref, toks in novel if toks]
    if not novel:
        return None
    final = _final_answer(msgs)
    if not final:
        return 1, f"{_plural(len(novel), 'informative tool result')} but no final assistant answer"
    said = _tokens(final)
    used = [(ref, sorted(toks & said)) for ref, toks in novel if toks & said]
    share = len(used) / len(novel)
    reason = f"the final answer reuses values from {len(used)} of {_plural(len(novel), 'informative tool result')}"
    if used:
        reason += f", e.g. {', '.join(used[0][1][:3])} from {used[0][0]}"
    return _at_least(share, (0.01, 0.15, 0.3, 0.5)), reason


_GAVE_UP = re.compile(r"\bI (?:was|am) unable\b|\bI could(?:n't| not)\b|\bcannot complete\b|\bI failed to\b|"
                      r"\bgave up\b", re.I)


@dimension("task_completion", "Whether the conversation ends with an assistant message that has content, rather than "
           "a dangling tool call, tool result or user turn.", DIALOG, "chat or agent records")
def task_completion(text: str) -> Signal | None:
    msgs = parse_messages(text)
    if not msgs:
        return 1, "no messages could be read from the record"
    last = msgs[-1]
    if last.role == "assistant" and last.content and not last.calls:  # words beside a call: it still dangles
        n = len(last.content.split())
        if _GAVE_UP.search(last.content):
            return 3, f"ends with an assistant message of {n} words that gives up: {_quote(last.content, 50)}"
        if n < 3:
            return 4, f"ends with an assistant message of only {_plural(n, 'word')}"
        return 5, f"ends with an assistant answer of {n} words after {len(msgs)} messages"
    if last.role == "assistant" and last.calls:
        return 2, f"ends with an assistant tool call ({last.calls[0].name}) and no answer"
    if last.role == "assistant":  # no text and no call: there is no tool call to name
        return 2, "ends with an empty assistant message, no answer"
    return 1, f"ends with a {last.role} message, not an assistant answer"


@dimension("repeated_calls", "Share of tool calls that repeat an earlier call with the same tool and arguments.",
           DIALOG, "traces with 2+ tool calls")
def repeated_calls(text: str) -> Signal | None:
    calls = [c for _, c in _calls(parse_messages(text))]
    if len(calls) < 2:
        return None
    keys = [_norm_call(c) for c in calls]
    dups = len(keys) - len(set(keys))
    back_to_back = sum(a == b for a, b in zip(keys, keys[1:], strict=False))
    score = _at_most(dups / len(keys), (0.0, 0.15, 0.3, 0.5))
    reason = f"{dups} of {len(keys)} tool calls repeat an earlier call ({_pct(dups, len(keys))})"
    if dups:
        (name, args), n = Counter(keys).most_common(1)[0]
        reason += f"; {name} {_quote(args, 50)} is called {n} times"
    if back_to_back:
        score = min(score, 2)
        reason += f"; {back_to_back} back-to-back"
    return score, reason


_CODE_TOOLS = re.compile(r"python|ipython|exec|run_code|code_interpreter|jupyter", re.I)


@dimension("tool_code_syntax", "Share of code passed to a Python tool that parses with ast.parse.", DIALOG,
           "traces that pass code to a Python tool")
def tool_code_syntax(text: str) -> Signal | None:
    codes = []
    for _, c in _calls(parse_messages(text)):
        if not _CODE_TOOLS.search(c.name) or _args_problem(c.args):
            continue
        obj = json.loads(c.args)
        code = next((obj[k] for k in ("code", "source", "script", "cell") if isinstance(obj.get(k), str)), None)
        if code is not None:
            codes.append((c.id or c.name, code))
    if not codes:
        return None
    bad = [(cid, f) for cid, code in codes if not (f := py_facts(code)).ok]
    reason = f"{len(codes) - len(bad)} of {len(codes)} code arguments parse"
    if bad:
        cid, f = bad[0]
        reason += f"; {cid}: SyntaxError line {f.error_line}: {f.error}"
    return _at_least((len(codes) - len(bad)) / len(codes), (0.4, 0.7, 0.9, 1.0)), reason


@dimension("message_structure", "Whether the messages are well formed: a user turn, tool results that answer earlier "
           "calls, calls that get results, no empty assistant turns.", DIALOG, "chat or agent records")
def message_structure(text: str) -> Signal | None:
    msgs = parse_messages(text)
    if not msgs:
        return 1, "the text is not a rendered conversation ([role] blocks)"
    problems = []
    roles = [m.role for m in msgs]
    if "user" not in roles:
        problems.append("no user message")
    first = next((r for r in roles if r not in ("system", "developer")), None)
    if first not in ("user", None):
        problems.append(f"the first turn is {first}, not user")
    call_ids = {c.id for _, c in _calls(msgs) if c.id}
    answered = {m.ref for _, m in _results(msgs) if m.ref}
    orphans = sorted(answered - call_ids - {c.name for _, c in _calls(msgs)})
    if orphans:
        problems.append(f"tool results for unknown calls: {', '.join(orphans[:3])}")
    unanswered = sorted(call_ids - answered)
    if unanswered:
        problems.append(f"calls without results: {', '.join(unanswered[:3])}")
    empty = sum(1 for m in msgs if m.role == "assistant" and not m.content and not m.calls)
    if empty:
        problems.append(f"{_plural(empty, 'empty assistant message')}")
    if not problems:
        return 5, f"{len(msgs)} well-formed messages ({', '.join(f'{n} {r}' for r, n in Counter(roles).items())})"
    return max(1, 5 - len(problems)), "; ".join(problems)


@dimension("response_length", "Mean length in words of the assistant's text replies; one-word replies teach little.",
           DIALOG, "chat or agent records")
def response_length(text: str) -> Signal | None:
    msgs = parse_messages(text)
    replies = [len(m.content.split()) for m in msgs if m.role == "assistant" and m.content]
    if not replies:
        return (1, "no assistant message has text content") if msgs else None
    mean = sum(replies) / len(replies)
    return _at_least(mean, (2, 6, 15, 40)), (f"{_plural(len(replies), 'assistant text reply')}, mean {mean:.0f} words "
                                             f"(shortest {min(replies)}, longest {max(replies)})")


_REFUSAL = re.compile(r"as an ai(?: language)? model|I(?:'m| am) (?:just )?an ai\b|I (?:cannot|can't|can not) "
                      r"(?:help|assist|provide|comply)|I'?m sorry, but I (?:cannot|can't)|I do not have (?:access|the "
                      r"ability)|I don't have (?:access|the ability)", re.I)


@dimension("refusal_markers", "Share of assistant replies with refusal or AI-disclaimer boilerplate ('As an AI "
           "language model', 'I cannot help').", DIALOG, "chat or agent records with assistant text")
def refusal_markers(text: str) -> Signal | None:
    replies = [m.content for m in parse_messages(text) if m.role == "assistant" and m.content]
    if not replies:
        return None
    hits = [r for r in replies if _REFUSAL.search(r)]
    if not hits:
        return 5, f"no refusal or disclaimer phrases in {_plural(len(replies), 'assistant reply')}"
    phrase = _REFUSAL.search(hits[0]).group()  # type: ignore[union-attr]
    return _at_most(len(hits) / len(replies), (0.0, 0.0, 0.2, 0.5)), (
        f"{len(hits)} of {_plural(len(replies), 'assistant reply')} hold refusal phrases, e.g. {_quote(phrase, 40)}")
