"""Tasks of the embed and group stages."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import task
from tqdm.auto import tqdm

from mira_core.config import EmbedParams, GroupParams
from mira_core.embedding import embed_shard, load_encoder
from mira_core.grouping import cluster, group_table, plot_similarity, similarity, similarity_table, source_centroids
from mira_core.io import write_parquet


@task(name="embed-shard", task_run_name="embed-{shard.parent.name}-{shard.stem}", retries=1, retry_delay_seconds=5)
def embed_one(shard: Path, p: EmbedParams, root: str, out: Path) -> dict:
    """Embed one corpus shard (skipped when its embeddings are already complete and current)."""
    enc = load_encoder(p, Path(root))
    rows = pl.scan_parquet(shard).select(pl.len()).collect().item()
    with tqdm(total=rows, desc=f"embed {shard.parent.name}/{shard.stem}", unit="rec", leave=False) as bar:
        return embed_shard(shard, out, enc, p, bar.update)


@task(name="group-sources")
def group_sources(embeddings: Path, p: GroupParams, out: Path) -> dict:
    """Centroids, similarity matrix, clustering; writes the group map, the matrix and its heatmap."""
    shards = {d.name: sorted(d.glob("part-*.parquet")) for d in sorted(embeddings.iterdir()) if d.is_dir()}
    names, centroids, counts = source_centroids(shards)
    assign, info = cluster(names, centroids, p)
    sim = similarity(centroids)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(group_table(assign, info["method"]), out / "groups.parquet")
    write_parquet(similarity_table(names, sim), out / "similarity.parquet")
    plot_similarity(names, sim, assign, out / "similarity.png")
    members: dict[str, list[str]] = {}
    for s, g in sorted(assign.items()):
        members.setdefault(g, []).append(s)
    return {**info, "groups": members, "records": counts}
