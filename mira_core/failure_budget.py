"""How many teacher requests a stage may lose before it fails, and what it says when it does.

A teacher stage keeps every failure with its error (data/labels/failures/, data/rubrics/failures/).
Most runs lose a few records to a rate limit or a malformed reply, and that is fine; a run that loses
most of them (an endpoint that never returns the asked shape, a wrong model name) must fail *there*,
with the reasons, instead of exiting 0 and leaving the next stage to fail with a misleading hint.

Failures are grouped by a reason: the error's first two `:`-separated parts with numbers blanked, so
"invalid reply after 2 call(s): missing anchors: a3, a7" and "... missing anchors: a1" are one reason
("invalid reply after N call(s): missing anchors") and a record id or a count does not split it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from mira_core.errors import MiraError

_NUMBER = re.compile(r"\d+(\.\d+)?")


class FailureBudgetError(MiraError):
    """A teacher stage lost more requests than `teacher.max_failure_rate` allows."""


@dataclass(frozen=True)
class Reason:
    reason: str
    count: int
    example_record: str
    example_error: str


def reason_of(error: str | None) -> str:
    """The failure's reason: its first two ':'-separated parts with numbers blanked."""
    parts = (error or "unknown error").split(":")
    return _NUMBER.sub("N", ":".join(parts[:2]).strip())[:160]


def top_reasons(failures: pl.DataFrame, n: int = 3) -> list[Reason]:
    """The n most common reasons in a failures table (record_id, error), each with one example."""
    if not failures.height:
        return []
    df = failures.select("record_id", "error").with_columns(
        # a null error is "unknown error", as reason_of reads None: map_elements skips nulls, leaving a reason None
        reason=pl.col("error").map_elements(reason_of, return_dtype=pl.String, skip_nulls=False))
    top = (df.group_by("reason").agg(pl.len().alias("count"), pl.col("record_id").first(), pl.col("error").first())
           .sort(["count", "reason"], descending=[True, False]).head(n))
    return [Reason(r["reason"], r["count"], r["record_id"], r["error"] or "") for r in top.iter_rows(named=True)]


def describe(failures: pl.DataFrame, n: int = 3) -> str:
    """One line per common reason: count, reason, an example record and its full error."""
    return "\n".join(f"  {r.count} x {r.reason}\n      e.g. record {r.example_record}: {r.example_error[:300]}"
                     for r in top_reasons(failures, n))


def percents(rate: float, limit: float) -> tuple[str, str]:
    """`rate` and `limit` as percentages, with the digits that tell them apart: in whole percents, 1 failure in
    1000 against a limit of 0 read "failed (0%), more than teacher.max_failure_rate (0%)". Up to 17 digits, which
    tell any two floats apart: a limit of 0.33333333 and a rate of 1/3 agree to 7."""
    for digits in range(2, 18):
        a, b = _pct(rate, digits), _pct(limit, digits)
        if a != b:
            break
    return a, b


def _pct(x: float, digits: int) -> str:
    """x as a percentage to `digits` significant digits; 100 % as 100%, not in exponent form ("1e+02%")."""
    s = f"{x * 100:.{digits}g}"
    return (f"{x * 100:.0f}" if "e+" in s else s) + "%"


def check_failure_budget(stage: str, asked: int, failures: pl.DataFrame, max_rate: float, where: str) -> None:
    """Raise FailureBudgetError when failures / asked exceeds max_rate; `where` names the failures files.

    Requests a spending cap refused (error_kind "capped") are not failures: they were never sent, and
    the stage stops for the cap with its own message. They are left out of both counts.
    """
    if "error_kind" in failures.columns:
        capped = int(failures["error_kind"].eq_missing("capped").sum())  # a null kind is a failure, not dropped
        failures, asked = failures.filter(pl.col("error_kind").ne_missing("capped")), asked - capped
    if asked <= 0 or failures.height / asked <= max_rate:
        return
    rate, limit = percents(failures.height / asked, max_rate)
    permanent = int(failures["error_kind"].eq_missing("permanent").sum()) if "error_kind" in failures.columns else 0
    again = ("" if not permanent else
             f" {permanent} of the failures are permanent (an invalid reply after the repairs, a refusal, a 400): they "
             "are cached as final and a re-run does not ask them again unless teacher.retry_failed is true.")
    raise FailureBudgetError(
        f"{stage}: {failures.height} of {asked} teacher requests failed ({rate}), more than "
        f"teacher.max_failure_rate ({limit}). Most common reasons:\n{describe(failures)}\n"
        f"Every failure is in {where}; answers already given are cached, so a re-run after the fix asks only the "
        f"rest.{again}")
