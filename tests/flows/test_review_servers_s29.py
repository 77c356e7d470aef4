"""Review of MLflow tracking (`flows/tracking.py`), the local servers (`flows/servers.py`) and `mira ui`
(`flows/ui.py`): a project folder whose name holds '%XX' or '?' (SQLite URLs read both), a queued DVC experiment
and the workspace's `mira ui`, an experiment name MLflow refuses, a metric name past MLflow's 250 characters, and
two `mira ui` of one project (the first to stop removed the other's ui.json)."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy.engine import make_url

from mira_core.config import MlflowParams, RunnerParams
from mira_core.errors import ConfigError


@pytest.mark.parametrize("folder", ["My%20Project", "a?b", "50%", "runs [2]"])
def test_a_relative_sqlite_store_stays_in_a_project_folder_whatever_its_name(tmp_path, folder):
    # SQLAlchemy reads the URL's path percent-decoded and up to '?': 'My%20Project' opened 'My Project/mlflow.db'
    # (no such folder: minutes of MLflow's retries, then "move it aside"), 'a?b' wrote a file 'a' beside the project
    from flows.tracking import tracking_uri

    root = tmp_path / folder
    root.mkdir()
    uri = tracking_uri(MlflowParams(tracking_uri="sqlite:///mlflow.db"), root)
    assert make_url(uri).database == str(root / "mlflow.db")
    with_query = make_url(tracking_uri(MlflowParams(tracking_uri="sqlite:///sub/m.db?timeout=30"), root))
    assert with_query.database == str(root / "sub" / "m.db") and dict(with_query.query) == {"timeout": "30"}


def test_a_plain_project_folder_keeps_its_tracking_uri_as_before(tmp_path):
    from flows.tracking import tracking_uri

    assert tracking_uri(MlflowParams(), tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_the_project_prefect_servers_database_stays_in_a_folder_named_with_a_percent_escape(tmp_path, monkeypatch):
    # Prefect's own URL (sqlite+aiosqlite:///<PREFECT_HOME>/prefect.db) is read the same way: the keeper exited with
    # "unable to open database file", and every stage failed with it
    from flows.servers import ProjectPaths, _server_env

    for k in list(os.environ):
        if k.startswith(("PREFECT_SERVER_DATABASE_", "PREFECT_API_DATABASE_")):
            monkeypatch.delenv(k)
    paths = ProjectPaths(tmp_path / "My%20Project")
    env = _server_env(paths, "127.0.0.1", 4200)
    url = env.get("PREFECT_SERVER_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{env['PREFECT_HOME']}/prefect.db")
    assert make_url(url).database == str(paths.home / "prefect.db")
    # a database the user chose is theirs
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect")
    assert "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in _server_env(paths, "127.0.0.1", 4200)


def test_a_queued_experiment_reports_to_the_workspaces_mira_ui(tmp_path, monkeypatch):
    # `dvc exp run --queue` runs the stages in a copy under .dvc/tmp/exps/ without the git-ignored .mira/: they did
    # not find the `mira ui` of the project, and started a Prefect server of their own in the copy DVC then deleted
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.servers import IDLE_ENV, _proc_start, prefect_api
    from flows.ui import UI_FILE

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(IDLE_ENV, raising=False)
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpq1w2e3r4"
    copy.mkdir(parents=True)
    api = "http://127.0.0.1:9/api"  # this process stands for the live `mira ui`; nothing is asked of its API here
    (tmp_path / UI_FILE).parent.mkdir()
    (tmp_path / UI_FILE).write_text(json.dumps({"pid": os.getpid(), "pid_start": _proc_start(os.getpid()),
                                                "prefect_api": api}))
    with (temporary_settings(restore_defaults={PREFECT_API_URL}),
          prefect_api(copy, RunnerParams(prefect_server_idle_s=0)) as got):
        assert got == api
    assert not (copy / ".mira").exists()


@pytest.mark.parametrize("name", ["", "x" * 501])
def test_an_experiment_name_mlflow_refuses_names_the_key(tmp_path, name):
    # MLflow's "Invalid experiment name" came as a store error advising to move mlflow.db aside, after the stage's
    # work; params now refuse it, before any stage runs
    from flows.params import load_params

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n"
                                          f"mlflow:\n  experiment: '{name}'\n")
    with pytest.raises(ConfigError, match=r"params\.yaml:4: mlflow\.experiment = .*: String should have at (least 1|"
                                          r"most 500) character"):
        load_params(tmp_path / "params.yaml")


def test_a_metric_name_stays_within_mlflows_250_characters_and_apart_from_others():
    # a source name of 157 characters beside an anchor name (80 at most): MLflow refused the metric after distill's
    # work ("'Metric name' exceeds the maximum length of 250 characters")
    from flows.tracking import metric_key

    long = [metric_key("somers_d", "s" * 160, f"a0{i}_" + "n" * 80) for i in range(2)]
    assert all(len(k) <= 250 for k in long) and long[0] != long[1]
    assert metric_key("mae", "web", "a00_clarity of prose") == "mae/web/a00_clarity_of_prose"


def test_mira_ui_leaves_the_ui_file_a_second_mira_ui_wrote_over_its_own(tmp_path, monkeypatch):
    # two `mira ui` of one project: the first to stop removed the file of the one still running, and the stages of a
    # project with runner.prefect_server_idle_s 0 went to Prefect's temporary servers, out of its UI
    import signal
    from contextlib import contextmanager
    from types import SimpleNamespace

    import flows.servers as servers
    import flows.ui as ui

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n")
    other = {"pid": os.getppid(), "pid_start": servers._proc_start(os.getppid()),
             "prefect_api": "http://127.0.0.1:4200/api"}

    @contextmanager
    def mlflow_ui(*args, **kwargs):
        yield "http://127.0.0.1:5001"

    @contextmanager
    def project_server(*args, **kwargs):
        yield {"api": "http://127.0.0.1:4200/api", "port": 4200, "started_here": False}

    def wait(_timeout):  # while this one runs, the second `mira ui` starts and writes its file
        (tmp_path / ui.UI_FILE).write_text(json.dumps(other))
        return True

    monkeypatch.setattr(servers, "mlflow_ui", mlflow_ui)
    monkeypatch.setattr(servers, "project_server", project_server)
    monkeypatch.setattr(ui, "threading", SimpleNamespace(Event=lambda: SimpleNamespace(wait=wait, set=lambda: None)))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        ui.command(prefect_port=4200, mlflow_port=5001, host="127.0.0.1", root=tmp_path)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert json.loads((tmp_path / ui.UI_FILE).read_text())["pid"] == os.getppid()
