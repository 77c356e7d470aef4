"""What every teacher shares: the request and reply types, reply validation, and the cached `Teacher`.

A backend (rules, openai, transformers) only turns `Request`s into `Outcome`s. `Teacher` wraps a
backend with the request cache, so every provider gets the same guarantees: a request already
answered is never sent again, a permanent failure is remembered (and not paid for twice), and a
transient failure (rate limit, server error, timeout after retries) is recorded but asked again on
the next run; a failure never replaces an answer in the cache. Requests with one key in a batch
(records with the same text) are sent once, and each record gets its own copy of the outcome. Each
outcome is committed to the cache the moment the backend reports it (not when the batch ends), so a
process killed mid-batch loses at most the requests that were in flight. A backend raises only when no
request can succeed (a ConfigError: the endpoint refuses the API key, the base_url or the model).

A request refused by a spending cap (`teacher.max_requests`, `teacher.max_cost`) comes back with
error_kind "capped": never cached, so a re-run with a raised cap asks it; `Teacher.cap_reached`
holds the message for the stage to fail with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from mira_core.errors import INTERRUPTED, JSON_REFUSED, json_refusal
from mira_core.rubric import Anchor

# A JSON escape of half a UTF-16 pair (`\ud83d` alone) reads as a lone surrogate, which no UTF-8 writer takes: a
# reply holding one validated, then stopped the stage where its labels were written (or the cache, where its error
# was), on every re-run, since the reply was cached as an answer.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only a reply holding such an escape can hold one

Kind = Literal["judge", "score"]
ErrorKind = Literal["transient", "permanent", "capped"]  # capped: refused by a spending cap, never sent
OnOutcome = Callable[[int, "Outcome"], None]  # (index of the request in the batch, its outcome)


@dataclass(frozen=True)
class Doc:
    """A record as a teacher sees it."""

    record_id: str
    source: str
    format: str
    text: str


@dataclass(frozen=True)
class Request:
    """One question to a teacher: judge a record freely, or score it on a rubric's anchors."""

    kind: Kind
    doc: Doc
    anchors: tuple[Anchor, ...] = ()
    rubric_version: str | None = None
    repeat: int = 0  # > 0 asks the same question again, to measure the teacher's self-agreement


@dataclass
class Outcome:
    """A teacher's answer to one request: validated data, or an error with its kind."""

    record_id: str
    ok: bool
    data: dict | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0  # completions asked of the provider for this outcome (1 + repairs)
    cached: bool = False
    response_format: str | None = None  # how the reply shape was asked for (openai): json_schema ... none
    # attempts sent again by the retry policy (429, 5xx, timeouts): provider requests too, but they answered
    # nothing, so they stay out of `calls` (which estimate.py divides the reported tokens by); not cached
    retries: int = 0
    # USD the spend ledger charged for attempts whose tokens are unknown (no reply: timed out, cut off; a reply
    # without usage): their worst case, reported as charged
    uncounted_usd: float = 0.0

    @classmethod
    def failure(cls, record_id: str, error: str, kind: ErrorKind, **usage: float) -> Outcome:
        # an error quoting a reply or an error body (a refusal, a server's message) may hold half a UTF-16 pair,
        # which the request cache's sqlite refuses, as it refused one in an answer (`extract_json`)
        return cls(record_id, False, None, LONE_SURROGATE.sub("\ufffd", error), kind, **usage)


class Backend(Protocol):
    """A teacher provider: answers requests, knows nothing of caching."""

    provider: str
    model: str

    def run(self, requests: list[Request], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        """One Outcome per request, in order; never raises for a single bad reply (it may raise a ConfigError
        when no request can succeed, e.g. the endpoint refuses the API key).

        `on_outcome(i, outcome)` is called as soon as request i is settled (from the calling thread), so the
        caller can make each answer durable before the batch ends.
        """
        ...


def run_each(requests: list[Request], one: Callable[[Request], Outcome], on_outcome: OnOutcome | None
             ) -> list[Outcome]:
    """A sequential backend's `run`: answer requests one by one, reporting each as it is settled.

    After Ctrl-C (`errors.INTERRUPTED`, set by the flow's main thread) the rest are not asked: a local LM
    would otherwise go on generating in its worker thread until the batch ends. They fail as `capped`,
    which is not kept, so the next run asks them.
    """
    out = []
    for i, req in enumerate(requests):
        if INTERRUPTED.is_set():
            o = Outcome.failure(req.doc.record_id, "not asked: the run was interrupted", "capped")
        else:
            o = one(req)
        if on_outcome is not None:
            on_outcome(i, o)
        out.append(o)
    return out


# ---------------------------------------------------------------- reply schemas
# Scores are StrictInt: lenient pydantic would read true as 1 and "5" as 5; a reply like that is a model not
# following the schema, and goes through the repair loop like any other.

class Judgment(BaseModel):
    """One freely chosen dimension in a free-form judgment."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    score: StrictInt
    reason: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _snake(cls, v: str) -> str:
        # normalize_name would call it "unnamed", which could become an anchor of that name: so would "???"
        if not any(ch.isalnum() for ch in v):
            raise ValueError("a judgment needs a name with a letter or a digit")
        return normalize_name(v)


class JudgeReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    judgments: list[Judgment] = Field(min_length=1, max_length=20)


class AnchorScore(BaseModel):
    model_config = ConfigDict(extra="ignore")
    anchor: str
    score: StrictInt
    rationale: str = ""


class ScoreReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    scores: list[AnchorScore]


class ReplyError(ValueError):
    """A reply that is not what the prompt asked for; the message is fed back in a repair request."""


# the reasoning block of R1-style models, in the content when the server does not split it into reasoning_content
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def normalize_name(name: str) -> str:
    """'Code Readability ' -> 'code_readability'. NFKC first: a name written in another Unicode form (a decomposed
    'é', full-width letters) is the same name, not a second dimension (the combining accent read as a separator)."""
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in unicodedata.normalize("NFKC", name).strip())
    return "_".join(p for p in out.split("_") if p) or "unnamed"


def extract_json(text: str) -> object:
    """`_extract_json`, with each lone surrogate in its strings (and keys) made U+FFFD."""
    data = _extract_json(text)
    if not SURROGATE_ESCAPE.search(text):  # nearly every reply: no round trip
        return data
    dumped = json.dumps(data, ensure_ascii=False)
    return json.loads(LONE_SURROGATE.sub("\ufffd", dumped)) if LONE_SURROGATE.search(dumped) else data


def _extract_json(text: str) -> object:
    """The JSON object in a reply: the whole text, or the first {...} span (models wrap JSON in prose).

    Complete `<think>...</think>` blocks that open the reply are left out first: reasoning models (DeepSeek-R1,
    Qwen3, QwQ) served without a reasoning parser (vLLM, SGLang, llama.cpp) write their reasoning there, in the
    content, and it may hold braces of its own ({"score": 3} weighed before the answer says 4). A reply that opens
    one and never closes it (cut off at max_tokens) holds no answer, whatever braces its reasoning holds. A reply
    that is no JSON and holds a `</think>` with no opening tag before it is read after it (the template opened it).
    """
    text = text.strip()
    while text.startswith(THINK_OPEN):
        end = text.find(THINK_CLOSE)
        if end < 0:
            raise ReplyError(f"the reply is not a JSON object (its reasoning opens with {THINK_OPEN} and never "
                             f"ends with {THINK_CLOSE}, so no answer follows it)")
        text = text[end + len(THINK_CLOSE):].strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except JSON_REFUSED as e:
        why = json_refusal(e)
        close = text.find(THINK_CLOSE)
        if close >= 0 and THINK_OPEN not in text[:close]:
            # DeepSeek-R1's chat template opens <think> in the prompt, so the reply is the reasoning, then the close
            # alone: the answer is what follows it (the first brace was one of the reasoning's own)
            return _extract_json(text[close + len(THINK_CLOSE):])
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            try:
                # the object that opens at the first '{' and the prose after it left out, braces in it too ("Note:
                # {anchor} ..."); a reply whose span up to the last '}' parses gets that same object
                return json.JSONDecoder().raw_decode(text, start)[0]
            except JSON_REFUSED as inner:
                why = json_refusal(inner)
    raise ReplyError(f"the reply is not a JSON object ({why})")


def validate_reply(obj: object, req: Request, scale: tuple[int, int], max_judgments: int = 20) -> dict:
    """Check a parsed reply against the request; return the normalised data or raise ReplyError. A judgment
    reply holds at most `max_judgments` (the prompt's bound, which only json_schema mode enforces), each name once
    and none blank: discover makes every judgment a clustering point, so one record must not weigh more."""
    lo, hi = scale
    try:
        if req.kind == "judge":
            reply = JudgeReply.model_validate(obj)
            bad = [j.name for j in reply.judgments if not lo <= j.score <= hi]
            if bad:
                raise ReplyError(f"scores must be integers from {lo} to {hi}; out of range: {', '.join(bad)}")
            if len(reply.judgments) > max_judgments:
                raise ReplyError(f"at most {max_judgments} judgments, not {len(reply.judgments)}")
            if any(not j.name or not j.reason.strip() for j in reply.judgments):
                raise ReplyError("every judgment needs a name and a reason")
            twice = sorted(n for n, k in Counter(j.name for j in reply.judgments).items() if k > 1)
            if twice:
                raise ReplyError(f"each dimension must be judged once; more than once: {', '.join(twice)}")
            return {"judgments": [j.model_dump() for j in reply.judgments]}
        reply = ScoreReply.model_validate(obj)
    except ValidationError as e:
        raise ReplyError(f"the reply does not match the schema: {_short(e)}") from None
    want = [a.id for a in req.anchors]
    got = {s.anchor: s for s in reply.scores}
    missing = [a for a in want if a not in got]
    if missing:
        raise ReplyError(f"missing anchors: {', '.join(missing)}")
    # Two scores for one anchor leave no way to tell which one the model meant; an anchor not asked for is
    # a model not reading the instructions: both are repaired rather than guessed at.
    unknown = sorted(set(got) - set(want))
    if unknown:
        raise ReplyError(f"unknown anchors (answer only {', '.join(want)}): {', '.join(unknown)}")
    twice = sorted(a for a, n in Counter(s.anchor for s in reply.scores).items() if n > 1)
    if twice:
        raise ReplyError(f"each anchor must be scored once; more than once: {', '.join(twice)}")
    bad = [a for a in want if not lo <= got[a].score <= hi]
    if bad:
        raise ReplyError(f"scores must be integers from {lo} to {hi}; out of range: {', '.join(bad)}")
    return {"scores": {a: {"score": got[a].score, "rationale": got[a].rationale} for a in want}}


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:5])


def reply_schema(kind: Kind, anchor_ids: tuple[str, ...], scale: tuple[int, int], max_judgments: int
                 ) -> tuple[str, dict]:
    """(name, JSON schema) of the reply a request wants, for structured outputs.

    Derived from the pydantic models that validate the reply, made strict (every property required, no
    others) as OpenAI's strict mode demands, and narrowed to the request: scores bounded to the scale,
    a score reply enumerating exactly the request's anchor ids. A reply that fits it passes `validate_reply`.
    """
    lo, hi = scale
    if kind == "judge":
        schema = _strict(JudgeReply.model_json_schema())
        item = schema["properties"]["judgments"]
        item["maxItems"] = min(max_judgments, item.get("maxItems", max_judgments))
        item["items"]["properties"]["score"].update(minimum=lo, maximum=hi)
        return "judge_reply", schema
    schema = _strict(ScoreReply.model_json_schema())
    ids = list(anchor_ids)
    scores = schema["properties"]["scores"]
    scores.update(minItems=len(ids), maxItems=len(ids))
    scores["items"]["properties"]["anchor"]["enum"] = ids
    scores["items"]["properties"]["score"].update(minimum=lo, maximum=hi)
    return "score_reply", schema


def _strict(schema: dict) -> dict:
    """A pydantic JSON schema with its $refs inlined, titles and defaults dropped, and objects closed."""
    defs = schema.pop("$defs", {})

    def fix(node: object) -> object:
        if isinstance(node, list):
            return [fix(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return fix(dict(defs[node["$ref"].rsplit("/", 1)[1]]))
        out = {k: fix(v) for k, v in node.items() if k not in ("title", "default")}
        if out.get("type") == "object":
            out["required"] = list(out.get("properties", {}))
            out["additionalProperties"] = False
        return out

    return fix(schema)  # type: ignore[return-value]


# ---------------------------------------------------------------- the cached teacher

@dataclass
class TeacherStats:
    """What a teacher cost: provider calls, cache hits, tokens, failures, how replies were asked for, caps hit."""

    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    uncounted_usd: float = 0.0  # the ledger's worst case for attempts whose tokens are unknown
    failures: dict[str, int] = field(default_factory=dict)
    response_formats: dict[str, int] = field(default_factory=dict)  # answered requests per response format
    cap_reached: str | None = None  # the first cap refusal's message

    def add(self, o: Outcome) -> None:
        self.requests += 1
        if o.cached:
            self.cache_hits += 1
        else:
            self.calls += o.calls + o.retries  # every provider request, retries included
            self.prompt_tokens += o.prompt_tokens
            self.completion_tokens += o.completion_tokens
            self.uncounted_usd += o.uncounted_usd
            if o.response_format is not None:
                self.response_formats[o.response_format] = self.response_formats.get(o.response_format, 0) + 1
        if not o.ok:
            self.failures[o.error_kind or "permanent"] = self.failures.get(o.error_kind or "permanent", 0) + 1
            if o.error_kind == "capped" and self.cap_reached is None:
                self.cap_reached = o.error

    def as_dict(self, price_in: float | None = None, price_out: float | None = None) -> dict:
        """Counts only (nested dicts of counts), so the stats of parallel tasks can be summed key by key.

        "response_format" counts fresh requests per format ({"json_schema": 120}); a cap hit shows as
        failures["capped"] > 0 (the message is `cap_reached`, and the error of each capped outcome).
        """
        d = {"requests": self.requests, "cache_hits": self.cache_hits, "calls": self.calls,
             "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
             "failures": dict(sorted(self.failures.items())),
             "response_format": dict(sorted(self.response_formats.items()))}
        if price_in is not None and price_out is not None:
            d["cost_usd"] = round((self.prompt_tokens * price_in + self.completion_tokens * price_out) / 1e6
                                  + self.uncounted_usd, 6)
        return d


def sum_stats(total: dict, part: dict) -> dict:
    """Add one task's `TeacherStats.as_dict()` into a stage's running total (nested counts summed key by key)."""
    for k, v in part.items():
        if isinstance(v, dict):
            total[k] = sum_stats(total.get(k, {}), v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            total[k] = round(total.get(k, 0) + v, 6)
    return total


class Teacher:
    """A backend behind the request cache; thread-safe."""

    def __init__(self, backend: Backend, cache, prompt_version: str, settings: dict, scale: tuple[int, int],
                 retry_failed: bool = False) -> None:
        self.backend = backend
        self.cache = cache
        self.prompt_version = prompt_version
        self.settings = settings  # everything besides the record that changes the answer (temperature ...)
        self.scale = scale
        self.retry_failed = retry_failed
        self.stats = TeacherStats()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.backend.provider}/{self.backend.model}"

    def close(self) -> None:
        """Close the request cache and the spend ledger (SQLite connections: a stage's tasks each open their own)."""
        self.cache.close()
        budget = getattr(self.backend, "budget", None)
        if budget is not None:
            budget.close()

    def key(self, req: Request) -> str:
        """Hash of the canonical request: provider, model, prompt version, the anchors as the prompt shows them,
        record text, settings. The anchors, not the rubric's version: that hashes the group's name and sources too,
        which no prompt shows, so a renamed source, or groups renumbered when another source came, had the teacher
        answer byte-identical prompts again (paid twice). (Caches written before have no hits for score requests:
        they are asked again, once.)"""
        body = {
            "provider": self.backend.provider, "model": self.backend.model, "prompt": self.prompt_version,
            "kind": req.kind, "format": req.doc.format, "text": req.doc.text, "repeat": req.repeat,
            "rubric_version": None,  # no longer keyed; left as None so that a judge request keeps its key (and hits)
            "anchors": [[a.id, a.name, a.description, a.exemplar_reason] for a in req.anchors],
            "scale": list(self.scale), "settings": self.settings,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @property
    def cap_reached(self) -> str | None:
        """The message of the spending cap this teacher ran into (None if none): the stage should fail with it."""
        return self.stats.cap_reached

    def ask(self, requests: list[Request]) -> list[Outcome]:
        """Answer requests from the cache where possible and from the backend otherwise; record both.

        Each fresh outcome is committed to the cache as the backend reports it, so a kill loses at most
        the requests in flight; outcomes refused by a spending cap are not stored (a re-run asks them).
        Requests with the same key (records with the same text) are sent once: the first record's outcome
        is the answer, each other record gets a copy with its own record_id, counted as a cache hit.
        """
        keys = [self.key(r) for r in requests]
        hits = self.cache.get_many(keys)
        out: list[Outcome | None] = [None] * len(requests)
        todo: list[int] = []  # the first request of each key the backend is asked
        same: dict[str, list[int]] = {}  # key -> the later requests with it, answered by the first's outcome
        for i, (req, k) in enumerate(zip(requests, keys, strict=True)):
            hit = hits.get(k)
            if hit is not None and (hit.ok or (hit.error_kind == "permanent" and not self.retry_failed)):
                # a copy per record: two records with one key must not share (and rename) one Outcome
                out[i] = dataclasses.replace(hit, record_id=req.doc.record_id, cached=True)
            elif k in same:
                same[k].append(i)
            else:
                same[k] = []
                todo.append(i)
        owner, firsts = uuid.uuid4().hex, list(todo)
        while todo:
            # Claimed first: a request another run is asking (a project sharing this cache file, a queued DVC
            # experiment) is waited for and read from the cache, not paid for twice
            busy = self.cache.claim([keys[i] for i in todo], owner)
            mine = [i for i in todo if keys[i] not in busy]
            if mine:
                self._send(requests, keys, mine, out, owner)
            todo = [i for i in todo if keys[i] in busy]
            if todo:
                todo = self._read_others(requests, keys, todo, out)
        for i in firsts:
            for j in same[keys[i]]:
                out[j] = dataclasses.replace(out[i], record_id=requests[j].doc.record_id, cached=True)
        with self._lock:
            for o in out:
                self.stats.add(o)
        return out  # type: ignore[return-value]

    def _send(self, requests: list[Request], keys: list[str], mine: list[int], out: list, owner: str) -> None:
        """Ask the backend the requests at `mine` (claimed by `owner`), storing each outcome as it is reported."""
        stored: set[int] = set()

        def store(j: int, o: Outcome) -> None:
            if j not in stored and o.error_kind != "capped":
                self.cache.put_many([(keys[mine[j]], requests[mine[j]], o)])
            stored.add(j)

        try:
            fresh = self.backend.run([requests[i] for i in mine], on_outcome=store)
            for j, o in enumerate(fresh):
                store(j, o)  # a backend that did not report some outcome: stored now
                out[mine[j]] = o
        finally:
            self.cache.release([keys[i] for i in mine], owner)

    def _read_others(self, requests: list[Request], keys: list[str], theirs: list[int], out: list,
                     poll_s: float = 0.5) -> list[int]:
        """After a pause, the answers of the requests at `theirs` (another run is asking them) that the cache holds
        by now; returns the rest, which `ask` claims again (those the other run let go of without an answer, a
        transient failure or a run that ended, are then asked here). After Ctrl-C none is waited for."""
        if INTERRUPTED.is_set():
            for i in theirs:
                out[i] = Outcome.failure(requests[i].doc.record_id, "not asked: the run was interrupted", "capped")
            return []
        time.sleep(poll_s)
        hits = self.cache.get_many([keys[i] for i in theirs])
        left = []
        for i in theirs:
            hit = hits.get(keys[i])
            if hit is not None and (hit.ok or (hit.error_kind == "permanent" and not self.retry_failed)):
                out[i] = dataclasses.replace(hit, record_id=requests[i].doc.record_id, cached=True)
            else:
                left.append(i)
        return left

    def judge(self, docs: list[Doc]) -> list[Outcome]:
        """Free-form judgments: the teacher names its own dimensions."""
        return self.ask([Request("judge", d) for d in docs])

    def score(self, docs: list[Doc], anchors: tuple[Anchor, ...], rubric_version: str, repeat: int = 0
              ) -> list[Outcome]:
        """Anchored scores: one score and rationale per anchor."""
        return self.ask([Request("score", d, anchors, rubric_version, repeat) for d in docs])
