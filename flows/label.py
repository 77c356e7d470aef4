"""Stage label: per group, a stratified sample scored by the teacher on every anchor of the group's rubric.

Reads: data/corpus/, data/groups/, data/rubrics/. Writes: data/labels/<group>.parquet (train and val),
data/labels/repeats/, data/labels/failures/, metrics/label.json (counts and teacher spend).

Resumable without paying twice: every teacher answer is in the request cache before its chunk is
written, so a run stopped half-way (a crash, a dead endpoint) asks again only what was not answered.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import LabelParams, Params, TeacherParams
from mira_core.errors import ConfigError, MiraError
from mira_core.failure_budget import check_failure_budget
from mira_core.grouping import members, read_groups
from mira_core.io import write_json, write_parquet
from mira_core.labels import FAILURES, plan_sample
from mira_core.layout import Layout
from mira_core.rubric import load_rubrics
from mira_core.teachers import api_key
from mira_core.teachers.spend import cap_error
from tasks.label import label_chunk


def add_stats(total: dict, part: dict) -> dict:
    for k, v in part.items():
        if isinstance(v, dict):
            total[k] = add_stats(total.get(k, {}), v)
        else:
            total[k] = round(total.get(k, 0) + v, 6)
    return total


def write_plan(lay: Layout, group: str, sources: list[str], p: LabelParams) -> Path:
    """The group's sample with its split, repeat flag and text, for the chunk tasks to slice."""
    shards = [s for src in sources for s in lay.corpus_shards(src)]
    corpus = pl.concat([pl.read_parquet(s, columns=["record_id", "source", "format", "text"]) for s in shards])
    plan = plan_sample(corpus.select("record_id", "source"), p).join(
        corpus.select("record_id", "format", "text"), on="record_id", how="left")
    return write_parquet(plan, lay.labels / "plans" / f"{group}.parquet")


@flow(name="label")
def label_flow(p: LabelParams, teacher: TeacherParams, root: str) -> dict:
    lay = Layout(Path(root))
    groups = members(read_groups(lay.group_map()))
    rubrics = load_rubrics(lay.rubrics)
    missing = [g for g in groups if g not in rubrics]
    if missing:
        raise ConfigError(f"no rubric for group(s) {', '.join(missing)} in {lay.rubrics} (run discover first)")
    usable = {g: s for g, s in groups.items() if rubrics[g].anchors}
    if not usable:
        raise ConfigError("every rubric is empty: nothing to label (see metrics/discover.json)")
    api_key(teacher, os.environ)  # a missing key fails here, before any spend
    with run_log(lay, "label") as log:
        for old in ("chunks", "repeats", "failures", "plans"):
            shutil.rmtree(lay.labels / old, ignore_errors=True)
        futures: dict[str, list] = {}
        run_id = uuid.uuid4().hex  # the chunks share one spending ledger: teacher.max_requests / max_cost per run
        for g, sources in usable.items():
            plan = write_plan(lay, g, sources, p)
            n = pl.scan_parquet(plan).select(pl.len()).collect().item()
            chunks = lay.labels / "chunks" / g
            futures[g] = [label_chunk.submit(
                g, plan, start, min(start + p.chunk_size, n), lay.rubrics / f"{g}.json", teacher, root,
                out=chunks / f"labels-{start:07d}.parquet", out_repeats=chunks / f"repeats-{start:07d}.parquet",
                out_failures=chunks / f"failures-{start:07d}.parquet", run_id=run_id)
                for start in range(0, n, p.chunk_size)]
        spend: dict = {}
        for fs in futures.values():
            for f in fs:
                add_stats(spend, f.result())
        log["tasks"] = states([f for fs in futures.values() for f in fs])
        per_group = {g: merge_group(lay, g) for g in usable}
        for f in lay.labels.glob("*.parquet"):  # labels of groups that no longer exist
            if f.stem not in usable:
                f.unlink()
        metrics = {"groups": per_group, "skipped_groups": sorted(set(groups) - set(usable)),
                   "teacher": {"provider": teacher.provider, "model": teacher.model, **spend}}
        write_json(metrics, lay.metrics_file("label"))
        # After the metrics, so a failed run still shows what it spent and lost.
        if capped := cap_error(spend, teacher.max_requests, teacher.max_cost):
            raise MiraError(f"label: {capped}")
        failures = pl.concat([pl.read_parquet(lay.labels / "failures" / f"{g}.parquet") for g in usable])
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


def merge_group(lay: Layout, g: str) -> dict:
    """Concatenate a group's chunks into data/labels/<g>.parquet, repeats/ and failures/; return its counts."""
    chunks = lay.labels / "chunks" / g
    labels = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("labels-*.parquet"))])
    repeats = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("repeats-*.parquet"))])
    failures = pl.concat([pl.read_parquet(f) for f in sorted(chunks.glob("failures-*.parquet"))], how="vertical")
    write_parquet(labels, lay.labels / f"{g}.parquet")
    write_parquet(repeats, lay.labels / "repeats" / f"{g}.parquet")
    write_parquet(failures if failures.height else pl.DataFrame(schema=FAILURES), lay.labels / "failures" / f"{g}.parquet")
    shutil.rmtree(chunks)
    split = dict(labels.group_by("split").len().iter_rows())
    return {"labeled": labels.height, "train": split.get("train", 0), "val": split.get("val", 0),
            "repeats": repeats.height, "failed": dict(failures.group_by("error_kind").len().iter_rows()),
            "by_source": dict(sorted(labels.group_by("source").len().iter_rows()))}


def run(params: Params, root: Path) -> dict:
    return label_flow.with_options(task_runner=task_runner(params.runner))(params.label, params.teacher, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "label", argv)


if __name__ == "__main__":
    main()
