"""Review of the planted benchmark and the selection replicates (session 27): a restore killed midway and done again
keeps the default run, `mira planted eval` names a truth without the labels its shares need, and the planted
section is written for a corpus with a kind planted in no record."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from bench import planted, replicates
from flows.cli import app
from mira_core.errors import ConfigError
from mira_core.planted import KINDS, evaluate
from tests.test_bench_replicates import _fake_stages, _files, _project


# ---------------------------------------------------------------- bench/replicates.py
def _killed_after_the_labels(root, saved):
    """Killed inside _restore: params and the labels are back, the other outputs are still in the save."""
    shutil.copy2(saved / "params.yaml", root / "params.yaml")
    shutil.rmtree(root / "data" / "labels")
    (saved / "labels").rename(root / "data" / "labels")


def _killed_removing_the_save(root, saved, monkeypatch):
    """Killed at the last step of _restore: everything is back, the save not yet removed."""
    real = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if path == saved:
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        replicates._restore(root, saved)
    monkeypatch.setattr(shutil, "rmtree", real)


@pytest.mark.parametrize("killed", ["after_the_labels", "removing_the_save"])
def test_a_restore_killed_midway_is_done_again_without_losing_the_default_run(tmp_path, monkeypatch, killed):
    before = _project(tmp_path)
    saved = tmp_path / replicates.SAVED
    replicates._save(tmp_path, saved)
    (tmp_path / "params.yaml").write_text("label: {seed: 2}\ndistill: {seed: 1}\n")
    for name in replicates.OUTS:  # a replicate's outputs in place
        (tmp_path / "data" / name / "kept.txt").write_text("replicate")
    (tmp_path / "plots" / "distill" / "g0.csv").write_text("replicate")
    if killed == "after_the_labels":
        _killed_after_the_labels(tmp_path, saved)
    else:
        _killed_removing_the_save(tmp_path, saved, monkeypatch)
    _fake_stages(monkeypatch)
    out = replicates.run(tmp_path)  # puts back what the killed restore left, then runs the replicates
    assert out["default"]["label_seed"] == 1
    after = _files(tmp_path)
    assert {k: after.get(k) for k in before} == before and not saved.exists()


# ---------------------------------------------------------------- mira planted eval on a truth without its labels
TRUTH = pl.DataFrame({"record_id": ["a/1", "a/2", "a/3", "a/4"], "source": "a",
                      "kind": ["good", "good", "spam", "good"], "defect": [False, False, True, None]})
MANIFEST = pl.DataFrame({"record_id": ["a/1", "a/2", "a/3", "a/4"], "source": "a", "n_tokens": 100,
                         "kept": [True, False, False, True], "reason": ["kept", "over_budget", "over_budget", "kept"]})


@pytest.mark.parametrize(("truth", "says"), [
    (TRUTH, r"null in column\(s\) defect \(1 of 4 records\)"),  # a/4 unlabeled: in the tokens, neither good nor broken
    (TRUTH.with_columns(kind=pl.lit(None, pl.String)).fill_null(False), r"null in column\(s\) kind"),
    (TRUTH.fill_null(False).with_columns(pl.col("defect").cast(pl.Int64)), "column defect is Int64, not Boolean"),
    (pl.concat([TRUTH, TRUTH]).fill_null(False), "record_id.*a/1"),  # every token counted twice
])
def test_evaluate_names_a_truth_whose_records_are_not_each_labeled_once(truth, says):
    with pytest.raises(ConfigError, match=says):
        evaluate(truth, {"mira": MANIFEST}, 0.5)


def test_mira_planted_eval_names_the_truth_file_and_column(tmp_path):
    (tmp_path / "sel" / "mira").mkdir(parents=True)
    MANIFEST.write_parquet(tmp_path / "sel" / "mira" / "manifest.parquet")
    TRUTH.write_parquet(tmp_path / "truth.parquet")
    res = CliRunner().invoke(app, ["planted", "eval", "--truth", str(tmp_path / "truth.parquet"), "--selection",
                                   str(tmp_path / "sel")])
    assert res.exit_code == 2, res.output
    assert "ConfigError" in res.output and f"{tmp_path / 'truth.parquet'}: every record needs a label" in res.output
    assert "defect" in res.output and "|" not in res.output  # no table of figures


# ---------------------------------------------------------------- bench/planted.py
def test_the_section_is_written_when_a_kind_has_no_record():
    # 10 records per source at a rate of 0.25: two defects per source, so some kinds are planted in none
    counts = {s: {"good": 8, **{k: int(i < 2) for i, k in enumerate(ks)}} for s, ks in KINDS.items()}
    r = {"records_per_source": 10, "defect_rate": 0.25, "stages": ["ingest", "select"], "seconds": 60.0, "seed": 0,
         "counts": counts, "arms": {"default": {"changes": {}, "failed": "stage label failed"}},
         "seeds": {"0": {"failed": "x"}, "1": {"failed": "y"}}}
    text = "\n".join(planted.section(r))
    assert "Each kind has 0-1 records per corpus, so one record moves its share by about 100-100 points:" in text
    none = {s: {k: 0 for k in c} for s, c in counts.items()}
    assert "so no kind has a share to move" in "\n".join(planted.section({**r, "counts": none}))


@pytest.mark.parametrize("budget", [0, -0.5, float("nan")])
def test_evaluate_rejects_a_budget_select_would_reject(budget):
    # -0.5 gave a perfect selector keeping nothing and a bound on the good tokens kept of -50 %
    with pytest.raises(ConfigError, match="must be above 0"):
        evaluate(TRUTH.fill_null(False), {"mira": MANIFEST}, budget)


def test_section_one_says_what_the_cpu_it_measured_has():
    # it said "This CPU has no VNNI/AMX int8 dot products and no native bf16" whatever the CPU, and the page, rewritten
    # on an Intel Xeon with AMX, then read as describing that one
    from bench.run import _cpu_sentence

    assert _cpu_sentence({"name": "Xeon", "bf16": True, "int8_dot": True}).startswith(
        "The CPU measured (Xeon) has VNNI/AMX int8 dot products and native bf16")
    assert "has neither VNNI/AMX int8 dot products nor native bf16" in _cpu_sentence(
        {"name": "EPYC", "bf16": False, "int8_dot": False})
    assert "recorded no CPU flags" in _cpu_sentence(None)
