"""Local servers the pipeline can report to: the Prefect server (API + UI) and the MLflow UI.

Both bind 127.0.0.1 unless told otherwise, start as child processes, are waited for until they
answer their health endpoint, and are stopped (terminate, then kill) when the context exits.
The Prefect server is also what process-based Dask workers need: in ephemeral mode each worker
process would start a temporary server of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from mira_core.errors import MiraError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Poll `url` until it answers 200; fail with the server's log if it dies or takes too long."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise MiraError(f"server exited with code {proc.returncode} before it was ready:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise MiraError(f"server at {url} not ready after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, n: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else "(no log)"


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """Terminate a server and its children; kill what is left after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        return subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def prefect_server(state: Path, host: str = "127.0.0.1", port: int | None = None, ui: bool = True,
                   timeout: float = 120):
    """A Prefect server (SQLite under `state`); yields its API URL."""
    port = port or free_port(host)
    env = {**os.environ, "PREFECT_HOME": str(state / "prefect-server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "true" if ui else "false", "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false"}
    env.pop("PREFECT_API_URL", None)
    log = state / "logs" / "prefect-server.log"
    proc = _start([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port),
                   "--no-scheduler", "--analytics-off"], env, log)
    try:
        api = f"http://{host}:{port}/api"
        wait_healthy(f"{api}/health", proc, timeout, log)
        yield api
    finally:
        stop(proc)


@contextmanager
def mlflow_ui(backend_uri: str, artifacts: Path, state: Path, host: str = "127.0.0.1", port: int | None = None,
              timeout: float = 120):
    """The MLflow tracking server and UI over the pipeline's store, one worker; yields its URL."""
    port = port or free_port(host)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = state / "logs" / "mlflow-ui.log"
    proc = _start([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                   "--artifacts-destination", str(artifacts), "--host", host, "--port", str(port), "--workers", "1"],
                  env, log)
    try:
        url = f"http://{host}:{port}"
        wait_healthy(f"{url}/health", proc, timeout, log)
        yield url
    finally:
        stop(proc)
