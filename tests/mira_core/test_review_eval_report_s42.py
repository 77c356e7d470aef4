"""Review s42 of the proxy evaluation's containment check and the report: each test failed before its fix.

Tested here: a Chinese target quoted inside an English record (not found: the target was split per character, the
record not), the target records too short to check (now counted), and the report on figures a metrics file may hold
as null (a per-seed loss, a method, a reason count), a diverged or one-seed arm in the chart, and long source names.
"""

from __future__ import annotations

import html
import math

import pytest

from mira_core.evaluation.containment import holding_records
from mira_core.report import ReportInputs, plots, render

CHINESE = "机器学习是人工智能的一个分支它使计算机能够从数据中学习而无需明确编程这是一个很长的句子用于测试"
ENGLISH = " ".join(f"word{i}" for i in range(200))


def test_a_chinese_target_quoted_in_an_english_record_is_found():
    found = holding_records({"wrap": f"{ENGLISH} {CHINESE} {ENGLISH}", "copy": CHINESE, "other": ENGLISH},
                            [CHINESE], 13, 0.5)
    assert found == {"wrap": 0, "copy": 0}


def test_the_targets_too_short_to_check_are_counted():
    from mira_core.evaluation.containment import unchecked

    short = "What does foo return? It returns bar."
    targets = [short, " ".join(f"target{i}" for i in range(20))]
    assert holding_records({"t": f"{ENGLISH} {short}"}, targets, 13, 0.5) == {}  # unchecked, as documented
    assert unchecked(targets, 13) == 1 and unchecked(targets, 5) == 0


def _evaluate(**target) -> dict:
    return {"enabled": True, "arms": {"mira": {"loss_mean": None, "loss_std": None, "seeds": [{"seed": 0, "loss": None}]},
                                      "random": {"loss_mean": 5.5, "loss_std": 0.01,
                                                 "seeds": [{"seed": 0, "loss": 5.49}, {"seed": 1, "loss": 5.51}]}},
            "target": target}


def test_the_report_reads_null_figures_as_missing_not_a_crash():
    # a per-seed loss of null (a diverged run's NaN, rewritten by a strict JSON tool) was a TypeError in an f-string
    page = html.unescape(render(ReportInputs(evaluate=_evaluate(holding_left_out=3, holding_examples=[],
                                                                unchecked_short=2, records=40))).html)
    assert "0: –" in page and "0: 5.4900" in page
    assert "e.g. None" not in page and "were left out of every arm and of the base's slice." in page
    assert "2 of the 40 target records are under evaluate.target_ngram words" in page
    select = {"methods": {"mira": None, "random": {"kept_token_share": 0.5, "by_source": {"a": None}}}}
    ingest = {"total": {"read": 3, "kept": 2, "quarantined": 1, "by_reason": {"empty_text": None}}}
    render(ReportInputs(select=select, ingest=ingest))  # methods.mira, a source's figures, a reason count: null


def test_the_chart_marks_a_diverged_arm_and_draws_no_bar_for_one_seed(monkeypatch):
    seen = []
    monkeypatch.setattr(plots, "to_png", lambda fig, dpi: seen.append(fig) or b"")
    plots.evaluation_chart({"mira": {"loss_mean": 5.0, "loss_std": None}, "random": {"loss_mean": math.inf},
                            "s" * 200: {"loss_mean": 5.1, "loss_std": 0.02}}, 50)
    ax = seen[0].axes[0]
    assert [t.get_text() for t in ax.texts] == ["diverged"]
    # one error bar only, for the arm with a spread: one seed has none (± 0 read as a measured spread)
    assert len([c for c in ax.containers if c.has_yerr]) == 1
    assert max(len(t.get_text()) for t in ax.get_xticklabels()) <= 40


@pytest.mark.parametrize("chart", ["retention", "overlap"])
def test_long_source_and_method_names_are_shortened_in_the_figures(monkeypatch, chart):
    import numpy as np

    seen = []
    monkeypatch.setattr(plots, "to_png", lambda fig, dpi: seen.append(fig) or b"")
    long = "s" * 200
    if chart == "retention":
        plots.retention_chart(["code", long], {"mira": {"code": 0.5, long: 0.4}}, set(), 0.5, 50)
        labels = seen[0].axes[0].get_xticklabels()
    else:
        plots.overlap_heatmap(["mira", long], np.eye(2), 50)
        labels = [*seen[0].axes[0].get_xticklabels(), *seen[0].axes[0].get_yticklabels()]
    assert labels and max(len(t.get_text()) for t in labels) <= 40
