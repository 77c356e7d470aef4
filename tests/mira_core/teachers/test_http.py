"""The lean HTTP client of the openai teacher (mira_core/teachers/http.py) against a server that answers
with scripted raw bytes: reply framings, kept-alive connections the server dropped, and the retry policy."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from mira_core.teachers.http import (
    BadReply,
    EndpointConnectionError,
    EndpointStatusError,
    EndpointTimeout,
    JSONClient,
    NotJSONReply,
    masked,
    proxied,
    retryable,
)

OK = b'{"ok": true}'


def reply(status: int = 200, body: bytes = OK, headers: dict | None = None, close: bool = False) -> bytes:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    if close:
        head["Connection"] = "close"
    return (f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + body


class Cut(bytes):
    """A scripted answer after which the server closes the connection, whatever its framing says."""


class Scripted:
    """A TCP server that answers the n-th request with script[n] (bytes, a `Cut`, or None to drop the connection);
    it counts connections and keeps what each request carried."""

    def __init__(self, script: list) -> None:
        self.script, self.requests, self.connections = list(script), [], 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        with conn:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                length = int(next(x.split(b":")[1] for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")))
                self.requests.append((head.decode(), f.read(length)))
                answer = self.script.pop(0) if self.script else reply()
                if answer is None:
                    return  # drop the connection without a reply
                conn.sendall(answer)
                framed = b"Content-Length" in answer or b"chunked" in answer
                if isinstance(answer, Cut) or b"Connection: close" in answer or not framed:
                    return  # the reply ends with the connection

    def close(self) -> None:
        self.sock.close()


def post(server: Scripted, retries: int = 2, timeout: float = 2.0, **kw):
    async def go():
        client = JSONClient(server.url, {"Authorization": "Bearer k"}, timeout, retries, **kw)
        try:
            return await client.post("/chat/completions", {"q": 1}), client
        finally:
            await client.close()

    return asyncio.run(go())[0]


def test_one_connection_carries_many_requests_and_the_body_goes_as_json():
    server = Scripted([])

    async def go():
        client = JSONClient(server.url, {"Authorization": "Bearer k"}, 2.0, 0)
        out = [await client.post("/chat/completions", {"i": i}) for i in range(5)]
        await client.close()
        return out

    assert asyncio.run(go()) == [{"ok": True}] * 5
    assert server.connections == 1
    head, body = server.requests[0]
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n") and "Authorization: Bearer k" in head
    assert json.loads(body) == {"i": 0}


def test_chunked_and_close_delimited_replies():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"ok\"\r\n7;ext=1\r\n: true}\r\n0\r\n\r\n")
    to_eof = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + OK
    server = Scripted([chunked, to_eof, reply()])

    async def go():
        client = JSONClient(server.url, {}, 2.0, 0)
        out = [await client.post("/x", {}) for _ in range(3)]
        await client.close()
        return out

    assert asyncio.run(go()) == [{"ok": True}] * 3
    assert server.connections == 2  # the reply read to the end of its connection ends that connection


def test_a_chunked_body_cut_off_by_the_connection_is_an_error_not_a_short_reply():
    cut = Cut(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n")  # no last chunk: EOF
    server = Scripted([cut])
    with pytest.raises(EndpointConnectionError, match="IncompleteRead"):
        post(server, retries=0)
    server = Scripted([cut, reply()])
    assert post(server, retries=1) == {"ok": True}  # retried, on a new connection (the cut one is not reused)
    assert len(server.requests) == 2 and server.connections == 2


def test_a_kept_alive_connection_the_server_dropped_is_replaced_without_a_retry():
    server = Scripted([reply(close=False), None])

    async def go():
        client = JSONClient(server.url, {}, 2.0, 0)  # no retries: the second request must still succeed
        first = await client.post("/x", {})
        second = await client.post("/x", {})
        await client.close()
        return first, second

    assert asyncio.run(go()) == ({"ok": True}, {"ok": True})
    assert server.connections == 2


def test_retry_policy():
    server = Scripted([reply(429, b'{"error": {"message": "slow down"}}', {"retry-after-ms": "30"}),
                       reply(503, b"busy"), reply()])
    t0 = time.monotonic()
    assert post(server, retries=2) == {"ok": True}
    assert time.monotonic() - t0 >= 0.03 and len(server.requests) == 3
    assert [h.split("X-Retry-Count: ")[1].split("\r\n")[0] for h, _ in server.requests] == ["0", "1", "2"]

    server = Scripted([reply(500, b'{"error": {"message": "response_format json_schema unsupported"}}')])
    with pytest.raises(EndpointStatusError) as e:
        post(server, retries=3, no_retry=lambda status, text: "response_format" in text)
    assert e.value.status == 500 and e.value.message == "response_format json_schema unsupported"
    assert len(server.requests) == 1  # vetoed: not retried

    for headers in ({"x-should-retry": "false"}, {"Retry-After": "600"}):  # told not to, or asked to wait too long
        server = Scripted([reply(503, b"{}", headers)])
        with pytest.raises(EndpointStatusError):
            post(server, retries=3)
        assert len(server.requests) == 1

    server = Scripted([reply(400, b'{"error": {"message": "bad"}}')])
    with pytest.raises(EndpointStatusError, match="Error code: 400 - bad"):
        post(server, retries=3)
    assert len(server.requests) == 1  # a 400 is not retried


def test_retry_decisions_follow_the_sdks_order():
    """The caller's veto first, then a Retry-After too long to wait (even when x-should-retry says true), then
    x-should-retry, then the status: as the SDK's `_should_retry`, which the default client used to run."""
    def err(status: int, headers: dict, text: str = "{}") -> EndpointStatusError:
        return EndpointStatusError(status, text, headers)

    format_refused = '{"error": {"message": "response_format json_schema unsupported"}}'
    veto = lambda status, text: "response_format" in text  # noqa: E731
    assert not retryable(err(500, {"x-should-retry": "true"}, format_refused), veto)
    assert not retryable(err(429, {"retry-after": "300", "x-should-retry": "true"}))
    assert retryable(err(400, {"x-should-retry": "true"}))
    assert not retryable(err(503, {"x-should-retry": "false"}))
    assert retryable(err(429, {"retry-after": "2"})) and retryable(err(502, {})) and not retryable(err(404, {}))
    assert retryable(EndpointTimeout("t")) and not retryable(NotJSONReply("x")) and not retryable(BadReply("x"))


def test_timeouts_refusals_and_bad_bodies():
    done = threading.Event()

    class Silent(Scripted):
        def _conn(self, conn):  # reads nothing, answers nothing, and holds the connection until the test ends
            done.wait(30)  # (not a fixed sleep: on a loaded machine the client's timer could fire after it)
            conn.close()

    silent = Silent([])
    with pytest.raises(EndpointTimeout):
        post(silent, retries=0, timeout=0.2)
    done.set()
    silent.close()
    # A port that is bound but never listens refuses connections, and no other process can take it meanwhile.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gone = SimpleNamespace(url=f"http://127.0.0.1:{unused.getsockname()[1]}/v1")
        with pytest.raises(EndpointConnectionError):
            post(gone, retries=0)  # nothing listens: connection refused
    bad = Scripted([reply(200, b"<html>not json</html>")])
    with pytest.raises(NotJSONReply) as e:
        post(bad, retries=2)
    assert isinstance(e.value, BadReply) and len(bad.requests) == 1  # the teacher asks again on the next run


def test_masked_hides_the_key_and_nothing_else():
    assert masked("Incorrect API key provided: sk-abc123.", "sk-abc123") == "Incorrect API key provided: ***."
    assert masked("no key here", None) == "no key here" and masked("x", "") == "x"


def test_a_proxy_in_the_environment_is_noticed(monkeypatch):
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
              "NO_PROXY"):
        monkeypatch.delenv(k, raising=False)
    assert not proxied("http://10.1.2.3:8000/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert proxied("https://api.example.com/v1") and not proxied("http://10.1.2.3:8000/v1")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    assert not proxied("https://api.example.com/v1")
