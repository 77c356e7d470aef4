"""The `openai` teacher: any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, Ollama, LiteLLM).

`OpenAIBackend.run` sends one chat completion per request, at most `concurrency` at once, and turns each
reply into an `Outcome`. Key decisions:

- HTTP failures are retried by the `openai` client itself (429, 408/409, 5xx, timeouts, connection errors,
  honouring `Retry-After` and `retry-after-ms`), so there is no second retry loop here. What still fails
  after those retries is a *transient* failure (the cached `Teacher` asks it again on the next run); any
  other 4xx (bad request, authentication, unknown model) is *permanent*, since asking again cannot help.
- A reply that is not the JSON the prompt asked for (not JSON, wrong schema, scores off the scale, anchors
  missing) is repaired in the same conversation: the bad reply and the validation error go back to the
  model, up to `max_repairs` times; still bad is a permanent failure with the last error.
- Each `run` owns its event loop (`asyncio.run`) and its `AsyncOpenAI` client, closed at the end, because
  it is called from worker threads (Dask, Prefect) that share no loop.
- The API key is handed in by the caller and only ever goes to the client (the `Authorization` header);
  it is masked out of every error message, so it reaches neither the cache nor the logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion

from mira_core.config import TeacherParams
from mira_core.teachers import prompts
from mira_core.teachers.base import ErrorKind, Outcome, ReplyError, Request, extract_json, validate_reply

log = logging.getLogger(__name__)
T = TypeVar("T")

REPAIR = ("Your reply could not be used: {error}. Reply again with the JSON object only, exactly in the shape "
          "the instructions give, and nothing else.")


class OpenAIBackend:
    """A teacher behind an OpenAI-compatible endpoint; see the module docstring."""

    provider = "openai"

    def __init__(self, params: TeacherParams, api_key: str | None) -> None:
        self.params = params
        self.model = params.model
        self.scale = (params.scale_min, params.scale_max)
        # Local servers (vLLM, Ollama) need no key, but the client refuses to start without one.
        self._api_key = api_key or "EMPTY"

    def __repr__(self) -> str:  # where it points, never the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.params.base_url!r})"

    def run(self, requests: list[Request]) -> list[Outcome]:
        """One Outcome per request, in order; never raises for a single bad request."""
        if not requests:
            return []
        return _run_sync(self._run_all(requests))

    # ------------------------------------------------------------ one batch

    async def _run_all(self, requests: list[Request]) -> list[Outcome]:
        p = self.params
        client = openai.AsyncOpenAI(base_url=p.base_url, api_key=self._api_key, timeout=p.timeout_s,
                                    max_retries=p.max_retries)
        gate = asyncio.Semaphore(p.concurrency)
        try:
            return list(await asyncio.gather(*(self._gated(client, gate, r) for r in requests)))
        finally:
            await client.close()

    async def _gated(self, client: openai.AsyncOpenAI, gate: asyncio.Semaphore, req: Request) -> Outcome:
        async with gate:
            try:
                return await self._ask(client, req)
            except Exception as e:  # noqa: BLE001 - a bug must not sink the batch; not cached as final either
                log.exception("openai teacher: unexpected error on record %s", req.doc.record_id)
                return Outcome.failure(req.doc.record_id, self._mask(f"{type(e).__name__}: {e}"), "transient")

    async def _ask(self, client: openai.AsyncOpenAI, req: Request) -> Outcome:
        """One request: a completion, then up to max_repairs re-asks while the reply does not validate."""
        p = self.params
        msgs = prompts.messages(req, self.scale, p.max_doc_chars, p.max_judgments)
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if p.json_mode else {}
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}
        error = ""
        for _ in range(p.max_repairs + 1):
            usage["calls"] += 1  # counted before sending: a failed call was still sent (and may be billed)
            try:
                # client.post is the SDK's own request path (retries, Retry-After, errors) minus the typed-dict
                # transform `create` runs on every message, which cost ~1/3 of the client's CPU at concurrency 64.
                resp = await client.post("/chat/completions", cast_to=ChatCompletion, body={
                    "model": self.model, "messages": msgs, "temperature": p.temperature, "max_tokens": p.max_tokens,
                    **extra})
            except openai.APIError as e:
                kind, message = self._classify(e)
                log.warning("openai teacher: record %s failed (%s): %s", req.doc.record_id, kind, message)
                return Outcome.failure(req.doc.record_id, message, kind, **usage)
            if resp.usage is not None:  # some servers omit usage; tokens then stay unknown (0)
                usage["prompt_tokens"] += resp.usage.prompt_tokens or 0
                usage["completion_tokens"] += resp.usage.completion_tokens or 0
            content, cut = _content(resp)
            try:
                data = validate_reply(extract_json(content), req, self.scale)
            except ReplyError as e:
                error = str(e) + (" (the reply was cut off at max_tokens)" if cut else "")
                log.info("openai teacher: record %s, unusable reply: %s", req.doc.record_id, error)
                msgs = [*msgs, {"role": "assistant", "content": content},
                        {"role": "user", "content": REPAIR.format(error=error)}]
                continue
            return Outcome(req.doc.record_id, True, data, **usage)
        return Outcome.failure(req.doc.record_id, f"invalid reply after {usage['calls']} call(s): {error}",
                               "permanent", **usage)

    def _classify(self, e: openai.APIError) -> tuple[ErrorKind, str]:
        """Transient: still rate-limited, server errors or unreachable after the client's retries. Else permanent."""
        n = self.params.max_retries
        retried = f" after {n} {'retry' if n == 1 else 'retries'}" if n else ""
        if isinstance(e, openai.APIConnectionError):  # includes APITimeoutError
            return "transient", self._mask(f"{type(e).__name__}{retried}: {e}")
        if isinstance(e, openai.APIStatusError):
            transient = e.status_code in (408, 409, 429) or e.status_code >= 500
            return ("transient" if transient else "permanent"), self._mask(
                f"{type(e).__name__} (HTTP {e.status_code}){retried if transient else ''}: {e}")
        # e.g. APIResponseValidationError: a 200 whose body is not a chat completion; asking again will not help
        return "permanent", self._mask(f"{type(e).__name__}: {e}")

    def _mask(self, text: str) -> str:
        """The text with the API key masked: servers may echo it ('Incorrect API key provided: sk-...')."""
        return text.replace(self._api_key, "***") if self._api_key != "EMPTY" else text


def _content(resp: Any) -> tuple[str, bool]:
    """The reply text, and whether the model stopped at max_tokens."""
    if not resp.choices:
        return "", False
    choice = resp.choices[0]
    return choice.message.content or "", choice.finish_reason == "length"


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, also where this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # asyncio.run refuses to nest (Jupyter, an async Prefect task): use a fresh thread with its own loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
