"""The stage lock (flows.common.stage_lock): one run of a stage per project at a time, kept after Ctrl-C for as long
as a task of the interrupted run still works."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from mira_core.errors import INTERRUPTED, MiraError
from mira_core.layout import Layout


def _lock_held(root: Path, stage: str = "distill") -> bool:
    """Whether the stage's lock is held, asked through a descriptor of its own (flock conflicts between
    descriptors even within one process)."""
    path = root / ".mira" / "locks" / f"{stage}.lock"
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_a_second_run_of_the_stage_is_refused_and_the_lock_freed_after_an_error(tmp_path):
    from flows.common import stage_lock

    lay = Layout(tmp_path)
    with stage_lock(lay, "distill"):
        with (pytest.raises(MiraError, match=r"distill: already running in .*\(pid \d+, since "),
              stage_lock(lay, "distill")):
            pass
        with stage_lock(lay, "select"):  # another stage may run meanwhile
            assert _lock_held(tmp_path, "select")
    assert not _lock_held(tmp_path)
    with pytest.raises(ValueError), stage_lock(lay, "distill"):
        raise ValueError("a stage's own error")
    assert not _lock_held(tmp_path)  # an error that is no interrupt frees it at once


def test_an_interrupt_outside_gather_keeps_the_lock_until_the_busy_task_has_stopped(tmp_path, prefect_harness):
    # Ctrl-C between two submissions leaves the flow body at once; Prefect's task runner then joins the busy task
    # on its way out. The lock was released with the flow body, so a second run could start beside that task.
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.common import run_log, run_stage

    (tmp_path / "params.yaml").write_text("sources:\n  - {name: a, path: a.jsonl, format: text}\n")
    started, seen = threading.Event(), []

    @task
    def busy() -> None:
        started.set()
        while not INTERRUPTED.is_set():
            time.sleep(0.01)
        time.sleep(0.5)  # the rest of its step, before check_interrupted stops it
        seen.append(_lock_held(tmp_path))

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def stage(params, root) -> None:
        with run_log(Layout(root), "distill"):
            busy.submit()
            assert started.wait(60)
            INTERRUPTED.set()  # as the SIGINT handler does, then it raises where the main thread is
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            run_stage(tmp_path, lambda: stage)
    finally:
        INTERRUPTED.clear()
    assert seen == [True], "the busy task of the interrupted stage ran without its lock"
    assert not _lock_held(tmp_path)  # released once the flow call returned
