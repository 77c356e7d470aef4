"""Stage ingest: read every source, render to canonical text, count tokens, quarantine bad records.

Reads: the sources named in params.yaml (JSONL plain/.gz/.zst, Parquet, folders of files).
Writes: data/corpus/<source>/part-*.parquet, data/quarantine/<source>/part-*.parquet, metrics/ingest.json.

A source that keeps no record is named under `empty_sources` in metrics/ingest.json; the stage
then fails with a message naming it and its path, unless the source is marked `optional`, when it
is only a warning. The metrics are written first, so the counts that explain it are there to read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows.common import gather, prune, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import CacheParams, IngestParams, Params, RunnerParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import empty_source_problem, source_inputs, totals, untracked_by_dvc
from mira_core.ingest.tokens import token_counter
from mira_core.io import write_json
from mira_core.layout import Layout
from tasks.caching import cached, submit
from tasks.ingest import ingest_one


@flow(name="ingest")
def ingest_flow(sources: tuple[SourceSpec, ...], p: IngestParams, runner: RunnerParams, cache: CacheParams,
                root: str) -> dict:
    """Ingest every source in parallel; write metrics/ingest.json whose counts balance."""
    lay = Layout(Path(root))
    inputs = [source_inputs(s, i, lay.root) for i, s in enumerate(sources)]  # fail before any work
    counter = token_counter(p.tokenizer, lay.root)  # the tokenizer that counts: a bad path fails here
    for warning in untracked_by_dvc({s.name: files for s, files in zip(sources, inputs, strict=True)}, lay.root):
        print(f"ingest: warning: {warning}", file=sys.stderr)
    task = cached(ingest_one, cache, lay.root)
    with run_log(lay, "ingest") as log:
        # The tokenizer file is an input too: an edited tokenizer.json at the same path is not served from cache.
        futures = [submit(task, s, p, [*files, counter.path], root, out=lay.corpus / s.name,
                          out_quarantine=lay.quarantine / s.name)
                   for s, files in zip(sources, inputs, strict=True)]
        reports = {s.name: r for s, r in zip(sources, gather(futures, "ingest", "source"), strict=True)}
        log["tasks"] = states(futures)
        names = {s.name for s in sources}
        # Sources no longer in params leave no stale shards.
        prune([*lay.corpus.iterdir(), *lay.quarantine.iterdir()], lambda c: not c.is_dir() or c.name in names)
        problems = {s.name: msg for s in sources
                    if (msg := empty_source_problem(s, reports[s.name], _rel(lay.quarantine / s.name, lay.root)))}
        metrics = {"sources": reports, "total": totals(reports), "empty_sources": sorted(problems),
                   "tokenizer": counter.identity}
        write_json(metrics, lay.metrics_file("ingest"))
    publish_table("ingest-counts", "Records per source", ["source", "read", "kept", "quarantined", "tokens"],
                  [[s, r["read"], r["kept"], r["quarantined"], r["n_tokens"]] for s, r in reports.items()])
    t = metrics["total"]
    print(f"ingest: read {t['read']}, kept {t['kept']}, quarantined {t['quarantined']} "
          f"({', '.join(f'{k} {v}' for k, v in t['by_reason'].items()) or 'none'}); {t['n_tokens']} tokens")
    errors = []
    for s in sources:
        if s.name in problems and s.optional:
            print(f"ingest: warning: {problems[s.name]} (it is optional: ingest goes on)", file=sys.stderr)
        elif s.name in problems:
            errors.append(f"{problems[s.name]}. If that is expected, mark the source `optional: true` in params.yaml.")
    if errors:
        raise ConfigError("\n".join(errors))
    return metrics


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def run(params: Params, root: Path) -> dict:
    return ingest_flow.with_options(task_runner=task_runner(params.runner))(
        params.sources, params.ingest, params.runner, params.cache, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "ingest", argv)


if __name__ == "__main__":
    main()
