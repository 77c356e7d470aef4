"""Review s33 (helper h9): a user's corpus of many small sources (50 sources of 1 to 25 records, one empty after
ingest, one held out), with group k near the number of sources, the silhouette's choice over k 2..45, a pin,
select.granularity source and a small label.records_per_group.

1. A pinned source still takes part in the clustering: it takes one of the k clusters (or shifts the
   silhouette's choice) and is then moved to its pinned group, so the sources the clustering does decide get
   fewer groups than asked. On the run, a 1-record source (alone in its own cluster at auto -> 18) pinned into
   the QA group left 17 groups, named g0..g17 without g15; with a fixed k, two families were merged because
   the pinned outlier used up a cluster.
2. distill's "too few labels" message for a group short of both splits, where the fraction cannot help (a
   1-record source alone in its group: 1 train, 0 val), read "raise label.records_per_group, or where the group
   has no more records than that, or pin its sources ...": a clause with nothing in it.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import GroupParams
from mira_core.errors import ConfigError
from mira_core.grouping import cluster
from mira_core.layout import Layout


def _families():
    """Three well-separated families of two sources each, and one outlier source far from all of them."""
    from tests.mira_core.test_grouping import families

    e = np.eye(8, 16)
    base = np.vstack([e[0] + 0.6 * e[1], e[0] + 0.6 * e[2], e[0] + 0.6 * e[3], e[5]])  # three alike, one outlier
    return families(base, [["a1", "a2"], ["b1", "b2"], ["c1", "c2"], ["b0_tiny"]], 0.02, np.random.default_rng(0))


def test_a_pinned_source_does_not_take_one_of_the_k_clusters():
    names, x = _families()
    # the user pins the outlier (a 1-record source) into the family a's group and asks 3 groups for the rest
    assign, info = cluster(names, x, GroupParams(k=3, pins={"b0_tiny": "g0"}))
    assert assign["b0_tiny"] == "g0"
    unpinned = {s: g for s, g in assign.items() if s != "b0_tiny"}
    # the three families are three groups: the pinned outlier did not use up one of them
    assert len(set(unpinned.values())) == 3, assign
    assert assign["a1"] == assign["a2"] != assign["b1"] == assign["b2"] != assign["c1"] == assign["c2"]


def test_auto_k_with_a_pin_names_groups_without_a_gap():
    names, x = _families()
    assign, info = cluster(names, x, GroupParams(k="auto", k_min=2, k_max=6, pins={"b0_tiny": "g0"}))
    groups = sorted(set(assign.values()))
    assert groups == [f"g{i}" for i in range(len(groups))], assign  # ran g0, g1, g2 and no g3 ... or a gap
    assert info["k"] == len(groups) == 3, info


def test_too_few_labels_message_has_no_empty_clause(tmp_path):
    from flows.distill import check_enough_labels

    lay = Layout(tmp_path)
    lay.labels.mkdir(parents=True)
    # a 1-record source alone in its group: labeled whole, 1 train and 0 val
    pl.DataFrame({"record_id": ["tiny/r0"], "source": ["tiny"], "split": ["train"]}).write_parquet(
        lay.labels / "g15.parquet")
    with pytest.raises(ConfigError) as e:
        check_enough_labels(lay, "g15")
    msg = str(e.value)
    assert "1 train and 0 val" in msg and "group.pins" in msg
    assert "than that, or pin" not in msg, msg
