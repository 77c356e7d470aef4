"""MLflow under stages that run at once: one process creates the tables, the experiment and the parent run."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import run_at_once

pytestmark = pytest.mark.slow

IMPORTS = """
import mlflow
from flows.params import load_params
from flows.tracking import pipeline_run
"""
BODY = """
root = _Path(_sys.argv[3])
with pipeline_run(load_params(root / "params.yaml"), root) as run:
    mlflow.log_metric("m", 1.0)
    print(run.info.run_id)
"""


def test_stages_at_once_share_one_database_and_one_parent_run(tmp_path):
    import mlflow

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"}],
         "mlflow": {"tracking_uri": "sqlite:///mlflow.db"}}))
    results = run_at_once(IMPORTS, BODY, 4, tmp_path, str(tmp_path))  # all four open the new database together
    assert [code for code, _ in results] == [0] * 4, results
    ids = {out.strip().splitlines()[-1] for _, out in results}
    assert len(ids) == 1, results  # every stage logged under the same parent run

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    assert [r.info.run_id for r in runs] == list(ids)


def test_a_deleted_experiment_is_a_config_error_naming_it(tmp_path):
    # MLflow still finds a deleted experiment by name and then refuses to set it, after the stage's work
    import mlflow

    from flows.params import load_params
    from flows.tracking import pipeline_run
    from mira_core.errors import ConfigError

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n"
                                          "mlflow:\n  tracking_uri: sqlite:///mlflow.db\n")
    params = load_params(tmp_path / "params.yaml")
    with pipeline_run(params, tmp_path):
        pass
    mlflow.delete_experiment(mlflow.get_experiment_by_name(params.mlflow.experiment).experiment_id)
    with pytest.raises(ConfigError, match="mlflow.experiment = 'mira' was deleted in MLflow: restore it"), \
            pipeline_run(params, tmp_path):
        pass
