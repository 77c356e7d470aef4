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


def test_second_repro_runs_nothing_and_a_params_change_reruns_only_ingest(repo):
    out = _sh(["dvc", "repro"], repo)
    assert "Running stage" not in out
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ingest"]["max_chars"] = 2000
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _sh(["dvc", "repro"], repo)
    assert "Running stage 'ingest'" in out and "Running stage 'demo_corpus'" not in out
    ingest = json.loads((repo / "metrics" / "ingest.json").read_text())
    assert ingest["total"]["truncated"] > 0
    assert _sh(["dvc", "status"], repo).strip().endswith("Data and pipelines are up to date.")


def test_git_ignores_the_data(repo):
    status = _sh(["git", "status", "--porcelain", "--untracked-files=all"], repo)
    assert "data/raw" not in status and "data/corpus" not in status
