"""Review of the pipeline plumbing: `mira run`'s range, `mira summary`'s stale check, dvc.yaml's readers.

- params.yaml's `lr: 1e-5` is a string to PyYAML (YAML 1.1 wants a dot) and a float to DVC, which writes it back to
  dvc.lock as `1e-05`: two strings that differ, so `mira summary` (and `mira compare`) called the stage stale while
  DVC called it up to date.
- `mira run --from demo_corpus` in a project whose demo_corpus.enabled is false started the project's Prefect server
  before refusing the range.
- a dvc.yaml DVC cannot read (not UTF-8, a folder) was an UnicodeDecodeError or IsADirectoryError traceback from
  every `mira stage`; one whose `stages` is no mapping, the same from `mira summary`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest
from typer.testing import CliRunner

SOURCE = "sources:\n  - {name: a, path: a.jsonl, format: text}\n"


def _locked_distill(root, lr_in_params: str) -> None:
    """params.yaml with distill.finetune.lr spelled `lr_in_params`, and dvc.lock as `dvc repro` wrote it for 1e-5."""
    (root / "params.yaml").write_text(SOURCE + f"distill:\n  finetune:\n    lr: {lr_in_params}\n")
    (root / "metrics").mkdir(exist_ok=True)
    metrics = root / "metrics" / "students.json"
    metrics.write_text("{}\n")
    # DVC reads params.yaml as YAML 1.2 (1e-5 is a float) and dumps the float as 1e-05
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  distill:\n    cmd: mira stage distill\n    params:\n      params.yaml:\n"
        "        distill:\n          finetune:\n            lr: 1e-05\n    outs:\n    - path: metrics/students.json\n"
        f"      hash: md5\n      md5: {hashlib.md5(metrics.read_bytes()).hexdigest()}\n      size: 3\n")


def test_a_float_written_without_a_dot_is_not_a_changed_param(tmp_path):
    from flows.summary import stale_stages

    _locked_distill(tmp_path, "1e-5")
    assert stale_stages(tmp_path) == {}  # `dvc status`: up to date
    _locked_distill(tmp_path, "2e-5")
    assert stale_stages(tmp_path) == {"distill": ["distill.finetune.lr"]}
    _locked_distill(tmp_path, "1.0e-05")  # a float to PyYAML too
    assert stale_stages(tmp_path) == {}


@pytest.mark.parametrize(("a", "b", "same"), [("1e-5", "1E-05", True), ("1e5", "1e+5", True), ("1e-5", "2e-5", False),
                                              ("a", "b", False), ("nan", "nan", True), ("inf", "1e999", False)])
def test_two_strings_are_one_value_only_when_both_spell_the_same_number(a, b, same):
    from flows.summary import _same

    assert _same(a, b) is same


def test_mira_run_refuses_a_range_the_project_does_not_run_before_the_server_starts(tmp_path, monkeypatch):
    import flows.servers
    from flows.cli import app
    from mira_core.errors import ConfigError

    entered = []

    @contextlib.contextmanager
    def server(root, runner):
        entered.append(root)
        yield None

    monkeypatch.setattr(flows.servers, "prefect_api", server)
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    (tmp_path / "params.yaml").write_text(SOURCE + "demo_corpus: {enabled: false}\n")
    for args in (["--from", "demo_corpus"], ["--to", "demo_corpus"]):
        res = CliRunner().invoke(app, ["run", "--root", str(tmp_path), *args])
        assert isinstance(res.exception, ConfigError), res.output
        assert str(res.exception) == f"{args[0]} demo_corpus: not a stage of this project (demo_corpus.enabled is false)"
    assert entered == []


def test_mira_run_reports_a_bad_params_yaml_as_before(tmp_path):
    from flows.cli import app
    from mira_core.errors import ConfigError

    (tmp_path / "params.yaml").write_text(SOURCE + "select:\n  budjet: 0.3\n")
    res = CliRunner().invoke(app, ["run", "--root", str(tmp_path), "--to", "ingest"])
    assert isinstance(res.exception, ConfigError) and "params.yaml:4: select.budjet = 0.3: unknown key" in str(
        res.exception)


@pytest.mark.parametrize("broken", ["latin-1", "folder"])
def test_a_dvc_yaml_dvc_cannot_read_is_left_to_dvc(tmp_path, broken):
    from mira_core.config import parse_params
    from mira_core.dvc_deps import dvc_stage_deps, untracked_param_paths

    (tmp_path / "enc").mkdir()
    if broken == "folder":
        (tmp_path / "dvc.yaml").mkdir()
    else:  # DVC: "unable to read: 'dvc.yaml', is not valid utf-8"
        (tmp_path / "dvc.yaml").write_bytes(b"# caf\xe9\nstages:\n  embed:\n    cmd: x\n    deps: [data/corpus]\n")
    p = parse_params({"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}], "embed": {"encoder": "enc"}})
    assert dvc_stage_deps(tmp_path, "embed") is None
    assert untracked_param_paths("embed", p, tmp_path) == []


@pytest.mark.parametrize("text", ["stages: [a]\n", "stages: a\n", "- a\n"])
def test_summary_of_a_dvc_yaml_and_lock_dvc_would_refuse_is_no_traceback(tmp_path, text):
    from flows.summary import dvc_older, stale_stages, summary_lines

    (tmp_path / "params.yaml").write_text(SOURCE)
    (tmp_path / "dvc.yaml").write_text(text)
    (tmp_path / "dvc.lock").write_text(text)
    assert dvc_older(tmp_path) == {} and stale_stages(tmp_path) == {}
    assert summary_lines(tmp_path)[-1].startswith("watch runs:")
