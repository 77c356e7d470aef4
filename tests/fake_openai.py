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
bearer token in the error message, as some servers do; on any path, as authentication comes before routing),
"401_html" (a proxy's HTML 401 page echoing the Authorization header across character 500), "503_html" (a
gateway's HTML 503 page with schema.org markup), "not_json" (a 200 whose body is an HTML page; labelled JSON with
json_type=1), "slow" (waits `delay` seconds before answering), "trickle" (sends the reply 16 bytes at a time,
`gap` seconds apart: every read is quick, the whole reply slow),
"malformed" (content is not JSON), "truncated" (the JSON cut in half, finish_reason "length"),
"out_of_range" (a score above the scale), "missing_anchor" (drops the last anchor; an empty judgment list
on a judging prompt). `server.latency` delays every answer. `server.requests` lists what arrived (path,
headers with lower-case names, JSON body, arrival time); `server.max_in_flight` is the most requests
handled at once. `FakeOpenAI(api_key="sk-...")` answers a request with another bearer token with that 401.

`formats` plays an endpoint's support of `response_format` (a refused request gets no fault):

    "any"                 accepts every response_format and follows the prompt (the default)
    "schema_only"         a model that keeps the shape only under structured outputs: the right reply when
                          sent the request's json_schema (top key, anchor ids), wrong-shape JSON otherwise
    "llama_cpp"           llama-cpp-python: a 500 "Input should be 'text' or 'json_object'" on json_schema;
                          json_object (with or without a "schema") accepted
    "no_json_schema"      a 400 on type json_schema, a 422 on a json_object carrying a "schema"
    "no_response_format"  a 400 on any response_format
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

FAULTS = ("429", "500", "401", "401_html", "503_html", "not_json", "slow", "trickle", "malformed", "truncated",
          "out_of_range", "missing_anchor")
FORMATS = ("any", "schema_only", "llama_cpp", "no_json_schema", "no_response_format")
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


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops the SYNs of a client opening 64 connections at once, and a dropped
    # SYN is sent again only after a second: a real server's backlog is in the hundreds.
    request_queue_size = 256
    daemon_threads = True


class FakeOpenAI:
    """An OpenAI-compatible chat completions server with scripted faults; see the module docstring."""

    def __init__(self, model: str = "fake-teacher", latency: float = 0.0, formats: str = "any",
                 api_key: str | None = None) -> None:
        if formats not in FORMATS:
            raise ValueError(f"unknown formats {formats!r}; one of {FORMATS}")
        self.model = model
        self.api_key = api_key  # None: any token is accepted
        self.latency = latency
        self.formats = formats
        self.max_in_flight = 0
        self._in_flight = 0
        self._records: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
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

    def _arrive(self, rec: Recorded, document: str, faults: bool = True) -> _Rule | None:
        """Record a request and pick its fault (when `faults`), atomically."""
        with self._lock:
            self._records.append(rec)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if not faults:
                return None
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


def _quote(document: str, salt: str, words: list[str] | None = None) -> str:
    words = document.split() if words is None else words
    if not words:
        return "The record is empty."
    start = _hash(document, salt, "quote") % len(words)
    return f'The record says "{" ".join(words[start : start + 6])}".'


def refusal(formats: str, body: Any) -> tuple[int, str] | None:
    """(status, message) when an endpoint of this kind refuses the request's response_format."""
    rf = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(rf, dict):
        return None
    if formats == "no_response_format":
        return 400, "Unrecognized request argument supplied: response_format"
    if formats == "llama_cpp" and rf.get("type") == "json_schema":
        return 500, ("1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be "
                     "'text' or 'json_object' [type=literal_error, input_value='json_schema', input_type=str]")
    if formats == "no_json_schema" and rf.get("type") == "json_schema":
        return 400, "response_format of type 'json_schema' is not supported by this model"
    if formats == "no_json_schema" and "schema" in rf:
        return 422, "response_format.schema: Extra inputs are not permitted"
    return None


def schema_fits(body: Any, anchors: list[str] | None) -> bool:
    """The request carries structured outputs with the schema of the reply its prompt asks for."""
    rf = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(rf, dict) or rf.get("type") != "json_schema":
        return False
    props = ((rf.get("json_schema") or {}).get("schema") or {}).get("properties") or {}
    if anchors is None:
        return "judgments" in props
    enum = props.get("scores", {}).get("items", {}).get("properties", {}).get("anchor", {}).get("enum")
    return enum == anchors


def answer(messages: list[dict], fault: str | None = None, body: Any = None, formats: str = "any",
           parts: tuple[str, list[str] | None, tuple[int, int]] | None = None) -> str:
    """The reply content a well-behaved (or scripted-to-misbehave) model gives (`parts`: prompt_parts, if known)."""
    if fault == "malformed":
        return "Sure! judgments: correctness = 4, readability = 3 (sorry, no JSON today)"
    document, anchors, (lo, hi) = parts or prompt_parts(messages)
    words = document.split()
    if formats == "schema_only" and not schema_fits(body, anchors):  # JSON, but not the shape asked for
        if anchors is None:
            return json.dumps({"dimensions": {name: lo for name, _ in DIMENSIONS[:3]}})
        return json.dumps({"ratings": {a: lo for a in anchors}})
    span = hi - lo + 1
    if anchors is None:
        n = 3 + _hash(document, "n") % 3
        items = [{"name": name, "description": desc, "score": lo + _hash(document, name) % span,
                  "reason": _quote(document, name, words)} for name, desc in DIMENSIONS[:n]]
        if fault == "missing_anchor":
            items = []
        reply: dict = {"judgments": items}
    else:
        items = [{"anchor": a, "score": lo + _hash(document, a) % span, "rationale": _quote(document, a, words)}
                 for a in anchors]
        if fault == "missing_anchor":
            items = items[:-1]
        reply = {"scores": items}
    if fault == "out_of_range" and items:
        items[0]["score"] = hi + 4
    text = json.dumps(reply)
    return text[: len(text) // 2] if fault == "truncated" else text


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers; every reply has a Content-Length
        # A reply goes out in one write (`_send`); were it two, Nagle's algorithm would hold the second
        # until the client's delayed ACK of the first (~40 ms on Linux), which real servers do not add.
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
            parts = prompt_parts(rec.messages)
            refused = refusal(server.formats, body)
            rule = server._arrive(rec, parts[0], faults=refused is None)
            try:
                self._answer(rec, rule, refused, parts)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer
            finally:
                server._leave()

        def _answer(self, rec: Recorded, rule: _Rule | None, refused: tuple[int, str] | None, parts: tuple) -> None:
            fault, opts = (rule.fault, rule.opts) if rule else (None, {})
            if server._stop.wait(server.latency + (opts.get("delay", 1.0) if fault == "slow" else 0.0)):
                return  # the server is closing
            token = rec.headers.get("authorization", "").removeprefix("Bearer ")
            if fault == "401_html":  # the key straddles character 500, where an error message is cut
                page = "<html><body><h1>401 Unauthorized</h1><pre>" + "x" * 420 + f"Authorization: Bearer {token}"
                return self._send(401, (page + "</pre></body></html>").encode(), content_type="text/html")
            if fault == "503_html":
                return self._send(503, b'<html><head><script type="application/ld+json">{"@context": '
                                       b'"https://schema.org", "@type": "WebPage"}</script></head><body>503 Service '
                                       b"Unavailable: the upstream is restarting</body></html>", content_type="text/html")
            if fault == "401" or (server.api_key is not None and token != server.api_key):
                return self._send(401, _error(f"Incorrect API key provided: {token}.", "invalid_api_key"))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, _error(f"no route {self.path}", "not_found"))
            if refused is not None:
                return self._send(refused[0], _error(refused[1], "invalid_request_error"))
            if fault == "429":
                return self._send(429, _error("Rate limit reached.", "rate_limit_exceeded"),
                                  {"Retry-After": str(opts.get("retry_after", 0.05))})
            if fault == "500":
                ms = opts.get("retry_after_ms")
                return self._send(500, _error("The server had an error.", "server_error"),
                                  {"retry-after-ms": str(ms)} if ms is not None else {})
            if fault == "not_json":
                return self._send(200, b"<html><body>502 Bad Gateway</body></html>",
                                  content_type="application/json" if opts.get("json_type") else "text/html")
            content = answer(rec.messages, fault, rec.body, server.formats, parts)
            reply = _completion(server, rec, content, "length" if fault == "truncated" else "stop")
            if fault == "trickle":
                return self._trickle(json.dumps(reply).encode(), opts.get("gap", 0.05))
            self._send(200, reply)

        def _trickle(self, data: bytes, gap: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for i in range(0, len(data), 16):
                if server._stop.wait(gap):
                    return
                self.wfile.write(data[i:i + 16])
                self.wfile.flush()

        def _send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            # end_headers() would send the head, then the body a second time: one send per reply instead (on
            # loopback, each send costs both processes a wake-up), through http.server's own header buffer
            self._headers_buffer.append(b"\r\n" + data)
            self.flush_headers()

    return Handler


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": code}}


def _completion(server: FakeOpenAI, rec: Recorded, content: str, finish_reason: str = "stop") -> dict:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in rec.messages)
    completion_tokens = len(content.split())
    return {
        # the count from the log itself: `server.requests` would copy the whole log for every reply
        "id": f"chatcmpl-fake-{len(server._records)}", "object": "chat.completion", "created": int(time.time()),
        "model": rec.body.get("model", server.model) if isinstance(rec.body, dict) else server.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason,
                     "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
