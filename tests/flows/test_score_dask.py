"""score on a real Dask LocalCluster through Prefect (prefect-dask) gives exactly the thread-pool result.

Dask's workers are separate processes, so they report to a real Prefect server started here, as a
user would run it (`mira ui`), not to a temporary one per worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from flows import discover, distill, label, score
from flows.params import load_params
from flows.servers import prefect_server

pytestmark = pytest.mark.slow


def _project(root, base: dict):
    params = {
        **base,  # 80 records of two sources in two groups, ingested into 8 shards: a real fan-out
        "discover": {"records_per_group": 20, "n_anchors": 4},
        "label": {"records_per_group": 40},
        "cache": {"enabled": False},
        "mlflow": {"tracking_uri": "sqlite:///mlflow.db"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return load_params(root / "params.yaml")


def _scores(root):
    return pl.read_parquet(root / "data" / "scores" / "*" / "*" / "*.parquet").sort("record_id")


def test_dask_scoring_equals_thread_pool_scoring(tmp_path, grouped_project):
    params = _project(tmp_path, grouped_project("two_groups_sharded"))
    for stage in (discover, label, distill, score):
        stage.run(params, tmp_path)
    threads = _scores(tmp_path)
    assert threads.height == 80 and threads["record_id"].is_unique().all()
    shutil.rmtree(tmp_path / "data" / "scores")

    cfg = yaml.safe_load((tmp_path / "params.yaml").read_text())
    cfg["runner"] = {"kind": "dask", "max_workers": 2, "threads_per_worker": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))
    with prefect_server(tmp_path / ".state", ui=False) as api:
        env = {**os.environ, "PREFECT_API_URL": api}
        res = subprocess.run([sys.executable, "-m", "flows.score", "--root", str(tmp_path)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
        req = urllib.request.Request(f"{api}/task_runs/filter", data=json.dumps({"limit": 200}).encode(),
                                     headers={"Content-Type": "application/json"})
        runs = json.loads(urllib.request.urlopen(req).read())
    shard_runs = [r for r in runs if r["name"].startswith("score-")]
    assert len(shard_runs) == 8 and {r["state_name"] for r in shard_runs} == {"Completed"}
    assert_frame_equal(_scores(tmp_path), threads)
