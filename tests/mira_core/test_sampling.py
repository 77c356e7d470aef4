"""Tests of stratified sampling."""

from __future__ import annotations

import polars as pl

from mira_core.sampling import quotas, stratified_sample


def test_quotas_share_equally_and_pass_on_what_small_sources_lack():
    assert quotas({"a": 100, "b": 3, "c": 50}, 60) == {"a": 29, "b": 3, "c": 28}
    assert quotas({"a": 1, "b": 1}, 10) == {"a": 1, "b": 1}
    assert sum(quotas({"a": 5, "b": 5, "c": 5}, 7).values()) == 7
    # each round gave its odd records to the same first names: b ended 3 above d, which still had records
    assert quotas({"a": 1, "b": 9, "c": 6, "d": 9}, 22) == {"a": 1, "b": 8, "c": 6, "d": 7}
    assert quotas({"a": 1, "b": 5, "c": 2}, 5) == {"a": 1, "b": 2, "c": 2}


def test_quotas_are_max_min_fair_and_grow_with_the_sample():
    import itertools

    for sizes in itertools.product(range(0, 7), repeat=3):
        sources = dict(zip("abc", sizes, strict=True))
        before = dict.fromkeys(sources, 0)
        for n in range(sum(sizes) + 2):
            q = quotas(sources, n)
            assert sum(q.values()) == min(n, sum(sizes)) and all(0 <= q[s] <= sources[s] for s in q)
            # no source holds more than one record above a source that still has some to give
            assert all(q[s] <= q[t] + 1 for s in q for t in q if q[t] < sources[t]), (sources, n, q)
            assert all(q[s] >= before[s] for s in q)  # a larger sample keeps the smaller one's part
            before = q


def test_an_empty_index_samples_nothing():
    # every record of a group dropped by the filter stages: an empty quota map failed inside polars
    empty = pl.DataFrame(schema={"record_id": pl.String, "source": pl.String})
    assert stratified_sample(empty, 5, seed=0).height == 0


def test_sample_is_stratified_deterministic_and_grows_by_extension():
    df = pl.DataFrame({"record_id": [f"{s}/{i}" for s in "abc" for i in range(30)],
                       "source": [s for s in "abc" for _ in range(30)]})
    small = stratified_sample(df, 6, seed=3)
    assert dict(small.group_by("source").len().iter_rows()) == {"a": 2, "b": 2, "c": 2}
    assert small.equals(stratified_sample(df.reverse(), 6, seed=3))  # input order does not matter
    big = stratified_sample(df, 12, seed=3)
    assert set(small["record_id"]) <= set(big["record_id"])
    assert set(small["record_id"]) != set(stratified_sample(df, 6, seed=4)["record_id"])
