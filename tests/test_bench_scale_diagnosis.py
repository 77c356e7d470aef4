"""bench.scale_diagnosis.follows: which anchors a source's score follows, raw and standardised, as select scores it."""

from __future__ import annotations

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
