"""Stage discover: per group, free-form teacher judgments clustered into a rubric of anchors.

Reads: data/corpus/, data/groups/, data/dedup/ and data/decontaminate/ (what they drop is never sampled). Held-out
sources (select.held_out_sources) are never sampled either, and a group of only held-out sources gets no rubric.
Writes: data/rubrics/<group>.json, data/rubrics/{judgments,failures}/<group>.parquet,
metrics/discover.json.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import gather, named_for, prune, require, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import DiscoverParams, EmbedParams, Params, TeacherParams
from mira_core.errors import MiraError
from mira_core.failure_budget import check_failure_budget
from mira_core.grouping import judged_members, read_groups
from mira_core.io import write_json
from mira_core.layout import Layout
from mira_core.rubric import format_rubric, load_rubric
from mira_core.teachers import api_key
from mira_core.teachers.base import sum_stats
from mira_core.teachers.spend import cap_error
from tasks.discover import discover_group


def teacher_totals(per_group: dict[str, dict]) -> dict:
    """Teacher spend summed over groups."""
    total: dict = {}
    for g in per_group.values():
        sum_stats(total, g["teacher"])
    return total


def no_anchors_why(report: dict, lay: Layout) -> str:
    """Why a group's rubric has no anchor (a judgment has at least one point): no record of its sources was left
    to sample, or every sampled record's judgment failed."""
    if not report["sampled"]:
        return (f"no record of its sources {', '.join(report['sources'])} is left to judge after the filter stages "
                f"drop theirs ({lay.dedup}, {lay.decontaminate})")
    return f"all {report['sampled']} judgments failed; see {lay.rubrics / 'failures'}/*.parquet"


@flow(name="discover")
def discover_flow(p: DiscoverParams, teacher: TeacherParams, embed: EmbedParams, root: str,
                   held_out: list[str] | None = None) -> dict:
    lay = Layout(Path(root))
    group_map = read_groups(lay.group_map())
    groups = judged_members(group_map, held_out or [])  # not empty: params refuse holding out every source
    filters = (require(lay.dedup, "dedup"), require(lay.decontaminate, "decontaminate"))
    api_key(teacher, os.environ)  # a missing key fails here, before any spend
    # No Prefect task cache here: the teacher's request cache already makes a re-run free, and unlike a
    # task cache it asks transient failures (429s, timeouts) again instead of serving them back.
    task = discover_group
    with run_log(lay, "discover") as log:
        run_id = uuid.uuid4().hex  # the groups share one spending ledger: teacher.max_requests / max_cost per run
        futures = {g: task.submit(g, srcs, [s for src in srcs for s in lay.corpus_shards(src)], *filters, p,
                                  teacher, embed,
                             root, out=lay.rubrics / f"{g}.json", out_judgments=lay.rubrics / "judgments" / f"{g}.parquet",
                             out_failures=lay.rubrics / "failures" / f"{g}.parquet", run_id=run_id,
                             held_out=held_out or [])
                   for g, srcs in groups.items()}
        per_group = dict(zip(futures, gather(futures.values(), "discover", "group"), strict=True))
        log["tasks"] = states(futures.values())
        prune([*lay.rubrics.glob("*.json"), *lay.rubrics.glob("*/*.parquet")],  # groups that no longer exist
              named_for(groups, ".json", ".parquet"))
        empty = [g for g, r in per_group.items() if r["anchors"] == 0]
        metrics = {"groups": per_group, "held_out_sources": sorted(set(held_out or []) & set(group_map)),
                   "held_out_groups": sorted(set(group_map.values()) - set(groups)),
                   "teacher": {"provider": teacher.provider, "model": teacher.model, **teacher_totals(per_group)}}
        write_json(metrics, lay.metrics_file("discover"))
        # After the metrics, so a failed run still shows what it spent and lost. A rubric from a capped run
        # rests on fewer judgments than sampled: the stage fails, and the re-run with a raised cap completes it.
        if capped := cap_error(metrics["teacher"], teacher.max_requests, teacher.max_cost):
            raise MiraError(f"discover: {capped}")
        failures = pl.concat([pl.read_parquet(lay.rubrics / "failures" / f"{g}.parquet", glob=False) for g in per_group])
        check_failure_budget("discover", sum(r["sampled"] for r in per_group.values()), failures,
                             teacher.max_failure_rate, f"{lay.rubrics / 'failures'}/*.parquet")
        if len(empty) == len(per_group):
            raise MiraError("discover: no group got a single anchor: " + "; ".join(
                f"group {g}: {no_anchors_why(per_group[g], lay)}" for g in empty))
    rows = []
    for g in per_group:
        rubric = load_rubric(lay.rubrics / f"{g}.json")
        print(format_rubric(rubric).splitlines()[0])
        rows += [[g, rubric.version, a.id, a.name, a.support] for a in rubric.anchors]
    publish_table("rubrics", "Anchors per group", ["group", "version", "anchor", "name", "support"], rows)
    for g in empty:
        print(f"discover: WARNING group {g} has no anchors ({no_anchors_why(per_group[g], lay)})")
    t = metrics["teacher"]
    print(f"discover: {len(per_group)} rubrics; teacher {teacher.provider}/{teacher.model}: {t['requests']} requests, "
          f"{t['cache_hits']} from cache, {t['calls']} calls")
    return metrics


def run(params: Params, root: Path) -> dict:
    return discover_flow.with_options(task_runner=task_runner(params.runner))(
        params.discover, params.teacher, params.embed, str(root), params.select.held_out_sources)


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "discover", argv)


if __name__ == "__main__":
    main()
