"""What the last session's note left, fixed in session 34: each test fails on the code before its fix."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl

from mira_core.report import sections
from mira_core.report.markup import name_order
from tests.mira_core.test_report import tiny_inputs

GROUPS = ["g10", "g2", "g1", "g0", "g11"]


def test_name_order_reads_digits_as_numbers_and_never_compares_text_with_a_number():
    names = ["g10", "g2", "g1", "g01", "a1b2", "a1b", "code", "g0", "10", "2x"]
    assert sorted(names, key=name_order) == ["2x", "10", "a1b", "a1b2", "code", "g0", "g01", "g1", "g2", "g10"]


def test_the_report_lists_groups_in_number_order():
    base = tiny_inputs()
    inp = dataclasses.replace(
        base, groups=pl.DataFrame({"source": [f"s{g}" for g in GROUPS], "group": GROUPS}),
        students={g: base.students["g1"] for g in GROUPS})
    assert list(sections.members(inp)) == ["g0", "g1", "g2", "g10", "g11"]
    html = str(sections.students(inp, None))
    at = [html.index(f"<td>{g}</td>") for g in ["g0", "g1", "g2", "g10", "g11"]]
    assert at == sorted(at)


def _summary(tmp_path, metrics: dict[str, dict]) -> list[str]:
    from flows.summary import summary_lines

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n")
    (tmp_path / "metrics").mkdir()
    for stage, m in metrics.items():
        (tmp_path / "metrics" / f"{stage}.json").write_text(json.dumps(m))
    return summary_lines(tmp_path)


def test_mira_summary_lists_groups_in_number_order(tmp_path):
    lines = _summary(tmp_path, {
        "group": {"method": "kmeans(k=12)", "groups": {g: [f"s{g}"] for g in sorted(GROUPS)}},
        "discover": {"groups": {g: {"anchors": 3, "version": "v"} for g in sorted(GROUPS)},
                     "teacher": {"provider": "rules", "model": "rules-v1"}}})
    group = next(x for x in lines if x.startswith("groups"))
    rubrics = next(x for x in lines if x.startswith("rubrics"))
    for line in (group, rubrics):
        at = [line.index(f"{g}") for g in ["g0", "g1:" if line is group else "g1 ", "g2", "g10", "g11"]]
        assert at == sorted(at), line


def test_mira_summary_names_an_optional_source_that_kept_nothing(tmp_path):
    lines = _summary(tmp_path, {"ingest": {
        "total": {"read": 12, "kept": 10, "quarantined": 2, "n_tokens": 100, "by_reason": {"empty_text": 2}},
        "sources": {"a": {"kept": 10}, "b": {"kept": 0}}, "empty_sources": ["b"]}})
    assert any("1 kept no record (optional): b" in x for x in lines), lines


def test_a_scheduler_address_under_threads_is_named_as_ignored(capsys):
    from flows.common import task_runner
    from mira_core.config import RunnerParams

    task_runner(RunnerParams(kind="threads"))
    assert "runner.address" not in capsys.readouterr().err
    task_runner(RunnerParams(kind="threads", address="tcp://127.0.0.1:8786"))
    assert "runner.address 'tcp://127.0.0.1:8786' is ignored: runner.kind is threads" in capsys.readouterr().err


def test_a_stage_runs_in_its_project_folder_wherever_it_was_started(tmp_path, monkeypatch, prefect_harness):
    # (review s34, knobs: a relative embed.encoder, teacher.model or benchmark path was read from the folder
    # `mira stage --root` was started in: it failed there, or read another model)
    from flows.common import run_stage

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n")
    monkeypatch.chdir(elsewhere)
    seen = run_stage(project, lambda: lambda params, root: Path.cwd())
    assert seen == project and Path.cwd() == elsewhere  # and back where it was started


def test_the_ignored_address_is_said_once_per_process(capsys):
    # (review s34, diff: mira run makes a task runner for every stage, and said it ten times)
    from flows.common import task_runner
    from mira_core.config import RunnerParams

    for _ in range(3):
        task_runner(RunnerParams(kind="threads", address="tcp://127.0.0.1:8787"))
    assert capsys.readouterr().err.count("runner.address 'tcp://127.0.0.1:8787' is ignored") == 1


def test_a_local_dask_cluster_larger_than_the_machine_is_warned_of(capsys):
    # (left by session 33: runner.max_workers has no upper bound; a typo started that many worker processes)
    import os

    from flows.common import task_runner
    from mira_core.config import RunnerParams

    cores = len(os.sched_getaffinity(0))
    task_runner(RunnerParams(kind="dask", max_workers=cores))
    assert "runner.max_workers" not in capsys.readouterr().err
    task_runner(RunnerParams(kind="dask", max_workers=cores, threads_per_worker=2))
    err = capsys.readouterr().err
    assert f"runner.max_workers {cores} x runner.threads_per_worker 2 is more than this machine's {cores} cores" in err
    task_runner(RunnerParams(kind="dask", max_workers=cores + 1, address="tcp://127.0.0.1:8786"))  # not local
    assert "runner.max_workers" not in capsys.readouterr().err
