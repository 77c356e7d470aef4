"""A lean HTTP/1.1 JSON client for the openai teacher: keep-alive connections over asyncio streams, and the
OpenAI SDK's retry policy.

Why not the SDK's client: at 64 requests in flight its per-request CPU (request options, httpx and httpcore,
response models) held one client process to a fraction of what an endpoint at 50 ms per reply can serve
(bench/teacher.py, BENCHMARKS.md section 2). This client does one write and a few reads per request on a connection kept
alive for the next one, so its cost is the JSON and little more. It covers what the teacher needs and
nothing else: POST of a JSON body, Content-Length and chunked replies, TLS (the system's trust store),
no proxies (`transport_for` keeps the SDK's client where a proxy applies).

Retries follow the SDK: 408, 409, 429 and 5xx, timeouts and connection errors, up to `max_retries` times,
after `retry-after-ms` / `Retry-After` when the server gives one (up to 2 minutes; a longer one is not
retried), else 0.5 s doubling to 8 s with up to 25 % jitter; an `x-should-retry` header decides when present
(after the Retry-After limit, as in the SDK). `no_retry(status, text)` vetoes a retry before all of these (a
5xx refusing the response format). `timeout` bounds each attempt.
A success status whose body is not JSON raises `NotJSONReply` at once (not retried here, like the SDK); the
teacher counts it transient, so the next run asks again.

The policy is `retrying`, apart from the client: `JSONClient.post` runs it over `JSONClient.attempt`, and the
openai teacher runs it over its own attempts, because each attempt must take and settle its own spend hold
(an attempt that timed out may still have been answered, and billed).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mira_core.redact import redact_credentials

INITIAL_RETRY_DELAY, MAX_RETRY_DELAY = 0.5, 8.0
MAX_RETRY_AFTER = 120.0  # the longest Retry-After honoured (seconds); a request can wait this long per retry
RETRY_STATUSES = (408, 409, 429)
T = TypeVar("T")
NoRetry = Callable[[int, str], bool]


class EndpointError(Exception):
    """Any failure of a request to the endpoint; `retries`: those `retrying` made before giving up on it."""

    retries: int | None = None


class EndpointStatusError(EndpointError):
    """A reply with an error status; `message` is the server's own when its body says one."""

    def __init__(self, status: int, text: str, headers: dict[str, str], secret: str | None = None) -> None:
        text = masked(text, secret)  # before the message is cut from it: a cut could leave a prefix of the key
        self.status, self.text, self.headers = status, text, headers
        self.message = _error_message(text)
        super().__init__(f"Error code: {status} - {self.message}")


class EndpointConnectionError(EndpointError):
    """The endpoint could not be reached, or dropped the connection."""


class EndpointTimeout(EndpointConnectionError):
    """No complete reply within the timeout."""


class BadReply(EndpointError):
    """A success status whose reply is not the JSON that was asked for (not a chat completion)."""


class NotJSONReply(BadReply):
    """A success status whose body is not JSON at all: cut off, or a proxy's page; asking again may help."""


def masked(text: str, secret: str | None) -> str:
    """`text` with `secret` (an API key) replaced by ***: servers echo keys ('Incorrect API key provided: sk-...').

    Mask before cutting a message short, or a cut could leave a prefix of the key unmasked.
    """
    if not secret:
        return text
    # and as a JSON string or a repr writes it: a key with a backslash or a quote (printable ASCII, so allowed)
    # came back escaped in a quoted body, and the plain form did not match it
    for form in sorted({secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _error_message(text: str) -> str:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return text[:500]


def proxied(base_url: str) -> bool:
    """Whether the environment routes this URL through a proxy (HTTP(S)_PROXY, ALL_PROXY, minus NO_PROXY)."""
    u = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(u.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(u.hostname or "")


class JSONClient:
    """POST JSON to one endpoint and get JSON back, with keep-alive connections and retries; one per event loop."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, max_retries: int,
                 no_retry: NoRetry | None = None, secret: str | None = None) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            # the URL may carry credentials (user:password@), and this message reaches the stage's log
            raise ValueError(f"not an http(s) URL: {redact_credentials(repr(base_url))}")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.timeout, self.max_retries = timeout, max_retries
        self.no_retry = no_retry or (lambda status, text: False)
        self.secret = secret  # the API key: masked in every body an error quotes, before it is cut
        self._ssl = ssl.create_default_context() if u.scheme == "https" else None
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal is bracketed (RFC 9110 7.2)
        host = host if u.port is None else f"{host}:{u.port}"
        fixed = {"Host": host, "Content-Type": "application/json", "Accept": "application/json",
                 "Accept-Encoding": "identity", "User-Agent": "mira-teacher", **headers}
        for name, value in fixed.items():
            # a line break would end the headers early (the request arrives garbled, the rest of it read as another);
            # the value is a key more often than not, so only the header's name is said
            if "\r" in value or "\n" in value:
                raise ValueError(f"the {name} header holds a line break (a key read with its line end?)")
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: dict) -> Any:
        """The JSON reply to a POST of `body`; raises an EndpointError once retries are spent."""
        payload = json.dumps(body).encode()
        return await retrying(lambda n: self._attempt(path, payload, n), self.max_retries, self.no_retry)

    async def attempt(self, path: str, body: dict, n: int) -> Any:
        """One attempt (the `n`th, counting from 0), bounded by the timeout: the JSON reply, or an EndpointError.

        An error status raises EndpointStatusError whether or not it is worth retrying: the caller's `retrying`
        decides.
        """
        return await self._attempt(path, json.dumps(body).encode(), n)

    async def _attempt(self, path: str, payload: bytes, n: int) -> Any:
        try:
            status, headers, data = await asyncio.wait_for(self._exchange(path, payload, n), self.timeout)
        except TimeoutError:
            raise EndpointTimeout("Request timed out.") from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            raise EndpointConnectionError(f"Connection error: {type(e).__name__}: {e}") from None
        if 200 <= status < 300:
            try:
                return json.loads(data)
            except ValueError:
                shown = masked(data.decode("utf-8", "replace"), self.secret)[:200]
                raise NotJSONReply(f"the endpoint answered {status} with a body that is not JSON: "
                                   f"{shown!r}") from None
        raise EndpointStatusError(status, data.decode("utf-8", "replace"), headers, self.secret)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # ------------------------------------------------------------ one exchange on one connection

    async def _exchange(self, path: str, payload: bytes, attempt: int) -> tuple[int, dict[str, str], bytes]:
        request = (f"POST {self.prefix}{path} HTTP/1.1\r\n{self._head}X-Retry-Count: {attempt}\r\n"
                   f"Content-Length: {len(payload)}\r\n\r\n").encode("latin-1") + payload
        while True:
            reused = bool(self._idle)
            reader, writer = self._idle.pop() if reused else await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl)
            answered = False
            try:
                writer.write(request)
                line = await reader.readline()
                if not line:
                    raise ConnectionResetError("the server closed the connection")
                answered = True
                status, headers, data, keep = await _read_reply(line, reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                if reused and not answered:
                    continue  # a kept-alive connection the server had closed meanwhile: once more on a new one
                # a reply cut off after it began: the server took the request (and may bill it), so sending it
                # again here would be a provider request no spend hold, max_requests or retry count saw
                raise
            except BaseException:
                writer.close()  # cancelled (the timeout) or broken mid-reply: the connection is in an unknown state
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, headers, data


# ------------------------------------------------------------ the retry policy

async def retrying(attempt: Callable[[int], Awaitable[T]], max_retries: int, no_retry: NoRetry | None = None) -> T:
    """`attempt(n)` for n = 0, 1, ... until it returns, or raises an error `retryable` refuses, or retries are spent.

    Only EndpointErrors are retried; anything else `attempt` raises (a spending cap, say) ends it at once.
    """
    for n in range(max_retries + 1):
        try:
            return await attempt(n)
        except EndpointError as e:
            if n == max_retries or not retryable(e, no_retry):
                e.retries = n  # made, not allowed: a Retry-After too long to wait ends it before max_retries
                raise
            await asyncio.sleep(retry_delay(e, n))
    raise AssertionError("unreachable")


def retryable(e: EndpointError, no_retry: NoRetry | None = None) -> bool:
    """Whether a failed attempt is worth another: a timeout or connection error, or a status the SDK retries.

    In the SDK's order (`_should_retry`), after the caller's veto: a Retry-After past MAX_RETRY_AFTER is not
    waited for, even when `x-should-retry` says true; then `x-should-retry` decides; then the status.
    """
    if not isinstance(e, EndpointStatusError):
        return isinstance(e, EndpointConnectionError)  # a reply that is not JSON, or not a completion: not retried
    if no_retry is not None and no_retry(e.status, e.text):
        return False
    after = _retry_after(e.headers)
    if after is not None and after > MAX_RETRY_AFTER:
        return False
    should = e.headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return e.status in RETRY_STATUSES or e.status >= 500


def retry_delay(e: EndpointError, attempt: int) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After, else backoff with jitter."""
    after = _retry_after(e.headers) if isinstance(e, EndpointStatusError) else None
    if after is not None and 0 < after <= MAX_RETRY_AFTER:
        return after
    return min(INITIAL_RETRY_DELAY * 2.0 ** attempt, MAX_RETRY_DELAY) * (1 - 0.25 * random.random())


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds the server asks to wait: retry-after-ms, or Retry-After in seconds or as an HTTP date."""
    with contextlib.suppress(ValueError):
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    return None


async def _read_reply(status_line: bytes, reader: asyncio.StreamReader
                      ) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers with lower-case names, body, whether the connection can be reused)."""
    version, status, *_ = status_line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        data = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        data = await _read_chunked(reader)
    else:
        data, keep = await reader.read(), False  # the body runs to the end of the connection
    return int(status), headers, data, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        line = await reader.readline()
        if not line:  # the connection ended inside the body: a cut-off reply, never its last chunk
            raise asyncio.IncompleteReadError(b"".join(parts), None)
        if not (size := int(line.split(b";")[0].strip(), 16)):
            break
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF after each chunk
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    return b"".join(parts)
