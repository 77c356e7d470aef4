"""The label plan (`mira_core.labels.plan_sample`): a record's split and repeat flag never change when the sample
grows or the corpus gains records, so labels bought for a smaller plan stay valid (a val record never becomes
train data, a train record never leaks into val)."""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.config import LabelParams
from mira_core.labels import plan_sample

SIZES = {"code": 40, "docs": 700, "qa": 1500}  # one source smaller than its share, so quotas water-fill


def index(sizes: dict[str, int] = SIZES) -> pl.DataFrame:
    return pl.DataFrame([{"record_id": f"{s}/{i:05d}", "source": s} for s, n in sizes.items() for i in range(n)])


def plan(idx: pl.DataFrame, n: int, seed: int = 1, val: float = 0.2, repeat: float = 0.1) -> pl.DataFrame:
    return plan_sample(idx, LabelParams(records_per_group=n, seed=seed, val_fraction=val, repeat_fraction=repeat))


def by_id(df: pl.DataFrame) -> dict[str, tuple[str, bool]]:
    return {r: (s, bool(x)) for r, s, x in df.select("record_id", "split", "repeat").iter_rows()}


@pytest.mark.parametrize("small, large", [(30, 300), (300, 1200), (120, 2240)])
def test_growing_the_sample_keeps_every_record_and_its_split(small, large):
    a, b = by_id(plan(index(), small)), by_id(plan(index(), large))
    assert len(a) == small and len(b) == large
    assert a.keys() <= b.keys()  # the larger sample contains the smaller one
    changed = {r: (a[r], b[r]) for r in a if a[r] != b[r]}
    assert not changed  # same split (train|val) and same repeat flag for every record in both


def test_the_split_does_not_depend_on_the_rest_of_the_corpus():
    # A record's split is a function of its id and the seed: a corpus that gained sources or records (so the
    # sample is drawn from a different pool and in a different order) gives the records both plans share
    # the split they had.
    a = by_id(plan(index({"code": 40, "docs": 700}), 500))
    b = by_id(plan(index({"code": 40, "docs": 900, "qa": 1500, "web": 300}), 2000))
    shared = a.keys() & b.keys()
    assert len(shared) > 100
    assert all(a[r] == b[r] for r in shared)


def test_the_shares_follow_the_params():
    df = plan(index(), 2240, val=0.25, repeat=0.1)
    val_share = (df["split"] == "val").mean()
    repeat_share = df["repeat"].mean()
    assert set(df["split"].unique()) == {"train", "val"}
    # 2,240 hash draws: a binomial sd of ~0.009 on 0.25 and ~0.006 on 0.1; 4 sd either side
    assert abs(val_share - 0.25) < 0.04 and abs(repeat_share - 0.1) < 0.025
    # every source gets val records, not just the large ones (the split is not by position in the sample)
    assert all(n > 0 for n in dict(df.filter(pl.col("split") == "val").group_by("source").len().iter_rows()).values())
    assert plan(index(), 2240, repeat=0.0)["repeat"].sum() == 0


def test_the_sample_is_stratified_and_sorted():
    df = plan(index(), 300)
    counts = dict(df.group_by("source").len().iter_rows())
    assert counts == {"code": 40, "docs": 130, "qa": 130}  # code has only 40: the rest is shared by the others
    assert df.columns[:4] == ["record_id", "source", "split", "repeat"]
    assert df.sort("source", "record_id").equals(df)


def test_the_seed_decides_the_split():
    a, b = by_id(plan(index(), 1000, seed=1)), by_id(plan(index(), 1000, seed=2))
    shared = a.keys() & b.keys()
    assert any(a[r][0] != b[r][0] for r in shared)  # another seed is another split, not the same one relabeled
    assert by_id(plan(index(), 1000, seed=1)) == a  # and the same seed is the same plan on every run
