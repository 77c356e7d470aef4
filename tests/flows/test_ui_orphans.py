"""A `mira ui` killed with SIGKILL cannot stop its MLflow UI (its own session keeps it running, on its port): the
next `mira ui` stops it from the record `servers.mlflow_ui` keeps. The real `mlflow_ui` runs in a child process; only
the server it starts is a stand-in, Python's http.server over a folder holding a `health` file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flows.servers import ORPHANS, _proc_start, _start, free_port, port_free, stop, stop_orphaned_mlflow
from tests.conftest import REPO

CHILD = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import flows.servers as S

    state, port, www = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    real_start = S._start
    S._start = lambda cmd, env, log: real_start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                                 "--directory", www, str(port)], env, log)
    with S.mlflow_ui("sqlite:///x.db", state / "mlruns", state, "127.0.0.1", port, timeout=60) as url:
        print(url, flush=True)
        time.sleep(300)
''')


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _wait_for(cond, timeout: float = 30) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_the_mlflow_ui_of_a_killed_mira_ui_is_stopped_by_the_next(tmp_path):
    state, www = tmp_path / ".mira", tmp_path / "www"
    www.mkdir()
    (www / "health").write_text("OK")
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(state), str(port), str(www)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == f"http://127.0.0.1:{port}"
        [record] = (state / ORPHANS).glob("*.json")
        server = json.loads(record.read_text())
        assert server["owner_pid"] == child.pid
        child.send_signal(signal.SIGKILL)  # no clean-up runs
        child.wait()
        assert _proc_start(server["pid"]) == server["pid_start"]  # the server outlived it, on its port
        assert stop_orphaned_mlflow(state) == [f"http://127.0.0.1:{port}"]
        assert _wait_for(lambda: _proc_start(server["pid"]) != server["pid_start"])
        assert not record.exists()
        assert _wait_for(lambda: _port_is_free(port))  # the next `mira ui` can take the port again
    finally:
        child.kill()
        child.wait()


def _port_is_free(port: int) -> bool:
    try:
        port_free("127.0.0.1", port)
    except Exception:
        return False
    return True


def test_a_running_mira_ui_keeps_its_mlflow_ui_and_a_reused_pid_is_never_signalled(tmp_path):
    state = tmp_path / ".mira"
    proc = _start(["sleep", "60"], dict(os.environ), tmp_path / "log")
    try:
        records = state / ORPHANS
        records.mkdir(parents=True)
        rec = {"pid": proc.pid, "pid_start": _proc_start(proc.pid), "url": "http://127.0.0.1:1"}
        # its `mira ui` still runs (this process): left alone
        (records / "a.json").write_text(json.dumps({**rec, "owner_pid": os.getpid(),
                                                    "owner_start": _proc_start(os.getpid())}))
        # its `mira ui` is gone, but the pid now belongs to another process than the one recorded: not signalled
        (records / "b.json").write_text(json.dumps({**rec, "pid_start": "1", "owner_pid": _dead_pid(),
                                                    "owner_start": None}))
        (records / "c.json").write_text("not json")
        assert stop_orphaned_mlflow(state) == []
        assert proc.poll() is None
        assert sorted(p.name for p in records.iterdir()) == ["a.json"]
    finally:
        stop(proc)


def test_without_records_nothing_is_stopped(tmp_path):
    assert stop_orphaned_mlflow(Path(tmp_path)) == []
