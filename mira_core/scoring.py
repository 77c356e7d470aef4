"""Scoring the corpus: every record of a shard scored by its group's student, as a sidecar table.

Scores are written beside the corpus, never into it (`data/scores/<group>/<source>/part-N.parquet`,
keyed by record_id): re-training a student rewrites the scores alone. A head student refuses
embeddings made by another encoder than the one it was trained on. Scores are stored unclipped: a
student may predict a little beyond the scale's ends, and clipping would tie every such record at the
top (on the demo, 693 test files tied at 5.0 and were ordered by record_id alone). Each shard's Parquet footer
holds the digest of the corpus shard it scored (`schema.CORPUS_DIGEST`), so that select can refuse scores of a
corpus ingested again since (`manifests.check_scored_corpus`).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.errors import ConfigError, check_interrupted
from mira_core.io import file_digest, read_json, read_parquet, write_parquet
from mira_core.rubric import Rubric
from mira_core.schema import CORPUS, CORPUS_DIGEST, TEACHER_SCORED, read_checked
from mira_core.students import load_student
from mira_core.students.base import Inputs, check_trained_on, read_config, student_version
from mira_core.teachers.base import Doc, Teacher

_LOAD = threading.Lock()


def score_schema(anchor_ids: list[str]) -> dict:
    return {"record_id": pl.String, "group": pl.String} | {a: pl.Float32 for a in anchor_ids} | {
        "student_version": pl.String, "coverage": pl.Float32}


@lru_cache(maxsize=8)
def _student(folder: str, version: str):
    return load_student(Path(folder))


def cached_student(folder: Path, version: str | None = None):
    """One loaded student per checkpoint version per process (shared by the tasks of a worker)."""
    with _LOAD:
        return _student(str(folder), version or student_version(folder))


def score_shard(corpus_shard: Path, embedding_shard: Path, student_dir: Path, group: str, out: Path,
                batch_size: int, server: dict | None = None) -> dict:
    """Score one corpus shard; returns its record count. `server` (a generative student only): the
    OpenAI-compatible server its replies come from, as `GenerativeStudent.use_server` takes it."""
    version = student_version(student_dir)  # once: it digests the weights (hundreds of MB for a generative one)
    student = cached_student(student_dir, version)
    if server and hasattr(student, "use_server"):
        student.use_server(**server, version=version)
    elif hasattr(student, "use_local"):  # the loaded student is shared in the process: no server now means none
        student.use_local()
    config = read_config(student_dir)
    anchor_ids = config["anchors"]
    x = Inputs()
    digest = file_digest(corpus_shard)  # written into the shard: select refuses scores of another corpus version
    reads_stats = bool(getattr(student, "reads_stats", False))  # a text student that reads the statistics too
    coverage = None  # the share of each record its embedding read; unknown without an embedding shard
    if embedding_shard.exists():
        side = embedding_shard.with_suffix(".json")
        if not side.exists():
            raise ConfigError(f"{embedding_shard}: no embeddings stamp beside it (re-run embed)")
        stamp = read_json(side)["stamp"]
        if stamp.get("input") != digest:  # a re-ingest since: its vectors are of other records
            raise ConfigError(f"{embedding_shard}: made from another version of {corpus_shard} (re-run embed)")
        made_by = stamp["encoder"]
        from mira_core.embedding import check_current

        check_current(embedding_shard, made_by)  # a student and a shard both of the old version pass check_trained_on
        check_trained_on(student_dir, student.needs, made_by, reads_stats)  # every kind: trees and linear read it too
        if hasattr(student, "check_encoder"):
            student.check_encoder(made_by)
        df = read_parquet(embedding_shard)  # a name, not a glob pattern: a project under 'runs [2]' read nothing
        ids = df["record_id"]
        coverage = df["coverage"] if "coverage" in df.columns else None
        if student.needs in ("embedding", "both"):
            x.embeddings = df["embedding"].to_numpy().astype(np.float32, copy=False)
        if "stats" in df.columns:
            x.stats = df["stats"].to_numpy().astype(np.float32, copy=False)
    elif student.needs in ("embedding", "both"):
        raise ConfigError(f"{embedding_shard}: no embeddings for this shard (re-run embed)")
    elif reads_stats:
        raise ConfigError(f"{embedding_shard}: no document statistics for this shard, which this student reads "
                          "(re-run embed)")
    if student.needs in ("text", "both"):
        corpus = read_checked(corpus_shard, CORPUS, ["record_id", "text"])
        if embedding_shard.exists() and not corpus["record_id"].equals(ids):
            raise ConfigError(f"{embedding_shard}: its records differ from {corpus_shard} (re-run embed)")
        ids, x.texts = corpus["record_id"], corpus["text"].to_list()
    # unclipped: a ranking of scores clipped to the scale ties every record beyond its top (see selection.py)
    batches = [x.take(np.arange(i, min(i + batch_size, len(ids)))) for i in range(0, len(ids), batch_size)]
    explains = hasattr(student, "predict_explained")  # a generative student also writes each record's rationales
    preds, why, runs = [], [], []
    for b in batches:
        check_interrupted()
        if explains:
            p, w, r = student.predict_explained(b, clipped=False)
            why += [json.dumps(x, ensure_ascii=False) if x is not None else None for x in w]
            runs.append(r)
        else:
            p = student.predict(b, clipped=False)
        preds.append(p)
    pred = np.vstack(preds) if preds else np.zeros((0, len(anchor_ids)), np.float32)
    columns = {"record_id": ids, "group": [group] * len(ids), **{a: pred[:, j] for j, a in enumerate(anchor_ids)},
               "student_version": [version] * len(ids),
               "coverage": coverage if coverage is not None else [None] * len(ids)}
    schema = score_schema(anchor_ids)
    if explains:
        columns["rationales"], schema = why, {**schema, "rationales": pl.String}
    table = pl.DataFrame(columns, schema=schema)
    write_parquet(table, out, {CORPUS_DIGEST: digest})
    result = {"records": table.height}
    if explains:  # how many replies parsed, were retried, stayed unscored: summed into metrics/score.json
        result["replies"] = {k: sum(r.get(k, 0) for r in runs) for k in ("outputs", "parsed", "retried",
                                                                        "parsed_on_retry", "unscored", "cached")}
    return result


def teacher_score_shard(score_shard: Path, corpus_shard: Path, rubric: Rubric, teacher: Teacher, out: Path) -> dict:
    """The teacher's own scores of the records of one student score shard, in the same format.

    The whole-corpus teacher-oracle reference: select run on these in place of the students' scores (same mask,
    aggregation and budget) shows what the teacher's judgment itself would keep of every record, so a benchmark
    can tell the records the students let through from those the teacher's anchors pass. Only for a cheap
    teacher (the planted benchmark's `rules`): it asks the teacher about every record. A record the teacher
    fails on gets null scores (selection counts it `unscored`).
    """
    ids = read_checked(score_shard, score_schema(rubric.anchor_ids()), ["record_id"])["record_id"]
    corpus = read_checked(corpus_shard, CORPUS, ["record_id", "source", "format", "text"])
    corpus = pl.DataFrame({"record_id": ids}).join(corpus, on="record_id", how="left", maintain_order="left")
    if corpus["text"].null_count():
        missing = corpus.filter(pl.col("text").is_null())["record_id"][0]
        raise ConfigError(f"{score_shard}: record {missing} is not in {corpus_shard} (re-run score)")
    docs = [Doc(r["record_id"], r["source"], r["format"], r["text"]) for r in corpus.iter_rows(named=True)]
    anchor_ids = rubric.anchor_ids()
    outcomes = teacher.score(docs, tuple(rubric.anchors), rubric.version)
    columns = {a: [float(o.data["scores"][a]["score"]) if o.ok else None for o in outcomes] for a in anchor_ids}
    table = pl.DataFrame({"record_id": ids, "group": [rubric.group] * len(ids), **columns,
                          "student_version": [f"{TEACHER_SCORED}{teacher.name}"] * len(ids), "coverage": [1.0] * len(ids)},
                         schema=score_schema(anchor_ids))
    write_parquet(table, out, {CORPUS_DIGEST: file_digest(corpus_shard)})
    return {"records": table.height, "failed": sum(not o.ok for o in outcomes)}
