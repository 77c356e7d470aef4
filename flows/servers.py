"""Local servers the pipeline reports to: the project's Prefect server (API + UI) and the MLflow UI.

All bind 127.0.0.1 unless told otherwise and are waited for until they answer their health endpoint.

The project's Prefect server. Without a PREFECT_API_URL, Prefect starts a temporary server in every
process, and `dvc repro` runs each stage as its own process: measured on 2 shared cores, 9-18 s of a
17-28 s `report` or `select` process, against 0.1-0.2 s to attach to a running server (the process
then takes 7-8.5 s). So the first stage (`prefect_api`) starts one server for the project: a detached
keeper process (`python -m flows.servers keep`) serving Prefect's app with uvicorn on a free port,
its SQLite database under `.mira/prefect-server/` (the same one `mira ui` shows), and records it in
`.mira/prefect-server.json` (pid, port, api, started). Later stages reuse it when its pid is alive
and /api/health answers; a state file whose pid is dead is replaced. Each process using it holds a
lease (`.mira/prefect-server.clients/<pid>`), and the keeper exits `runner.prefect_server_idle_s`
seconds after the last lease is gone, so nothing is left running for long. Starting, attaching and
the keeper's decision to stop all happen under one lock file, so two stages starting at once share
one server and no stage attaches to a server on its way out. An explicit PREFECT_API_URL (or a
Prefect profile, or a running `mira ui`) always wins. Process-based Dask workers inherit the URL:
in ephemeral mode each worker would start a temporary server of its own.

The Prefect UI is a page that asks its server's /ui-settings where the API is, then calls it from the
browser. Prefect answers PREFECT_UI_API_URL, which defaults to PREFECT_API_URL or else to
PREFECT_SERVER_API_HOST/PORT (127.0.0.1:4200), not to the port `prefect server start --port` or
uvicorn serves: on any other port the page shows "Can't connect to Server API". So every server
started here is given PREFECT_UI_API_URL for the host and port it serves (`ui_api_url`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mira_core.errors import MiraError
from mira_core.io import pid_exists
from mira_core.redact import redact_credentials

if TYPE_CHECKING:
    from mira_core.config import RunnerParams

IDLE_ENV = "MIRA_PREFECT_SERVER_IDLE_S"  # overrides runner.prefect_server_idle_s (a machine's choice, e.g. CI)


_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def url_host(host: str) -> str:
    """`host` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host.strip('[]')}]" if ":" in host else host


def ui_api_url(host: str, port: int) -> str:
    """Where the Prefect UI, in a browser, finds the API of a server on `host`:`port` (its PREFECT_UI_API_URL).

    A server bound to every interface has no one address a browser could use (it may be another
    machine, or a forwarded port): the path alone then makes the page call the origin it came from.
    """
    if host in _WILDCARD_HOSTS:
        return "/api"
    return f"http://{url_host(host)}:{port}/api"


def _ui_env(host: str, port: int) -> dict[str, str]:
    """The settings that make a Prefect server on `host`:`port` tell its UI the right API URL."""
    return {"PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": ui_api_url(host, port)}


def _db_env(home: Path) -> dict[str, str]:
    """Where a Prefect server with PREFECT_HOME `home` keeps its SQLite database, when Prefect's own URL would miss it.

    Prefect writes `sqlite+aiosqlite:///<home>/prefect.db` as it is, and SQLAlchemy reads the path percent-decoded
    and up to a '?': under a project folder named 'My%20Project' the server looked for 'My Project/...' and exited
    ("unable to open database file"), which failed every stage. The path is then escaped; a database the user chose
    (PREFECT_SERVER_DATABASE_*, PREFECT_API_DATABASE_*) is left alone."""
    from urllib.parse import unquote

    path = str(home / "prefect.db")
    if (unquote(path) == path and "?" not in path) or any(
            k.startswith(("PREFECT_SERVER_DATABASE_", "PREFECT_API_DATABASE_")) for k in os.environ):
        return {}
    return {"PREFECT_SERVER_DATABASE_CONNECTION_URL":
            "sqlite+aiosqlite:///" + path.replace("%", "%25").replace("?", "%3F")}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(_family(host)) as s:
        s.bind((host.strip("[]"), 0))
        return s.getsockname()[1]


def port_free(host: str, port: int, flag: str = "--mlflow-port") -> None:
    """A MiraError naming the port when something already listens on it. The probe binds with SO_REUSEADDR, as the
    servers do: connections of a server just stopped, left in TIME_WAIT, then do not count (for about a minute after
    `mira ui` stopped, they made its port look taken), while a listener still refuses the bind (Linux).
    A bind that fails for another reason is told as what it is: a port out of range, or a host that is no address
    of this machine (`--host 192.0.2.1`, a name that resolves nowhere), which no other port would cure."""
    with socket.socket(_family(host)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OverflowError:  # not an OSError: it escaped as a traceback
            raise MiraError(f"{flag} {port}: not a port number (0 to 65535)") from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise MiraError(f"port {port} on {host} is in use ({e.strerror}): another server listens there; "
                                f"pick a free one (mira ui {flag} N)") from None
            if e.errno == errno.EACCES:
                raise MiraError(f"port {port} on {host}: {e.strerror} (ports below 1024 need privileges); "
                                f"pick another (mira ui {flag} N)") from None
            raise MiraError(f"cannot listen on {host} ({e.strerror}): --host takes an address of this machine "
                            "(127.0.0.1, the default, keeps the servers local)") from None


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
    """The log's last lines, URL credentials starred: they go into an error message on the terminal, and a server
    that fails on its store names its URI there (`mlflow server` printed a tracking URI's user:token@)."""
    text = ""
    if log.exists():
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))  # the end only: a log can be large
            text = redact_credentials("\n".join(f.read().decode(errors="replace").splitlines()[-n:]))
    if not text.strip():  # on a full disk the log itself was not written: say what is left there
        try:
            free = shutil.disk_usage(log.parent if log.parent.exists() else Path(".")).free
        except OSError:
            return "(no log)"
        return f"(no log; {free:,} bytes free on its disk{': out of disk space?' if free < 1 << 20 else ''})"
    return text


LOG_KEEP_BYTES = 10 * 1024 * 1024


def _open_log(log: Path):
    """The server's log, for appending; a log past LOG_KEEP_BYTES is moved to `<name>.1` first (replacing the
    previous one), so the logs of servers started over months of runs stay under twice that."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists() and log.stat().st_size > LOG_KEEP_BYTES:
        os.replace(log, log.with_name(log.name + ".1"))
    return open(log, "ab")  # noqa: SIM115 - the caller closes it (the child keeps its own descriptor)


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
    with _open_log(log) as f:
        return subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def prefect_server(state: Path, host: str = "127.0.0.1", port: int | None = None, ui: bool = True,
                   timeout: float = 120):
    """A Prefect server (SQLite under `state`); yields its API URL."""
    port = port or free_port(host)
    env = {**os.environ, "PREFECT_HOME": str(state / "prefect-server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "true" if ui else "false", "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
           **_ui_env(host, port), **_db_env(state / "prefect-server")}  # `--port` alone: the UI calls port 4200
    env.pop("PREFECT_API_URL", None)
    log = state / "logs" / "prefect-server.log"
    proc = _start([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port),
                   "--no-scheduler", "--analytics-off"], env, log)
    try:
        api = f"http://{url_host(host)}:{port}/api"
        wait_healthy(f"{api}/health", proc, timeout, log)
        yield api
    finally:
        stop(proc)


@contextmanager
def mlflow_ui(backend_uri: str, artifacts: Path, state: Path, host: str = "127.0.0.1", port: int | None = None,
              timeout: float = 120):
    """The MLflow tracking server and UI over the pipeline's store, one worker; yields its URL.

    A port given is checked free first: another MLflow on it (5000 is plain `mlflow ui`'s default too) would
    answer the health check before this server failed to bind, and its UI would pass for this project's."""
    if port:
        port_free(host, port)
    port = port or free_port(host)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = state / "logs" / "mlflow-ui.log"
    proc = _start([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                   "--artifacts-destination", str(artifacts), "--host", host, "--port", str(port), "--workers", "1"],
                  env, log)
    record = state / ORPHANS / f"{proc.pid}.json"
    try:
        url = f"http://{url_host(host)}:{port}"
        # the server runs in its own session, so a `mira ui` killed with SIGKILL (no clean-up) leaves it running
        # and holding its port: this record lets the next `mira ui` find it and stop it. Written before the wait, as
        # a kill while the server starts (seconds) left it running with no record, and its port 'in use' for good
        _write_json({"owner_pid": os.getpid(), "owner_start": _proc_start(os.getpid()), "pid": proc.pid,
                     "pid_start": _proc_start(proc.pid), "url": url}, record)
        wait_healthy(f"{url}/health", proc, timeout, log)
        yield url
    finally:
        stop(proc)
        record.unlink(missing_ok=True)


ORPHANS = "mlflow-ui"  # under the state folder: one record per running MLflow UI, named by its pid


def stop_orphaned_mlflow(state: Path, grace: float = 10) -> list[str]:
    """Stop the MLflow UIs that a `mira ui` of this project started and could not stop (it was killed); return
    their URLs. One is stopped only while its record's own process is alive with the start time recorded (so a
    reused pid is never signalled) and the `mira ui` that started it is gone; its whole process group goes, as
    `stop` sends it. Records of servers already gone are removed."""
    stopped = []
    for path in sorted((state / ORPHANS).glob("*.json")):
        rec = _read_json(path)
        try:
            owner, pid, start = int(rec["owner_pid"]), int(rec["pid"]), rec["pid_start"]
            if _alive(owner, rec.get("owner_start")):
                continue  # its `mira ui` still runs (another one of this project, on its own port)
        except (TypeError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # not a record this module writes
            continue
        if start is not None and _proc_start(pid) == start and _pgid(pid) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while _proc_start(pid) == start and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _proc_start(pid) == start:
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(str(rec.get("url", f"pid {pid}")))
        path.unlink(missing_ok=True)
    return stopped


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


# ---- the project's Prefect server, shared by the stage processes -------------------------------------------------

# Services for deployments, workers and schedules, which mira does not use; off, they stop costing CPU while idle.
# The event persister and the task-run recorder stay on: they are what records task runs and their states.
_SERVICES_OFF = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "CANCELLATION_CLEANUP", "PAUSE_EXPIRATIONS", "REPOSSESSOR")


@dataclass(frozen=True)
class ProjectPaths:
    """Where the project's Prefect server keeps its state, under `<root>/.mira/`."""

    root: Path

    @property
    def dir(self) -> Path:
        return self.root / ".mira"

    @property
    def state(self) -> Path:
        return self.dir / "prefect-server.json"

    @property
    def lock(self) -> Path:
        return self.dir / "prefect-server.lock"

    @property
    def clients(self) -> Path:
        return self.dir / "prefect-server.clients"

    @property
    def home(self) -> Path:
        return self.dir / "prefect-server"  # PREFECT_HOME of the server: its SQLite database and UI build

    @property
    def log(self) -> Path:
        return self.dir / "logs" / "prefect-server.log"


def idle_seconds(runner: RunnerParams) -> float:
    """How long the project's server outlives its last client; 0 means a temporary server per process."""
    env = os.environ.get(IDLE_ENV, "").strip()
    if env:
        try:
            return max(0.0, float(env))
        except ValueError:
            raise MiraError(f"{IDLE_ENV}={env!r}: not a number of seconds") from None
    return runner.prefect_server_idle_s


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux): [0] the state, [19] the start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which tells a reused pid apart."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _alive(pid: int, start: str | None = None) -> bool:
    """The process exists (and, when its start time was recorded, is the same process). A zombie does not: one
    that exited and that its parent has not reaped yet (the keeper `mira ui` started itself) still answers kill 0
    with its own start time, so stopping it waited out the whole 30 s timeout after it had exited."""
    if not pid_exists(pid):
        return False
    fields = _proc_stat(pid)
    if fields and fields[0] == "Z":
        return False
    return start is None or (fields[19] if fields else None) in (None, start)


def healthy(api: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(obj: dict, path: Path) -> None:
    """Atomically (a reader never sees half a file); mira_core.io would import polars into the keeper."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk left an empty one for good: nothing reads a name not all digits
        raise


def read_state(root: Path) -> dict | None:
    """What the project's keeper recorded (pid, port, api, started ...), if a state file is there."""
    return _read_json(ProjectPaths(root).state)


def live_project_server(root: Path, patience: float = 30) -> dict | None:
    """The state of the project's server if its keeper is alive and /api/health answers, else None.

    A live keeper that does not answer at once is given `patience` seconds (a loaded machine), so a
    slow server is not replaced under the stages that use it.
    """
    st = read_state(root)
    if not st or not _alive(int(st.get("pid", 0)), st.get("pid_start")):
        return None
    if st.get("home") not in (None, str(ProjectPaths(root).home)):
        return None  # a state file copied with the project (cp -r) names the original's server, not this one's
    t0 = time.monotonic()
    while True:
        if healthy(st["api"]):
            return st
        if time.monotonic() - t0 > patience or not _alive(int(st["pid"]), st.get("pid_start")):
            return None
        time.sleep(0.5)


@contextmanager
def _locked(paths: ProjectPaths) -> Iterator[None]:
    """The project's server lock (an flock: the kernel drops it when its holder dies, so it is never stale)."""
    import fcntl

    paths.dir.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def live_clients(root: Path, api: str | None = None) -> list[int]:
    """Pids of the live processes holding a lease on the project's server (on `api` if given); drops dead leases."""
    paths = ProjectPaths(root)
    pids = []
    for lease in paths.clients.glob("*") if paths.clients.is_dir() else ():
        info = _read_json(lease)
        if info is None or not lease.name.isdigit():
            continue  # being written: the writer holds the lock, and whoever decides to stop takes it first
        if not _alive(int(lease.name), info.get("start")):
            lease.unlink(missing_ok=True)
        elif api is None or info.get("api") == api:
            pids.append(int(lease.name))
    return pids


def _take_lease(paths: ProjectPaths, api: str) -> Path:
    pid = os.getpid()
    lease = paths.clients / str(pid)
    _write_json({"api": api, "start": _proc_start(pid), "argv": sys.argv[:3]}, lease)
    return lease


def _spawn_keeper(paths: ProjectPaths, idle_s: float, host: str, port: int | None, timeout: float) -> dict:
    """Start a keeper and wait until it has recorded a healthy server; fails with the keeper's log."""
    with _open_log(paths.log) as log:
        # Its own session, no inherited pipes: `dvc repro` waits for its stage's output to close, and Ctrl-C on
        # a stage must not reach a server other stages use. The lock's descriptor is not inherited (close_fds).
        proc = subprocess.Popen([sys.executable, "-m", "flows.servers", "keep", "--root", str(paths.root),
                                 "--idle", str(idle_s), "--host", host, "--port", str(port or 0)],
                                cwd=paths.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise MiraError(f"the project's Prefect server exited with code {proc.returncode} before it was ready "
                            f"({paths.log}):\n{_tail(paths.log)}")
        st = _read_json(paths.state)
        if st and st.get("pid") == proc.pid and healthy(st["api"]):
            return st
        time.sleep(0.2)
    stop(proc)  # its process group, waited for: no keeper left behind to start serving later
    raise MiraError(f"the project's Prefect server was not ready after {timeout:.0f} s ({paths.log}):\n"
                    f"{_tail(paths.log)}")


@contextmanager
def project_server(root: Path, idle_s: float, host: str = "127.0.0.1", port: int | None = None,
                   timeout: float = 180, move_idle: bool = False) -> Iterator[dict]:
    """Hold a lease on the project's Prefect server, starting it if none answers; yields its state.

    The state has `started_here: True` when this call started the keeper. `host` and `port` apply only
    then, unless `move_idle`: a running server elsewhere that no process uses is then stopped and started
    again on them (same database, so nothing recorded is lost); one in use stays where it is.
    """
    paths = ProjectPaths(root)
    with _locked(paths):
        info = live_project_server(root)
        if (info is not None and move_idle and port and (info.get("port"), info.get("host", host)) != (port, host)
                and not live_clients(root, info["api"])):
            _stop_keeper(paths, info)
            info = None
        started = info is None
        if started:
            if port:  # the keeper would fail in its own process with a traceback (4200 is plain Prefect's port too)
                port_free(host, port, "--prefect-port")
            info = _spawn_keeper(paths, idle_s, host, port, timeout)
        lease = _take_lease(paths, info["api"])
    try:
        yield {**info, "started_here": started}
    finally:
        lease.unlink(missing_ok=True)


def _stop_keeper(paths: ProjectPaths, st: dict, timeout: float = 30) -> None:
    """Stop the keeper of state `st`; the caller holds the lock, so nobody attaches to it from here on."""
    paths.state.unlink(missing_ok=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(st["pid"]), signal.SIGTERM)
    t0 = time.monotonic()
    while _alive(int(st["pid"]), st.get("pid_start")) and time.monotonic() - t0 < timeout:
        time.sleep(0.1)


def stop_project_server(root: Path, unless_busy: bool = True, timeout: float = 30) -> bool:
    """Stop the project's keeper now (unless another live process holds a lease); True if it was stopped."""
    paths = ProjectPaths(root)
    with _locked(paths):
        st = read_state(root)
        if not st or not _alive(int(st["pid"]), st.get("pid_start")):
            return False
        if unless_busy and live_clients(root, st["api"]):
            return False
        _stop_keeper(paths, st, timeout)
        return True


@contextmanager
def _pointed_at(api: str) -> Iterator[None]:
    """Prefect in this process (and the processes it starts) reports to `api` while the block runs."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api  # for child processes (Dask workers) and Prefect's global settings
    refresh_global_settings_context()
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            try:
                yield
            finally:
                _drain_workers()
    finally:
        # restored so that an in-process caller (a test, `mira run` inside a flow) is left as it was
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        refresh_global_settings_context()


def _drain_workers() -> None:
    """Deliver the events and logs Prefect's background workers still hold while `api` is up, and retire the
    workers: one left holding a client of a server that has since stopped would make the next drain in this
    process (a test harness's teardown, interpreter exit) wait on it forever."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        for result in (APILogWorker.drain_all(timeout=10), EventsWorker.drain_all(timeout=10)):
            if inspect.isawaitable(result):
                await result

    with contextlib.suppress(Exception):  # flushing telemetry must never fail the stage that produced it
        run_coro_as_sync(drain())


@contextmanager
def prefect_api(root: Path, runner: RunnerParams) -> Iterator[str | None]:
    """Where this stage process's flow runs go; yields the API URL (None: Prefect's temporary server).

    An API URL already set (PREFECT_API_URL, a Prefect profile, a test harness) is used as it is; so is
    the server of a `mira ui` running for `root` (read here, not at import: `--root` may name a project
    other than the working folder). If it is the project's server, a lease keeps that server up
    meanwhile. Otherwise, unless the idle period is 0, the project's server is used (and started if needed).
    A queued or temporary DVC experiment (a copy under .dvc/tmp/exps/, without the workspace's git-ignored .mira/)
    is of the workspace's project: it found no `mira ui`, and recorded its flow runs in a server of its own that
    DVC then deleted.
    """
    from prefect.settings import get_current_settings

    from flows.ui import live_ui
    from mira_core.layout import project_home

    root = project_home(root)
    current = get_current_settings().api.url
    ui = None if current else live_ui(root)
    if ui:
        with _pointed_at(ui["prefect_api"]), prefect_api(root, runner) as api:  # now as if it had been set
            yield api
        return
    if current:
        paths, lease = ProjectPaths(root), None
        if (read_state(root) or {}).get("api") == current.rstrip("/"):
            with _locked(paths):  # again under the lock: the keeper may be deciding to stop
                st = read_state(root)
                if st and st.get("api") == current.rstrip("/"):
                    lease = _take_lease(paths, st["api"])
        try:
            yield current
        finally:
            if lease:
                lease.unlink(missing_ok=True)
        return
    idle_s = idle_seconds(runner)
    if idle_s <= 0:
        yield None
        return
    with project_server(root, idle_s) as info, _pointed_at(info["api"]):
        yield info["api"]


def _server_env(paths: ProjectPaths, host: str, port: int) -> dict[str, str]:
    env = {"PREFECT_HOME": str(paths.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "true", "PREFECT_SERVER_UI_ENABLED": "true", **_ui_env(host, port),
           "PREFECT_SERVER_LOGGING_LEVEL": "WARNING", **_db_env(paths.home)}
    env.update({f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in _SERVICES_OFF})
    return env


def keep(root: Path, idle_s: float, host: str = "127.0.0.1", port: int = 0, poll: float = 1.0) -> None:
    """The keeper: serve Prefect's API and UI for the project until idle, replaced, or sent SIGTERM/SIGINT.

    One process (uvicorn in the main thread, a watchdog thread), so there is no server to orphan.
    """
    paths = ProjectPaths(root.resolve())
    sock = socket.socket(_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port just left (a restart, a move) binds again
    sock.bind((host.strip("[]"), port))  # bound here, so the port recorded is the port served (no free-port race)
    port = sock.getsockname()[1]
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update(_server_env(paths, host, port))  # before Prefect is imported: it reads them once
    if "prefect" in sys.modules:  # it was imported after all: its settings must be read again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    paths.home.mkdir(parents=True, exist_ok=True)

    import uvicorn
    from prefect.server.api.server import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(final=True), log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=5))
    api = f"http://{url_host(host)}:{port}/api"
    me = {"pid": os.getpid(), "pid_start": _proc_start(os.getpid()), "host": host}
    watchdog = threading.Thread(target=_watch, args=(server, paths, api, port, me, idle_s, poll), daemon=True)
    watchdog.start()
    try:
        server.run(sockets=[sock])
    finally:
        st = read_state(paths.root)
        if st and st.get("pid") == me["pid"]:
            paths.state.unlink(missing_ok=True)


def _watch(server, paths: ProjectPaths, api: str, port: int, me: dict, idle_s: float, poll: float) -> None:
    """Record the server once it serves, then stop it when no lease was held for `idle_s` seconds."""
    try:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        _write_json({**me, "api": api, "port": port, "home": str(paths.home), "idle_s": idle_s,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S")}, paths.state)
        _say(f"keeper {me['pid']} serving {api} (PREFECT_HOME {paths.home}); stops {idle_s:g} s after its last client")
        last_busy = time.monotonic()
        while not server.should_exit:
            time.sleep(poll)
            st = read_state(paths.root)
            if not st or st.get("pid") != me["pid"]:
                # replaced (or the project is gone): new stages go elsewhere; serve the ones still here, then leave
                if not live_clients(paths.root, api):
                    _say(f"keeper {me['pid']} stopping: replaced or removed")
                    server.should_exit = True
                continue
            if live_clients(paths.root, api):
                last_busy = time.monotonic()
            elif time.monotonic() - last_busy >= idle_s and _stop_if_idle(paths, api):
                _say(f"keeper {me['pid']} stopping: no client for {idle_s:g} s")
                server.should_exit = True
    except Exception:
        server.should_exit = True  # a keeper that cannot watch its clients must not run unwatched
        raise


def _say(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}", flush=True)  # into .mira/logs/prefect-server.log


_held_lock = None  # the keeper's lock once it decided to stop; released when the process exits


def _stop_if_idle(paths: ProjectPaths, api: str) -> bool:
    """Under the lock, check again; if still idle remove the state file and keep the lock until the process exits.

    A stage that comes meanwhile waits for the lock, then finds no state file and starts a fresh server
    rather than attaching to one on its way out.
    """
    import fcntl

    global _held_lock
    f = open(paths.lock, "a")  # noqa: SIM115 - held to the end of the process when stopping
    fcntl.flock(f, fcntl.LOCK_EX)
    if live_clients(paths.root, api):
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
        return False
    st = read_state(paths.root)
    if st and st.get("pid") == os.getpid():
        paths.state.unlink(missing_ok=True)
    _held_lock = f
    return True


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flows.servers", description="Servers of a mira project.")
    sub = ap.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keep", help="Serve the project's Prefect server until idle (started by the stages).")
    k.add_argument("--root", type=Path, required=True, help="project folder holding params.yaml")
    k.add_argument("--idle", type=float, required=True, help="seconds without a client before stopping")
    k.add_argument("--host", default="127.0.0.1", help="interface to bind")
    k.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    args = ap.parse_args(argv)
    keep(args.root, args.idle, args.host, args.port)


if __name__ == "__main__":
    _main()
