"""The discover stage's work for one group: sample, judge freely, cluster the judgments into a rubric."""

from __future__ import annotations

import polars as pl

from mira_core.anchors import JUDGMENTS, cluster_anchors, point_texts
from mira_core.config import DiscoverParams
from mira_core.embedding import Encoder
from mira_core.rubric import Rubric, Scale
from mira_core.sampling import stratified_sample
from mira_core.teachers.base import Doc, Teacher

FAILURES = {"record_id": pl.String, "group": pl.String, "source": pl.String, "error": pl.String,
            "error_kind": pl.String, "teacher": pl.String}


def read_group_corpus(shards: list, columns: tuple[str, ...] = ("record_id", "source", "format", "text")
                      ) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(s, columns=list(columns)) for s in shards]) if shards else pl.DataFrame()


def judge_sample(group: str, corpus: pl.DataFrame, teacher: Teacher, p: DiscoverParams
                 ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Free-form judgments of a stratified sample: (judgments, failures, records sampled)."""
    sample = stratified_sample(corpus.select("record_id", "source"), p.records_per_group, p.seed)
    docs_df = corpus.join(sample.select("record_id"), on="record_id", how="semi").sort("source", "record_id")
    docs = [Doc(r["record_id"], r["source"], r["format"], r["text"]) for r in docs_df.iter_rows(named=True)]
    rows, failures = [], []
    for start in range(0, len(docs), p.batch_size):
        batch = docs[start : start + p.batch_size]
        for doc, o in zip(batch, teacher.judge(batch), strict=True):
            if o.ok:
                rows += [{"record_id": doc.record_id, "group": group, "source": doc.source, "name": j["name"],
                          "description": j["description"], "score": j["score"], "reason": j["reason"],
                          "teacher": teacher.name} for j in o.data["judgments"]]
            else:
                failures.append({"record_id": doc.record_id, "group": group, "source": doc.source,
                                 "error": o.error, "error_kind": o.error_kind, "teacher": teacher.name})
    return pl.DataFrame(rows, schema=JUDGMENTS), pl.DataFrame(failures, schema=FAILURES), len(docs)


def discover_rubric(group: str, sources: list[str], judgments: pl.DataFrame, encoder: Encoder, teacher: Teacher,
                    n_records: int, p: DiscoverParams) -> Rubric:
    """Embed the judgment points, cluster them into at most n_anchors anchors, and version the rubric."""
    vectors = encoder.encode(point_texts(judgments)) if judgments.height else None
    anchors = cluster_anchors(judgments, vectors, p.n_anchors, p.seed) if vectors is not None else []
    rubric = Rubric(group=group, teacher=teacher.name, prompt_version=teacher.prompt_version,
                    scale=Scale(min=teacher.scale[0], max=teacher.scale[1]), sources=sorted(sources),
                    anchors=anchors, n_records=n_records, n_points=judgments.height)
    return rubric.with_version()
