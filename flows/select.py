"""Stage select: reliability mask, trimmed-mean scores and source-preserving selection to the token budget,
with the baselines at the same budget.

Reads: data/corpus/, data/scores/, data/groups/, data/rubrics/, metrics/students.json (and data/labels/,
data/embeddings/ for the single-rubric baseline). Writes: data/selection/<method>/manifest.parquet,
data/selection/mask.parquet, data/selection/mira/records/ (materialized), metrics/select.json.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import prune, require, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import CacheParams, Params, SelectParams
from mira_core.io import read_json, write_json
from mira_core.layout import Layout
from mira_core.manifests import oracle_summary
from mira_core.selection import budget_tokens, mask_summary, stage_metrics
from tasks.caching import cached, submit
from tasks.select import materialize_kept, select_ablation, select_baseline, select_mira


@flow(name="select")
def select_flow(p: SelectParams, cache: CacheParams, root: str) -> dict:
    lay = Layout(Path(root))
    students = require(lay.metrics_file("students"), "distill")
    ingest = read_json(require(lay.metrics_file("ingest"), "ingest"))
    group_map = require(lay.group_map(), "group")
    # Before any work: an impossible budget is an error now, not after every method has been selected.
    budget_tokens(p.budget, sum(r["n_tokens"] for s, r in ingest["sources"].items() if s not in p.held_out_sources))
    out = lay.selection
    with run_log(lay, "select") as log:
        futures = {"mira": submit(cached(select_mira, cache, lay.root), p, group_map, lay.corpus, lay.scores, students,
                                  lay.rubrics, lay.labels, out=out / "mira" / "manifest.parquet",
                                  out_mask=out / "mask.parquet", out_oracle=out / "oracle.parquet")}
        for a in p.ablations:
            futures[f"mira_{a}"] = submit(cached(select_ablation, cache, lay.root), a, p, group_map, lay.corpus,
                                          lay.scores, students, lay.rubrics, out=out / f"mira_{a}" / "manifest.parquet")
        for m in p.baselines:
            futures[m] = submit(cached(select_baseline, cache, lay.root), m, p, group_map, lay.corpus, lay.labels,
                                lay.embeddings, out=out / m / "manifest.parquet")
        results = {m: f.result() for m, f in futures.items()}
        prune(out.iterdir(), lambda d: not d.is_dir() or d.name in futures)  # methods no longer asked for
        manifests = {m: pl.read_parquet(out / m / "manifest.parquet") for m in futures}
        metrics = stage_metrics(p, manifests, ingest)
        materialized = {}
        if p.materialize != "none":
            fut = submit(cached(materialize_kept, cache, lay.root), out / "mira" / "manifest.parquet", p.materialize,
                         lay.corpus, out=out / "mira" / "records")
            materialized = fut.result()
            futures["materialize"] = fut
        log["tasks"] = states(futures.values())
        metrics |= {"mask": mask_summary(pl.read_parquet(out / "mask.parquet")),
                    "no_reliable_anchor": results["mira"]["no_reliable_anchor"], "materialized": materialized,
                    "oracle": oracle_summary(pl.read_parquet(out / "oracle.parquet"))}
        write_json(metrics, lay.metrics_file("select"))
    per_method = metrics["methods"]
    m = per_method["mira"]
    print(f"select: MIRA keeps {m['kept_records']} of {m['records']} records, {m['kept_tokens']} of "
          f"{m['selectable_tokens']} selectable tokens ({m['kept_token_share']:.1%}); mask {metrics['mask']['on']} on / "
          f"{metrics['mask']['off']} off; teacher-oracle agreement on labeled records: Spearman "
          f"{metrics['oracle']['all']['spearman']}, kept overlap {metrics['oracle']['all']['kept_overlap']}; "
          "baselines: " + ", ".join(
              f"{k} {v['kept_token_share']:.1%}" for k, v in per_method.items() if k != "mira"))
    publish_table("select-retention", "Tokens kept per source, by method",
                  ["source", *per_method], [[s, *(f"{per_method[k]['by_source'][s]['kept_token_share']:.1%}"
                                                  for k in per_method)] for s in m["by_source"]])
    return metrics


def run(params: Params, root: Path) -> dict:
    return select_flow.with_options(task_runner=task_runner(params.runner))(params.select, params.cache, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "select", argv)


if __name__ == "__main__":
    main()
