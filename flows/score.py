"""Stage score: every corpus record scored by its group's student, shard by shard.

Reads: data/corpus/, data/embeddings/, data/students/, data/groups/. Writes: data/scores/<group>/<source>/part-N.parquet
(record_id, group, one float column per anchor, coverage, student_version, and a generative student's
rationales), metrics/score.json. A group whose every source is held out (select.held_out_sources) has no
student and is not scored.

The shard fan-out runs on a thread pool by default and on Dask with `runner.kind: dask` (a local
cluster, or the scheduler at `runner.address`); process-based Dask workers need a running Prefect
server (PREFECT_API_URL): the project's own, which the first stage starts (flows/servers.py), or, with
`runner.prefect_server_idle_s: 0`, one started by `mira ui`.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow

from flows.common import gather, prune, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import CacheParams, Params, ScoreParams
from mira_core.errors import ConfigError
from mira_core.grouping import judged_members, read_groups
from mira_core.io import write_json
from mira_core.layout import Layout, project_home, project_path
from mira_core.rubric import load_rubric
from mira_core.students.generative import LM_DIR
from tasks.caching import cached, submit
from tasks.score import score_one


def _why_no_student(lay: Layout, g: str) -> str:
    """Why distill left group g without a student: no rubric anchors (label then skips the group), or not run."""
    rubric = lay.rubrics / f"{g}.json"
    if rubric.exists() and not load_rubric(rubric).anchors:
        return (f"{g}: its rubric has no anchors, so label and distill skipped it; see metrics/discover.json "
                "(every judgment failed, or the filter stages drop every record discover could sample)")
    return f"{g}: run distill first"


def check_grouped(lay: Layout, groups: dict[str, str], corpus_shards: list[Path]) -> None:
    """A ConfigError naming the corpus's sources the group map has no group for: a source added since the group
    stage ran (`mira stage score` alone does not re-run it) failed on a bare KeyError."""
    ungrouped = sorted({s.parent.name for s in corpus_shards} - set(groups))
    if ungrouped:
        raise ConfigError(f"{lay.group_map()}: no group for source(s) {', '.join(ungrouped)} of {lay.corpus}: the "
                          "corpus changed after the group stage ran; run embed and group again (`dvc repro` does)")


def check_server_key(p: ScoreParams, students: list[Path]) -> None:
    """A ConfigError when a generative student is served (`generative_server.base_url`) and the variable its
    `api_key_env` names is not set: the request went without a key, and every shard failed on the server's 401
    after a task retry, in words that never named the knob. The teacher's key is checked the same way."""
    s = p.generative_server
    if not (s.base_url and s.api_key_env) or os.environ.get(s.api_key_env):
        return
    if any((folder / LM_DIR).exists() for folder in students):
        raise ConfigError(f"score.generative_server.api_key_env = {s.api_key_env!r}: that environment variable is "
                          "not set (export it, or set api_key_env to null for a server that needs no key)")


@flow(name="score")
def score_flow(p: ScoreParams, cache: CacheParams, root: str, held_out: list[str] | None = None) -> dict:
    lay = Layout(Path(root))
    groups = read_groups(lay.group_map())
    corpus = lay.corpus_shards()
    check_grouped(lay, groups, corpus)
    judged = judged_members(groups, held_out or [])  # the other groups were neither labeled nor distilled
    shards = [s for s in corpus if groups[s.parent.name] in judged]
    missing = sorted({groups[s.parent.name] for s in shards if not (lay.students / groups[s.parent.name]).exists()})
    if missing:
        raise ConfigError(f"no student for group(s) {', '.join(missing)} in {lay.students} ("
                          + "; ".join(_why_no_student(lay, g) for g in missing) + ")")
    check_server_key(p, [lay.students / g for g in sorted({groups[s.parent.name] for s in shards})])
    task = cached(score_one, cache, lay.root)
    path = p.generative_server.cache_path
    reply_cache = str(project_path(path, project_home(lay.root))) if p.generative_server.base_url and path else None
    with run_log(lay, "score") as log:
        outs = {}
        futures = []
        for s in shards:
            g = groups[s.parent.name]
            out = lay.scores / g / s.parent.name / s.name
            outs[out] = g
            futures.append(submit(task, s, lay.embedding_shard(s), lay.students / g, g, p.in_use(), out=out,
                                  reply_cache=reply_cache,
                                  embedding_stamp=lay.embedding_shard(s).with_suffix(".json")))
        results = gather(futures, "score", "shard")
        log["tasks"] = states(futures)
        prune(lay.scores.glob("*/*/part-*.parquet"), lambda f: f in outs)  # shards or groups no longer there
        per_group: dict[str, int] = {}
        for (_, g), r in zip(outs.items(), results, strict=True):
            per_group[g] = per_group.get(g, 0) + r["records"]
        metrics = {"records": sum(per_group.values()), "shards": len(shards), "groups": dict(sorted(per_group.items())),
                   "held_out_groups": sorted(set(groups.values()) - set(judged))}
        replies = [r["replies"] for r in results if "replies" in r]  # a generative student's replies
        if replies:
            metrics["replies"] = {k: sum(r[k] for r in replies) for k in replies[0]}
        write_json(metrics, lay.metrics_file("score"))
    publish_table("scores", "Records scored per group", ["group", "records"], [[g, n] for g, n in per_group.items()])
    print(f"score: {metrics['records']} records in {len(shards)} shards, " +
          ", ".join(f"{g} {n}" for g, n in metrics["groups"].items()))
    return metrics


def run(params: Params, root: Path) -> dict:
    return score_flow.with_options(task_runner=task_runner(params.runner))(params.score, params.cache, str(root),
                                                                        params.select.held_out_sources)


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "score", argv)


if __name__ == "__main__":
    main()
