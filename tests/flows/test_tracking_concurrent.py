"""MLflow under stages that run at once: one process creates the tables, the experiment and the parent run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.slow

# Each process imports mlflow, then waits for the gate file so that all of them open the new database together.
CHILD = """
import sys, time
from pathlib import Path
import mlflow
from flows.params import load_params
from flows.tracking import pipeline_run
root = Path(sys.argv[1])
(root / f"ready-{sys.argv[2]}").touch()
while not (root / "go").exists():
    time.sleep(0.01)
with pipeline_run(load_params(root / "params.yaml"), root) as run:
    mlflow.log_metric("m", 1.0)
    print(run.info.run_id)
"""


def test_stages_at_once_share_one_database_and_one_parent_run(tmp_path):
    import mlflow

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"sources": [{"name": "code", "path": "raw/code.jsonl", "format": "code"}],
         "mlflow": {"tracking_uri": "sqlite:///mlflow.db"}}))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(4)]
    deadline = time.monotonic() + 120  # every child has imported mlflow (a few seconds each on two cores)
    while time.monotonic() < deadline and len(list(tmp_path.glob("ready-*"))) < 4:
        time.sleep(0.1)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    ids = {o.strip().splitlines()[-1] for o in outs}
    assert len(ids) == 1, outs  # every stage logged under the same parent run

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    assert [r.info.run_id for r in runs] == list(ids)

