"""Tasks of the label stage."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from prefect import task

from mira_core.config import TeacherParams
from mira_core.io import write_parquet
from mira_core.labels import label_docs
from mira_core.rubric import load_rubric
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc


@task(name="label-chunk", task_run_name="label-{group}-{start}")
def label_chunk(group: str, plan: Path, start: int, stop: int, rubric: Path, teacher: TeacherParams, root: str,
                out: Path, out_repeats: Path, out_failures: Path, run_id: str | None = None) -> dict:
    """Label rows start..stop of a group's plan on every anchor (and the repeat subset a second time).

    Once a spending cap refuses a request, the repeats are not asked: every request after it would be refused too.
    """
    rows = pl.read_parquet(plan, glob=False).slice(start, stop - start)
    r = load_rubric(rubric)
    # The API key is read here, never passed as an argument; run_id shares the stage's spending caps.
    t = make_teacher(teacher, Path(root), os.environ, run_id=run_id)
    try:  # closed on every path: a failed or interrupted chunk left its cache and ledger connections open
        docs = [Doc(x["record_id"], x["source"], x["format"], x["text"]) for x in rows.iter_rows(named=True)]
        splits = dict(zip(rows["record_id"], rows["split"], strict=True))
        labels, failures = label_docs(docs, splits, r, t)
        twice = [d for d, rep in zip(docs, rows["repeat"], strict=True) if rep] if t.cap_reached is None else []
        repeats, failures2 = label_docs(twice, splits, r, t, repeat=1)
        write_parquet(labels, out)
        write_parquet(repeats, out_repeats)
        write_parquet(pl.concat([failures, failures2]), out_failures)
    finally:
        t.close()
    return t.stats.as_dict(teacher.price_input_per_1m, teacher.price_output_per_1m)
