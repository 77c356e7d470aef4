"""Stage label: per group, a stratified sample scored by the teacher on every anchor of the group's rubric.

Reads: data/corpus/, data/groups/, data/rubrics/, data/dedup/ and data/decontaminate/ (what they drop is never
sampled, nor are the held-out sources of select.held_out_sources), and data/embeddings/ with label.cover_share above 0.
Writes: data/labels/<group>.parquet (train and val),
data/labels/repeats/, data/labels/failures/, data/labels/plans/<group>.parquet (the sample the teacher was asked
about: record ids, split, repeat flag and text, as the chunks read it), metrics/label.json (counts and teacher spend).

Resumable without paying twice: every teacher answer is committed to the request cache as it arrives,
so a run stopped at any moment (kill -9, a dead endpoint) asks again at most the requests that were in
flight. The stage fails, after writing its metrics, when a spending cap refused requests (the re-run with
a raised cap resumes) or when more than teacher.max_failure_rate of its requests failed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import gather, prune, require, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import LabelParams, Params, TeacherParams
from mira_core.errors import ConfigError, MiraError
from mira_core.exclusions import excluded_ids
from mira_core.failure_budget import check_failure_budget
from mira_core.grouping import judged_members, read_groups
from mira_core.io import write_json
from mira_core.labels import check_rubric_teacher, merge_chunks, write_plan
from mira_core.layout import Layout
from mira_core.rubric import check_rubric_sources, load_rubrics
from mira_core.teachers import api_key
from mira_core.teachers.base import sum_stats
from mira_core.teachers.spend import cap_error
from tasks.label import label_chunk


@flow(name="label")
def label_flow(p: LabelParams, teacher: TeacherParams, root: str, held_out: list[str] | None = None) -> dict:
    lay = Layout(Path(root))
    # Held-out sources are never selected: no request is paid for them, and no student is fitted on them.
    groups = judged_members(read_groups(lay.group_map()), held_out or [])
    rubrics = load_rubrics(lay.rubrics)
    missing = [g for g in groups if g not in rubrics]
    if missing:
        raise ConfigError(f"no rubric for group(s) {', '.join(missing)} in {lay.rubrics} (run discover first)")
    usable = {g: s for g, s in groups.items() if rubrics[g].anchors}
    if not usable:
        raise ConfigError("every rubric is empty: nothing to label (see metrics/discover.json)")
    for g in usable:  # before any spend: a rubric of another version of this teacher is a mix no fresh run gives
        check_rubric_teacher(rubrics[g], teacher)
        check_rubric_sources(rubrics[g], usable[g])
    api_key(teacher, os.environ)  # a missing key fails here, before any spend
    # Records the filter stages drop are never sampled: no request is paid for what no selection may keep.
    excluded = excluded_ids(require(lay.dedup, "dedup"), require(lay.decontaminate, "decontaminate"), held_out or [])
    with run_log(lay, "label") as log:
        for old in ("chunks", "repeats", "failures", "plans"):
            shutil.rmtree(lay.labels / old, ignore_errors=True)
        futures: dict[str, list] = {}
        run_id = uuid.uuid4().hex  # the chunks share one spending ledger: teacher.max_requests / max_cost per run
        for g, sources in usable.items():
            shards = [s for src in sources for s in lay.corpus_shards(src)]
            plan = write_plan(shards, p, lay.labels / "plans" / f"{g}.parquet", exclude=excluded,
                              embedding_shards=[lay.embedding_shard(s) for s in shards])
            n = pl.scan_parquet(plan, glob=False).select(pl.len()).collect().item()
            chunks = lay.labels / "chunks" / g
            futures[g] = [label_chunk.submit(
                g, plan, start, min(start + p.chunk_size, n), lay.rubrics / f"{g}.json", teacher, root,
                out=chunks / f"labels-{start:07d}.parquet", out_repeats=chunks / f"repeats-{start:07d}.parquet",
                out_failures=chunks / f"failures-{start:07d}.parquet", run_id=run_id)
                for start in range(0, n, p.chunk_size)]
        spend: dict = {}
        for r in gather([f for fs in futures.values() for f in fs], "label", "chunk"):
            sum_stats(spend, r)
        log["tasks"] = states([f for fs in futures.values() for f in fs])
        per_group = {g: merge_chunks(lay.labels / "chunks" / g, lay.labels / f"{g}.parquet",
                                     lay.labels / "repeats" / f"{g}.parquet", lay.labels / "failures" / f"{g}.parquet",
                                     rubrics[g].anchor_ids())
                     for g in usable}
        prune(lay.labels.glob("*.parquet"), lambda f: f.stem in usable)  # labels of groups that no longer exist
        metrics = {"groups": per_group, "skipped_groups": sorted(set(groups) - set(usable)),
                   "teacher": {"provider": teacher.provider, "model": teacher.model, **spend}}
        write_json(metrics, lay.metrics_file("label"))
        # After the metrics, so a failed run still shows what it spent and lost.
        if capped := cap_error(spend, teacher.max_requests, teacher.max_cost):
            raise MiraError(f"label: {capped}")
        failures = pl.concat([pl.read_parquet(lay.labels / "failures" / f"{g}.parquet", glob=False) for g in usable])
        asked = sum(r["labeled"] + r["repeats"] + sum(r["failed"].values()) for r in per_group.values())
        check_failure_budget("label", asked, failures, teacher.max_failure_rate,
                             f"{lay.labels / 'failures'}/*.parquet")
    publish_table("label-counts", "Labels per group", ["group", "labeled", "train", "val", "repeats", "failed"],
                  [[g, r["labeled"], r["train"], r["val"], r["repeats"], sum(r["failed"].values())]
                   for g, r in per_group.items()])
    n_ok = sum(g["labeled"] for g in per_group.values())
    n_bad = sum(sum(g["failed"].values()) for g in per_group.values())
    print(f"label: {n_ok} records labeled in {len(per_group)} groups, {n_bad} failures; teacher "
          f"{spend.get('requests', 0)} requests, {spend.get('cache_hits', 0)} from cache, {spend.get('calls', 0)} calls"
          + (f", ${spend['cost_usd']:.4f}" if "cost_usd" in spend else ""))
    return metrics


def run(params: Params, root: Path) -> dict:
    return label_flow.with_options(task_runner=task_runner(params.runner))(params.label, params.teacher, str(root),
                                                                        params.select.held_out_sources)


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "label", argv)


if __name__ == "__main__":
    main()
