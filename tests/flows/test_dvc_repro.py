"""End to end: `dvc repro` of the whole graph in a temporary copy of the repository, on a tiny demo corpus.

One module-scoped run (demo_corpus through report, evaluation on with a tiny model), then the
re-run rules: nothing changes -> nothing runs; a param change re-runs from its stage; a budget change
re-runs only select and what reads the selection; `dvc exp run -S distill.student=linear` works.
"""

from __future__ import annotations

import json
import subprocess

import polars as pl
import pytest
import yaml

from flows.params import load_params
from flows.summary import stale_stages
from mira_core.config import params_digest
from mira_core.stages import upstream_params
from tests.conftest import copy_repo, tool_env

pytestmark = pytest.mark.slow


def _sh(cmd: list[str], cwd) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    # a folder name polars, glob and DVC could each read as a pattern: every stage must take its paths as names
    root = copy_repo(tmp_path_factory.mktemp("repo [2]"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["demo_corpus"]["max_records_per_source"] = 15
    params["discover"]["records_per_group"] = 20
    params["discover"]["n_anchors"] = 6
    params["label"]["records_per_group"] = 60
    params["evaluate"].update(steps=8, base_steps=4, eval_every=4, eval_tokens=2048, batch_size=4, context=64,
                              vocab_size=512, tokenizer_sample_chars=200_000, seeds=[0, 1])  # two: CI time
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _sh(["git", "commit", "-qam", "tiny demo"], root)
    _sh(["dvc", "repro"], root)
    return root


def test_repro_builds_and_ingests_the_demo(repo):
    demo = json.loads((repo / "metrics" / "demo_corpus.json").read_text())
    ingest = json.loads((repo / "metrics" / "ingest.json").read_text())
    assert len(demo["records"]) == 8
    for name, r in ingest["sources"].items():
        assert r["read"] == demo["records"][name] == r["kept"] + r["quarantined"], name
    corpus = pl.read_parquet(sorted((repo / "data" / "corpus").glob("*/part-*.parquet")), glob=False)
    assert corpus.height == ingest["total"]["kept"]
    assert corpus["record_id"].is_unique().all()
    assert set(corpus["format"]) == {"code", "text", "qa", "agent"}


def test_repro_groups_sources_and_discovers_rubrics(repo):
    groups = json.loads((repo / "metrics" / "group.json").read_text())["groups"]
    assert sorted(s for members in groups.values() for s in members) == sorted(
        json.loads((repo / "metrics" / "ingest.json").read_text())["sources"])
    assert (repo / "data" / "groups" / "similarity.png").stat().st_size > 10_000
    discover = json.loads((repo / "metrics" / "discover.json").read_text())
    assert set(discover["groups"]) == set(groups)
    for g in groups:
        rubric = json.loads((repo / "data" / "rubrics" / f"{g}.json").read_text())
        assert 1 <= len(rubric["anchors"]) <= 6 and rubric["teacher"] == "rules/rules-v1"
    shown = _sh(["mira", "rubrics", "show"], repo)
    assert all(f"group {g}" in shown for g in groups)


def test_repro_labels_distills_scores_and_selects_half(repo):
    label = json.loads((repo / "metrics" / "label.json").read_text())
    assert label["teacher"]["requests"] > 0 and not label["skipped_groups"]
    students = json.loads((repo / "metrics" / "students.json").read_text())
    embed = json.loads((repo / "metrics" / "embed.json").read_text())
    assert embed["coverage"]["mean"] == 1.0 and embed["encoder"]["encoder"] == "static"  # whole records read
    for g, r in students.items():
        assert r["student"] == "auto" and set(r["sources"]) and r["anchors"], g
        trained_on = json.loads((repo / "data" / "students" / g / "inputs.json").read_text())["encoder"]
        assert trained_on["encoder"] == "static" and trained_on["embed"] == embed["encoder"]["embed"], g  # score checks
        assert set(r["choice"]) == set(r["anchors"]) and set(r["choice"].values()) <= {"head", "linear", "trees",
                                                                                      "blend"}, g
        for s, sr in r["sources"].items():  # per (group, source, anchor) figures
            assert set(sr["anchors"]) == set(r["anchors"]), (g, s)
        # every labeled source's evidence for the mask: its label count, and anchors it never varies on
        assert set(r["sources"]) <= set(r["label_constancy"]), g
        assert all(v["n"] > 0 and set(v["constant"]) <= set(r["anchors"]) for v in r["label_constancy"].values()), g
    # The students learned something: over all groups, their val MAE beats the train-mean predictor's.
    n_val = sum(r["n_val"] for r in students.values())
    mae = sum(r["mean_mae"] * r["n_val"] for r in students.values()) / n_val
    const = sum(r["const_mean_mae"] * r["n_val"] for r in students.values()) / n_val
    assert mae < const, f"students' val MAE {mae:.3f} vs constant {const:.3f}"
    score = json.loads((repo / "metrics" / "score.json").read_text())
    assert score["records"] == json.loads((repo / "metrics" / "ingest.json").read_text())["total"]["kept"]
    select = json.loads((repo / "metrics" / "select.json").read_text())
    assert {"mira", "random", "length", "single_rubric", "mira_source", "mira_no_mask"} <= set(select["methods"])
    assert select["oracle"]["all"]["records"] > 0 and select["oracle"]["all"]["spearman"] is not None
    for name, m in select["methods"].items():
        assert sum(m["reasons"].values()) == m["records"] == score["records"], name  # counts balance
        assert m["kept_tokens"] <= m["budget_tokens"], name
    assert select["methods"]["mira"]["kept_token_share"] > 0.35  # half of the selectable tokens, bar granularity
    manifest = pl.read_parquet(repo / "data" / "selection" / "mira" / "manifest.parquet", glob=False)
    assert manifest.height == score["records"] and manifest["record_id"].is_unique().all()
    lineage = json.loads((repo / "data" / "selection" / "mira" / "records" / "lineage.json").read_text())
    assert lineage["params_committed"] is True and lineage["dvc_experiment"] is None  # a plain run of a commit
    assert isinstance(lineage["mira_version"], str) and "code_committed" in lineage  # and the code that ran
    # its params digest is of what the selection depends on: the same after an edit to `evaluate` alone
    assert lineage["params_digest"] == params_digest(load_params(repo / "params.yaml"), upstream_params("select"))


def test_repro_evaluates_and_writes_the_report(repo):
    ev = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert set(ev["arms"]) == {"mira", "random", "full"}
    for arm, r in ev["arms"].items():
        assert len(r["seeds"]) == 2 and r["loss_mean"] > 0, arm
    assert (repo / "plots" / "evaluate" / "curves.csv").exists()
    html = (repo / "reports" / "report.html").read_text()
    assert "<img" in html and "Proxy evaluation" in html and "src=\"http" not in html  # self-contained


def test_second_repro_runs_nothing_and_a_params_change_reruns_from_that_stage(repo):
    out = _sh(["dvc", "repro"], repo)
    assert "Running stage" not in out
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "first run"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["discover"]["n_anchors"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _sh(["dvc", "repro"], repo)
    assert "Running stage 'discover'" in out
    assert not any(f"Running stage '{s}'" in out for s in ("demo_corpus", "ingest", "embed", "group"))
    diff = json.loads(_sh(["mira", "rubrics", "diff", "HEAD", "workspace", "--json"], repo))
    assert any(d["removed"] for d in diff.values())  # 6 anchors -> 3, read back from the DVC cache at HEAD
    assert _sh(["dvc", "status"], repo).strip().endswith("Data and pipelines are up to date.")


def test_a_budget_change_reruns_only_select_and_what_reads_the_selection(repo):
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "before budget"], repo)
    before = json.loads((repo / "metrics" / "select.json").read_text())["methods"]["mira"]["kept_tokens"]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert stale_stages(repo) == {}
    params["select"]["budget"] = 0.3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # before the re-run, the summary says which stages' figures are from the old params (dvc.lock's record)
    assert stale_stages(repo)["select"] == ["select.budget"]
    assert not {"ingest", "group", "discover", "label", "distill"} & set(stale_stages(repo))
    assert "stale       params.yaml changed" in _sh(["mira", "summary"], repo)
    out = _sh(["dvc", "repro"], repo)
    assert stale_stages(repo) == {}
    ran = {s for s in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"] if f"Running stage '{s}'" in out}
    assert ran == {"select", "evaluate", "report"}, out
    after = json.loads((repo / "metrics" / "select.json").read_text())["methods"]["mira"]["kept_tokens"]
    assert after < before
    _sh(["git", "add", "-A"], repo)
    _sh(["git", "commit", "-qm", "budget 0.3"], repo)


def test_an_experiment_switches_the_student_to_linear(repo):
    _sh(["dvc", "exp", "run", "-S", "distill.student=linear", "-n", "linear-student"], repo)
    students = json.loads((repo / "metrics" / "students.json").read_text())
    assert {r["student"] for r in students.values()} == {"linear"}
    # the export says which experiment made it, and that its params are not the commit's
    lineage = json.loads((repo / "data" / "selection" / "mira" / "records" / "lineage.json").read_text())
    assert lineage["dvc_experiment"] == "linear-student" and lineage["params_committed"] is False
    shown = json.loads(_sh(["dvc", "exp", "show", "--json"], repo))
    assert "linear-student" in json.dumps(shown)
    compared = _sh(["mira", "compare", "HEAD", "workspace"], repo)
    assert "linear" in compared


def test_git_ignores_the_data(repo):
    status = _sh(["git", "status", "--porcelain", "--untracked-files=all"], repo)
    assert "data/raw" not in status and "data/corpus" not in status
