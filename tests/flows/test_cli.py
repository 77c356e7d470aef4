"""Tests of the `mira` command line and of how stage entry points report configuration errors."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.stages import STAGES
from tests.conftest import REPO

runner = CliRunner()


def test_help_names_every_stage_with_what_it_reads_and_writes():
    out = runner.invoke(app, ["--help"]).output
    for s in STAGES:
        assert s.name in out and s.writes.split(",")[0] in out
    assert "reads  the sources in params.yaml" in out


def test_unknown_stage_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["stage", "ingset", "--root", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown stage 'ingset'" in res.output and "ingest" in res.output


def test_params_command_prints_knobs_and_descriptions():
    res = runner.invoke(app, ["params", "--root", str(REPO)])
    assert res.exit_code == 0
    assert "ingest.on_too_long = 'truncate'  # Over the limit" in res.output


def test_malformed_params_fail_before_any_work(tmp_path):
    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\ningest:\n  read_batch: 0\n")
    res = runner.invoke(app, ["stage", "ingest", "--root", str(tmp_path)])
    assert res.exit_code == 2
    assert "params.yaml:4: ingest.read_batch = 0: Input should be greater than 0" in res.output
    assert not (tmp_path / "data").exists()


def test_missing_source_file_names_the_source(tmp_path):
    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: nowhere.jsonl, format: text}\n")
    res = runner.invoke(app, ["stage", "ingest", "--root", str(tmp_path)])
    assert res.exit_code == 2
    assert "sources[0].path = 'nowhere.jsonl' (a): no such file" in res.output


def test_dvc_yaml_matches_the_stage_registry():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(dvc) == [s.name for s in STAGES]
    produced: set[str] = set()
    for name, stage in dvc.items():
        assert stage["cmd"] == f"mira stage {name}"
        assert f"flows/{name}.py" in stage["deps"]
        for dep in stage["deps"]:  # code that exists, or data an earlier stage writes
            assert (REPO / dep).exists() or dep in produced, f"{name}: dep {dep} is neither code nor an earlier out"
        for kind in ("outs", "metrics", "plots"):  # a later stage may read a metrics file too
            produced |= {next(iter(o)) if isinstance(o, dict) else o for o in stage.get(kind, [])}
