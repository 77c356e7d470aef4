"""Tasks of the discover stage."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import task

from mira_core.config import DiscoverParams, EmbedParams, TeacherParams
from mira_core.discovery import discover_rubric, judge_sample
from mira_core.embedding import load_encoder
from mira_core.exclusions import excluded_ids
from mira_core.io import write_parquet
from mira_core.rubric import save_rubric
from mira_core.schema import read_group_corpus
from mira_core.teachers import make_teacher


@task(name="discover-group", task_run_name="discover-{group}")
def discover_group(group: str, sources: list[str], shards: list[Path], dedup: Path, decontaminate: Path,
                   p: DiscoverParams, teacher: TeacherParams, embed: EmbedParams, root: str, out: Path,
                   out_judgments: Path, out_failures: Path, run_id: str | None = None,
                   held_out: list[str] | None = None) -> dict:
    """Judge a sample of the group freely (never a record the filter stages drop, nor a near-copy of a held-out
    record, which select drops too), cluster the judgments into anchors, write the rubric."""
    # The API key is read here, never passed as an argument; run_id shares the stage's spending caps.
    t = make_teacher(teacher, Path(root), os.environ, run_id=run_id)
    try:  # closed on every path: a failed or interrupted task left its cache and ledger connections open
        corpus = read_group_corpus(shards, exclude=excluded_ids(dedup, decontaminate, held_out or []))
        judged = judge_sample(group, corpus, t, p)
        # Judgments are short texts: the transformer reads them whole, so a static encoder's source is used for them
        judge_embed = embed.model_copy(update={"encoder": embed.static_source}) if embed.encoder == "static" else embed
        rubric = discover_rubric(group, sources, judged, load_encoder(judge_embed, Path(root)), t, p)
        save_rubric(rubric, out)
        write_parquet(judged.judgments, out_judgments)
        write_parquet(judged.failures, out_failures)
    finally:
        t.close()
    failures, n = judged.failures, judged.sampled
    return {"sources": sorted(sources), "sampled": n, "judged": n - failures.height, "failed": failures.height,
            "failures_by_kind": dict(failures.group_by("error_kind").len().iter_rows()) if failures.height else {},
            "retry_rounds": judged.retry_rounds, "points": judged.judgments.height, "anchors": len(rubric.anchors),
            "version": rubric.version,
            "teacher": t.stats.as_dict(teacher.price_input_per_1m, teacher.price_output_per_1m)}
