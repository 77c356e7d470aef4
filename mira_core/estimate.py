"""What the teacher stages will ask and cost, before a single request: the engine of `mira estimate`.

The requests are the ones the stages will make: the same samples (discover's stratified sample, label's
plan with its repeats), the same prompts, the same request keys, so a request already answered in the
request cache is counted as free, exactly as the stage will find it. Only the token counts are
estimated, because only the endpoint's tokenizer knows them:

- input tokens are the prompts' characters over a characters-per-token ratio, measured on the answers
  already in the cache (their prompts are rebuilt, their reported tokens read) or 4.0 (the usual
  figure for English and code with GPT-style tokenizers) when the cache holds none;
- output tokens are the reply's size as JSON in the shape the prompt asks for (a score reply: one entry
  per anchor with a rationale; a judgment: what the cached ones measured, or `max_judgments` entries)
  over a characters-per-token ratio for replies, both measured on the cached replies (reasons' length,
  reply characters per completion token) or the defaults (100-character reasons, 4 characters per token);
- repairs (a re-ask after an unusable reply) multiply both by the cache's calls per answer.

So an estimate made after discover (whose answers calibrate it) is close for label; one made on an empty
cache rests on the two defaults and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mira_core.config import Params
from mira_core.errors import ConfigError
from mira_core.layout import Layout
from mira_core.rubric import Anchor, Rubric
from mira_core.teachers import prompts
from mira_core.teachers.base import Doc, Request, Teacher

CHARS_PER_TOKEN = 4.0
REASON_CHARS = 100.0  # a one-line reason or rationale, before any reply is cached
NAME_CHARS, DESCRIPTION_CHARS = 20.0, 80.0


@dataclass(frozen=True)
class Calibration:
    """Character-per-token ratios and reply sizes measured on cached answers (or the defaults)."""

    in_chars_per_token: float = CHARS_PER_TOKEN
    out_chars_per_token: float = CHARS_PER_TOKEN
    reason_chars: float = REASON_CHARS
    judge_reply_chars: float | None = None  # mean size of a cached judgment reply, as JSON
    calls_per_answer: float = 1.0
    answers: int = 0  # cached answers measured; 0 means the defaults
    unmetered: int = 0  # cached answers that report no token usage (the rules teacher's), so measure nothing

    @property
    def basis(self) -> str:
        if self.answers:
            return f"calibrated on {self.answers} cached answers"
        why = (f"the {self.unmetered} cached answers report no token usage" if self.unmetered
               else "no answer cached yet")
        return f"defaults (4 characters per token, 100-character reasons): {why}"


@dataclass(frozen=True)
class StageEstimate:
    """One teacher stage: its requests, how many the cache already answers, and the rest's tokens and cost."""

    stage: str
    requests: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    @property
    def to_send(self) -> int:
        return self.requests - self.cached


def prompt_chars(req: Request, params: Params) -> int:
    t = params.teacher
    return sum(len(m["content"]) for m in prompts.messages(req, (t.scale_min, t.scale_max), t.max_doc_chars,
                                                             t.max_judgments))


def reply_chars(req: Request, params: Params, cal: Calibration) -> float:
    """The size of the reply, as JSON in the shape the prompt asks for, with reasons of the calibrated length.

    A judgment reply repeats what the cache measured (or `max_judgments` entries of typical size); a score
    reply has one entry per anchor, so it is built from the request's own anchor ids.
    """
    t = params.teacher
    reason = "x" * round(cal.reason_chars)
    if req.kind == "judge":
        if cal.judge_reply_chars is not None:
            return cal.judge_reply_chars
        entry = {"name": "x" * round(NAME_CHARS), "description": "x" * round(DESCRIPTION_CHARS), "score": t.scale_max,
                 "reason": reason}
        return len(json.dumps({"judgments": [entry] * t.max_judgments}))
    return len(json.dumps({"scores": [{"anchor": a.id, "score": t.scale_max, "rationale": reason}
                                      for a in req.anchors]}))


def _asked_shape(r: Request, data: dict) -> dict:
    """A cached reply in the shape the prompt asks for, the shape `reply_chars` estimates: score replies are stored
    validated ({"scores": {anchor: {...}}}), shorter than the list of objects the teacher wrote, so the output
    ratio measured on them overstated label's output tokens by about 7 %."""
    if r.kind == "judge":
        return data
    return {"scores": [{"anchor": a, **v} for a, v in data["scores"].items()]}


def calibrate(teacher: Teacher, requests: Iterable[Request], params: Params) -> Calibration:
    """Ratios and sizes from the cached answers among `requests` that report token usage.

    The output ratio is reply characters (the reply in the shape the prompt asks for) per completion token,
    so it carries over from the judgment replies discover leaves in the cache to label's score replies.
    """
    reqs = list(requests)
    keys = [teacher.key(r) for r in reqs]
    hits = teacher.cache.get_many(keys)
    in_chars = in_tokens = out_chars = out_tokens = calls = replies = 0
    reasons: list[int] = []
    judge_sizes: list[int] = []
    unmetered = 0
    for r, k in zip(reqs, keys, strict=True):
        o = hits.get(k)
        if o is None or not o.ok:
            continue
        if not o.prompt_tokens or not o.calls:
            unmetered += 1
            continue
        # repairs resend the conversation: the reported tokens cover o.calls requests of about this size
        in_chars += prompt_chars(r, params) * o.calls
        in_tokens += o.prompt_tokens
        size = len(json.dumps(_asked_shape(r, o.data)))
        out_chars += size * o.calls
        out_tokens += o.completion_tokens
        calls += o.calls
        replies += 1
        if r.kind == "judge":
            judge_sizes.append(size)
            reasons += [len(j["reason"]) for j in o.data["judgments"]]
        else:
            reasons += [len(v["rationale"]) for v in o.data["scores"].values()]
    if not replies:
        return Calibration(unmetered=unmetered)
    return Calibration(in_chars_per_token=in_chars / in_tokens,
                       out_chars_per_token=out_chars / out_tokens if out_tokens else CHARS_PER_TOKEN,
                       reason_chars=sum(reasons) / len(reasons) if reasons else REASON_CHARS,
                       judge_reply_chars=sum(judge_sizes) / len(judge_sizes) if judge_sizes else None,
                       calls_per_answer=calls / replies, answers=replies, unmetered=unmetered)


def estimate_stage(stage: str, teacher: Teacher, requests: list[Request], params: Params, cal: Calibration
                   ) -> StageEstimate:
    """Requests, cache hits, and the tokens and cost of the requests still to send.

    `cached` counts the requests the cache answers and the repeats of a request already counted (records with the
    same text): the teacher sends neither."""
    keys = [teacher.key(r) for r in requests]
    hits = teacher.cache.get_many(keys)
    t = params.teacher
    cached = in_tok = out_tok = 0.0
    asked: set[str] = set()  # the teacher sends records with the same text once; the others count as cache hits
    for r, k in zip(requests, keys, strict=True):
        hit = hits.get(k)
        if k in asked or (hit is not None and (hit.ok or (hit.error_kind == "permanent" and not t.retry_failed))):
            cached += 1
            continue
        asked.add(k)
        in_tok += prompt_chars(r, params) / cal.in_chars_per_token * cal.calls_per_answer
        # no reply is longer than max_tokens: a reply the prompt asks for at more is cut there (and fails)
        out_tok += min(reply_chars(r, params, cal) / cal.out_chars_per_token, t.max_tokens) * cal.calls_per_answer
    cost = None
    if t.price_input_per_1m is not None and t.price_output_per_1m is not None:
        cost = round((in_tok * t.price_input_per_1m + out_tok * t.price_output_per_1m) / 1e6, 6)
    return StageEstimate(stage, len(requests), int(cached), round(in_tok), round(out_tok), cost)


def placeholder_rubric(group: str, n_anchors: int) -> Rubric:
    """Before discover has run: n_anchors anchors of a typical size, so label's prompts have about their length."""
    text = "Whether the record does what this dimension asks, judged on its content and form. " * 2
    anchors = [Anchor(id=f"a{i:02d}", name=f"anchor_{i:02d}", description=text.strip(),
                      exemplar_reason="A typical reason the teacher gives.", support=1) for i in range(n_anchors)]
    return Rubric(group=group, teacher="estimate", prompt_version="estimate", sources=[], anchors=anchors)


def label_requests(plan: pl.DataFrame, rubric: Rubric) -> list[Request]:
    """The label stage's requests for one group's plan: every record once, the repeat subset a second time."""
    anchors = tuple(rubric.anchors)
    docs = [(Doc(r["record_id"], r["source"], r["format"], r["text"]), r["repeat"]) for r in plan.iter_rows(named=True)]
    return ([Request("score", d, anchors, rubric.version, 0) for d, _ in docs]
            + [Request("score", d, anchors, rubric.version, 1) for d, rep in docs if rep])


def estimate_project(params: Params, root: Path, environ: Mapping[str, str]
                     ) -> tuple[list[StageEstimate], Calibration, list[str]]:
    """Both teacher stages' estimates, the calibration they used, and notes on what was assumed."""
    from mira_core.discovery import sample_docs
    from mira_core.exclusions import excluded_ids
    from mira_core.grouping import judged_members, read_groups
    from mira_core.labels import embedding_features, plan_sample
    from mira_core.rubric import load_rubrics
    from mira_core.schema import read_group_corpus
    from mira_core.teachers import make_teacher
    from mira_core.teachers.base import Request

    lay = Layout(root)
    if not lay.group_map().exists():
        raise ConfigError(f"{lay.group_map()}: no groups yet; run the stages up to group first "
                          "(`mira run --to group`), since the teacher's samples are drawn per group")
    t = params.teacher
    # The key is never used (nothing is sent), but the openai backend wants one to exist.
    env = {**environ, **({t.api_key_env: environ.get(t.api_key_env) or "unused"} if t.api_key_env else {})}
    teacher = make_teacher(t, root, env)
    notes = []
    # The stages never sample what the filter stages drop (tasks/discover.py, flows/label.py): neither may this.
    filters = {name: folder if folder.exists() else None
               for name, folder in (("dedup", lay.dedup), ("decontaminate", lay.decontaminate))}
    notes += [f"{name} has not run: its drops are counted as requests, which the stages will not send"
              for name, folder in filters.items() if folder is None]
    try:
        # in the try: the cache is closed
        excluded = excluded_ids(filters["dedup"], filters["decontaminate"], params.select.held_out_sources)
        groups = judged_members(read_groups(lay.group_map()), params.select.held_out_sources)  # as the stages do
        rubrics = load_rubrics(lay.rubrics) if lay.rubrics.exists() else {}
        judge, score = [], []
        used_disk = False
        for g, sources in groups.items():
            corpus = read_group_corpus([s for src in sources for s in lay.corpus_shards(src)], exclude=excluded)
            judge += [Request("judge", d) for d in sample_docs(corpus, params.discover)]
            rubric, why = rubrics.get(g), None
            if rubric is None:
                why = "no rubric yet"
            elif rubric.teacher != teacher.name:  # discover will make a new rubric with this teacher
                why = f"its rubric was made by teacher {rubric.teacher!r}, not {teacher.name!r}"
            elif not rubric.anchors:  # a failed discover leaves an empty rubric; a re-run makes another
                why = "its rubric has no anchors (discover failed)"
            if why:
                rubric = placeholder_rubric(g, params.discover.n_anchors)
                notes.append(f"group {g}: {why}, label estimated with {params.discover.n_anchors} "
                             "placeholder anchors (discover.n_anchors)")
            else:
                used_disk = True
            if rubric.anchors:
                features = (embedding_features([lay.embedding_shard(s) for src in sources for s in lay.corpus_shards(src)])
                            if params.label.cover_share > 0 else None)
                plan = plan_sample(corpus.select("record_id", "source"), params.label, features).join(
                    corpus.select("record_id", "format", "text"), on="record_id", how="left", maintain_order="left")
                score += label_requests(plan, rubric)
        if used_disk:
            notes.append("label is estimated on the rubrics in data/rubrics; a change to discover's knobs or sample "
                         "since they were made changes the anchors, and so the requests (run discover first for an "
                         "exact figure)")
        cal = calibrate(teacher, [*score, *judge], params)
        out = [estimate_stage("discover", teacher, judge, params, cal),
               estimate_stage("label", teacher, score, params, cal)]
    finally:
        teacher.cache.close()
    return out, cal, notes
