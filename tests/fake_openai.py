"""A real OpenAI-compatible HTTP server for tests: `POST /v1/chat/completions`, scripted failures.

`FakeOpenAI` is a `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread, used as a context
manager. Its default responder reads the prompt like a model would: a free-form judging prompt gets
`{"judgments": [...]}` with 3-5 dimensions, an anchored prompt gets `{"scores": [...]}` with one entry per
anchor listed in the prompt. Scores are a hash of (document, dimension or anchor), so different records
get different scores and a re-run gets the same ones; reasons quote words of the document.

Faults, applied per request under a lock (rules are checked in the order they were added):

    server.fail_next(2, "429", retry_after=0.1)      # the next 2 requests
    server.on_request(3, "500", retry_after_ms=20)   # the 3rd request since start (1-based)
    server.on_document("def add", "malformed", times=1)  # requests whose document contains the text

Fault kinds: "429" (Retry-After header, seconds), "500" (optional retry-after-ms header), "401" (echoes the
bearer token in the error message, as some servers do), "slow" (waits `delay` seconds before answering),
"malformed" (content is not JSON), "out_of_range" (a score above the scale), "missing_anchor" (drops the
last anchor; an empty judgment list on a judging prompt). `server.latency` delays every answer.
`server.requests` lists what arrived (path, headers with lower-case names, JSON body, arrival time);
`server.max_in_flight` is the most requests handled at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "401", "slow", "malformed", "out_of_range", "missing_anchor")
DIMENSIONS = [
    ("correctness", "Whether the content is free of errors."),
    ("readability", "How easy the record is to read and follow."),
    ("documentation", "How well the record explains itself."),
    ("coherence", "Whether the parts of the record fit together."),
    ("informativeness", "How much a reader learns from the record."),
    ("style", "Whether the record follows the conventions of its kind."),
    ("completeness", "Whether the record is whole rather than a fragment."),
]
DOC_RE = re.compile(r"<<<DOCUMENT>>>\n(.*)\n<<<END DOCUMENT>>>", re.S)
SCALE_RE = re.compile(r"integer from (-?\d+)\D+?(-?\d+)")


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: Any
    t: float  # time.monotonic() on arrival

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []


@dataclass
class _Rule:
    fault: str
    opts: dict
    times: int | None  # None: every matching request
    number: int | None = None
    substring: str | None = None
    used: int = 0

    def matches(self, number: int, document: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.number is not None and self.number != number:
            return False
        return self.substring is None or self.substring in document


class FakeOpenAI:
    """An OpenAI-compatible chat completions server with scripted faults; see the module docstring."""

    def __init__(self, model: str = "fake-teacher", latency: float = 0.0) -> None:
        self.model = model
        self.latency = latency
        self.max_in_flight = 0
        self._in_flight = 0
        self._records: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)  # the poll interval bounds how long closing takes

    # ------------------------------------------------------------ lifecycle and inspection
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes handlers that are sleeping on a slow reply
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    # ------------------------------------------------------------ scripting
    def fail_next(self, n: int, fault: str, **opts: float) -> None:
        """The next n requests get `fault`."""
        self._add(_Rule(fault, opts, times=n))

    def on_request(self, number: int, fault: str, **opts: float) -> None:
        """The request with this 1-based number (counting every request since start) gets `fault`."""
        self._add(_Rule(fault, opts, times=1, number=number))

    def on_document(self, substring: str, fault: str, times: int | None = None, **opts: float) -> None:
        """Requests whose document contains `substring` get `fault` (the first `times` of them, or all)."""
        self._add(_Rule(fault, opts, times=times, substring=substring))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def _add(self, rule: _Rule) -> None:
        if rule.fault not in FAULTS:
            raise ValueError(f"unknown fault {rule.fault!r}; one of {FAULTS}")
        with self._lock:
            self._rules.append(rule)

    def _arrive(self, rec: Recorded, document: str) -> _Rule | None:
        """Record a request and pick its fault, atomically."""
        with self._lock:
            self._records.append(rec)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            rule = next((r for r in self._rules if r.matches(len(self._records), document)), None)
            if rule is not None:
                rule.used += 1
            return rule

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


# ---------------------------------------------------------------- the model's side

def prompt_parts(messages: list[dict]) -> tuple[str, list[str] | None, tuple[int, int]]:
    """(document, anchor ids or None for a judging prompt, scale) from the first prompt with a document."""
    for m in messages:
        text = m.get("content") or ""
        doc = DOC_RE.search(text) if m.get("role") == "user" else None
        if doc is None:
            continue
        scale = SCALE_RE.search(text)
        lo, hi = (int(scale.group(1)), int(scale.group(2))) if scale else (1, 5)
        marker = text.find("Anchors (a JSON list")
        if marker < 0:
            return doc.group(1), None, (lo, hi)
        rest = text[text.index("\n", marker) + 1 :].lstrip()
        anchors, _ = json.JSONDecoder().raw_decode(rest)
        return doc.group(1), [a["id"] for a in anchors], (lo, hi)
    return "", None, (1, 5)


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def _quote(document: str, salt: str) -> str:
    words = document.split()
    if not words:
        return "The record is empty."
    start = _hash(document, salt, "quote") % len(words)
    return f'The record says "{" ".join(words[start : start + 6])}".'


def answer(messages: list[dict], fault: str | None = None) -> str:
    """The reply content a well-behaved (or scripted-to-misbehave) model gives."""
    if fault == "malformed":
        return "Sure! judgments: correctness = 4, readability = 3 (sorry, no JSON today)"
    document, anchors, (lo, hi) = prompt_parts(messages)
    span = hi - lo + 1
    if anchors is None:
        n = 3 + _hash(document, "n") % 3
        items = [{"name": name, "description": desc, "score": lo + _hash(document, name) % span,
                  "reason": _quote(document, name)} for name, desc in DIMENSIONS[:n]]
        if fault == "missing_anchor":
            items = []
        reply: dict = {"judgments": items}
    else:
        items = [{"anchor": a, "score": lo + _hash(document, a) % span, "rationale": _quote(document, a)}
                 for a in anchors]
        if fault == "missing_anchor":
            items = items[:-1]
        reply = {"scores": items}
    if fault == "out_of_range" and items:
        items[0]["score"] = hi + 4
    return json.dumps(reply)


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers; every reply has a Content-Length
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
        # client's delayed ACK of the first (~40 ms a reply on Linux), which real servers do not add.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:  # the name http.server dispatches to
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"null")
            except json.JSONDecodeError:
                body = raw.decode(errors="replace")
            rec = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            document = prompt_parts(rec.messages)[0]
            rule = server._arrive(rec, document)
            try:
                self._answer(rec, rule)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer
            finally:
                server._leave()

        def _answer(self, rec: Recorded, rule: _Rule | None) -> None:
            fault, opts = (rule.fault, rule.opts) if rule else (None, {})
            if server._stop.wait(server.latency + (opts.get("delay", 1.0) if fault == "slow" else 0.0)):
                return  # the server is closing
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, _error(f"no route {self.path}", "not_found"))
            if fault == "429":
                return self._send(429, _error("Rate limit reached.", "rate_limit_exceeded"),
                                  {"Retry-After": str(opts.get("retry_after", 0.05))})
            if fault == "500":
                ms = opts.get("retry_after_ms")
                return self._send(500, _error("The server had an error.", "server_error"),
                                  {"retry-after-ms": str(ms)} if ms is not None else {})
            if fault == "401":
                token = rec.headers.get("authorization", "").removeprefix("Bearer ")
                return self._send(401, _error(f"Incorrect API key provided: {token}.", "invalid_api_key"))
            self._send(200, _completion(server, rec, answer(rec.messages, fault)))

        def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": code}}


def _completion(server: FakeOpenAI, rec: Recorded, content: str) -> dict:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in rec.messages)
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-fake-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
        "model": rec.body.get("model", server.model) if isinstance(rec.body, dict) else server.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
