"""Anchored teacher labels: a stratified sample per group, scored by the teacher on every anchor.

The sample is split into train and val by a seeded hash of the record id (so a record's split never
changes when the sample grows), and a seeded subset is labeled twice (`repeat=1` is part of the
request key, so the second answer is a fresh request, not a cache hit) to measure how well the
teacher agrees with itself. Failures are kept, with their error, never dropped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from mira_core.config import LabelParams
from mira_core.io import write_parquet
from mira_core.rubric import Rubric
from mira_core.sampling import stratified_sample
from mira_core.schema import CORPUS, LABEL_FAILURES, LABEL_META, read_checked
from mira_core.teachers.base import Doc, Teacher


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
    return pl.DataFrame(rows, schema=label_schema(ids)), pl.DataFrame(failures, schema=LABEL_FAILURES)


def write_plan(corpus_shards: list[Path], p: LabelParams, out: Path, exclude: pl.Series | None = None) -> Path:
    """A group's sample with its split, repeat flag and text (read from its sources' corpus shards), for the
    label tasks to slice; records in `exclude` (the filter stages' drops) are never sampled."""
    corpus = read_checked(list(corpus_shards), CORPUS, ["record_id", "source", "format", "text"])
    if exclude is not None and len(exclude):
        corpus = corpus.filter(~pl.col("record_id").is_in(exclude.implode()))
    plan = plan_sample(corpus.select("record_id", "source"), p).join(
        corpus.select("record_id", "format", "text"), on="record_id", how="left")
    return write_parquet(plan, out)


def merge_chunks(chunks: Path, out_labels: Path, out_repeats: Path, out_failures: Path) -> dict:
    """Concatenate a group's label chunks (labels-*, repeats-*, failures-*.parquet under `chunks`) into its three
    tables, remove the chunks, and return the group's counts."""
    labels = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("labels-*.parquet"))])
    repeats = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("repeats-*.parquet"))])
    failures = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("failures-*.parquet"))], how="vertical")
    write_parquet(labels, out_labels)
    write_parquet(repeats, out_repeats)
    write_parquet(failures if failures.height else pl.DataFrame(schema=LABEL_FAILURES), out_failures)
    shutil.rmtree(chunks)
    split = dict(labels.group_by("split").len().iter_rows())
    return {"labeled": labels.height, "train": split.get("train", 0), "val": split.get("val", 0),
            "repeats": repeats.height, "failed": dict(failures.group_by("error_kind").len().iter_rows()),
            "by_source": dict(sorted(labels.group_by("source").len().iter_rows()))}
