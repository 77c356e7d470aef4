"""Anchored teacher labels: a stratified sample per group, scored by the teacher on every anchor.

The sample is split into train and val by a seeded hash of the record id (so a record's split never
changes when the sample grows), and a seeded subset is labeled twice (`repeat=1` is part of the
request key, so the second answer is a fresh request, not a cache hit) to measure how well the
teacher agrees with itself. Failures are kept, with their error, never dropped.
"""

from __future__ import annotations

import json

import polars as pl

from mira_core.config import LabelParams
from mira_core.rubric import Rubric
from mira_core.sampling import stratified_sample
from mira_core.teachers.base import Doc, Teacher

FAILURES = {"record_id": pl.String, "source": pl.String, "group": pl.String, "repeat": pl.Int64,
            "error": pl.String, "error_kind": pl.String, "teacher": pl.String}
LABEL_META = {"record_id": pl.String, "source": pl.String, "group": pl.String, "split": pl.String,
              "rationales": pl.String, "teacher": pl.String, "rubric_version": pl.String, "prompt_hash": pl.String}


def label_schema(anchor_ids: list[str]) -> dict:
    """The label table: identity and split, one integer column per anchor, rationales as JSON."""
    meta = dict(LABEL_META)
    return {k: meta[k] for k in ("record_id", "source", "group", "split")} | {a: pl.Int64 for a in anchor_ids} | {
        k: meta[k] for k in ("rationales", "teacher", "rubric_version", "prompt_hash")}


def _fraction(seed: int, frac: float) -> pl.Expr:
    return (pl.col("record_id").hash(seed=seed) % 10_000) < int(round(frac * 10_000))


def plan_sample(index: pl.DataFrame, p: LabelParams) -> pl.DataFrame:
    """record_id, source, split (train|val), repeat (bool) for the records to label."""
    sample = stratified_sample(index.select("record_id", "source"), p.records_per_group, p.seed)
    return sample.with_columns(
        split=pl.when(_fraction(p.seed + 101, p.val_fraction)).then(pl.lit("val")).otherwise(pl.lit("train")),
        repeat=_fraction(p.seed + 202, p.repeat_fraction),
    ).sort("source", "record_id")


def label_docs(docs: list[Doc], splits: dict[str, str], rubric: Rubric, teacher: Teacher, repeat: int = 0
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score docs on every anchor: (labels, failures)."""
    anchors = tuple(rubric.anchors)
    ids = rubric.anchor_ids()
    rows, failures = [], []
    for doc, o in zip(docs, teacher.score(docs, anchors, rubric.version, repeat=repeat), strict=True):
        if o.ok:
            scores = o.data["scores"]
            rows.append({"record_id": doc.record_id, "source": doc.source, "group": rubric.group,
                         "split": splits[doc.record_id], **{a: scores[a]["score"] for a in ids},
                         "rationales": json.dumps({a: scores[a]["rationale"] for a in ids}, ensure_ascii=False),
                         "teacher": teacher.name, "rubric_version": rubric.version,
                         "prompt_hash": teacher.prompt_version})
        else:
            failures.append({"record_id": doc.record_id, "source": doc.source, "group": rubric.group,
                             "repeat": repeat, "error": o.error, "error_kind": o.error_kind, "teacher": teacher.name})
    return pl.DataFrame(rows, schema=label_schema(ids)), pl.DataFrame(failures, schema=FAILURES)
