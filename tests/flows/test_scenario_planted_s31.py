"""Scenario (session 31): a user runs the planted-defect benchmark (`mira planted eval`) on a labeled corpus of their
own (code, prose and QA sources, a quarter of the records broken, a hand-written truth.parquet), after a run at
select.budget 0.4. The shares per method, kind and source matched a hand count from the manifests, and the perfect
selectors' figures a hand-made first fit; what follows is what did not hold up.

Each test failed before its fix."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from mira_core.errors import ConfigError
from mira_core.planted import evaluate, render_markdown

runner = CliRunner()

# ingest's ids are "<source>/<id>"; a user's truth names the same records
TRUTH = pl.DataFrame({"record_id": ["code/c0", "code/c1", "code/c2", "qa/q0", "qa/q1", "qa/q2"],
                      "source": ["code", "code", "code", "qa", "qa", "qa"],
                      "kind": ["good", "good", "syntax_error", "good", "good", "empty_answer"],
                      "defect": [False, False, True, False, False, True]})
MANIFEST = pl.DataFrame({"record_id": TRUTH["record_id"], "source": TRUTH["source"], "group": "g0",
                         "n_tokens": [100, 120, 90, 200, 150, 10],
                         "kept": [True, False, False, True, False, False],
                         "reason": ["kept", "over_budget", "over_budget", "kept", "over_budget", "over_budget"]})


def test_the_shares_of_a_small_labeled_corpus_match_a_hand_count() -> None:
    """What worked: the headline, per-kind and per-source shares and the perfect selector, worked by hand."""
    res = evaluate(TRUTH, {"mira": MANIFEST}, 0.5)
    m = res["methods"]["mira"]
    # selectable 670 tokens, 100 broken (c2 90, q2 10); kept c0 + q0 = 300, all good (570 good tokens)
    assert (m["tokens"], m["kept_tokens"], m["broken_kept"]) == (670, 300, 0.0)
    assert m["good_kept"] == pytest.approx(300 / 570)
    assert m["by_kind"] == {"good": pytest.approx(300 / 570), "syntax_error": 0.0, "empty_answer": 0.0}
    # perfect: code's room 155 (c0 fits, c1 does not), qa's 180 (q0's 200 does not fit, q1's 150 does)
    assert res["methods"]["perfect"]["kept_tokens"] == 250
    assert res["methods"]["perfect"]["by_source"]["qa"]["good_kept"] == pytest.approx(150 / 350)


def test_a_truth_whose_ids_match_no_record_of_the_selection_is_named() -> None:
    bare = TRUTH.with_columns(record_id=pl.col("record_id").str.split("/").list.last())  # "c0", as the JSONL's id
    with pytest.raises(ConfigError, match="code/c0"):
        evaluate(bare, {"mira": MANIFEST}, 0.5)


@pytest.mark.parametrize("rid,change", [("code/c0", {"defect": True}), ("qa/q0", {"kind": "god"})])
def test_a_label_whose_kind_and_defect_disagree_is_named(rid: str, change: dict) -> None:
    truth = TRUTH.with_columns(pl.when(pl.col("record_id") == rid).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                               for c, v in change.items())
    with pytest.raises(ConfigError, match=rid):
        evaluate(truth, {"mira": MANIFEST}, 0.5)


@pytest.mark.parametrize("budget", [1.5, float("inf")])
def test_a_budget_select_would_refuse_is_refused(budget: float) -> None:
    with pytest.raises(ConfigError, match="budget"):
        evaluate(TRUTH, {"mira": MANIFEST}, budget)


def test_a_truth_record_that_is_not_in_the_corpus_is_named_not_called_quarantined() -> None:
    truth = pl.concat([TRUTH, pl.DataFrame({"record_id": ["code/c999"], "source": ["code"], "kind": ["minified"],
                                            "defect": [True]})])
    head = render_markdown(evaluate(truth, {"mira": MANIFEST}, 0.5)).splitlines()[0]
    assert "code/c999" in head and "1 quarantined" not in head


def test_eval_without_budget_takes_the_runs_budget(tmp_path) -> None:
    (tmp_path / "data" / "selection" / "mira").mkdir(parents=True)
    (tmp_path / "metrics").mkdir()
    MANIFEST.write_parquet(tmp_path / "data" / "selection" / "mira" / "manifest.parquet")
    (tmp_path / "metrics" / "select.json").write_text(json.dumps({"budget": 0.4}))
    TRUTH.write_parquet(tmp_path / "truth.parquet")
    out = tmp_path / "eval.json"
    res = runner.invoke(app, ["planted", "eval", "--truth", str(tmp_path / "truth.parquet"), "--selection",
                              str(tmp_path / "data" / "selection"), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["budget"] == 0.4
