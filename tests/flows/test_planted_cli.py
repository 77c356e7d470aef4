"""`mira planted build` and `mira planted eval` as a user runs them: a corpus with its truth, then the figures of a
selection read back from manifests."""

from __future__ import annotations

import polars as pl
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def test_build_then_eval_a_selection(tmp_path):
    raw = tmp_path / "raw"
    res = runner.invoke(app, ["planted", "build", str(raw), "--records", "12", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "sources:" in res.output and (raw / "truth.parquet").exists()
    truth = pl.read_parquet(raw / "truth.parquet")
    tokens = pl.Series([100] * truth.height)
    keep_good = truth.select("record_id", "source", group=pl.lit("g"), n_tokens=tokens, score=pl.lit(1.0),
                             kept=~pl.col("defect"), reason=pl.when(pl.col("defect")).then(pl.lit("over_budget"))
                             .otherwise(pl.lit("kept")), method=pl.lit("mira"))
    (tmp_path / "sel" / "mira").mkdir(parents=True)
    keep_good.write_parquet(tmp_path / "sel" / "mira" / "manifest.parquet")
    res = runner.invoke(app, ["planted", "eval", "--truth", str(raw / "truth.parquet"), "--selection",
                              str(tmp_path / "sel"), "--json", str(tmp_path / "out.json")])
    assert res.exit_code == 0, res.output
    assert "mira" in res.output and (tmp_path / "out.json").exists()
    import json

    figures = json.loads((tmp_path / "out.json").read_text())["methods"]["mira"]
    assert figures["broken_kept"] == 0.0 and figures["good_kept"] == 1.0


def test_eval_without_a_selection_fails_with_a_message(tmp_path):
    res = runner.invoke(app, ["planted", "eval", "--truth", str(tmp_path / "none.parquet"), "--selection",
                              str(tmp_path / "nothing")])
    assert res.exit_code != 0 and "mira planted" in res.output
