"""The discover stage's work for one group: sample, judge freely, cluster the judgments into a rubric."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from mira_core.anchors import cluster_anchors, point_texts
from mira_core.config import DiscoverParams
from mira_core.embedding import Encoder
from mira_core.errors import INTERRUPTED
from mira_core.rubric import Rubric, Scale
from mira_core.sampling import stratified_sample
from mira_core.schema import JUDGE_FAILURES, JUDGMENTS
from mira_core.teachers.base import Doc, Outcome, Teacher

log = logging.getLogger(__name__)


@dataclass
class Judged:
    """A group's free-form judgments: the points, the failures left after retries, and what it took."""

    judgments: pl.DataFrame
    failures: pl.DataFrame
    sampled: int
    retry_rounds: int = 0


def judge_sample(group: str, corpus: pl.DataFrame, teacher: Teacher, p: DiscoverParams,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Judged:
    """Free-form judgments of a stratified sample, transient failures asked again until the deadline.

    A rubric is a clustering of every judged record's points, so a record lost to a 429 or a timeout
    would change it: the rubric would depend on which requests happened to fail. Transient failures
    are therefore asked again (the request cache serves what was answered) with a pause that doubles,
    until every record is judged or `retry_deadline_s` has passed. Points are collected in the
    sample's order, never in arrival order.
    """
    docs = sample_docs(corpus, p)
    outcomes = _judge(teacher, docs, p.batch_size)
    deadline, pause, rounds = clock() + p.retry_deadline_s, 1.0, 0
    while True:
        pending = [d for d in docs if outcomes[d.record_id].error_kind == "transient"]
        if not pending or teacher.cap_reached or clock() + pause > deadline:  # a cap refuses every retry too
            break
        log.warning("discover %s: %d of %d records failed transiently; asking them again in %.0f s "
                 "(discover.retry_deadline_s leaves %.0f s)", group, len(pending), len(docs), pause, deadline - clock())
        sleep(pause)
        pause, rounds = min(pause * 2, 60.0), rounds + 1
        outcomes |= _judge(teacher, pending, p.batch_size)
    if INTERRUPTED.is_set():  # Ctrl-C: the stage is ending; a rubric of the records judged so far must not be written
        raise KeyboardInterrupt(f"discover {group}: interrupted before every sampled record was judged")
    rows, failures = [], []
    for doc in docs:
        o = outcomes[doc.record_id]
        if o.ok:
            rows += [{"record_id": doc.record_id, "group": group, "source": doc.source, "name": j["name"],
                      "description": j["description"], "score": j["score"], "reason": j["reason"],
                      "teacher": teacher.name} for j in o.data["judgments"]]
        else:
            failures.append({"record_id": doc.record_id, "group": group, "source": doc.source,
                             "error": o.error, "error_kind": o.error_kind, "teacher": teacher.name})
    return Judged(pl.DataFrame(rows, schema=JUDGMENTS), pl.DataFrame(failures, schema=JUDGE_FAILURES), len(docs), rounds)


def sample_docs(corpus: pl.DataFrame, p: DiscoverParams) -> list[Doc]:
    """The records a group's discover judges: a stratified sample by source, in a stable order."""
    sample = stratified_sample(corpus.select("record_id", "source"), p.records_per_group, p.seed)
    docs_df = corpus.join(sample.select("record_id"), on="record_id", how="semi").sort("source", "record_id")
    return [Doc(r["record_id"], r["source"], r["format"], r["text"]) for r in docs_df.iter_rows(named=True)]


def _judge(teacher: Teacher, docs: list[Doc], batch_size: int) -> dict[str, Outcome]:
    out = {}
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        out |= {d.record_id: o for d, o in zip(batch, teacher.judge(batch), strict=True)}
    return out


def discover_rubric(group: str, sources: list[str], judged: Judged, encoder: Encoder, teacher: Teacher,
                    p: DiscoverParams) -> Rubric:
    """Embed the judgment points, cluster them into at most n_anchors anchors, and version the rubric."""
    judgments = judged.judgments
    vectors = encoder.encode(point_texts(judgments)) if judgments.height else None
    anchors = cluster_anchors(judgments, vectors, p.n_anchors, p.seed) if vectors is not None else []
    rubric = Rubric(group=group, teacher=teacher.name, prompt_version=teacher.prompt_version,
                    scale=Scale(min=teacher.scale[0], max=teacher.scale[1]), sources=sorted(sources),
                    anchors=anchors, n_sampled=judged.sampled,
                    n_records=judged.sampled - judged.failures.height, n_points=judgments.height)
    return rubric.with_version()
