"""Stage dedup: near-duplicate records across sources, found with MinHash LSH; select drops all but one of each
cluster with the reason `near_duplicate`. Exact duplicates within a source are already gone at ingest."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import require, run_log, stage_main, states
from flows.publish import publish_table
from mira_core.config import CacheParams, Params
from mira_core.filter_params import DedupParams
from mira_core.io import write_json
from mira_core.layout import Layout
from tasks.caching import cached, submit
from tasks.dedup import dedup_all


@flow(name="dedup")
def dedup_flow(p: DedupParams, cache: CacheParams, root: str) -> dict:
    lay = Layout(Path(root))
    require(lay.corpus, "ingest")
    with run_log(lay, "dedup") as log:
        fut = submit(cached(dedup_all, cache, lay.root), lay.corpus, p, out=lay.dedup)
        metrics = fut.result()
        log["tasks"] = states([fut])
        write_json(metrics, lay.metrics_file("dedup"))
    t = metrics["total"]
    publish_table("dedup", "Near-duplicates dropped per source", ["source", "records", "dropped", "tokens dropped"],
                  [[s, r["records_in"], r["records_dropped"], r["tokens_dropped"]] for s, r in metrics["sources"].items()])
    print(f"dedup: {t['records_dropped']} of {t['records_in']} records are near-copies "
          f"({metrics.get('clusters', 0)} clusters, {metrics.get('cross_source_clusters', 0)} across sources"
          + (f"; {metrics['joined_by_chain']} of the dropped joined only through another member, under the threshold "
             "against the kept record" if metrics.get("joined_by_chain") else "") + ")"
          + ("" if p.enabled else " (dedup.enabled: false)"))
    return metrics


def run(params: Params, root: Path) -> dict:
    return dedup_flow(params.dedup, params.cache, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "dedup", argv)


if __name__ == "__main__":
    main()
