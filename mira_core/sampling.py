"""Deterministic samples stratified by source.

Each source gets an equal share of the sample; a source with fewer records than its share gives
the rest to the others (water-filling), so small sources are fully represented and large ones do
not crowd them out. Within a source, records are taken in the order of a seeded hash of their id:
the same seed gives the same sample on every machine, and growing a sample keeps its earlier part.
"""

from __future__ import annotations

import polars as pl


def quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Records to take per source: equal shares of n, capped by each source's size, leftovers shared."""
    take = dict.fromkeys(sizes, 0)
    left = {s: c for s, c in sizes.items() if c > 0}
    budget = min(n, sum(left.values()))
    while budget > 0 and left:
        share, extra = divmod(budget, len(left))
        for i, s in enumerate(sorted(left)):
            t = min(share + (i < extra), left[s])
            take[s] += t
            left[s] -= t
            budget -= t
        left = {s: c for s, c in left.items() if c > 0}
    return take


def seeded_order(seed: int) -> pl.Expr:
    """A deterministic pseudo-random sort key per record_id."""
    return pl.col("record_id").hash(seed=seed)


def stratified_sample(index: pl.DataFrame, n: int, seed: int, by: str = "source") -> pl.DataFrame:
    """Up to n rows of `index` (needs record_id and `by`), stratified by `by`, in a stable order."""
    sizes = dict(index.group_by(by).len().iter_rows())
    q = quotas(sizes, n)
    ranked = index.with_columns(_k=seeded_order(seed)).sort(by, "_k", "record_id")
    ranked = ranked.with_columns(_r=pl.int_range(pl.len()).over(by))
    picked = ranked.filter(pl.col("_r") < pl.col(by).replace_strict(q, return_dtype=pl.Int64))
    return picked.drop("_k", "_r")
