"""Task of the embed stage: one corpus shard embedded, resumable by shard."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import task
from tqdm.auto import tqdm

from mira_core.config import EmbedParams
from mira_core.embedding import embed_shard, load_encoder
from mira_core.errors import ConfigError
from mira_core.io import DAMAGED_PARQUET, unreadable_parquet
from mira_core.progress import progress_enabled


@task(name="embed-shard", task_run_name="embed-{shard.parent.name}-{shard.stem}", retries=1, retry_delay_seconds=5)
def embed_one(shard: Path, p: EmbedParams, root: str, out: Path, stamp: dict | None = None,
              out_stamp: Path | None = None) -> dict:
    """Embed one corpus shard (skipped when its embeddings are already complete and current). `stamp`: the
    encoder's fingerprint (embedding.fingerprint, by content), passed so that it keys the task cache: the params
    name an encoder by path or name, and a model retrained or upgraded there must not be served old vectors.
    `out_stamp`: the stamp `embed_shard` writes beside `out` (<shard>.json), named so that the task cache checks
    it as an output too: deleted, it was never written again, and score refused the shard for lack of it."""
    enc = load_encoder(p, Path(root))
    try:  # by name, not as a glob pattern: under a folder such as "runs [2]" the pattern matched nothing
        rows = pl.scan_parquet(shard, glob=False).select(pl.len()).collect().item()
    except DAMAGED_PARQUET as e:  # polars' own message names no file
        raise ConfigError(unreadable_parquet([shard], e)) from e
    with tqdm(total=rows, desc=f"embed {shard.parent.name}/{shard.stem}", unit="rec", leave=False,
              disable=not progress_enabled()) as bar:
        return embed_shard(shard, out, enc, p, bar.update)
