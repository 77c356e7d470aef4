"""Task of the embed stage: one corpus shard embedded, resumable by shard."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import task
from tqdm.auto import tqdm

from mira_core.config import EmbedParams
from mira_core.embedding import embed_shard, load_encoder


@task(name="embed-shard", task_run_name="embed-{shard.parent.name}-{shard.stem}", retries=1, retry_delay_seconds=5)
def embed_one(shard: Path, p: EmbedParams, root: str, out: Path) -> dict:
    """Embed one corpus shard (skipped when its embeddings are already complete and current)."""
    enc = load_encoder(p, Path(root))
    rows = pl.scan_parquet(shard).select(pl.len()).collect().item()
    with tqdm(total=rows, desc=f"embed {shard.parent.name}/{shard.stem}", unit="rec", leave=False) as bar:
        return embed_shard(shard, out, enc, p, bar.update)
