"""Task of the score stage: one corpus shard scored by its group's student."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.scoring import score_shard


@task(name="score-shard", task_run_name="score-{corpus_shard.parent.name}-{corpus_shard.stem}",
      retries=1, retry_delay_seconds=5)
def score_one(corpus_shard: Path, embedding_shard: Path, student: Path, group: str, batch_size: int, out: Path
              ) -> dict:
    """Score one corpus shard with its group's student."""
    return score_shard(corpus_shard, embedding_shard, student, group, out, batch_size)
