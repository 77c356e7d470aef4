"""Edge cases of the select stage found in review: each test failed before its fix."""

from __future__ import annotations

import numpy as np
import polars as pl

from mira_core.config import SelectParams
from mira_core.manifests import attach_scores, mira_scores
from mira_core.selection import select
from tests.mira_core.test_oracle import _scored_project

GOOD = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}


def test_one_infinite_student_score_leaves_its_record_unscored_not_the_whole_group(tmp_path):
    """A score shard holding inf (a Float32 overflow, a broken student) on one record: that record has no score.
    Before, the anchor's scale took the inf as its mean, every record of the group became NaN (unscored) and the
    group kept nothing."""
    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 2.0, np.inf], "a01": [3.0, 1.0, 2.0]},
                                     "b": {"a00": [4.0, 5.0, 3.0], "a01": [2.0, 4.0, 1.0]}})
    reports = {"g": {"anchors": {"a00": GOOD, "a01": GOOD},
                     "sources": {s: {"n_val": 50, "anchors": {"a00": GOOD, "a01": GOOD}} for s in ("a", "b")}}}
    scored, _, _, scales = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    assert all(np.isfinite(v) for v in scales["g"]["a00"])
    score = dict(scored.iter_rows())
    assert np.isnan(score["a/2"])
    assert all(np.isfinite(v) for r, v in score.items() if r != "a/2")
    records = pl.DataFrame({"record_id": sorted(score), "n_tokens": 10, "held_out": False}).with_columns(
        source=pl.col("record_id").str.split("/").list.first(), group=pl.lit("g")).sort("record_id")
    manifest = select(attach_scores(records, scored), 0.5, "group", "mira")
    assert manifest["reason"].value_counts().sort("reason").rows() == [("kept", 3), ("over_budget", 2),
                                                                       ("unscored", 1)]
