"""Deterministic samples stratified by source, and a covering sample of the records a random one misses.

Each source gets an equal share of the sample; a source with fewer records than its share gives
the rest to the others (water-filling), so small sources are fully represented and large ones do
not crowd them out. Within a source, records are taken in the order of a seeded hash of their id:
the same seed gives the same sample on every machine, and growing a sample keeps its earlier part (its
random part: a covering sample depends on the records already picked). The hash is polars', which polars keeps
stable within a version only: the pinned polars (pyproject.toml) is part of that promise, and an upgrade may
draw another sample.

A random sample of a few hundred records per group misses the rare kinds (a spam page in a thousand docs, a
minified file among test files), and a student never shown one cannot score it. `cover_order` picks records
that cover the feature space instead (greedy k-center), so the label stage can spend part of its train sample
on them (`label.cover_share`); its val sample stays random, so what it measures stays unbiased.

`keyed_uniform` and `keyed_order` are the same idea for draws outside polars (the proxy evaluation's tokenizer
sample, general slice, target order and repeats; the planted corpus's splits): a BLAKE2b hash of a salt and each
key, so one record added to a corpus moves no other record's draw, on any machine and any library version.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import polars as pl


def quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Records to take per source: equal shares of n, capped by each source's size, leftovers shared (max-min
    fair: every source takes min(its size, L) for the largest level L the sample holds, and the few records left
    go one each to the sources above L, by name). Each round of an earlier version gave its odd records to the
    same first names, so one source could end several records above another that still had some."""
    take = dict.fromkeys(sizes, 0)
    left = {s: c for s, c in sizes.items() if c > 0}
    budget = min(n, sum(left.values()))
    lo, hi = 0, max(left.values(), default=0)
    while lo < hi:  # the largest level whose capped shares fit the sample
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sum(min(c, mid) for c in left.values()) <= budget else (lo, mid - 1)
    for s, c in left.items():
        take[s] = min(c, lo)
    rest = budget - sum(take.values())  # fewer than the sources above the level, or the level would be higher
    for s in sorted(s for s, c in left.items() if c > lo)[:rest]:
        take[s] += 1
    return take


def keyed_uniform(keys: Sequence[str], salt: str) -> np.ndarray:
    """A pseudo-random number in [0, 1) per key, from a BLAKE2b hash of `salt` and the key alone.

    A key's number does not depend on the other keys, so a record added to or removed from a corpus moves no
    other record's draw. A seeded shuffle of positions re-draws them all: one package more in the installation
    re-drew the proxy's tokenizer sample and the planted corpus's split of modules (session 45).
    """
    # 53 bits: a float holds them exactly, so no number rounds up to 1.0
    return np.array([(int.from_bytes(hashlib.blake2b(f"{salt}\0{k}".encode("utf-8", "surrogatepass"),
                                                    digest_size=8).digest(), "little") >> 11) / 2**53 for k in keys],
                    dtype=np.float64)


def keyed_order(keys: Sequence[str], salt: str) -> list[int]:
    """The positions of `keys` in the order of their `keyed_uniform` numbers, ties by position."""
    return np.argsort(keyed_uniform(keys, salt), kind="stable").tolist()


def seeded_order(seed: int) -> pl.Expr:
    """A deterministic pseudo-random sort key per record_id."""
    return pl.col("record_id").hash(seed=seed)


def stratified_sample(index: pl.DataFrame, n: int, seed: int, by: str = "source") -> pl.DataFrame:
    """Up to n rows of `index` (needs record_id and `by`), stratified by `by`, in a stable order."""
    sizes = dict(index.group_by(by).len().iter_rows())
    q = quotas(sizes, n)
    ranked = index.with_columns(_k=seeded_order(seed)).sort(by, "_k", "record_id")
    ranked = ranked.with_columns(_r=pl.int_range(pl.len()).over(by))
    # default 0: on an empty index `q` is empty, and replace_strict then failed comparing strings with integers
    picked = ranked.filter(pl.col("_r") < pl.col(by).replace_strict(q, default=0, return_dtype=pl.Int64))
    return picked.drop("_k", "_r")


def cover_features(embedding: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
    """The space `cover_order` measures distances in: each embedding scaled to unit length, beside each document
    statistic's rank among these rows (tied values share their average rank, so equal statistics are equal
    features whatever the rows' order). Each block is then scaled so that the mean squared distance between two
    rows is the same in both: the embeddings and the statistics weigh alike, and a statistic constant over
    these rows weighs nothing. Ranks, not values: counts such as words or line lengths are heavy-tailed, and on
    raw values the longest records alone would be the farthest."""
    from scipy.stats import rankdata

    emb = np.asarray(embedding, dtype=np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    parts = [emb / np.where(norms > 0, norms, 1.0)]
    if stats is not None and stats.ndim == 2 and stats.shape[1] and len(stats) > 1:
        parts.append(rankdata(np.asarray(stats, dtype=np.float64), method="average", axis=0))
    return np.hstack([_unit_spread(x) for x in parts])


def _unit_spread(x: np.ndarray) -> np.ndarray:
    """`x` centred and scaled so that its columns' variances sum to 1 (the mean squared distance between two rows
    is twice that sum). A block with no spread beyond rounding, relative to its rows' size, stays zero: scaled up,
    float noise would weigh as much as the other block."""
    size = float((x * x).sum(axis=1).mean()) if len(x) else 0.0
    x = x - x.mean(axis=0)
    total = float(x.var(axis=0).sum())
    return x / math.sqrt(total) if total > 1e-12 * max(1.0, size) else np.zeros_like(x)


def cover_order(fixed: np.ndarray, pool: np.ndarray, k: int) -> list[int]:
    """Greedy k-center (Gonzalez 1985; the core-set sampler of Sener & Savarese 2018): the indices of k rows of
    `pool`, each in turn the row farthest from every row chosen so far, the `fixed` rows included. Rare kinds of
    record, far from the common ones, are chosen early; a random sample of the same size often misses them."""
    k = min(k, len(pool))
    if k <= 0:
        return []
    sq = (pool * pool).sum(axis=1)
    if len(fixed):
        near = np.full(len(pool), np.inf)
        for i in range(0, len(fixed), 1024):  # bounded memory: pool × 1024 distances at a time
            f = fixed[i:i + 1024]
            d = sq[:, None] - 2.0 * pool @ f.T + (f * f).sum(axis=1)[None, :]
            near = np.minimum(near, d.min(axis=1))
    else:  # nothing chosen yet: start from the row farthest from the pool's mean
        mean = pool.mean(axis=0)
        near = ((pool - mean) ** 2).sum(axis=1)
    chosen: list[int] = []
    for i in range(k):
        j = int(np.argmax(near))
        chosen.append(j)
        d = sq - 2.0 * (pool @ pool[j]) + sq[j]  # no pool x dim temporary per pick
        # With nothing fixed, the mean only chose the first row: kept in `near`, it stood for a chosen row, and a
        # rare kind near the mean, far from every row chosen, was picked after the common kinds' near-copies.
        near = d if i == 0 and not len(fixed) else np.minimum(near, d)
        near[j] = -np.inf
    return chosen
