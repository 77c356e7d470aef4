"""What every teacher shares: the request and reply types, reply validation, and the cached `Teacher`.

A backend (rules, openai, transformers) only turns `Request`s into `Outcome`s. `Teacher` wraps a
backend with the request cache, so every provider gets the same guarantees: a request already
answered is never sent again, a permanent failure is remembered (and not paid for twice), and a
transient failure (rate limit, server error, timeout after retries) is recorded but asked again on
the next run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mira_core.rubric import Anchor

Kind = Literal["judge", "score"]
ErrorKind = Literal["transient", "permanent"]


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
    calls: int = 0  # requests sent to the provider for this outcome (1 + repairs)
    cached: bool = False

    @classmethod
    def failure(cls, record_id: str, error: str, kind: ErrorKind, **usage: int) -> Outcome:
        return cls(record_id, False, None, error, kind, **usage)


class Backend(Protocol):
    """A teacher provider: answers requests, knows nothing of caching."""

    provider: str
    model: str

    def run(self, requests: list[Request]) -> list[Outcome]:
        """One Outcome per request, in order; never raises for a single bad reply."""
        ...


# ---------------------------------------------------------------- reply schemas

class Judgment(BaseModel):
    """One freely chosen dimension in a free-form judgment."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    score: int
    reason: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _snake(cls, v: str) -> str:
        return normalize_name(v)


class JudgeReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    judgments: list[Judgment] = Field(min_length=1, max_length=20)


class AnchorScore(BaseModel):
    model_config = ConfigDict(extra="ignore")
    anchor: str
    score: int
    rationale: str = ""


class ScoreReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    scores: list[AnchorScore]


class ReplyError(ValueError):
    """A reply that is not what the prompt asked for; the message is fed back in a repair request."""


def normalize_name(name: str) -> str:
    """'Code Readability ' -> 'code_readability'."""
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in name.strip())
    return "_".join(p for p in out.split("_") if p) or "unnamed"


def extract_json(text: str) -> object:
    """The JSON object in a reply: the whole text, or the first {...} span (models wrap JSON in prose)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
    raise ReplyError("the reply is not a JSON object")


def validate_reply(obj: object, req: Request, scale: tuple[int, int]) -> dict:
    """Check a parsed reply against the request; return the normalised data or raise ReplyError."""
    lo, hi = scale
    try:
        if req.kind == "judge":
            reply = JudgeReply.model_validate(obj)
            bad = [j.name for j in reply.judgments if not lo <= j.score <= hi]
            if bad:
                raise ReplyError(f"scores must be integers from {lo} to {hi}; out of range: {', '.join(bad)}")
            return {"judgments": [j.model_dump() for j in reply.judgments]}
        reply = ScoreReply.model_validate(obj)
    except ValidationError as e:
        raise ReplyError(f"the reply does not match the schema: {_short(e)}") from None
    want = [a.id for a in req.anchors]
    got = {s.anchor: s for s in reply.scores}
    missing = [a for a in want if a not in got]
    if missing:
        raise ReplyError(f"missing anchors: {', '.join(missing)}")
    bad = [a for a in want if not lo <= got[a].score <= hi]
    if bad:
        raise ReplyError(f"scores must be integers from {lo} to {hi}; out of range: {', '.join(bad)}")
    return {"scores": {a: {"score": got[a].score, "rationale": got[a].rationale} for a in want}}


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:5])


# ---------------------------------------------------------------- the cached teacher

@dataclass
class TeacherStats:
    """What a teacher cost: provider calls, cache hits, tokens, failures."""

    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, o: Outcome) -> None:
        self.requests += 1
        if o.cached:
            self.cache_hits += 1
        else:
            self.calls += o.calls
            self.prompt_tokens += o.prompt_tokens
            self.completion_tokens += o.completion_tokens
        if not o.ok:
            self.failures[o.error_kind or "permanent"] = self.failures.get(o.error_kind or "permanent", 0) + 1

    def as_dict(self, price_in: float | None = None, price_out: float | None = None) -> dict:
        d = {"requests": self.requests, "cache_hits": self.cache_hits, "calls": self.calls,
             "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
             "failures": dict(sorted(self.failures.items()))}
        if price_in is not None and price_out is not None:
            d["cost_usd"] = round((self.prompt_tokens * price_in + self.completion_tokens * price_out) / 1e6, 6)
        return d


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

    def key(self, req: Request) -> str:
        """Hash of the canonical request: provider, model, prompt version, rubric, record text, settings."""
        body = {
            "provider": self.backend.provider, "model": self.backend.model, "prompt": self.prompt_version,
            "kind": req.kind, "format": req.doc.format, "text": req.doc.text, "repeat": req.repeat,
            "rubric_version": req.rubric_version, "anchors": [a.id for a in req.anchors],
            "scale": list(self.scale), "settings": self.settings,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def ask(self, requests: list[Request]) -> list[Outcome]:
        """Answer requests from the cache where possible and from the backend otherwise; record both."""
        keys = [self.key(r) for r in requests]
        hits = self.cache.get_many(keys)
        out: list[Outcome | None] = [None] * len(requests)
        todo = []
        for i, (req, k) in enumerate(zip(requests, keys, strict=True)):
            hit = hits.get(k)
            if hit is not None and (hit.ok or (hit.error_kind == "permanent" and not self.retry_failed)):
                hit.record_id = req.doc.record_id
                hit.cached = True
                out[i] = hit
            else:
                todo.append(i)
        if todo:
            fresh = self.backend.run([requests[i] for i in todo])
            self.cache.put_many([(keys[i], requests[i], o) for i, o in zip(todo, fresh, strict=True)])
            for i, o in zip(todo, fresh, strict=True):
                out[i] = o
        with self._lock:
            for o in out:
                self.stats.add(o)
        return out  # type: ignore[return-value]

    def judge(self, docs: list[Doc]) -> list[Outcome]:
        """Free-form judgments: the teacher names its own dimensions."""
        return self.ask([Request("judge", d) for d in docs])

    def score(self, docs: list[Doc], anchors: tuple[Anchor, ...], rubric_version: str, repeat: int = 0
              ) -> list[Outcome]:
        """Anchored scores: one score and rationale per anchor."""
        return self.ask([Request("score", d, anchors, rubric_version, repeat) for d in docs])
