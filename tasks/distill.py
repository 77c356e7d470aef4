"""Task of the distill stage: one student fitted per group."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import task

from mira_core.config import DistillParams, EmbedParams
from mira_core.distillation import distill_group
from mira_core.io import atomic_dir, atomic_path
from mira_core.rubric import load_rubric


@task(name="distill-group", task_run_name="distill-{group}")
def distill_one(group: str, labels: Path, repeats: Path, rubric: Path, corpus_shards: list[Path],
                embedding_shards: list[Path], p: DistillParams, embed: EmbedParams, base_model: Path | None, out: Path,
                out_plot: Path, embedding_stamps: list[Path] | None = None) -> dict:
    """Fit one group's student; writes its checkpoint folder and its val predictions for the plots. `base_model`:
    the generative student's base folder, resolved against the project (None for the other students).
    `embedding_stamps`: the `<shard>.json` beside each embedding shard, read (by distill_group, through the shards'
    paths) for the encoder the student is stamped with; passed so that they key the cache, as the shards do."""
    with atomic_dir(out) as tmp:
        report, plot = distill_group(pl.read_parquet(labels, glob=False), pl.read_parquet(repeats, glob=False),
                                     load_rubric(rubric), p, embed, corpus_shards, embedding_shards, tmp, base_model)
    with atomic_path(out_plot) as tmp:
        plot.select("anchor", "source", "teacher", "student").write_csv(tmp)
    return report
