"""The project's Prefect server (flows/servers.py): stage processes share one, stale state is replaced,
an explicit PREFECT_API_URL wins, and the server stops once idle.

The subprocess tests run real stage processes (`python -m flows.cli stage report` on an empty project:
the report stage shows missing inputs as missing, so it runs anywhere) against real servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from flows.servers import (
    IDLE_ENV,
    LOG_KEEP_BYTES,
    ProjectPaths,
    _open_log,
    _spawn_keeper,
    _tail,
    healthy,
    idle_seconds,
    live_clients,
    prefect_api,
    prefect_server,
    read_state,
    stop_project_server,
)
from mira_core.config import RunnerParams
from tests.conftest import REPO, tool_env


def _project(root: Path, idle_s: float = 120) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.setdefault("runner", {})["prefect_server_idle_s"] = idle_s
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in tool_env().items() if k not in ("PREFECT_API_URL", IDLE_ENV)}
    return {**env, **extra}


def _stage(root: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "stage", "report", "--root", str(root)], cwd=root,
                            env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def _post(api: str, path: str, body: dict) -> list[dict]:
    req = urllib.request.Request(f"{api}/{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _report_runs(api: str) -> list[dict]:
    flows = {f["id"]: f["name"] for f in _post(api, "flows/filter", {"limit": 200})}
    return [r for r in _post(api, "flow_runs/filter", {"limit": 200}) if flows.get(r["flow_id"]) == "report"]


def _wait_for(cond, timeout: float = 120, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"{what}: not reached after {timeout} s"
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def project(tmp_path):
    root = _project(tmp_path)
    yield root
    stop_project_server(root, unless_busy=False)  # leave no keeper behind, whatever the test did


# ---- in-process: no server needed ---------------------------------------------------------------------------------

def test_idle_period_comes_from_params_unless_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv(IDLE_ENV, raising=False)
    assert idle_seconds(RunnerParams(prefect_server_idle_s=42)) == 42
    assert RunnerParams().prefect_server_idle_s > 0  # shared by default
    monkeypatch.setenv(IDLE_ENV, "5")
    assert idle_seconds(RunnerParams(prefect_server_idle_s=42)) == 5


def test_dead_leases_are_dropped_and_live_ones_counted_per_server(tmp_path):
    paths = ProjectPaths(tmp_path)
    paths.clients.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (paths.clients / str(dead_pid)).write_text(json.dumps({"api": "http://127.0.0.1:1/api"}))
    (paths.clients / str(os.getpid())).write_text(json.dumps({"api": "http://127.0.0.1:2/api"}))
    assert live_clients(tmp_path) == [os.getpid()]
    assert not (paths.clients / str(dead_pid)).exists()
    assert live_clients(tmp_path, "http://127.0.0.1:1/api") == []


def test_an_api_url_already_set_is_used_as_it_is(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}),
          prefect_api(tmp_path, RunnerParams()) as api):
        assert api == "http://127.0.0.1:9/api"
    assert read_state(tmp_path) is None and not ProjectPaths(tmp_path).clients.exists()


def test_idle_period_zero_keeps_prefects_temporary_server(tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(IDLE_ENV, raising=False)
    # no API URL from an earlier test's harness either: this is a process with none set
    with (temporary_settings(restore_defaults={PREFECT_API_URL}),
          prefect_api(tmp_path, RunnerParams(prefect_server_idle_s=0)) as api):
        assert api is None
    assert read_state(tmp_path) is None


# ---- real stage processes and servers -----------------------------------------------------------------------------

@pytest.mark.slow
def test_stage_processes_share_one_project_server(project):
    # two stage processes at once: the server lock makes them share one server rather than start two. Both run
    # report (the one stage that runs on an empty project), so where their flows overlap the stage lock refuses the
    # later one (seen under load); that one is run again once the first has ended, as a user would.
    first = [_stage(project), _stage(project)]
    refused = 0
    for p in first:
        out, _ = p.communicate(timeout=600)
        if p.returncode and "report: already running in" in out:
            refused += 1
        else:
            assert p.returncode == 0, out
    assert refused <= 1
    for _ in range(refused):
        _finish(_stage(project))
    st = read_state(project)
    assert st and st["api"] == f"http://127.0.0.1:{st['port']}/api" and _alive(st["pid"]) and healthy(st["api"])
    assert Path(st["home"]) == project / ".mira" / "prefect-server"
    # a later stage process reuses it: same keeper, same port
    _finish(_stage(project))
    again = read_state(project)
    assert (again["pid"], again["port"]) == (st["pid"], st["port"])
    log = ProjectPaths(project).log.read_text()
    assert log.count(" serving http://") == 1, log
    assert live_clients(project) == []  # every stage dropped its lease
    # the three flow runs, and their task runs, are recorded in the project's server
    runs = _report_runs(st["api"])
    assert len(runs) == 3 + refused, runs
    assert sorted(r["state_name"] for r in runs) == ["Completed"] * 3 + ["Failed"] * refused, runs
    tasks = [t for t in _post(st["api"], "task_runs/filter", {"limit": 200}) if t["name"].startswith("render")]
    assert len(tasks) == 3


@pytest.mark.slow
def test_a_stale_state_file_is_replaced_and_the_server_stops_when_idle(tmp_path):
    # idle 15 s, not 3: read just after the stage ends, the state file was already gone once on a loaded machine (a
    # CI beside a benchmark), the keeper having stopped in between
    root = _project(tmp_path, idle_s=15)
    paths = ProjectPaths(root)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    paths.dir.mkdir()
    paths.state.write_text(json.dumps({"pid": dead_pid, "pid_start": "0", "port": 9, "api": "http://127.0.0.1:9/api"}))
    paths.clients.mkdir()
    (paths.clients / str(dead_pid)).write_text(json.dumps({"api": "http://127.0.0.1:9/api"}))  # a crashed stage's
    try:
        _finish(_stage(root))
        st = read_state(root)
        assert st and st["pid"] != dead_pid and st["port"] != 9
        assert _report_runs(st["api"]), "the stage's flow run is not in the new server"
        # nothing holds a lease (the dead stage's does not count): the keeper stops and removes its state file
        _wait_for(lambda: not _alive(st["pid"]), what="idle keeper exit")
        assert read_state(root) is None and not healthy(st["api"])
        assert "stopping: no client" in paths.log.read_text()
    finally:
        stop_project_server(root, unless_busy=False)


@pytest.mark.slow
def test_an_explicit_prefect_api_url_is_honoured(tmp_path):
    root = _project(tmp_path)
    with prefect_server(tmp_path / ".elsewhere", ui=False) as api:
        _finish(_stage(root, _env(PREFECT_API_URL=api)))
        assert len(_report_runs(api)) == 1
    assert read_state(root) is None  # no project server was started
    assert not ProjectPaths(root).log.exists()


def test_a_large_server_log_is_moved_aside_and_only_its_end_is_read(tmp_path):
    log = tmp_path / "logs" / "prefect-server.log"
    with _open_log(log) as f:  # a first start: the folder and the file are made
        f.write(b"first start\n")
    with _open_log(log) as f:  # small: appended to
        f.write(b"second start\n")
    assert log.read_bytes() == b"first start\nsecond start\n"
    log.write_bytes(b"x" * LOG_KEEP_BYTES + b"\nold end\n")
    with _open_log(log) as f:
        f.write(b"third start\n")
    assert log.read_bytes() == b"third start\n"
    assert _tail(log.with_name(log.name + ".1"), 1) == "old end"
    log.write_bytes(b"y" * (LOG_KEEP_BYTES + 1))
    with _open_log(log):
        pass
    assert log.with_name(log.name + ".1").read_bytes() == b"y" * (LOG_KEEP_BYTES + 1)  # one old log kept, not all


def test_a_keeper_that_is_not_ready_in_time_is_stopped_and_reaped(tmp_path, monkeypatch):
    import psutil

    from flows import servers
    from mira_core.errors import MiraError

    monkeypatch.setattr(servers, "healthy", lambda url: False)  # never ready, as on a machine too busy to start it
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(MiraError, match="not ready after"):
        _spawn_keeper(ProjectPaths(tmp_path), 60, "127.0.0.1", None, timeout=2)
    # no keeper left running, nor unreaped (a zombie is still a child until waited for)
    assert {p.pid for p in psutil.Process().children()} - before == set()  # (earlier tests' keepers may end meanwhile)
