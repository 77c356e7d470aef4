"""Review s33, resource hygiene: processes, files and threads that outlive their use.

`mira ui` waited its own keeper out for the full 30 s after Ctrl-C: the keeper had exited, but as a child not yet
reaped (a zombie) it answered kill 0 with its own start time. Both tests failed before `servers._alive` read the
process state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import servers
from flows.servers import ProjectPaths, _alive, _proc_start


def _state(pid: int) -> str | None:
    """The process's state letter in /proc (Z: exited, not yet reaped by its parent), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _until_zombie(proc: subprocess.Popen) -> None:
    """Wait until `proc` has exited, without reaping it (its parent, this process, has not waited for it yet)."""
    for _ in range(200):
        if _state(proc.pid) == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {proc.pid} did not exit")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_child_that_exited_but_is_not_yet_reaped_is_not_alive():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        start = _proc_start(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        _until_zombie(proc)
        assert not _alive(proc.pid, start)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stopping_a_keeper_this_process_started_does_not_wait_on_it_once_it_exited(tmp_path, monkeypatch):
    # a stand-in keeper: a child of this process (as `mira ui`'s keeper is of `mira ui`), stopped by SIGTERM
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        paths = ProjectPaths(tmp_path)
        paths.dir.mkdir()
        for _ in range(100):  # its start time is read once the child runs
            if _proc_start(proc.pid):
                break
            time.sleep(0.05)
        paths.state.write_text(json.dumps({"pid": proc.pid, "pid_start": _proc_start(proc.pid),
                                           "api": "http://127.0.0.1:9/api", "port": 9}))
        real_sleep = time.sleep

        zombie_polls = []

        def sleep(s: float) -> None:  # a poll made after the keeper exited is a wait on nothing
            # One may be: the keeper can exit between the poll's check and its sleep (seen under load). A second
            # is the bug: the old check took the zombie for alive and polled out the whole timeout.
            if _state(proc.pid) == "Z":
                zombie_polls.append(s)
                if len(zombie_polls) > 1:
                    raise AssertionError(f"still waiting on keeper {proc.pid}, which has exited (a zombie)")
            real_sleep(s)

        monkeypatch.setattr(servers.time, "sleep", sleep)
        assert servers.stop_project_server(tmp_path, unless_busy=False, timeout=30)
    finally:
        proc.kill()
        proc.wait()
