"""Task of the group stage: cluster sources by the centroids of their embeddings."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.config import GroupParams
from mira_core.grouping import group_sources


@task(name="group-sources")
def group_one(embeddings: Path, p: GroupParams, out: Path, held_out: tuple[str, ...] = ()) -> dict:
    """Writes the group map, the similarity matrix and its heatmap under `out`; returns the stage's metrics."""
    return group_sources(embeddings, p, out, held_out)
