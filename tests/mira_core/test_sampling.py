"""Tests of stratified sampling."""

from __future__ import annotations

import polars as pl

from mira_core.sampling import quotas, stratified_sample


def test_quotas_share_equally_and_pass_on_what_small_sources_lack():
    assert quotas({"a": 100, "b": 3, "c": 50}, 60) == {"a": 29, "b": 3, "c": 28}
    assert quotas({"a": 1, "b": 1}, 10) == {"a": 1, "b": 1}
    assert sum(quotas({"a": 5, "b": 5, "c": 5}, 7).values()) == 7


def test_sample_is_stratified_deterministic_and_grows_by_extension():
    df = pl.DataFrame({"record_id": [f"{s}/{i}" for s in "abc" for i in range(30)],
                       "source": [s for s in "abc" for _ in range(30)]})
    small = stratified_sample(df, 6, seed=3)
    assert dict(small.group_by("source").len().iter_rows()) == {"a": 2, "b": 2, "c": 2}
    assert small.equals(stratified_sample(df.reverse(), 6, seed=3))  # input order does not matter
    big = stratified_sample(df, 12, seed=3)
    assert set(small["record_id"]) <= set(big["record_id"])
    assert set(small["record_id"]) != set(stratified_sample(df, 6, seed=4)["record_id"])
