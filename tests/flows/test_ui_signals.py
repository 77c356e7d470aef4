"""`mira ui` stops what it started when its terminal closes (SIGHUP), as on Ctrl-C or SIGTERM, and a `.mira/ui.json`
left behind is not trusted because some other process now has its pid. The real `flows.ui.command` runs in a child
process; only its two servers are light stand-ins (a `sleep` started by the real servers._start and stop)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from flows.servers import _alive
from flows.ui import UI_FILE, live_ui
from tests.conftest import REPO

CHILD = textwrap.dedent('''
    import os, sys
    from contextlib import contextmanager
    from pathlib import Path
    import flows.servers as S

    @contextmanager
    def mlflow_ui(backend, artifacts, state, host, port):
        proc = S._start(["sleep", "120"], dict(os.environ), Path(state) / "logs" / "mlflow-ui.log")
        Path(state, "mlflow.pid").write_text(str(proc.pid))
        try:
            yield f"http://{host}:{port}"
        finally:
            S.stop(proc)

    @contextmanager
    def project_server(root, idle, host, port, move_idle=False):
        yield {"api": f"http://{host}:{port}/api", "port": port, "started_here": False}

    S.mlflow_ui, S.project_server = mlflow_ui, project_server
    from flows.ui import command
    command(prefect_port=4200, mlflow_port=5000, host="127.0.0.1", root=Path(sys.argv[1]))
''')


def _start_ui(root, prelude: str = "") -> subprocess.Popen:
    """`mira ui` with its stand-in servers in a child process, once it has written its ui.json."""
    (root / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n")
    p = subprocess.Popen([sys.executable, "-c", prelude + CHILD, str(root)], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(300):
        if (root / UI_FILE).exists():
            break
        time.sleep(0.1)
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_servers_and_removes_the_ui_file(tmp_path, sig):
    # from a terminal: SIGHUP at its default, whatever this test runs under (CI under nohup ignores it, and a
    # child inherits that)
    p, ui = _start_ui(tmp_path, "import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"), tmp_path / UI_FILE
    assert ui.exists() and live_ui(tmp_path)["pid"] == p.pid
    child = int((tmp_path / ".mira" / "mlflow.pid").read_text())
    p.send_signal(sig)
    p.wait(30)
    time.sleep(0.5)
    left = _alive(child)
    if left:
        os.killpg(child, signal.SIGKILL)
    assert not left and not ui.exists()  # SIGHUP killed mira ui without its clean-up: both were left


def test_under_nohup_a_closed_terminal_leaves_mira_ui_running(tmp_path):
    # `nohup mira ui &` ignores SIGHUP before mira starts: the handler must not override that choice
    p = _start_ui(tmp_path, "import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)\n")
    ui = tmp_path / UI_FILE
    try:
        p.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert p.poll() is None and ui.exists()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    assert not ui.exists()


def test_a_ui_file_whose_pid_another_process_now_has_is_not_trusted(tmp_path):
    (tmp_path / ".mira").mkdir()
    info = {"pid": os.getppid(), "pid_start": "1", "prefect_api": "http://127.0.0.1:9/api"}  # a live pid, reused
    (tmp_path / UI_FILE).write_text(json.dumps(info))
    assert live_ui(tmp_path) is None
    from flows.servers import _proc_start

    (tmp_path / UI_FILE).write_text(json.dumps({**info, "pid_start": _proc_start(os.getppid())}))
    assert live_ui(tmp_path)["prefect_api"] == info["prefect_api"]


def test_a_ui_file_without_a_start_time_is_trusted_only_while_its_api_answers(tmp_path):
    # an older mira wrote no pid_start: a live pid alone cannot tell the `mira ui` from a process given its pid
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    (tmp_path / ".mira").mkdir()
    info = {"pid": os.getppid(), "prefect_api": "http://127.0.0.1:9/api"}  # a live pid, nothing on port 9
    (tmp_path / UI_FILE).write_text(json.dumps(info))
    assert live_ui(tmp_path) is None
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{server.server_port}/api"
        (tmp_path / UI_FILE).write_text(json.dumps({**info, "prefect_api": api}))
        assert live_ui(tmp_path)["prefect_api"] == api
    finally:
        server.shutdown()


def test_where_no_start_time_can_be_read_the_api_must_answer(tmp_path, monkeypatch):
    # a system without /proc: the recorded start time cannot be compared, so the live pid alone is not enough
    import flows.servers

    (tmp_path / ".mira").mkdir()
    info = {"pid": os.getppid(), "pid_start": flows.servers._proc_start(os.getppid()),
            "prefect_api": "http://127.0.0.1:9/api"}
    (tmp_path / UI_FILE).write_text(json.dumps(info))
    assert live_ui(tmp_path)["prefect_api"] == info["prefect_api"]  # the start time matches: trusted
    monkeypatch.setattr(flows.servers, "_proc_start", lambda pid: None)
    assert live_ui(tmp_path) is None
