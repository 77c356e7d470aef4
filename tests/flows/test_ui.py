"""`mira ui`: both servers come up on 127.0.0.1, the pipeline is pointed at them, Ctrl-C stops both, and
both UIs work in a real browser (headless Chromium, as in test_report_browser.py) on non-default ports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows.servers import IDLE_ENV, free_port, prefect_server, read_state, stop_project_server, ui_api_url
from tests.conftest import REPO, tool_env

pytestmark = pytest.mark.slow


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status


def _start_ui(root: Path, pp: int, mp: int, sigint_ignored: bool = False) -> subprocess.Popen:
    """`mira ui` on the given ports, started in the background (optionally with SIGINT ignored, as a background job
    of a non-interactive shell starts)."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "ui", "--prefect-port", str(pp), "--mlflow-port",
                             str(mp), "--root", str(root)], cwd=REPO, env=tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=ignore)


def _wait_for_ui(proc: subprocess.Popen, root: Path) -> dict:
    """What `mira ui` wrote to .mira/ui.json, once it has (the servers are up); fails if it exits first."""
    ui_file = root / ".mira" / "ui.json"
    t0 = time.monotonic()
    while not ui_file.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() - t0 < 180, "mira ui did not come up"
        time.sleep(0.5)
    return json.loads(ui_file.read_text())


def _stop_ui(proc: subprocess.Popen, within: float = 180) -> str:
    """Ctrl-C to `mira ui` (if it still runs) and its whole output once it has exited.

    Stopping is bounded (the MLflow UI's 10 s grace, the keeper's 30 s, the Prefect server's own); a stop that never
    comes fails with what `mira ui` printed (that output showed CI's never-stopping runs had ignored the Ctrl-C)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=within)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"mira ui did not stop within {within:.0f} s of Ctrl-C; it printed:\n{proc.communicate()[0]}")


PROBE = """
import sys
from pathlib import Path
from flows.servers import prefect_api
from mira_core.config import RunnerParams
with prefect_api(Path(sys.argv[1]), RunnerParams(prefect_server_idle_s=0)) as api:
    print(api)
"""


def test_ui_starts_both_servers_points_the_pipeline_and_stops_on_ctrl_c(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    pp, mp = free_port(), free_port()
    proc = _start_ui(tmp_path, pp, mp)
    ui_file = tmp_path / ".mira" / "ui.json"
    try:
        info = _wait_for_ui(proc, tmp_path)
        assert info["prefect_api"] == f"http://127.0.0.1:{pp}/api" and info["mlflow_ui"] == f"http://127.0.0.1:{mp}"
        assert _get(info["prefect_api"] + "/health") == 200
        assert _get(info["prefect_ui"] + "/") == 200
        assert _get(info["mlflow_ui"] + "/health") == 200
        # a stage process of the project picks the server up by itself, wherever it was started (`--root`);
        # idle period 0, which alone would give Prefect's temporary server
        probe = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=REPO,
                               env={k: v for k, v in tool_env().items() if k not in ("PREFECT_API_URL", IDLE_ENV)},
                               capture_output=True, text=True)
        assert probe.stdout.strip() == info["prefect_api"], probe.stderr
    finally:
        out = _stop_ui(proc)
    assert proc.returncode == 0, out
    assert "Prefect UI" in out and "stopped." in out
    assert not ui_file.exists()
    for port in (pp, mp):
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/")
    assert os.environ.get("PREFECT_API_URL") != info["prefect_api"]


# ---- the UIs in a browser, on ports other than Prefect's 4200 and MLflow's 5000 ----------------------------------------

def _chromium() -> str:
    browser = next((c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                    if c and Path(c).exists()), None)
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    return browser


def _page_text(url: str, tmp: Path) -> str:
    """The text of `url` as headless Chromium renders it, after the page's own API calls (virtual time)."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # a fresh profile per call: no cookie, no cache
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1280,1600", "--virtual-time-budget=15000", "--dump-dom", url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"chromium failed ({res.returncode}):\n{res.stderr[-3000:]}"
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", res.stdout, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def _shows(url: str, tmp: Path, *wanted: str, timeout: float = 90) -> str:
    """Render `url` until its text holds every one of `wanted` (a page on 2 busy cores may answer late)."""
    t0, text = time.monotonic(), ""
    while time.monotonic() - t0 < timeout:
        text = _page_text(url, tmp)
        assert "connect to Server API" not in text and "Failed to connect" not in text, f"{url}: {text[:2000]}"
        if all(w in text for w in wanted):
            return text
        time.sleep(2)
    raise AssertionError(f"{url} never showed {wanted} in {timeout:.0f} s; last render: {text[:3000]}")


def _json(url: str, body: dict | None = None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _stage_report(root: Path) -> None:
    """A real stage process (report: runs on an empty project, missing inputs shown as missing)."""
    env = {k: v for k, v in tool_env().items() if k != "PREFECT_API_URL"}
    res = subprocess.run([sys.executable, "-m", "flows.cli", "stage", "report", "--root", str(root)], cwd=root,
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


def _report_runs(api: str) -> dict[str, str]:
    """Names of the report flow runs the server holds, with their states."""
    flows = {f["id"]: f["name"] for f in _json(f"{api}/flows/filter", {"limit": 200})}
    return {r["name"]: r["state_name"] for r in _json(f"{api}/flow_runs/filter", {"limit": 200})
            if flows.get(r["flow_id"]) == "report"}


def test_both_uis_work_in_a_browser_on_non_default_ports(tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    _chromium()
    monkeypatch.setenv(IDLE_ENV, "60")  # the stage's server must outlive the gap until `mira ui` starts
    pp, mp = free_port(), free_port()
    assert pp != 4200 and mp != 5000
    proc = None
    try:
        # a stage first: it starts the project's server on a port of its own choosing
        _stage_report(root)
        before = read_state(root)
        assert before and before["port"] != pp
        # `mira ui --prefect-port` moves that idle server to the port asked for (same database, same runs)
        proc = _start_ui(root, pp, mp)
        info = _wait_for_ui(proc, root)
        api = f"http://127.0.0.1:{pp}/api"
        assert info["prefect_api"] == api and info["prefect_ui"] == f"http://127.0.0.1:{pp}"
        assert read_state(root)["port"] == pp
        # the UI is told the API it is served beside, not Prefect's default http://127.0.0.1:4200/api
        assert _json(f"http://127.0.0.1:{pp}/ui-settings")["api_url"] == api
        # a stage now reports to the server `mira ui` shows
        _stage_report(root)
        runs = _report_runs(api)
        assert len(runs) == 2 and set(runs.values()) == {"Completed"}, runs
        # the flow runs list, in Prefect's default UI (v2) and in the classic one (v1)
        for page in ("v2/runs", "runs"):
            _shows(f"http://127.0.0.1:{pp}/{page}", tmp_path, *runs)
        # and one flow run's page names its flow
        run_id = _json(f"{api}/flow_runs/filter", {"limit": 1, "sort": "START_TIME_DESC"})[0]["id"]
        _shows(f"http://127.0.0.1:{pp}/v2/runs/flow-run/{run_id}", tmp_path, "report", "Completed")
        # the MLflow UI on its port lists the tracking store's experiments (it calls its own origin)
        _shows(info["mlflow_ui"] + "/", tmp_path, "Experiments", "Default")
    finally:
        try:
            if proc is not None:
                out = _stop_ui(proc)
        finally:
            stop_project_server(root, unless_busy=False)  # leave no keeper behind, whatever happened
    assert proc.returncode == 0, out
    for port in (pp, mp):
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/")


def test_ctrl_c_stops_a_ui_started_with_sigint_ignored(tmp_path):
    """Started as a background job of a script, `mira ui` inherits SIGINT ignored; Ctrl-C must still stop it (it ran
    on past 180 s in CI, which starts the suite that way)."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    proc = _start_ui(tmp_path, free_port(), free_port(), sigint_ignored=True)
    try:
        _wait_for_ui(proc, tmp_path)
    finally:
        out = _stop_ui(proc, within=120)
    assert proc.returncode == 0 and "stopping ..." in out and "stopped." in out, out


def test_every_prefect_server_tells_its_ui_the_port_it_serves(tmp_path):
    # `prefect server start --port N` alone answers /ui-settings with http://127.0.0.1:4200/api
    port = free_port()
    with prefect_server(tmp_path / ".state", port=port) as api:
        assert api == f"http://127.0.0.1:{port}/api"
        assert _json(f"http://127.0.0.1:{port}/ui-settings")["api_url"] == api
    # bound to every interface, the UI calls the origin it was loaded from (a remote browser, a forwarded port)
    assert ui_api_url("0.0.0.0", port) == ui_api_url("::", port) == "/api"
    assert ui_api_url("::1", port) == f"http://[::1]:{port}/api"
