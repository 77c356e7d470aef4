"""bench.scale_diagnosis.follows: which anchors a source's score follows, raw and standardised, as select scores it."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from bench.scale_diagnosis import follows, lowest
from mira_core.config import SelectParams


def test_the_raw_score_follows_the_wide_anchor_and_the_standardised_one_gives_the_narrow_its_weight():
    rng = np.random.default_rng(0)
    n = 400
    wide = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n)  # a 1-5 anchor used end to end
    narrow = 4.8 + 0.2 * rng.random(n)  # an anchor whose records all sit near the top
    df = pl.DataFrame({"a": wide, "b": narrow})
    scales = {"a": (float(wide.mean()), float(wide.std())), "b": (float(narrow.mean()), float(narrow.std()))}
    rows = {a: (raw, z) for a, raw, z in follows(df, ["a", "b"], SelectParams(), scales)}
    assert rows["a"][0] > 0.9 and rows["b"][0] < 0.3  # raw: the wide anchor is the order
    assert rows["b"][1] > rows["b"][0] + 0.3 and rows["a"][1] < rows["a"][0]  # standardised: both count
    # the worst-anchor term's anchor: raw, the wide one is the lowest of every record but its 5s; standardised, of half
    low = {a: (raw, z) for a, raw, z in lowest(df, ["a", "b"], scales)}
    assert low["a"][0] == float((wide < narrow).mean()) > 0.7 and 0.3 < low["a"][1] < 0.7
    assert low["a"][1] + low["b"][1] == 1.0  # no ties between continuous z-scores
    # a constant anchor orders nothing, on either scale
    flat = follows(df.with_columns(pl.lit(5.0).alias("b")), ["a", "b"], SelectParams(), {**scales, "b": (5.0, 1.0)})
    assert [r for r in flat if r[0] == "b"] == [("b", 0.0, 0.0)]


def test_by_kind_shows_a_defect_the_raw_worst_anchor_misses_and_the_standardised_one_reads():
    """A defect is a dip on an anchor most records pass (b: 5, the defect 3); every record scores low on another
    (a: 1 to 3). Raw, the record's lowest anchor is still a, so the defect ranks as the others do; standardised, its
    dip on b is many sds deep and is its lowest: it ranks first to go."""
    from bench.scale_diagnosis import by_kind

    rng = np.random.default_rng(1)
    n, bad = 400, 40
    a = rng.choice([1.0, 2.0, 3.0], n)
    b = np.where(np.arange(n) < bad, 3.0, 5.0)
    df = pl.DataFrame({"record_id": [f"r{i}" for i in range(n)], "a": a, "b": b})
    kinds = {f"r{i}": ("broken" if i < bad else "good") for i in range(n)}
    scales = {c: (float(v.mean()), float(v.std())) for c, v in (("a", a), ("b", b))}
    lines = dict((ln.split()[0], ln) for ln in by_kind(df, ["a", "b"], SelectParams(), scales, kinds, {"a": "A", "b": "B"}))
    raw, z = map(float, re.search(r"rank raw ([\d.]+) / z ([\d.]+)", lines["broken"]).groups())
    assert z < 0.1 < raw, lines["broken"]
    assert "lowest raw A (" in lines["broken"] and "/ z B (40)" in lines["broken"], lines["broken"]
    assert lines["good"].startswith("good") and "360 records" in lines["good"]
