"""Stage decontaminate: records that share n-grams with benchmark items (HumanEval by default) are listed with
the item they match; select drops them with the reason `contaminated`, and the report lists the matches."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import require, run_log, stage_main, states
from flows.publish import publish_table
from mira_core.config import CacheParams, Params
from mira_core.decontaminate import resolve_path
from mira_core.errors import ConfigError
from mira_core.filter_params import DecontaminateParams
from mira_core.io import write_json
from mira_core.layout import Layout
from tasks.caching import cached, submit
from tasks.decontaminate import decontaminate_all


def benchmark_files(p: DecontaminateParams, root: Path) -> list[Path]:
    """The files of `p.benchmarks`; a ConfigError names the key of one that cannot be found."""
    files = []
    for i, b in enumerate(p.benchmarks if p.enabled else []):
        try:
            files.append(resolve_path(b.path, root))
        except ConfigError as e:
            raise ConfigError(f"decontaminate.benchmarks[{i}].path ({b.name}): {e}") from None
    return files


@flow(name="decontaminate")
def decontaminate_flow(p: DecontaminateParams, cache: CacheParams, root: str) -> dict:
    lay = Layout(Path(root))
    require(lay.corpus, "ingest")
    files = benchmark_files(p, lay.root)  # a missing file fails here, before any work
    with run_log(lay, "decontaminate") as log:
        fut = submit(cached(decontaminate_all, cache, lay.root), lay.corpus, p, files, root,
                     out=lay.decontaminate)
        metrics = fut.result()
        log["tasks"] = states([fut])
        write_json(metrics, lay.metrics_file("decontaminate"))
    t = metrics["total"]
    publish_table("decontaminate", "Records dropped per benchmark", ["benchmark", "items", "records dropped"],
                  [[b, r["items"], r["records_dropped"]] for b, r in metrics["benchmarks"].items()])
    print(f"decontaminate: {t['records_dropped']} of {t['records_in']} records overlap "
          + (", ".join(f"{b} ({r['records_dropped']})" for b, r in metrics["benchmarks"].items()) or "no benchmark"))
    for line in unchecked(metrics):
        print(f"decontaminate: warning: {line}", file=sys.stderr)
    return metrics


def unchecked(metrics: dict) -> list[str]:
    """A line per benchmark of which no item can be matched: with decontaminate.min_matches above an item's count of
    distinct n-grams, not even a verbatim copy is dropped, so the benchmark checks nothing (a benchmark without
    one n-gram is refused outright; this one is said, its count is in metrics as items_unmatchable)."""
    return [f"benchmark {b!r}: none of its {r['items']} items has decontaminate.min_matches = "
            f"{metrics['min_matches']} distinct {metrics['ngram']}-word n-grams, so it checks nothing (lower "
            "min_matches or ngram)" for b, r in metrics["benchmarks"].items() if r["items"] and
            r["items_unmatchable"] == r["items"]]


def run(params: Params, root: Path) -> dict:
    return decontaminate_flow(params.decontaminate, params.cache, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "decontaminate", argv)


if __name__ == "__main__":
    main()
