"""dvc.yaml, the README, the report and the code cannot drift from the stage records in mira_core/stages.py.

For every stage: dvc.yaml's data deps are the record's reads, its outs the record's writes, its metrics
file, plots and params the record's; the stage is `flows/<name>.py` -> `tasks/<name>.py` -> the record's
`core` modules (one hop each, checked on the imports in the source); the README's stage table is the
generated one. Each check is also run on a broken copy, so a check that cannot fail would show here.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
import yaml

from mira_core import stages
from mira_core.report.inputs import FILES, WRITER
from mira_core.stages import STAGES, writer_of

REPO = Path(__file__).resolve().parents[1]
CODE = ("mira_core/", "flows/", "tasks/", "constraints.txt")


def _entries(items: list) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for o in items or []]


def disagreements(dvc: dict) -> list[str]:
    """Every way dvc.yaml's stages differ from the records, as readable lines."""
    problems = []
    if list(dvc) != [s.name for s in STAGES]:
        problems.append(f"stage order: dvc.yaml {list(dvc)} vs records {[s.name for s in STAGES]}")
    for s in STAGES:
        d = dvc.get(s.name)
        if d is None:
            continue
        data = [x for x in d.get("deps", []) if not x.startswith(CODE)]
        checks = {
            "cmd": (d.get("cmd"), f"mira stage {s.name}"),
            "data deps": (sorted(data), sorted(s.read_paths())),
            "outs": (d.get("outs", []), s.dvc_outs()),
            "metrics": (d.get("metrics"), s.dvc_metrics()),
            "plots": (d.get("plots", []), s.dvc_plots()),
            "params": (sorted(d.get("params", [])), sorted(s.params)),
        }
        problems += [f"{s.name} {what}: dvc.yaml {got} vs record {want}" for what, (got, want) in checks.items()
                     if got != want]
        for f in (f"flows/{s.name}.py", f"tasks/{s.name}.py"):
            if f not in d.get("deps", []):
                problems.append(f"{s.name}: {f} is not a dep")
    return problems


def test_dvc_yaml_agrees_with_the_stage_records():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert disagreements(dvc) == []


@pytest.mark.parametrize("break_it", ["drop_read", "extra_out", "param", "order"])
def test_a_disagreement_is_found(break_it):
    dvc = copy.deepcopy(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    if break_it == "drop_read":
        dvc["score"]["deps"].remove("data/groups")
    elif break_it == "extra_out":
        dvc["label"]["outs"].append("data/extra")
    elif break_it == "param":
        dvc["select"]["params"].append("distill")
    else:
        dvc = dict(reversed(dvc.items()))
    assert disagreements(dvc), break_it


def _imports(path: Path) -> set[str]:
    """The first-party modules a file imports (module level and inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.split(".")[0] in ("flows", "tasks", "mira_core")}


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_each_stage_is_one_hop_per_layer(stage):
    """The flow takes its tasks from its own task module only; that module imports the record's core modules."""
    flow_tasks = {m for m in _imports(REPO / "flows" / f"{stage.name}.py") if m.startswith("tasks.")}
    assert flow_tasks - {"tasks.caching"} == {f"tasks.{stage.name}"}
    task_imports = _imports(REPO / "tasks" / f"{stage.name}.py")
    assert set(stage.core) <= task_imports, f"tasks/{stage.name}.py does not import {set(stage.core) - task_imports}"


def test_the_readme_stage_table_is_generated():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert stages.rewrite(text) == text, f"README.md's stage table is out of date: run `{stages.COMMAND}`"


def test_rewrite_replaces_only_the_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{stages.START}\n| old |\n{stages.END}\n\nafter\n", encoding="utf-8")
    assert stages.main(["--check", "--readme", str(readme)]) == 1
    assert stages.main(["--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| old |" not in text and text.startswith("# title\n") and text.endswith("\nafter\n")
    assert all(f"`{s.name}`" in text for s in STAGES)
    assert stages.main(["--check", "--readme", str(readme)]) == 0


def test_the_report_names_the_writer_of_each_input_from_the_records():
    assert {k: WRITER[k] for k in ("students", "rubrics", "similarity", "mask", "evaluate", "params")} == {
        "students": "distill", "rubrics": "discover", "similarity": "group", "mask": "select", "evaluate": "evaluate",
        "params": "(none: params.yaml)"}
    assert {WRITER[k] for k in FILES if k != "params"} <= {s.name for s in STAGES}
    assert writer_of("data/selection/mira/manifest.parquet") == "select"
    assert writer_of("plots/distill/g0.csv") == "distill"
    assert writer_of("data/nothing") is None


def test_upstream_params_follow_the_stage_graph():
    up = stages.upstream_params("select")
    # select reads what every earlier stage makes, so their sections are in; what only later stages or the
    # plumbing read is not, and a key inside a section already named is not repeated
    assert {"sources", "ingest", "embed", "group", "teacher", "discover", "label", "distill", "score", "select"} <= set(up)
    assert not {"evaluate", "report", "cache", "runner"} & set(up) and "embed.encoder" not in up
    assert stages.upstream_params("embed") == ("demo_corpus", "embed", "ingest", "sources")
    assert set(stages.upstream_params("evaluate")) == set(up) | {"evaluate"}
