"""Review of MLflow tracking (`flows/tracking.py`), the local servers (`flows/servers.py`) and `mira ui`
(`flows/ui.py`): a changed default under the same params.yaml, and URL credentials in what a failed server says."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from mira_core.errors import MiraError

SECRET = "s3cret-token-4242"


def test_params_changed_under_the_same_params_yaml_log_under_a_new_parent_run(tmp_path):
    # a default edited in mira's code and not committed: params.yaml and both commits stay, the validated params
    # change, and MLflow refused to change the parent run's param ("Changing param values is not allowed")
    import mlflow

    from flows.params import load_params
    from flows.tracking import flat_params, pipeline_run

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n"
                                          "mlflow:\n  tracking_uri: sqlite:///mlflow.db\n")
    params = load_params(tmp_path / "params.yaml")
    edited = params.model_copy(update={"label": params.label.model_copy(update={"seed": params.label.seed + 1})})
    ids = []
    for p in (params, params, edited):
        with pipeline_run(p, tmp_path) as run:
            mlflow.log_params(flat_params(p, ("label",)))
            ids.append(run.info.run_id)
    assert ids[0] == ids[1] != ids[2]  # the same configuration still shares its parent run


def test_a_tracking_servers_error_names_it_with_its_credentials_starred():
    # MLflow's RestStore quotes the request's URL: "API request to https://alice:<token>@host/api/2.0/... failed"
    from mlflow.exceptions import MlflowException

    from flows.tracking import _store_errors

    uri = f"https://alice:{SECRET}@mlflow.example"
    with pytest.raises(MiraError) as e, _store_errors(uri):
        raise MlflowException(f"API request to {uri}/api/2.0/mlflow/experiments/get-by-name failed with exception "
                              + "x" * 400)
    assert SECRET not in str(e.value) and "API request to https://***:***@mlflow.example/api" in str(e.value)
    assert str(e.value).endswith("(is the server up, and the URI right?)")


def test_a_server_that_dies_at_start_shows_its_log_with_url_credentials_starred(tmp_path):
    # `mlflow server` on a tracking URI with user:token@ printed the URI in its traceback, and the error put it on
    # the terminal
    from flows.servers import _start, wait_healthy

    log = tmp_path / "logs" / "server.log"
    proc = _start([sys.executable, "-c", f"print('unsupported URI https://alice:{SECRET}@mlflow.example'); exit(1)"],
                  {}, log)
    proc.wait(30)
    with pytest.raises(MiraError, match=r"exited with code 1") as e:
        wait_healthy("http://127.0.0.1:9/health", proc, 30, log)
    assert SECRET not in str(e.value) and "https://***:***@mlflow.example" in str(e.value)


def test_mira_ui_starts_no_mlflow_server_over_a_tracking_server(tmp_path, monkeypatch, capsys):
    # `mlflow server --backend-store-uri https://...` cannot start: `mira ui` failed, its key on the terminal
    import flows.servers as servers
    import flows.ui as ui

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n"
                                          f"mlflow:\n  tracking_uri: https://alice:{SECRET}@mlflow.example\n")
    started = []

    @contextmanager
    def mlflow_ui(*args, **kwargs):
        started.append(args)
        yield "http://127.0.0.1:5000"

    @contextmanager
    def project_server(*args, **kwargs):
        yield {"api": "http://127.0.0.1:4200/api", "port": 4200, "started_here": False}

    stop = ui.threading.Event()
    stop.set()  # as if Ctrl-C came at once
    monkeypatch.setattr(servers, "mlflow_ui", mlflow_ui)
    monkeypatch.setattr(servers, "project_server", project_server)
    monkeypatch.setattr(ui, "threading", SimpleNamespace(Event=lambda: stop))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        ui.command(prefect_port=4200, mlflow_port=5000, host="127.0.0.1", root=tmp_path)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    out = capsys.readouterr().out
    assert started == [] and "MLflow UI    https://***:***@mlflow.example" in out and SECRET not in out
