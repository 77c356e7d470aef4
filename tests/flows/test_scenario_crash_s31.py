"""Scenario s31 (crash safety end to end): a stage killed at the wrong moment must not leave state that a re-run
trusts or trips over.

Each test here reproduces, on tiny data, something a SIGKILL during `dvc repro` of a small three-source project
(rules teacher, evaluate off) left behind or met; each failed before its fix.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A stage process that dies (as SIGKILL would: no finally, no atexit) at the moment MLflow's first-use migration of a
# new sqlite store creates its batch-migration temporary table. That is a point inside "Creating initial MLflow
# database tables...", which distill (the first stage that logs) spends seconds in on 2 cores.
_KILLED_FIRST_USE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import sqlalchemy
    from sqlalchemy import event

    @event.listens_for(sqlalchemy.engine.Engine, "after_cursor_execute")
    def die(conn, cursor, statement, *a):
        if statement.lstrip().upper().startswith("CREATE TABLE _ALEMBIC_TMP_"):
            os._exit(137)

    from mira_core.config import parse_params
    from flows.tracking import pipeline_run
    root = Path(sys.argv[1])
    params = parse_params({"sources": [{"name": "web", "path": "raw/web.jsonl", "format": "text"}]})
    with pipeline_run(params, root):
        pass
""")


def test_mlflow_store_killed_during_creation_does_not_break_the_rerun(tmp_path):
    from flows.tracking import pipeline_run
    from mira_core.config import parse_params

    killed = subprocess.run([sys.executable, "-c", _KILLED_FIRST_USE, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == 137, killed.stderr[-2000:]  # it died inside the store's creation

    # the re-run of the stage: it must find or create a usable store, as an uninterrupted run would have
    params = parse_params({"sources": [{"name": "web", "path": "raw/web.jsonl", "format": "text"}]})
    with pipeline_run(params, tmp_path) as run:
        assert run.info.run_id


@pytest.fixture
def file_size_limit():
    """A full disk, cheaply: RLIMIT_FSIZE makes a write past the limit fail with EFBIG (Python ignores SIGXFSZ), as
    ENOSPC would. The soft limit is put back afterwards (a process may raise it again up to the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    yield lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("kind", ["parquet", "json", "dir"])
def test_a_full_disk_names_the_output_it_could_not_write(tmp_path, file_size_limit, kind):
    import numpy as np
    import polars as pl

    from mira_core.errors import MiraError
    from mira_core.io import atomic_dir, write_json, write_parquet

    out = tmp_path / "data" / "students" / "g0"
    big = pl.DataFrame({"x": np.arange(100_000, dtype=np.float64)})
    file_size_limit(50_000)
    with pytest.raises(MiraError) as e:
        if kind == "parquet":
            write_parquet(big, out.with_suffix(".parquet"))
        elif kind == "json":
            write_json({"x": "y" * 100_000}, out.with_suffix(".json"))
        else:
            with atomic_dir(out) as tmp:  # as distill's student checkpoint folder is written
                (tmp / "model.bin").write_bytes(b"\0" * 100_000)
    assert "g0" in str(e.value)
    # and nothing half-written is left where a re-run would read it (this part holds today)
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "data" / "students").iterdir())
