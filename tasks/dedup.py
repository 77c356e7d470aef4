"""Task of the dedup stage: near-duplicates of the whole corpus (MinHash LSH needs every record at once)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.dedup import run_dedup
from mira_core.filter_params import DedupParams
from mira_core.io import atomic_dir


@task(name="dedup-corpus")
def dedup_all(corpus: Path, p: DedupParams, out: Path) -> dict:
    """Writes dropped.parquet and counts.parquet under `out` (all or nothing); returns the stage's metrics."""
    with atomic_dir(out) as tmp:
        return run_dedup(corpus, p, tmp)
