"""Task of the ingest stage: one source rendered, counted and quarantined."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source


@task(name="ingest-source", task_run_name="ingest-{spec.name}")
def ingest_one(spec: SourceSpec, p: IngestParams, inputs: list[Path], root: str, out: Path, out_quarantine: Path
               ) -> dict:
    """Ingest one source; `inputs` are the files it reads (their content keys the cache)."""
    return ingest_source(spec, p, Path(root), out, out_quarantine)
