"""The `openai` teacher: any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, Ollama, LiteLLM).

`OpenAIBackend.run` sends one chat completion per request, at most `concurrency` at once, and turns each
reply into an `Outcome`. Key decisions:

- Requests go through the openai package's client (`_SDKTransport`), or with `teacher.client: lean`
  through `http.JSONClient`, a keep-alive HTTP/1.1 client with the SDK's retry policy (429, 408/409,
  5xx, timeouts, connection errors, honouring `Retry-After` and `retry-after-ms`) at about an eighth of
  the SDK's CPU per request: what one process needs to keep 64 requests in flight against a local
  server answering in 50 ms (bench/teacher.py, BENCHMARKS.md section 2). The SDK stays the default because it is the
  well-kept path for hosted APIs, whose latency (seconds) leaves its CPU cost far from the limit; it is
  also used where a proxy applies (the lean client has none). Both sit behind one interface and raise
  the same errors, and the tests run every teacher test through both. Neither client retries on its own:
  `_post` runs the retry policy (`http.retrying`) over single attempts, so that each attempt takes and
  settles its own spend hold, counts as a provider request against `max_requests`, and is bounded as a
  whole by `timeout_s` (the SDK's timeout bounds each phase, so a server trickling bytes could hold an
  attempt open for as long as it liked). What still fails after the retries is a *transient* failure (the
  cached `Teacher` asks it again on the next run), and so is a 200 whose body is not JSON (a cut-off reply, a proxy's page). A
  401, 403 or 404 says the key, the base_url or the model is wrong, for every request alike: it is never
  a record's failure (never cached), the batch stops sending, and `run` raises a ConfigError naming the
  status, the endpoint and the key's environment variable, so the stage fails at once and a re-run after
  the fix asks again. Any other 4xx (a bad request) is *permanent*, since asking again cannot help.
- A reply that is not the JSON the prompt asked for (not JSON, wrong schema, scores off the scale, anchors
  missing) is repaired in the same conversation: the bad reply and the validation error go back to the
  model, up to `max_repairs` times; still bad is a permanent failure with the last error.
- Each `run` owns its event loop (`asyncio.run`) and its client (connections), closed at the end, because
  it is called from worker threads (Dask, Prefect) that share no loop. Each outcome is handed to
  `on_outcome` as soon as it is settled, so the cached `Teacher` stores it before the batch ends.
- The reply's shape is asked for with `response_format` (`teacher.response_format`): structured outputs
  (`json_schema`, the schema from `base.reply_schema`), else llama.cpp's `json_object` with a `schema`,
  else plain `json_object`, else the prompt alone. With `auto` the first request probes them in that
  order, one at a time; a refusal (HTTP 400/422, or a 5xx naming the format) steps down, other failures
  are retried as usual. The client does not retry a 5xx that names the format: llama-cpp-python
  refuses `json_schema` with a 500, and retrying a refusal only wastes requests and backoff. What an
  endpoint accepts is learned once per process and endpoint (`_LEARNED`, behind a lock) and logged, and
  each outcome says which format it was asked with.
- With a spending cap, each provider request (each attempt, retries included) first takes a hold in the
  run's `SpendLedger` (spend.py); an attempt that timed out or lost its connection is settled at its worst
  case, since the server may have answered and billed it, and so is an answer whose usage does not count its
  tokens (absent, nulls). A request refused by a cap is an outcome with
  error_kind "capped", never sent and never cached.
- The API key is handed in by the caller and only ever goes to the client (the `Authorization` header);
  it is masked out of every error message, so it reaches neither the cache nor the logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import Coroutine
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mira_core.config import TeacherParams
from mira_core.errors import INTERRUPTED, ConfigError
from mira_core.redact import redact_credentials, usable_key
from mira_core.teachers import prompts
from mira_core.teachers.base import (
    ErrorKind,
    OnOutcome,
    Outcome,
    ReplyError,
    Request,
    extract_json,
    reply_schema,
    validate_reply,
)
from mira_core.teachers.http import (
    BadReply,
    EndpointConnectionError,
    EndpointError,
    EndpointStatusError,
    EndpointTimeout,
    JSONClient,
    NotJSONReply,
    _error_message,
    masked,
    proxied,
    retrying,
)
from mira_core.teachers.spend import WAIT, CapReached, SpendLedger

log = logging.getLogger(__name__)
T = TypeVar("T")

MODES = ("json_schema", "json_object_schema", "json_object", "none")  # the order `auto` tries them in
# a 5xx whose message names these refuses the format ("schema" alone matched a gateway page's schema.org markup)
FORMAT_WORDS = ("response_format", "json_schema", "json_object")
_LEARNED: dict[tuple[str | None, str], str] = {}  # (base_url, model) -> the format that endpoint accepted
_LEARNED_LOCK = threading.Lock()
DEFAULT_BASE_URL = "https://api.openai.com/v1"
HOLD_POLL_S = 0.05  # how often a request waiting on others' spend holds looks again
SETUP_STATUSES = (401, 403, 404)  # the key, the base_url or the model is wrong: no request can get past it

REPAIR = ("Your reply could not be used: {error}. Reply again with the JSON object only, exactly in the shape "
          "the instructions give, and nothing else.")


class _NotSent(Exception):
    """A request not sent because the endpoint already refused this backend's key, base_url or model."""


class OpenAIBackend:
    """A teacher behind an OpenAI-compatible endpoint; see the module docstring."""

    provider = "openai"

    def __init__(self, params: TeacherParams, api_key: str | None, budget: SpendLedger | None = None) -> None:
        self.params = params
        self.model = params.model
        self.scale = (params.scale_min, params.scale_max)
        self.budget = budget  # the run's spending caps; None: uncapped
        # Local servers (vLLM, Ollama) need no key, but the client refuses to start without one.
        self._api_key = usable_key(api_key, params.api_key_env, "teacher.api_key_env") or "EMPTY"
        self._endpoint = (params.base_url, params.model)
        self.base_url = base_url(params)
        # The first 401/403/404's message: the key, base_url and model are fixed for this backend's life, so
        # every later request would be refused alike; none is sent, and `run` raises it.
        self._setup_error: str | None = None

    def __repr__(self) -> str:  # where it points, never the key
        return f"OpenAIBackend(model={self.model!r}, base_url={redact_credentials(repr(self.params.base_url))})"

    @property
    def response_format(self) -> str | None:
        """The format requests are sent with: the configured one, else what `auto` learned (None: not yet)."""
        mode, confirmed = self._mode()
        return mode if confirmed else None

    def run(self, requests: list[Request], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        """One Outcome per request, in order; never raises for a single bad request.

        Raises ConfigError when the endpoint refuses the key, the base_url or the model (HTTP 401, 403, 404):
        the answers reported before it are kept (`on_outcome`), the requests it refused are not.
        """
        if not requests:
            return []
        out = _run_sync(self._run_all(requests, on_outcome)) if self._setup_error is None else []
        if self._setup_error is not None:
            raise ConfigError(self._setup_error)
        return out

    # ------------------------------------------------------------ one batch

    async def _run_all(self, requests: list[Request], on_outcome: OnOutcome | None) -> list[Outcome]:
        p = self.params
        client = self._client()
        gate = asyncio.Semaphore(p.concurrency)
        probe = asyncio.Lock()  # while `auto` has not learned a format, one request at a time probes
        try:
            return list(await asyncio.gather(*(self._gated(client, gate, probe, i, r, on_outcome)
                                               for i, r in enumerate(requests))))
        finally:
            await client.close()

    def _client(self) -> JSONClient | _SDKTransport:
        p = self.params
        url = base_url(p)  # where the SDK would go
        if use_sdk(p, url):
            return _SDKTransport(p, self._api_key)
        # no retries of its own: `_post` retries, one spend hold per attempt
        return JSONClient(url, {"Authorization": f"Bearer {self._api_key}"}, p.timeout_s, 0,
                          secret=self._api_key if self._api_key != "EMPTY" else None)

    async def _gated(self, client: Client, gate: asyncio.Semaphore, probe: asyncio.Lock, i: int,
                     req: Request, on_outcome: OnOutcome | None) -> Outcome:
        async with gate:
            try:
                if INTERRUPTED.is_set():  # Ctrl-C: what is not sent yet is never sent (nor cached)
                    o = Outcome.failure(req.doc.record_id, "not sent: the run was interrupted", "capped")
                else:
                    o = await self._ask(client, probe, req)
            except _NotSent:  # the endpoint refused the key or the model: `run` raises; nothing to keep
                return Outcome.failure(req.doc.record_id, "not sent: the endpoint refused the teacher's setup",
                                       "transient")
            except Exception as e:  # noqa: BLE001 - a bug must not sink the batch; not cached as final either
                log.exception("openai teacher: unexpected error on record %s", req.doc.record_id)
                o = Outcome.failure(req.doc.record_id, self._mask(f"{type(e).__name__}: {e}"), "transient")
        if on_outcome is not None:
            on_outcome(i, o)  # the cached Teacher stores it now, not when the batch ends
        return o

    async def _ask(self, client: Client, probe: asyncio.Lock, req: Request) -> Outcome:
        """One request: a completion, then up to max_repairs re-asks while the reply does not validate."""
        p = self.params
        msgs = prompts.messages(req, self.scale, p.max_doc_chars, p.max_judgments)
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "retries": 0, "uncounted_usd": 0.0}
        error, mode = "", None
        for _ in range(p.max_repairs + 1):
            try:
                resp, mode = await self._send(client, probe, req, msgs, usage)
            except CapReached as e:
                return Outcome.failure(req.doc.record_id, str(e), "capped", **usage)
            except EndpointError as e:
                kind, message = self._classify(e)
                log.warning("openai teacher: record %s failed (%s): %s", req.doc.record_id, kind, message)
                if isinstance(e, EndpointStatusError) and e.status in SETUP_STATUSES and self._setup_error is None:
                    self._setup_error = self._setup_message(e)
                return Outcome.failure(req.doc.record_id, message, kind, **usage)
            if withheld := _withheld(resp):  # asked again, the same filter or refusal answers: not repaired, not paid
                o = Outcome.failure(req.doc.record_id, self._mask(withheld)[:300], "permanent", **usage)
                o.response_format = mode
                return o
            content, cut = _content(resp)
            try:
                data = validate_reply(extract_json(content), req, self.scale, p.max_judgments)
            except ReplyError as e:
                error = str(e) + (" (the reply was cut off at max_tokens)" if cut else "")
                log.info("openai teacher: record %s, unusable reply: %s", req.doc.record_id, error)
                msgs = [*msgs, {"role": "assistant", "content": content},
                        {"role": "user", "content": REPAIR.format(error=error)}]
                continue
            return Outcome(req.doc.record_id, True, data, **usage, response_format=mode)
        o = Outcome.failure(req.doc.record_id, f"invalid reply after {usage['calls']} call(s): {error}",
                            "permanent", **usage)
        o.response_format = mode
        return o

    # ------------------------------------------------------------ response formats

    def _mode(self) -> tuple[str, bool]:
        """(the format to send, whether it is settled): configured, learned, or the first to probe."""
        if self.params.response_format != "auto":
            return self.params.response_format, True
        with _LEARNED_LOCK:
            learned = _LEARNED.get(self._endpoint)
        return (learned, True) if learned else (MODES[0], False)

    def _learn(self, mode: str) -> None:
        with _LEARNED_LOCK:
            if _LEARNED.get(self._endpoint) == mode:
                return
            _LEARNED[self._endpoint] = mode
        log.info("openai teacher: %s accepts response_format %s; using it for this run",
                 redact_credentials(str(self.params.base_url)), mode)

    async def _send(self, client: Client, probe: asyncio.Lock, req: Request, msgs: list[dict],
                    usage: dict) -> tuple[Any, str]:
        """One completion in the settled format, or, while `auto` has not settled one, probe for it."""
        while True:
            mode, settled = self._mode()
            if settled:
                return await self._post(client, req, msgs, mode, usage), mode
            async with probe:  # the other requests wait for the first one's verdict
                if not self._mode()[1]:
                    return await self._probe(client, req, msgs, usage)

    async def _probe(self, client: Client, req: Request, msgs: list[dict], usage: dict
                     ) -> tuple[Any, str]:
        """Try the formats in order with this request; the first the endpoint answers is learned.

        Any other failure (a 429 after retries, a timeout) is this request's failure: nothing is learned,
        and the next request probes again.
        """
        for mode in MODES[:-1]:
            try:
                resp = await self._post(client, req, msgs, mode, usage)
            except EndpointStatusError as e:
                if not _refuses(e):
                    raise
                log.warning("openai teacher: %s refuses response_format %s (HTTP %s: %s); trying %s",
                            redact_credentials(str(self.params.base_url)), mode, e.status, self._mask(e.message)[:200],
                            MODES[MODES.index(mode) + 1])
                continue
            self._learn(mode)
            return resp, mode
        resp = await self._post(client, req, msgs, "none", usage)
        self._learn("none")
        return resp, "none"

    def _body(self, req: Request, msgs: list[dict], mode: str) -> dict:
        p = self.params
        body = {"model": self.model, "messages": msgs, "temperature": p.temperature, "max_tokens": p.max_tokens}
        if mode == "none":
            return body
        if mode == "json_object":
            return {**body, "response_format": {"type": "json_object"}}
        name, schema = _schema(req.kind, tuple(a.id for a in req.anchors), self.scale, p.max_judgments)
        if mode == "json_object_schema":
            return {**body, "response_format": {"type": "json_object", "schema": schema}}
        return {**body, "response_format": {"type": "json_schema",
                                            "json_schema": {"name": name, "schema": schema, "strict": True}}}

    # ------------------------------------------------------------ one provider request

    async def _post(self, client: Client, req: Request, msgs: list[dict], mode: str, usage: dict
                    ) -> Any:
        """One chat completion, retried by the clients' policy, within the spending caps; adds its usage.

        Raises CapReached or EndpointError (once the retries are spent).
        """
        body = self._body(req, msgs, mode)
        return await retrying(lambda n: self._attempt(client, body, msgs, n, usage), self.params.max_retries,
                              _names_format)

    async def _attempt(self, client: Client, body: dict, msgs: list[dict], n: int, usage: dict) -> Any:
        """One provider request (the `n`th attempt), under its own spend hold."""
        if self._setup_error is not None:  # checked at each send: requests waiting on the probe lock, repairs, retries
            raise _NotSent
        if INTERRUPTED.is_set():  # Ctrl-C during a retry's wait or before a repair: nothing more is sent
            raise CapReached("not sent: the run was interrupted")
        hold, worst = await self._hold(msgs)
        # counted before sending: a failed attempt was still sent (and may be billed)
        usage["retries" if n else "calls"] += 1
        try:
            resp = _completion(await client.attempt("/chat/completions", body, n),
                               self._api_key if self._api_key != "EMPTY" else None)
        except EndpointStatusError:
            self._settle_now(hold, 0.0)  # an HTTP error reply is not billed
            raise
        except BaseException:
            # timed out, cut off, cancelled (Ctrl-C, a stopped worker) or not a completion: the request was sent
            # and may have been answered, and billed
            self._settle_now(hold, worst)
            usage["uncounted_usd"] += worst  # reported as the ledger charged it
            raise
        tokens = _tokens(resp)  # some servers omit usage, or send it unfilled; tokens then stay unknown (0)
        pt, ct = tokens or (0, 0)
        usage["prompt_tokens"] += pt
        usage["completion_tokens"] += ct
        if hold is not None:
            # tokens unknown: the worst case stands, so a cap still holds against a server that omits usage
            cost = self.budget.cost(pt, ct) if tokens else worst  # type: ignore[union-attr]
            await asyncio.to_thread(self.budget.settle, hold, cost)  # type: ignore[union-attr]
            if not tokens:
                usage["uncounted_usd"] += worst  # reported as the ledger charged it
        return resp

    def _settle_now(self, hold: int | None, cost: float) -> None:
        """Settle from the loop's thread: on the error path, where awaiting may be cancelled."""
        if hold is not None:
            self.budget.settle(hold, cost)  # type: ignore[union-attr]

    async def _hold(self, msgs: list[dict]) -> tuple[int | None, float]:
        """A spend hold for one request (None when uncapped); waits while others' holds block it."""
        if self.budget is None:
            return None, 0.0
        worst = self.budget.worst_case(msgs)
        while (hold := await asyncio.to_thread(self.budget.try_hold, worst)) == WAIT:
            await asyncio.sleep(HOLD_POLL_S)
        return int(hold), worst

    def _classify(self, e: EndpointError) -> tuple[ErrorKind, str]:
        """Transient: still rate-limited, server errors or unreachable after the retries. Else permanent."""
        n = self.params.max_retries if e.retries is None else e.retries  # made (`retrying` says), not allowed
        retried = f" after {n} {'retry' if n == 1 else 'retries'}" if n else ""
        if isinstance(e, EndpointConnectionError):  # includes EndpointTimeout
            return "transient", self._mask(f"{type(e).__name__}{retried}: {e}")
        if isinstance(e, EndpointStatusError) and _names_format(e.status, e.text) and self._mode()[0] != "none":
            return "permanent", self._mask(
                f"{type(e).__name__} (HTTP {e.status}): the endpoint refuses response_format "
                f"{self._mode()[0]} (set teacher.response_format to auto or a lower mode): {e}")
        if isinstance(e, EndpointStatusError):
            # a 401/403/404 is the setup's failure, not the record's: transient, so it is never kept as final
            transient = e.status in (408, 409, 429, *SETUP_STATUSES) or e.status >= 500
            # a setup status is not retried (the clients give up on it at once): no "after N retries" there
            shown = retried if transient and e.status not in SETUP_STATUSES else ""
            return ("transient" if transient else "permanent"), self._mask(
                f"{type(e).__name__} (HTTP {e.status}){shown}: {e}")
        if isinstance(e, NotJSONReply):  # a cut-off reply or a proxy's page: the next run asks again
            return "transient", self._mask(f"{type(e).__name__}: {e}")
        # BadReply: a 200 whose JSON is not a chat completion; asking again will not help
        return "permanent", self._mask(f"{type(e).__name__}: {e}")

    def _setup_message(self, e: EndpointStatusError) -> str:
        """What the stage fails with when the endpoint refuses the key, base_url or model; never the key itself."""
        p = self.params
        if e.status == 404:
            fix = f"check teacher.base_url and teacher.model ({p.model!r})"
        elif p.api_key_env:
            fix = (f"check the API key in the environment variable {p.api_key_env} (teacher.api_key_env), and that "
                   f"it may use model {p.model!r}")
        else:
            fix = "teacher.api_key_env is null, so no key was sent: set it to the variable that holds the key"
        where = redact_credentials(self.base_url)  # a URL may carry credentials: the message reaches logs
        return (f"the teacher endpoint {where} answered HTTP {e.status} ({self._mask(e.message)[:200]}): "
                f"{fix}. The refused requests are not kept as failures and answers already given are cached, so a "
                "re-run after the fix asks only the rest")

    def _mask(self, text: str) -> str:
        """The text with the API key masked: servers may echo it ('Incorrect API key provided: sk-...')."""
        return masked(text, self._api_key if self._api_key != "EMPTY" else None)


def base_url(p: TeacherParams) -> str:
    """The endpoint requests go to: teacher.base_url, else OPENAI_BASE_URL, else OpenAI's (as the SDK resolves it)."""
    return (p.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def use_sdk(p: TeacherParams, url: str) -> bool:
    """The openai package's client unless `teacher.client: lean` asks otherwise (and no proxy applies: lean has none)."""
    return p.client == "sdk" or proxied(url)


class _SDKTransport:
    """The OpenAI SDK's client behind JSONClient's `attempt` and its errors: the default (`teacher.client: sdk`),
    and for endpoints reached through a proxy.

    The SDK does not retry (`max_retries=0`): `_post` does, as for the lean client. Each attempt is bounded as a
    whole by the timeout (`wait_for`); the SDK's own timeout bounds each phase (connect, each read) only.
    """

    def __init__(self, p: TeacherParams, api_key: str) -> None:
        import openai

        self._openai = openai
        self._secret = api_key if api_key != "EMPTY" else None  # masked in every body an error quotes
        self._timeout = p.timeout_s
        url = base_url(p)  # resolved here: left to the SDK, OPENAI_BASE_URL's user:password@ was sent as below
        if "@" in urlsplit(url).netloc:  # user:password@ is not sent, as the lean client sends only the host:
            # httpx sent it as Basic auth in place of the Bearer key (every request a 401), and a server's 401 that
            # echoed it showed it, base64-encoded, in the stage's error, the warnings and the request cache
            url = urlunsplit(urlsplit(url)._replace(netloc=urlsplit(url).netloc.rpartition("@")[2]))
        self._client = openai.AsyncOpenAI(base_url=url, api_key=api_key, timeout=p.timeout_s, max_retries=0)

    async def attempt(self, path: str, body: dict, n: int) -> Any:
        """One attempt (the `n`th, counting from 0): the JSON reply, or an EndpointError (as JSONClient.attempt)."""
        openai = self._openai
        # the SDK would say 0 for every attempt: it does not know of the retries made around it
        options: Any = {"headers": {"x-stainless-retry-count": str(n)}}
        try:
            resp = await asyncio.wait_for(self._client.post(path, cast_to=dict, body=body, options=options),
                                          self._timeout)
        except TimeoutError:
            raise EndpointTimeout("Request timed out.") from None
        except ValueError as e:  # a JSON content type over a body that is not JSON
            raise NotJSONReply(f"the endpoint answered with a body that is not JSON: "
                               f"{masked(str(e), self._secret)[:300]}") from None
        except openai.APITimeoutError as e:
            raise EndpointTimeout(str(e)) from None
        except openai.APIConnectionError as e:
            raise EndpointConnectionError(str(e)) from None
        except openai.APIStatusError as e:
            raise EndpointStatusError(e.status_code, e.response.text, dict(e.response.headers), self._secret) from None
        except openai.APIError as e:
            raise BadReply(str(e)) from None
        if isinstance(resp, str | bytes):  # not a JSON content type: the SDK hands the text back; read it as lean does
            try:
                return json.loads(resp)
            except ValueError:
                shown = masked(resp if isinstance(resp, str) else resp.decode("utf-8", "replace"), self._secret)[:200]
                raise NotJSONReply(f"the endpoint answered with a body that is not JSON: {shown!r}") from None
        return resp

    async def close(self) -> None:
        await self._client.close()


Client = JSONClient | _SDKTransport


def _names_format(status: int, text: str) -> bool:
    """An error reply that names the response format: the endpoint refusing it, not a passing failure. Read in the
    server's own error message when the body holds one (a gateway's HTML 503 page with schema.org markup is not
    a refusal of the format)."""
    text = _error_message(text).lower()
    return (status in (400, 422) or status >= 500) and any(w in text for w in FORMAT_WORDS)


def _refuses(e: EndpointStatusError) -> bool:
    """The endpoint does not support the response_format sent: a 400/422, or a 5xx whose message names it."""
    return e.status in (400, 422) or _names_format(e.status, e.text)


@lru_cache(maxsize=256)
def _schema(kind: str, anchor_ids: tuple[str, ...], scale: tuple[int, int], max_judgments: int
            ) -> tuple[str, dict]:
    """The reply schema of a request, built once per shape (a rubric's anchors); shared, so never mutated."""
    return reply_schema(kind, anchor_ids, scale, max_judgments)  # type: ignore[arg-type]


def _completion(resp: Any, secret: str | None) -> dict:
    """The reply if it has the shape of a chat completion, else BadReply (a permanent failure).

    The reply quoted is masked before it is cut: an echo endpoint (a proxy's debug page) may hand the request's
    Authorization header back, and a cut through the key would leave its prefix unmasked."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    # a first choice whose message is no object ("message": "...") failed in `_content`, after this request was
    # paid for: an unexpected error, so the outcome lost the request's usage and was asked (and paid) again next run
    if not isinstance(choices, list) or (choices and not (
            isinstance(choices[0], dict) and isinstance(choices[0].get("message") or {}, dict))):
        raise BadReply(f"the endpoint's reply is not a chat completion: {masked(str(resp), secret)[:200]}")
    return resp


def _tokens(resp: dict) -> tuple[int, int] | None:
    """(prompt, completion) tokens a completion reports, or None when its usage does not count both (absent, a list,
    nulls, "n/a"): the request was answered, and billed by an unknown amount, so it is charged its worst case.

    Never raises: it runs while the request's spend hold is open, and an error here left the hold open and lost a
    paid answer; nor does a usage of nulls count as free (a billed request the cost cap did not see).
    """
    counts = resp.get("usage")
    if not isinstance(counts, dict):
        return None
    try:
        pt, ct = int(counts["prompt_tokens"]), int(counts["completion_tokens"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return (pt, ct) if pt >= 0 and ct >= 0 else None


def _withheld(resp: dict) -> str | None:
    """Why a completion holds no answer the model would give on a repair: the endpoint's content filter stopped it
    (finish_reason content_filter), or the model refused (OpenAI's `message.refusal`, with no content). Read as
    any bad reply, it was "not a JSON object (Expecting value)", and a repair was sent and paid for."""
    if not resp["choices"]:
        return None
    choice = resp["choices"][0]
    message = choice.get("message") or {}
    if choice.get("finish_reason") == "content_filter":
        return "the endpoint's content filter withheld the reply (finish_reason content_filter); not repaired"
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip() and not message.get("content"):
        return f"the model refused: {refusal.strip()}; not repaired"
    return None


def _content(resp: dict) -> tuple[str, bool]:
    """The reply text, and whether the model stopped at max_tokens."""
    if not resp["choices"]:
        return "", False
    choice = resp["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content") or ""
    if isinstance(content, list):
        # typed chunks (Mistral's reasoning models: a "thinking" chunk, then "text"): the answer is the text ones;
        # read as a whole, the list's repr was never JSON, and every such answer failed after its repairs
        content = "".join(str(c.get("text") or "") for c in content if isinstance(c, dict) and c.get("type") == "text")
    return str(content), choice.get("finish_reason") == "length"


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, also where this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # asyncio.run refuses to nest (Jupyter, an async Prefect task): use a fresh thread with its own loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
