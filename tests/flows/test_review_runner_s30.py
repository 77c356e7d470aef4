"""Review of the runner (s30): a MiraError raised in a Dask worker is told by its message alone, as on threads; Ctrl-C
ends the wait for a stage's tasks though none of them finishes.

A Dask worker is a process of its own: Prefect's console handler there logged a task's ConfigError with its whole
traceback, which `hide_mira_failures_on_console` hid only in the stage's own process.
"""

from __future__ import annotations

import logging

import pytest

from flows.common import task_runner
from mira_core.config import RunnerParams
from mira_core.errors import ConfigError


def _console_passes_a_config_error() -> list[bool]:
    """In a worker: whether each console handler Prefect set up would print a task's ConfigError traceback."""
    import sys

    import prefect.main  # noqa: F401  (Prefect's logging, as a task run in this worker sets it up)

    try:
        raise ConfigError("shard 1: bad shard")
    except ConfigError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "Task run failed with exception",
                               None, exc_info)
    record.task_run_id = "a-task-run"
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is not None]
    return [bool(h.filter(record)) for h in handlers]


@pytest.mark.slow
def test_a_config_error_in_a_dask_worker_is_not_printed_with_its_traceback(monkeypatch):
    monkeypatch.delenv("MIRA_DEBUG", raising=False)
    runner = task_runner(RunnerParams(kind="dask", max_workers=1))
    with runner:
        passed = runner.client.run(_console_passes_a_config_error)
    (shown,) = passed.values()  # one worker
    assert shown and not any(shown)


def test_ctrl_c_while_gathering_stops_the_wait_though_no_task_finishes():
    """Ctrl-C arriving while the main thread sleeps in the wait for tasks (on Dask it reached another thread, and
    the workers it stopped never finished theirs): the wait used to go on until a task finished, here for good."""
    import _thread
    import concurrent.futures
    import signal
    import threading
    import time

    from flows.common import gather
    from mira_core.errors import INTERRUPTED

    running, waiting = concurrent.futures.Future(), concurrent.futures.Future()
    running.set_running_or_notify_cancel()  # a task at work, which no cancel stops
    raised = threading.Event()

    def press_ctrl_c() -> None:
        while not running._waiters:  # noqa: SLF001  (pressed once the stage waits for its tasks)
            time.sleep(0.01)
        _thread.interrupt_main()  # the signal's flag, without waking a blocked wait, as a signal to another thread
        # (since session 34 the first Ctrl-C waits for this process's running tasks to stop at their next step,
        # a slice at a time; a task that never looks keeps it waiting: a second Ctrl-C ends the wait)
        time.sleep(1)
        _thread.interrupt_main()
        if not raised.wait(20):  # a wait that never looked again ends only when every task finishes
            for f in (running, waiting):
                if not f.done():
                    f.set_result(1)

    # interrupt_main does nothing where SIGINT is ignored, as in a process started in the background by a
    # non-interactive shell (`./.ci/run &`): Python's own handler for the test, the previous one put back after
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=press_ctrl_c, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            gather([running, waiting], "score", "shard")
        raised.set()
        assert not running.done() and waiting.cancelled()
    finally:
        raised.set()
        signal.signal(signal.SIGINT, previous)
        INTERRUPTED.clear()
        if not running.done():
            running.set_result(1)
