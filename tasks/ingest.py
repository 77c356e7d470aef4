"""Task of the ingest stage: one source rendered, counted and quarantined."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source


@task(name="ingest-source", task_run_name="ingest-{spec.name}")
def ingest_one(spec: SourceSpec, p: IngestParams, inputs: list[Path | dict], root: str, out: Path,
               out_quarantine: Path) -> dict:
    """Ingest one source; `inputs` are what it reads and key the cache: local files (by content) or, for a URL
    source, each object's URL, size, ETag and mtime."""
    return ingest_source(spec, p, Path(root), out, out_quarantine)
