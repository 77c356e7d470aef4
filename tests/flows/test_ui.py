"""`mira ui`: both servers come up on 127.0.0.1, the pipeline is pointed at them, Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from flows.servers import free_port
from tests.conftest import REPO, tool_env

pytestmark = pytest.mark.slow


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status


def test_ui_starts_both_servers_points_the_pipeline_and_stops_on_ctrl_c(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    pp, mp = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "ui", "--prefect-port", str(pp), "--mlflow-port",
                             str(mp), "--root", str(tmp_path)], cwd=REPO, env=tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ui_file = tmp_path / ".mira" / "ui.json"
    try:
        t0 = time.monotonic()
        while not ui_file.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() - t0 < 180, "mira ui did not come up"
            time.sleep(0.5)
        info = json.loads(ui_file.read_text())
        assert info["prefect_api"] == f"http://127.0.0.1:{pp}/api" and info["mlflow_ui"] == f"http://127.0.0.1:{mp}"
        assert _get(info["prefect_api"] + "/health") == 200
        assert _get(info["prefect_ui"] + "/") == 200
        assert _get(info["mlflow_ui"] + "/health") == 200
        # a pipeline process started in the project picks the server up by itself
        probe = subprocess.run([sys.executable, "-c", "import flows, os; print(os.environ['PREFECT_API_URL'])"],
                               cwd=tmp_path, env={k: v for k, v in tool_env().items() if k != "PREFECT_API_URL"},
                               capture_output=True, text=True)
        assert probe.stdout.strip() == info["prefect_api"], probe.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Prefect UI" in out and "stopped." in out
    assert not ui_file.exists()
    for port in (pp, mp):
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/")
    assert os.environ.get("PREFECT_API_URL") != info["prefect_api"]
