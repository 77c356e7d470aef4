"""Task of the score stage: one corpus shard scored by its group's student."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import task

from mira_core.config import ScoreParams
from mira_core.scoring import score_shard


@task(name="score-shard", task_run_name="score-{corpus_shard.parent.name}-{corpus_shard.stem}",
      retries=1, retry_delay_seconds=5)
def score_one(corpus_shard: Path, embedding_shard: Path, student: Path, group: str, p: ScoreParams, out: Path,
              reply_cache: str | None = None, embedding_stamp: Path | None = None) -> dict:
    """Score one corpus shard with its group's student (a generative one through `p.generative_server` when
    it names a server; its API key is read here from the environment, never passed as an argument).
    `reply_cache`: the served replies' SQLite file, resolved against the project (a string: its changing
    content must not key this task's cache). `embedding_stamp`: the `<shard>.json` beside the embedding shard,
    which score_shard checks against the student's inputs; passed so that it keys the cache (a re-embed that
    wrote the same vectors but another stamp must be checked again, not served)."""
    s = p.generative_server
    server = None
    if s.base_url:
        from mira_core.redact import usable_key

        key = usable_key(os.environ.get(s.api_key_env) if s.api_key_env else None, s.api_key_env,
                         "score.generative_server.api_key_env")
        server = {"base_url": s.base_url, "model": s.model, "concurrency": s.concurrency, "timeout": s.timeout_s,
                  "api_key": key, "cache": reply_cache}
    return score_shard(corpus_shard, embedding_shard, student, group, out, p.batch_size, server)
