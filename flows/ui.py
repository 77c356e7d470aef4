"""`mira ui`: the project's Prefect server (flow runs, task states, artifacts) and the MLflow UI.

Both bind 127.0.0.1 by default, and both work on any port: the MLflow UI calls its own origin, and
the Prefect server is told the URL its UI must call (flows/servers.py, `ui_api_url`). The Prefect
server is the one the stages share (flows/servers.py): if a stage started it, `mira ui` shows it
(and every run it recorded, in `.mira/prefect-server/`), moved to --prefect-port if no stage is
using it at that moment (same database), else left where it is; if none runs, it starts it on
--prefect-port. Its lease keeps the server up while the UI runs. While `mira ui`
runs, `.mira/ui.json` also tells the pipeline where the Prefect API is. MLflow needs no pointing:
the UI serves the same `mlflow.db` the stages write (where `mlflow.tracking_uri` names a tracking server,
http or https, that server's own UI shows the runs, and none is started here). Ctrl-C (or SIGTERM, or
SIGHUP) stops the MLflow UI, the Prefect server if `mira ui` started it and no stage is using it (else it
stops when idle), and removes the file. A `mira ui` killed outright (SIGKILL) cannot: the Prefect server still stops
when idle, and the next `mira ui` of the project stops the MLflow UI it left (flows/servers.py, `stop_orphaned_mlflow`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

UI_FILE = Path(".mira") / "ui.json"


def live_ui(root: Path) -> dict | None:
    """What a running `mira ui` of this project wrote, if its process is still alive: the same process, by its
    start time, not another that was given its pid after a `mira ui` killed without its clean-up; and of this
    project's folder (an older mira wrote no `root`), not the original's of a copy."""
    from flows.servers import _alive, _proc_start, healthy

    path = root / UI_FILE
    try:
        info = json.loads(path.read_text())
        if not _alive(int(info["pid"]), info.get("pid_start")):
            return None
        if info.get("root") not in (None, str(Path(root).resolve())):
            return None  # copied with the project (cp -a) while the original's `mira ui` ran: that one's, not ours
        # without a start time to compare (an older mira wrote none, or this system cannot read one) a live pid
        # cannot tell the `mira ui` from another process given the same pid: trust the file only while its Prefect
        # API answers, or every stage would point at a dead server
        unchecked = info.get("pid_start") is None or _proc_start(int(info["pid"])) is None
        if unchecked and not healthy(str(info["prefect_api"])):
            return None
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None
    return info


def _remove_if_mine(path: Path, info: dict) -> None:
    """Remove the ui.json this `mira ui` wrote, not one a second `mira ui` of the project wrote over it since: that
    one still runs, and the stages of a project with runner.prefect_server_idle_s 0 went to temporary servers."""
    try:
        if json.loads(path.read_text()).get("pid") != info["pid"]:
            return
    except (OSError, ValueError, AttributeError):
        pass  # unreadable or not a mapping: nobody's, as live_ui reads it
    path.unlink(missing_ok=True)


def command(prefect_port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
            mlflow_port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
            host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps both local.")] = "127.0.0.1",
            root: Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")] = Path(".")
            ) -> None:
    """Start the Prefect server and the MLflow UI, point this project's pipeline at them, stop both on Ctrl-C."""
    from flows.params import load_params
    from flows.servers import _proc_start, idle_seconds, mlflow_ui, project_server, stop_orphaned_mlflow, stop_project_server
    from flows.tracking import is_tracking_server, store_ready, tracking_uri
    from mira_core.errors import MiraError
    from mira_core.io import write_json
    from mira_core.redact import redact_credentials

    root = root.resolve()
    params = load_params(root / "params.yaml")
    state = root / ".mira"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal (SIGHUP) stops both servers too
        if signal.getsignal(sig) is not signal.SIG_IGN:  # `nohup mira ui &` asked to outlive its terminal
            signal.signal(sig, lambda *_: stop.set())
    try:
        with ExitStack() as stack:
            typer.echo("starting the Prefect server and the MLflow UI ...")
            mine = {"started": False}
            # runs after the lease below is dropped: stop the server this command started, unless a stage uses it
            stack.callback(lambda: mine["started"] and stop_project_server(root, unless_busy=True))
            server = stack.enter_context(project_server(root, max(idle_seconds(params.runner), 60), host,
                                                        prefect_port, move_idle=True))
            mine["started"] = server["started_here"]
            api = server["api"]
            if not server["started_here"]:
                where = "" if server["port"] == prefect_port else ", used by a stage: it stays there"
                typer.echo(f"(the project's Prefect server was already running, on port {server['port']}{where})")
            uri = tracking_uri(params.mlflow, root)
            if is_tracking_server(uri):  # `mlflow server` cannot store into another server: it failed on it
                ml = redact_credentials(uri)
                typer.echo("(mlflow.tracking_uri names a tracking server: its own UI shows the runs)")
            else:
                for url in stop_orphaned_mlflow(state):
                    typer.echo(f"(stopped the MLflow UI at {url}: a `mira ui` that was killed left it running)")
                # a new store is built as the stages build it, under their lock: `mlflow server` built it in place, so
                # a stage tracking meanwhile, or a kill during its migrations, met a half-built store for good
                with store_ready(uri, root):
                    pass
                ml = stack.enter_context(mlflow_ui(uri, root / "mlruns", state, host, mlflow_port))
            info = {"pid": os.getpid(), "pid_start": _proc_start(os.getpid()), "prefect_api": api,
                    "prefect_ui": api.removesuffix("/api"), "mlflow_ui": ml, "root": str(root)}
            write_json(info, root / UI_FILE)
            stack.callback(_remove_if_mine, root / UI_FILE, info)
            typer.echo(f"Prefect UI   {info['prefect_ui']}\nMLflow UI    {ml}\n"
                       f"Stages of the project in {root} now report to this Prefect server "
                       f"(elsewhere: export PREFECT_API_URL={api}).\nCtrl-C stops both.")
            # Ctrl-C stops both explicitly: a `mira ui` started with SIGINT ignored (a background job of a script, as
            # CI runs it) gets no KeyboardInterrupt from Python, and never stopped. While serving, this handler is the
            # only way SIGINT acts (no KeyboardInterrupt to catch); before it, a Ctrl-C aborts the start-up
            before = signal.signal(signal.SIGINT, lambda *_: stop.set())
            try:
                while not stop.wait(0.5):
                    pass
            finally:
                signal.signal(signal.SIGINT, before)
            typer.echo("stopping ...")
    except MiraError as e:
        typer.echo(f"mira ui: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo("stopped.")
