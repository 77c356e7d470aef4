"""MLflow: one parent run per pipeline run, a nested run per group with every agreement metric, no secret."""

from __future__ import annotations

import pytest
import yaml

from flows import discover, distill, label, report
from flows.params import load_params
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow
SECRET = "sk-live-do-not-log-4242"


def test_distill_logs_nested_runs_with_metrics_and_never_the_key(tmp_path, grouped_project, monkeypatch):
    import mlflow

    monkeypatch.setenv("MIRA_TEST_KEY", SECRET)
    base = grouped_project("two_groups_sharded")  # code and prose of varied length in two groups, through group
    with FakeOpenAI() as server:
        cfg = {**base,
               "teacher": {"provider": "openai", "model": "fake", "base_url": server.base_url,
                           "api_key_env": "MIRA_TEST_KEY", "max_retries": 0},
               "discover": {"records_per_group": 12, "n_anchors": 3},
               "label": {"records_per_group": 30}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))
        params = load_params(tmp_path / "params.yaml")
        for stage in (discover, label):
            stage.run(params, tmp_path)
        reports = distill.run(params, tmp_path)
        distill.run(params, tmp_path)  # a second run of the same configuration logs under the same parent
        report.run(params, tmp_path)  # the page that explains the run, on its parent run
        assert server.requests and all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.requests)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    assert len(children) == 2 * len(reports)
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert parents[0].data.params["teacher.api_key_env"] == "MIRA_TEST_KEY"
    child = next(r for r in children if r.data.tags["mira.group"] == "g0")
    rep = reports["g0"]
    assert child.data.tags["mira.rubric_version"] == rep["rubric_version"]
    name = rep["anchor_names"]["a00"]
    for source, m in rep["sources"].items():
        if m["anchors"]["a00"]["mae"] is not None:
            assert child.data.metrics[f"mae/{source}/a00_{name}"] == pytest.approx(m["anchors"]["a00"]["mae"])
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(child.info.run_id)}
    assert arts == {"rubric", "student"}
    assert list((tmp_path / "mlruns").rglob("config.json"))  # artifacts live in the project, wherever it runs
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(parents[0].info.run_id, "report")] == [
        "report/report.html"]

    for f in [tmp_path / "mlflow.db", *(tmp_path / "mlruns").rglob("*"), *(tmp_path / "metrics").glob("*"),
              *(tmp_path / "data").rglob("*.json"), tmp_path / "params.yaml", tmp_path / "reports" / "report.html"]:
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
