"""End to end: `dvc repro` of the graph in a temporary copy of the repository, on a tiny demo corpus."""

from __future__ import annotations

import json
import subprocess

import polars as pl
import pytest
import yaml

from tests.conftest import copy_repo, tool_env

pytestmark = pytest.mark.slow


def _sh(cmd: list[str], cwd) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["demo_corpus"]["max_records_per_source"] = 15
    params["discover"]["records_per_group"] = 20
    params["discover"]["n_anchors"] = 6
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
    corpus = pl.read_parquet(repo / "data" / "corpus" / "*" / "part-*.parquet")
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


def test_git_ignores_the_data(repo):
    status = _sh(["git", "status", "--porcelain", "--untracked-files=all"], repo)
    assert "data/raw" not in status and "data/corpus" not in status
