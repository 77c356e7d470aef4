"""Review s33, scale in the number of records: corpus-level work that grows faster than the corpus.

Each test shows the growth structurally (calls or candidates counted), never by timing; the fix is checked against
a brute-force reference over random corpora of many copies.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHashLSH

from mira_core import dedup
from mira_core.filter_params import DedupParams


def _copies(k: int, p: DedupParams) -> dedup.ShardSignatures:
    """One shard of k records of the same text (as across sources, or in case or spacing only: ingest's exact
    dedup is per source and byte for byte), so their signatures are equal."""
    sig = dedup.signature(dedup.shingle_hashes("the same boilerplate page of a site " * 5, p), dedup._template(p))
    return dedup.ShardSignatures(record_id=[f"s{i % 7}/{i:05d}" for i in range(k)],
                                 source=[f"s{i % 7}" for i in range(k)], n_tokens=np.ones(k, dtype=np.int64),
                                 signatures=np.tile(sig, (k, 1)), has_shingles=np.ones(k, dtype=bool))


def _near_copies(k: int, p: DedupParams) -> dedup.ShardSignatures:
    """k records of one template page, each with a word of its own (a site's boilerplate around a unique line)."""
    template = dedup._template(p)
    texts = [f"the same boilerplate page of a site with its menu and footer and record {i}" for i in range(k)]
    return dedup.ShardSignatures(record_id=[f"s/{i:05d}" for i in range(k)], source=["s"] * k,
                                 n_tokens=np.ones(k, dtype=np.int64),
                                 signatures=np.stack([dedup.signature(dedup.shingle_hashes(t, p), template)
                                                      for t in texts]), has_shingles=np.ones(k, dtype=bool))


def _counted(monkeypatch) -> list[tuple[int, bool]]:
    """Each comparison of a record with a bucket's cluster: (members, whether the first member alone was close)."""
    calls = []
    real = dedup._any_close

    def counted(sigs, members, g, threshold):
        calls.append((len(members), real(sigs, members[:1], g, threshold)))
        return real(sigs, members, g, threshold)

    monkeypatch.setattr(dedup, "_any_close", counted)
    return calls


def test_exact_copies_are_not_compared_pairwise(monkeypatch):
    """k records with one signature: datasketch's query returned all the earlier ones to each, every one checked
    for Jaccard and unioned (k(k-1)/2 candidates: 500 / 2,000 / 8,000 copies in 0.25 / 2.1 / 52 s). A copy of a
    signature seen before joins the first record of it, with no comparison at all."""
    calls = _counted(monkeypatch)
    p, k = DedupParams(), 300
    result = dedup.near_duplicates([_copies(k, p)], p)
    assert result.clusters == 1 and result.dropped.height == k - 1
    assert calls == []


def test_near_copies_are_compared_with_a_cluster_not_with_each_member(monkeypatch):
    """k near-copies of one page fall in shared buckets: datasketch returned each bucket whole to every query
    (80,000 records, 8,000 of them one template and a word: 93 s). A record is now compared with each cluster of a
    bucket it is not yet in, and stops at the first close member: at most one comparison per band and record,
    each settled by its first member."""
    calls = _counted(monkeypatch)
    p, k = DedupParams(threshold=0.5), 200
    result = dedup.near_duplicates([_near_copies(k, p)], p)
    assert result.clusters == 1 and result.dropped.height == k - 1  # one cluster, before and after
    bands = dedup.lsh_bands(p.threshold, p.num_perm, p.max_miss)[0]
    assert len(calls) <= bands * k
    assert all(first for _, first in calls)  # each call read its first chunk, one member, and stopped


def test_any_close_stops_at_the_first_chunk_that_holds_a_close_member():
    sigs = np.array([[1, 2, 3, 4], [9, 9, 9, 9], [1, 2, 3, 5]], dtype=np.uint32)
    assert dedup._any_close(sigs, [2, 10**9], 0, 0.75)  # the second chunk (an index past the end) is never read
    assert dedup._any_close(sigs, [1, 1, 2], 0, 0.75)  # found in the second chunk
    assert not dedup._any_close(sigs, [1], 0, 0.75)
    assert not dedup._any_close(sigs, [], 0, 0.75)


def _reference(shards: list[dedup.ShardSignatures], p: DedupParams) -> set[str]:
    """The ids near_duplicates drops, by brute force: every pair of records with shingles that shares an LSH band (the
    bands near_duplicates' MinHashLSH chooses) with estimated Jaccard >= threshold is joined; per cluster the first
    by `keep` stays (the rule of near_duplicates' `rank`, with no source priority)."""
    lsh = MinHashLSH(threshold=p.threshold, num_perm=p.num_perm, params=dedup.lsh_bands(p.threshold, p.num_perm,
                                                                                       p.max_miss))
    ids = [i for s in shards for i in s.record_id]
    srcs = [x for s in shards for x in s.source]
    toks = np.concatenate([s.n_tokens for s in shards])
    sig = np.concatenate([s.signatures for s in shards])
    has = np.concatenate([s.has_shingles for s in shards])
    parent = list(range(len(ids)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    rows = np.flatnonzero(has).tolist()
    for a in rows:
        for b in rows:
            if a < b and (sig[a] == sig[b]).mean() >= p.threshold and any(
                    (sig[a, k * lsh.r:(k + 1) * lsh.r] == sig[b, k * lsh.r:(k + 1) * lsh.r]).all() for k in range(lsh.b)):
                parent[find(a)] = find(b)
    clusters: dict[int, list[int]] = {}
    for i in range(len(ids)):
        clusters.setdefault(find(i), []).append(i)

    def rank(i: int) -> tuple:
        return (-int(toks[i]), srcs[i], ids[i]) if p.keep == "longest" else (srcs[i], ids[i])

    return {ids[i] for group in clusters.values() if len(group) > 1 for i in group if i != min(group, key=rank)}


@pytest.mark.parametrize("seed", range(6))
def test_near_duplicates_with_many_copies_equals_a_brute_force_reference(seed):
    """Joining a copy to the first record of its signature, without a query, must find every pair the queries did:
    random corpora of a few templates, their exact copies and one-word edits, across shards and sources."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
    for case in range(12):
        p = DedupParams(threshold=rng.choice([0.5, 0.7, 0.8, 1.0]), keep=rng.choice(["first", "longest"]))
        templates = [" ".join(rng.choices(words, k=rng.randint(0, 14))) for _ in range(rng.randint(1, 4))]
        template = dedup._template(p)
        shards = []
        for s in range(rng.randint(1, 3)):
            texts = []
            for _ in range(rng.randint(1, 25)):
                t = rng.choice(templates).split()
                if t and rng.random() < 0.4:
                    t[rng.randrange(len(t))] = rng.choice(words)
                texts.append(" ".join(t))
            hashes = [dedup.shingle_hashes(t, p) for t in texts]
            sigs = np.stack([dedup.signature(h, template) if len(h) else np.zeros(p.num_perm, np.uint32)
                             for h in hashes])
            shards.append(dedup.ShardSignatures(
                record_id=[f"src{s}/{seed}-{case}-{i:03d}" for i in range(len(texts))], source=[f"src{s}"] * len(texts),
                n_tokens=np.array([len(t.split()) for t in texts], dtype=np.int64), signatures=sigs,
                has_shingles=np.array([len(h) > 0 for h in hashes])))
        got = set(dedup.near_duplicates(shards, p).dropped["record_id"].to_list())
        assert got == _reference(shards, p), (seed, case, p)


def test_source_centroids_read_one_shard_at_a_time_and_equal_the_whole_matrix_mean(tmp_path, monkeypatch):
    """group held a source's whole embedding matrix to take its mean (3 KB a record: 1.1 GB at 320,000 records in
    one source). The running float64 sum over shards gives the same bits as the mean of the whole matrix."""
    import polars as pl

    from mira_core import grouping
    from mira_core.embedding import embedding_schema

    rng = np.random.default_rng(33)
    by_source, whole = {}, {}
    for s in range(4):
        parts = [(rng.standard_normal((int(rng.integers(1, 200)), 16)) * rng.uniform(0.01, 50)).astype(np.float32)
                 for _ in range(int(rng.integers(1, 5)))]
        paths = []
        for i, m in enumerate(parts):
            path = tmp_path / f"s{s}" / f"part-{i:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame({"record_id": [f"s{s}/{i}-{j}" for j in range(len(m))], "embedding": m,
                          "coverage": np.ones(len(m), np.float32)}, schema=embedding_schema(16)).write_parquet(path)
            paths.append(path)
        by_source[f"s{s}"], whole[f"s{s}"] = paths, np.concatenate(parts)
    read = grouping.read_embeddings
    seen = []
    monkeypatch.setattr(grouping, "read_embeddings", lambda paths: seen.append(len(paths)) or read(paths))
    names, centroids, counts = grouping.source_centroids(by_source)
    assert set(seen) == {1}
    for name, row in zip(names, centroids, strict=True):
        c = whole[name].mean(axis=0, dtype=np.float64)
        assert np.array_equal(row, c / np.linalg.norm(c)) and counts[name] == len(whole[name])
