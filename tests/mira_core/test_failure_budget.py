"""The teacher failure budget: reasons grouped without record-specific detail, and a stage that fails above it."""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.failure_budget import FailureBudgetError, check_failure_budget, reason_of, top_reasons


def failures(errors: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"record_id": [f"r{i}" for i in range(len(errors))], "error": errors})


def test_a_reason_ignores_numbers_and_detail_after_the_second_part():
    a = reason_of("invalid reply after 2 call(s): missing anchors: a3, a7")
    b = reason_of("invalid reply after 3 call(s): missing anchors: a1")
    assert a == b == "invalid reply after N call(s): missing anchors"
    assert reason_of("RateLimitError (HTTP 429) after 4 retries: slow down") != a
    assert reason_of(None) == "unknown error"


def test_top_reasons_are_counted_with_an_example_each():
    df = failures(["invalid reply after 2 call(s): missing anchors: a1"] * 3
                  + ["APITimeoutError after 4 retries: Request timed out."])
    top = top_reasons(df)
    assert [(r.reason, r.count) for r in top] == [("invalid reply after N call(s): missing anchors", 3),
                                                  ("APITimeoutError after N retries: Request timed out.", 1)]
    assert top[0].example_record == "r0" and "a1" in top[0].example_error


def test_the_budget_passes_at_the_rate_and_fails_above_it_naming_reasons():
    df = failures(["the reply does not match the schema: scores: Field required"] * 2)
    check_failure_budget("label", 20, df, 0.1, "data/labels/failures")  # 10 % is within 10 %
    check_failure_budget("label", 0, failures([]), 0.1, "x")  # nothing asked, nothing to judge
    with pytest.raises(FailureBudgetError) as e:
        check_failure_budget("label", 19, df, 0.1, "data/labels/failures")
    msg = str(e.value)
    assert "2 of 19" in msg and "teacher.max_failure_rate" in msg and "data/labels/failures" in msg
    assert "2 x the reply does not match the schema: scores" in msg and "record r0" in msg


def test_a_failure_without_a_kind_counts_and_only_capped_requests_are_set_aside():
    # != "capped" is null on a null kind, and the filter dropped such failures while `asked` still counted them
    df = failures(["boom"] * 10).with_columns(error_kind=pl.Series([None] * 8 + ["capped"] * 2, dtype=pl.String))
    with pytest.raises(FailureBudgetError, match="8 of 8"):
        check_failure_budget("label", 10, df, 0.1, "x")
