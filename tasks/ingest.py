"""Tasks of the demo_corpus and ingest stages."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.config import DemoCorpusParams, IngestParams, SourceSpec
from mira_core.demo_corpus import build_demo_corpus
from mira_core.ingest.source import ingest_source


@task(name="build-demo-corpus")
def build_demo(p: DemoCorpusParams, out: Path) -> dict[str, int]:
    """Write the demo sources under `out`; returns records per source."""
    return build_demo_corpus(out, p)


@task(name="ingest-source", task_run_name="ingest-{spec.name}")
def ingest_one(spec: SourceSpec, p: IngestParams, inputs: list[Path], root: str, out: Path, out_quarantine: Path
               ) -> dict:
    """Ingest one source; `inputs` are the files it reads (their content keys the cache)."""
    return ingest_source(spec, p, Path(root), out, out_quarantine)
