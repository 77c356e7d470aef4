"""label killed with SIGKILL mid-batch: the re-run pays again for at most the requests that were in flight,
and no process of the stage outlives it (the project's Prefect server keeper stops once idle).

`mira stage label` runs as a real subprocess against the fake OpenAI server (a thread of this test) with
a reply latency, and is killed once the server has received a random-ish number of requests. Each
answer is committed to the request cache as it arrives (mira_core/teachers/base.py), so what the
killed run had answered is not asked again; only the bodies in flight at the kill can be sent twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows import discover
from flows.servers import IDLE_ENV, read_state, stop_project_server
from mira_core.config import parse_params
from tests.conftest import tool_env
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

CONCURRENCY = 3
RECORDS = 60  # every record of the one-group corpus (tests/flows/conftest.py)
IDLE_S = 2  # the keeper of the project's Prefect server stops this long after its last client


def _params(base: dict, **teacher) -> dict:
    return {
        **base,  # the one-group corpus (tests/flows/conftest.py): 60 records in g0, through group
        "discover": {"records_per_group": 20, "n_anchors": 4},
        # one chunk (one teacher, so `concurrency` bounds what is in flight) and no repeats (every body once)
        "label": {"records_per_group": RECORDS, "chunk_size": 500, "repeat_fraction": 0.0, "val_fraction": 0.25},
        "cache": {"enabled": False},
        "teacher": teacher,
    }


def _stage(root: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in tool_env().items() if k != "PREFECT_API_URL"}
    env[IDLE_ENV] = str(IDLE_S)
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "flows.cli", "stage", "label", "--root", str(root)], cwd=root,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def _processes_naming(root: Path) -> list[str]:
    """Command lines of the live processes that name the project folder (stages, keeper, workers)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd:
            found.append(f"{proc.name}: {cmd}")
    return found


def _wait_for(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"{what}: not reached after {timeout} s"
        time.sleep(0.01)


def test_label_killed_mid_batch_resends_at_most_what_was_in_flight(tmp_path, grouped_project):
    root = tmp_path
    base = grouped_project("one_group", root)
    discover.run(parse_params(_params(base)), root)  # anchors discovered by the rules teacher, in process

    kill_at = random.randint(8, 40)  # random-ish: the kill lands at a different point of the batch each run
    log = root / "stage.log"
    with FakeOpenAI(latency=0.05) as server:
        teacher = {"provider": "openai", "model": "fake", "base_url": server.base_url, "api_key_env": None,
                   "concurrency": CONCURRENCY, "max_retries": 0}
        (root / "params.yaml").write_text(yaml.safe_dump(_params(base, **teacher)))
        stages: list[subprocess.Popen] = []
        try:
            stages.append(first := _stage(root, log))
            _wait_for(lambda: len(server.requests) >= kill_at or first.poll() is not None, 600, "requests")
            assert first.poll() is None, f"the stage ended before the kill:\n{log.read_text()}"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(30)
            n_first = len(server.requests)
            keeper = (read_state(root) or {}).get("pid")

            stages.append(second := _stage(root, log))
            assert second.wait(600) == 0, log.read_text()
        finally:
            for proc in stages:
                if proc.poll() is None:
                    proc.kill()
        # A request the kill cut off while it was being sent arrives without its body (None, or a JSON fragment):
        # no teacher could answer it, so it is not a request sent.
        bodies = Counter(json.dumps(r.body["messages"], sort_keys=True) for r in server.requests
                         if isinstance(r.body, dict))

    resent = sum(n - 1 for n in bodies.values())
    assert len(bodies) == RECORDS, "every record asked"
    assert resent <= CONCURRENCY, f"killed after {n_first} requests (aimed at {kill_at}): {resent} bodies sent twice"
    labels = pl.read_parquet(root / "data" / "labels" / "g0.parquet")
    assert labels.height == RECORDS
    metrics = json.loads((root / "metrics" / "label.json").read_text())
    assert metrics["teacher"]["cache_hits"] >= n_first - CONCURRENCY  # what the killed run answered was kept

    # nothing outlives the stages: the killed one had no children, and the keeper stops by itself once idle
    assert keeper is not None, "the stage ran on the project's Prefect server"
    try:
        _wait_for(lambda: not _processes_naming(root), IDLE_S + 60, "no process of the project left")
    finally:
        stop_project_server(root, unless_busy=False)  # only if the assertion failed: leave nothing behind
    # A stopped process may take a moment to go under load, and one whose parent was killed stays a zombie until
    # the machine's init reaps it: either way it has exited.
    _wait_for(lambda: not _running(keeper), 60, f"the keeper (pid {keeper}) exited")


def _running(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
