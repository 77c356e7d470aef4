"""Near-duplicate clustering at scale: `dedup.near_duplicates` on generated records, with and without a large
cluster of near-copies of one page (a site's boilerplate around a line of its own).

    python -m bench.run --only dedup

`python -m bench.dedup measure N SHARE` (a child process, so that its peak RSS is its own) writes N seeded records
of 60 words drawn from 20,000 over ten sources, SHARE of them one 80-word template with a word of their own, as
corpus shards of 5,000 records; computes their MinHash signatures shard by shard as the stage does (not timed);
then times `near_duplicates` over all of them, the part whose cost grows with the clusters.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, peak_rss_mb

SIZES = (20_000, 80_000)
SHARES = (0.0, 0.1)
WORDS = 20_000
PER_SHARD = 5_000
SOURCES = 10


def generate(folder: Path, n: int, share: float, seed: int = 0) -> list[Path]:
    """The corpus shards of `n` records, `share` of them near-copies of one template page."""
    import polars as pl

    from mira_core.io import write_parquet
    from mira_core.schema import CORPUS

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(WORDS)]
    template = " ".join(rng.choice(words) for _ in range(80))
    rows = []
    for i in range(n):
        text = f"{template} tail{i}" if rng.random() < share else " ".join(rng.choice(words) for _ in range(60))
        rows.append({"record_id": f"s{i % SOURCES:02d}/{i:08d}", "source": f"s{i % SOURCES:02d}", "format": "text",
                     "text": text, "n_tokens": len(text) // 4, "n_chars": len(text), "meta": "{}"})
    df = pl.DataFrame(rows, schema=CORPUS)
    paths = []
    for (source,), part in df.group_by("source", maintain_order=True):
        for k in range(0, part.height, PER_SHARD):
            path = folder / source / f"part-{k // PER_SHARD:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(part.slice(k, PER_SHARD), path)
            paths.append(path)
    return sorted(paths)


def measure(n: int, share: float) -> dict:
    from mira_core.dedup import minhash_shard, near_duplicates
    from mira_core.filter_params import DedupParams

    p = DedupParams()
    with tempfile.TemporaryDirectory() as d:
        signatures = [minhash_shard(path, p) for path in generate(Path(d), n, share)]
        t0 = time.perf_counter()
        result = near_duplicates(signatures, p)
        seconds = time.perf_counter() - t0
    return {"records": n, "share": share, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
            "clusters": result.clusters, "dropped": result.dropped.height, "bands": list(result.lsh_bands)}


if __name__ == "__main__":
    if sys.argv[1:2] != ["measure"] or len(sys.argv) != 4:
        sys.exit("usage: python -m bench.dedup measure N SHARE")
    emit(measure(int(sys.argv[2]), float(sys.argv[3])))
