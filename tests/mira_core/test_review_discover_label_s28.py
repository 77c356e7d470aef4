"""Review of rubric discovery and labeling (session 28): a covering sample with nothing fixed, groups with no
record to sample or label, and the failure budget's message at small rates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import DiscoverParams, LabelParams
from mira_core.discovery import sample_docs
from mira_core.failure_budget import FailureBudgetError, check_failure_budget
from mira_core.labels import label_schema, merge_chunks, plan_sample, write_plan
from mira_core.sampling import cover_order
from mira_core.schema import read_group_corpus

EMPTY_INDEX = pl.DataFrame(schema={"record_id": pl.String, "source": pl.String})


def test_with_nothing_fixed_the_cover_reaches_a_kind_near_the_pool_mean():
    # two common kinds far apart and one rare record between them, at the mean: after one pick of each common
    # kind, the rare record is 10 from both, their near-copies 1 or 2 from one; the mean stood for a chosen row
    pool = np.array([[-10.0], [-9.0], [-8.0], [8.0], [9.0], [10.0], [0.0]])
    assert cover_order(np.zeros((0, 1)), pool, 3) == [0, 5, 6]


def test_a_covering_plan_of_a_group_with_no_record_is_empty():
    # a group the filter stages emptied: `mira estimate` (placeholder rubric) planned it and failed on concat([])
    plan = plan_sample(EMPTY_INDEX, LabelParams(cover_share=0.5), lambda ids: np.zeros((len(ids), 2)))
    assert plan.height == 0 and plan.columns == ["record_id", "source", "split", "repeat"]


def test_a_group_with_nothing_to_label_gets_empty_tables(tmp_path):
    # its plan is empty, so no label task ran and no chunk folder exists
    out = tmp_path / "labels"
    counts = merge_chunks(out / "chunks" / "g0", out / "g0.parquet", out / "repeats" / "g0.parquet",
                          out / "failures" / "g0.parquet", ["a00", "a01"])
    assert counts["labeled"] == counts["repeats"] == 0 and counts["failed"] == {}
    labels = pl.read_parquet(out / "g0.parquet")
    assert labels.height == 0 and dict(labels.schema) == label_schema(["a00", "a01"])
    assert pl.read_parquet(out / "failures" / "g0.parquet").height == 0


def test_a_group_whose_sources_have_no_shard_samples_nothing(tmp_path):
    # a group map older than the corpus can name a source ingest no longer holds
    corpus = read_group_corpus([])
    assert corpus.columns == ["record_id", "source", "format", "text"] and corpus.height == 0
    assert sample_docs(corpus, DiscoverParams()) == []
    plan = pl.read_parquet(write_plan([], LabelParams(), tmp_path / "plan.parquet"))
    assert plan.height == 0 and "text" in plan.columns


@pytest.mark.parametrize(("failed", "asked", "rate", "words"), [
    (1, 1000, 0.0, "(0.1%), more than teacher.max_failure_rate (0%)"),
    (6, 1000, 0.005, "(0.6%), more than teacher.max_failure_rate (0.5%)"),
    (2, 19, 0.1, "(11%), more than teacher.max_failure_rate (10%)"),
])
def test_the_budget_message_tells_the_failure_rate_from_the_limit(failed, asked, rate, words):
    failures = pl.DataFrame({"record_id": [f"r{i}" for i in range(failed)], "error": ["boom: x"] * failed})
    with pytest.raises(FailureBudgetError) as e:
        check_failure_budget("label", asked, failures, rate, "data/labels/failures")
    assert f"{failed} of {asked} teacher requests failed {words}" in str(e.value)


def test_a_group_with_no_record_left_is_not_said_to_have_failed_every_judgment(tmp_path):
    from flows.discover import no_anchors_why
    from mira_core.layout import Layout

    lay = Layout(tmp_path)
    why = no_anchors_why({"sources": ["code", "docs"], "sampled": 0}, lay)
    assert "failed" not in why and "code, docs" in why and str(lay.dedup) in why
    assert "all 4 judgments failed" in no_anchors_why({"sources": ["code"], "sampled": 4}, lay)
