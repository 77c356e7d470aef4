"""Tests of the `mira` command line and of how every entry point reports configuration errors.

The error tests run real processes (`mira ...`, `python -m flows.<stage>`, `dvc repro`), because what
matters is what a user's terminal shows: the message alone (file, line, key), no Python traceback,
a non-zero exit code, and, for a bad params.yaml, nothing started: no Prefect server (it keeps its
state under `<root>/.mira/`) and no flow run (it would write under `data/` or `.mira/runs/`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.stages import STAGES
from tests.conftest import BIN, REPO, tool_env

runner = CliRunner()

SOURCE = "sources:\n  - {name: a, path: a.jsonl, format: text}\n"

# (params.yaml text, what the message must say): one of each kind of bad config
BAD_PARAMS = {
    "bad value": (SOURCE + "select:\n  budget: -1\n", "params.yaml:4: select.budget = -1: Input should be greater than 0"),
    "unknown key": (SOURCE + "select:\n  budjet: 0.3\n", "params.yaml:4: select.budjet = 0.3: unknown key (a typo?); "
                    "did you mean 'budget'?"),
    "wrong type": (SOURCE + "ingest:\n  read_batch: lots\n", "params.yaml:4: ingest.read_batch = 'lots': Input should "
                   "be a valid integer"),
    "missing key": ("ingest:\n  read_batch: 5\n", "params.yaml: sources: required, but missing"),
    "key set twice": (SOURCE + "select:\n  budget: 0.3\n  budget: 0.4\n", "params.yaml:5: select.budget: set twice "
                      "(lines 4 and 5)"),
    "missing nested key": ("sources:\n  - {name: a, format: text}\n", "params.yaml:2: sources[0].path: required, "
                           "but missing"),
    "not YAML": ("sources: [\n  - {name: a\n", "params.yaml:2:3: not valid YAML: expected the node content"),
    "not a mapping": ("- a\n- b\n", "params.yaml: expected a mapping of sections at the top level, got list"),
    "no file": (None, "params.yaml: not found (run mira from the project folder, or pass --root)"),
}

# every entry point that reads params.yaml, as a command line run in the project folder
ENTRY_POINTS = {
    "mira stage": [str(BIN / "mira"), "stage", "select"],
    "mira run": [str(BIN / "mira"), "run"],
    "mira params": [str(BIN / "mira"), "params"],
    "mira ui": [str(BIN / "mira"), "ui"],
    "python -m flows.<stage>": [sys.executable, "-m", "flows.select"],
}


def _run(cmd: list[str], cwd, **env: str) -> subprocess.CompletedProcess:
    # PYTHONPATH: `python -m flows.x` run from a project folder outside the repository finds the package
    return subprocess.run(cmd, cwd=cwd, env={**tool_env(), "PYTHONPATH": str(REPO), **env}, capture_output=True,
                          text=True, timeout=300)


def _project(tmp_path, text: str | None):
    if text is not None:
        (tmp_path / "params.yaml").write_text(text)
    return tmp_path


def _assert_message_alone(res: subprocess.CompletedProcess, message: str, code: int = 2) -> None:
    assert res.returncode == code, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr and "ConfigError" not in res.stderr, res.stderr


def _assert_nothing_started(root) -> None:
    assert not (root / ".mira").exists(), "a Prefect server or a flow run started"
    assert not (root / "data").exists() and not (root / "metrics").exists()


def test_help_names_every_stage_with_what_it_reads_and_writes():
    out = runner.invoke(app, ["--help"]).output
    for s in STAGES:
        assert s.name in out and s.metrics_path in out and all(w in out for w in s.write_paths())
    assert "reads  data/raw, the sources and the tokenizer (`ingest.tokenizer`) params.yaml names" in out
    assert "--debug" in out


def test_summary_outside_a_project_fails_and_in_a_new_one_says_nothing_ran(tmp_path):
    res = runner.invoke(app, ["summary", "--root", str(tmp_path)])
    assert res.exit_code != 0 and "params.yaml: not found" in str(res.exception)
    _project(tmp_path, SOURCE)
    res = runner.invoke(app, ["summary", "--root", str(tmp_path)])
    assert res.exit_code == 0 and "no stage has run yet" in res.output
    # an ingest that kept nothing is not a result: the summary says why
    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    for quarantined, said in ((5, True), (0, False)):  # nothing read at all is not "every record quarantined"
        total = {"kept": 0, "n_tokens": 0, "quarantined": quarantined}
        (tmp_path / "metrics" / "ingest.json").write_text(json.dumps({"total": total, "sources": {"a": {}}}))
        assert any("every record read was quarantined" in line for line in summary_lines(tmp_path)) is said


def test_summary_lists_the_ablations_apart_from_the_baselines(tmp_path):
    from flows.summary import summary_lines

    _project(tmp_path, SOURCE)
    (tmp_path / "metrics").mkdir()
    method = {"kept_records": 1, "kept_tokens": 10, "selectable_tokens": 20, "kept_token_share": 0.5}
    (tmp_path / "metrics" / "select.json").write_text(json.dumps({
        "methods": {"mira": method, "random": method, "mira_source": method}, "granularity": "group", "budget": 0.5,
        "overlap": {"mira": {"random": 0.25, "mira_source": 0.75}}}))
    lines = summary_lines(tmp_path)
    assert any("baselines at the same budget: random (overlap" in x and "mira_source" not in x for x in lines)
    assert any("MIRA's ablations at the same budget: mira_source (overlap" in x for x in lines)


def test_summary_totals_the_teachers_cost_over_discover_and_label(tmp_path):
    from flows.summary import summary_lines

    _project(tmp_path, SOURCE)
    (tmp_path / "metrics").mkdir()
    teacher = {"provider": "openai", "model": "m", "calls": 3, "cost_usd": 0.25}
    (tmp_path / "metrics" / "discover.json").write_text(json.dumps({
        "groups": {"g0": {"anchors": 3, "version": "v"}}, "teacher": teacher}))
    (tmp_path / "metrics" / "label.json").write_text(json.dumps({
        "groups": {"g0": {"labeled": 10}}, "teacher": {**teacher, "cost_usd": 1.0}}))
    assert "teacher     $1.2500 in all (discover and label)" in summary_lines(tmp_path)


def test_compare_says_when_the_workspace_params_are_newer_than_its_outputs(tmp_path):
    import hashlib

    _project(tmp_path, SOURCE)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    (tmp_path / "metrics").mkdir()
    f = tmp_path / "metrics" / "select.json"
    f.write_text(json.dumps({}))
    lock = {"schema": "2.0", "stages": {"select": {
        "cmd": "mira stage select", "params": {"params.yaml": {"select.budget": 0.5}},
        "outs": [{"path": "metrics/select.json", "hash": "md5", "md5": hashlib.md5(f.read_bytes()).hexdigest(),
                  "size": 2}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    params["select"] = {"budget": 0.3}  # changed after the recorded run
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    res = runner.invoke(app, ["compare", "workspace", "workspace", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "workspace: params.yaml changed after `dvc repro` ran select" in res.output


def test_params_command_prints_knobs_and_descriptions():
    res = runner.invoke(app, ["params", "--root", str(REPO)])
    assert res.exit_code == 0
    assert "ingest.on_too_long = 'truncate'  # Over the limit" in res.output


@pytest.mark.parametrize("kind", sorted(BAD_PARAMS))
def test_each_kind_of_bad_params_is_one_message_before_anything_starts(tmp_path, kind):
    text, message = BAD_PARAMS[kind]
    root = _project(tmp_path, text)
    res = _run(ENTRY_POINTS["mira stage"], root)
    _assert_message_alone(res, message)
    assert res.stderr.startswith(f"mira: {root / 'params.yaml'}"), "the message alone, naming the file first"
    _assert_nothing_started(root)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_reports_bad_params_the_same_way(tmp_path, entry):
    text, message = BAD_PARAMS["bad value"]
    root = _project(tmp_path, text)
    res = _run(ENTRY_POINTS[entry], root)
    _assert_message_alone(res, message)
    assert res.stderr.startswith("mira"), res.stderr
    _assert_nothing_started(root)


def test_dvc_repro_shows_the_stage_message_without_a_traceback(tmp_path):
    text, message = BAD_PARAMS["unknown key"]
    root = _project(tmp_path, text)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"select": {"cmd": "mira stage select",
                                                                         "params": ["select"]}}}))
    assert _run([str(BIN / "dvc"), "init", "--no-scm", "-q"], root).returncode == 0
    res = _run([str(BIN / "dvc"), "repro"], root)
    assert res.returncode != 0
    assert message in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert "failed to run: mira stage select, exited with 2" in res.stderr
    assert not (root / ".mira").exists() and not (root / "data").exists()


@pytest.mark.parametrize("args", [["stage", "ingset"], ["run", "--from", "ingset"], ["run", "--to", "ingset"]])
def test_unknown_stage_is_a_clear_error(tmp_path, args):
    root = _project(tmp_path, SOURCE)
    res = _run([str(BIN / "mira"), *args], root)
    _assert_message_alone(res, "mira: unknown stage 'ingset'; stages: demo_corpus, ingest")
    assert res.stderr.startswith("mira"), res.stderr
    _assert_nothing_started(root)


def test_a_backwards_range_is_a_clear_error_before_anything_starts(tmp_path):
    root = _project(tmp_path, SOURCE)
    res = _run([str(BIN / "mira"), "run", "--from", "select", "--to", "ingest"], root)
    _assert_message_alone(res, "mira: --from select comes after --to ingest in the graph: nothing to run")
    _assert_nothing_started(root)


def test_plan_refuses_a_stage_the_project_does_not_run_and_a_backwards_range():
    from flows.pipeline import plan
    from mira_core.errors import ConfigError

    assert plan("ingest", "ingest") == ["ingest"] and plan(None, "dedup", demo=False) == ["ingest", "dedup"]
    with pytest.raises(ConfigError, match="--from demo_corpus: not a stage of this project .demo_corpus.enabled"):
        plan("demo_corpus", None, demo=False)  # a ValueError traceback before
    with pytest.raises(ConfigError, match="--from select comes after --to ingest"):
        plan("select", "ingest")  # an empty plan before: mira run did nothing and succeeded


def test_debug_shows_the_traceback(tmp_path):
    root = _project(tmp_path, BAD_PARAMS["bad value"][0])
    for cmd, env in (([str(BIN / "mira"), "--debug", "params"], {}),
                     ([sys.executable, "-m", "flows.select"], {"MIRA_DEBUG": "1"})):
        res = _run(cmd, root, **env)
        assert res.returncode != 0
        assert "Traceback" in res.stderr and "select.budget = -1" in res.stderr, cmd


@pytest.mark.slow
@pytest.mark.parametrize("args", [["stage", "ingest"], ["run", "--from", "ingest", "--to", "ingest"]])
def test_config_error_inside_a_flow_is_the_message_alone(tmp_path, args):
    """ingest's flow raises this ConfigError (a source's file is missing), so the flow run has started and failed:
    Prefect's log of that failure, traceback and all, stays off the console; the message alone is printed."""
    root = _project(tmp_path, "sources:\n  - {name: a, path: nowhere.jsonl, format: text}\n")
    res = _run([str(BIN / "mira"), *args], root)
    _assert_message_alone(res, "mira: sources[0].path = 'nowhere.jsonl' (a): no such file")
    # no error line of Prefect's (its warnings about draining events on the way out may stay)
    assert "| ERROR" not in res.stderr and "Finished in state Failed" not in res.stderr, res.stderr



def test_summary_marks_only_the_stages_whose_dvc_lock_record_it_reads(tmp_path):
    """dvc.lock as `dvc repro` writes it (the end-to-end check is in test_dvc_repro.py): a stage whose metrics
    file is the one recorded, with a params section changed since, is stale; a metrics file written after it
    (by `mira stage`) is not judged."""
    import hashlib

    from flows.summary import stale_stages

    _project(tmp_path, SOURCE)
    params = {**yaml.safe_load((tmp_path / "params.yaml").read_text()), "dedup": {"threshold": 0.8},
              "select": {"budget": 0.5}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "metrics").mkdir()
    lock = {"schema": "2.0", "stages": {}}
    # dvc.lock writes 3e-05: a string to PyYAML, in a list too
    params["distill"] = {"student": "auto", "finetune": {"lr": 3.0e-05}, "head": {"ridge_alphas": [1.0e-05, 0.1]}}
    recorded = {"dedup": ("dedup", params["dedup"]), "select": ("select.budget", params["select"]["budget"]),
                "distill": ("distill", {"student": "auto", "finetune": {"lr": "3e-05"},
                                        "head": {"ridge_alphas": ["1e-05", 0.1]}})}  # distill: students.json
    for stage, (section, value) in recorded.items():
        f = tmp_path / "metrics" / ("students.json" if stage == "distill" else f"{stage}.json")
        f.write_text(json.dumps({"stage": stage}))
        lock["stages"][stage] = {"cmd": f"mira stage {stage}", "params": {"params.yaml": {section: value}},
                                 "outs": [{"path": f.relative_to(tmp_path).as_posix(), "hash": "md5",
                                           "md5": hashlib.md5(f.read_bytes()).hexdigest(), "size": 1}]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert stale_stages(tmp_path) == {}
    params["select"]["budget"], params["dedup"]["threshold"], params["distill"]["student"] = 0.25, 0.5, "head"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert stale_stages(tmp_path) == {"dedup": ["dedup.threshold"], "select": ["select.budget"],
                                      "distill": ["distill.student"]}  # distill was never judged
    (tmp_path / "metrics" / "select.json").write_text(json.dumps({"stage": "select", "rerun": True}))
    assert stale_stages(tmp_path) == {"dedup": ["dedup.threshold"], "distill": ["distill.student"]}


def test_summary_names_the_params_an_older_dvc_yaml_does_not_list(tmp_path):
    """`mira init` writes dvc.yaml once; a later mira whose stages read more params (discover, label and score now
    read select.held_out_sources) is not re-run by DVC when those change, and the summary says which."""
    from flows.summary import summary_lines
    from mira_core.config import SourceSpec
    from mira_core.init_project import render_dvc

    dvc = yaml.safe_load(render_dvc([SourceSpec(name="a", path="raw/a.jsonl", format="text")]))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    assert not any(line.startswith("dvc.yaml") for line in summary_lines(tmp_path))  # this mira's own graph
    for stage in ("discover", "score"):
        dvc["stages"][stage]["params"].remove("select.held_out_sources")
    dvc["stages"]["label"]["params"] = [{"params.yaml": ["teacher", "label", "select"]}]  # DVC's long form covers it
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    line = next(line for line in summary_lines(tmp_path) if line.startswith("dvc.yaml"))
    assert ("does not re-run discover when select.held_out_sources change; score when select.held_out_sources "
            "change, though") in line
    from mira_core.stages import params_not_in_dvc

    dvc["stages"]["discover"]["params"] = [{"params.yaml": None}]  # DVC: every param of the file
    dvc["stages"]["score"]["params"] = [{"other.yaml": ["select"]}, "score"]  # another file's keys cover nothing
    assert params_not_in_dvc(dvc) == {"score": ["select.held_out_sources"]}


def test_mira_params_stars_url_credentials():
    from flows.cli import describe
    from mira_core.config import parse_params

    # (a base_url with credentials is refused since review s43; a presigned source URL's token passes)
    params = parse_params({"sources": [{"name": "a", "path": "https://h/a.jsonl?X-Amz-Signature=SECRET2",
                                        "format": "text"}]})
    text = "\n".join(describe(params))
    assert "SECRET2" not in text and "https://h/a.jsonl?X-Amz-Signature=***" in text


def test_mira_params_describes_each_item_of_a_list_section():
    # decontaminate.benchmarks is a list: it printed as one repr, with none of its fields' descriptions
    from flows.cli import describe
    from mira_core.config import parse_params

    params = parse_params({"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}]})
    text = "\n".join(describe(params))
    assert "decontaminate.benchmarks[0].name = 'humaneval'  # Benchmark name" in text
    assert "sources[0].name = 'a'" in text


def test_a_params_file_that_is_not_utf8_names_its_line(tmp_path):
    from flows.params import load_params
    from mira_core.errors import ConfigError

    (tmp_path / "params.yaml").write_bytes(b"select:\n  budget: 0.5  # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"params.yaml:2: not UTF-8 \(byte 0xe9\)"):
        load_params(tmp_path / "params.yaml")


def test_the_demo_stage_of_a_project_with_its_own_sources_refuses_to_empty_data_raw(tmp_path, prefect_harness):
    # `mira run` plans the stage out when demo_corpus.enabled is false, but `mira stage demo_corpus` ran it
    from flows import demo_corpus
    from mira_core.config import parse_params
    from mira_core.errors import ConfigError

    mine = tmp_path / "data" / "raw" / "mine.jsonl"
    mine.parent.mkdir(parents=True)
    mine.write_text(json.dumps({"text": "my only copy"}) + "\n")
    params = parse_params({"sources": [{"name": "mine", "path": "data/raw/mine.jsonl", "format": "text"}],
                           "demo_corpus": {"enabled": False}})
    with pytest.raises(ConfigError, match="demo_corpus.enabled is false.*would empty"):
        demo_corpus.run(params, tmp_path)
    assert mine.read_text() == json.dumps({"text": "my only copy"}) + "\n"
