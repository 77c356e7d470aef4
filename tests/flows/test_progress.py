"""`flows.common.gather`: the stages' progress bar over their task futures."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from flows.common import PROGRESS_ENV, gather, progress_enabled


def _finishing_in_reverse(pool: ThreadPoolExecutor, n: int) -> list:
    """n futures whose results are 0..n-1, finishing last-submitted first."""
    gates = [threading.Event() for _ in range(n)]

    def work(i: int) -> int:
        gates[i].wait(5)
        if i > 0:
            gates[i - 1].set()
        return i

    futures = [pool.submit(work, i) for i in range(n)]
    gates[-1].set()
    return futures


def test_results_come_in_the_order_given_and_the_bar_counts_every_future(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "1")
    out = io.StringIO()
    with ThreadPoolExecutor(4) as pool:
        assert gather(_finishing_in_reverse(pool, 4), "score", "shard", file=out) == [0, 1, 2, 3]
    bar = out.getvalue()
    assert "score" in bar and "4/4" in bar and "shard" in bar


def test_disabled_writes_nothing(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "0")
    out = io.StringIO()
    with ThreadPoolExecutor(2) as pool:
        assert gather([pool.submit(lambda i=i: i * i) for i in range(5)], "label", "chunk", file=out) == [0, 1, 4, 9, 16]
    assert out.getvalue() == ""


def test_off_when_not_a_terminal_unless_asked(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert not progress_enabled(io.StringIO())
    with ThreadPoolExecutor(1) as pool:
        out = io.StringIO()
        assert gather([pool.submit(lambda: 1)], "ingest", file=out) == [1]
        assert out.getvalue() == ""
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert progress_enabled(io.StringIO())


def test_without_a_terminal_a_long_gather_prints_a_plain_line_now_and_then(monkeypatch):
    # `dvc repro > log`: no bar, and the proxy evaluation's runs (minutes each) were silent for a quarter of an hour
    from flows import common

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.setattr(common, "PLAIN_EVERY_S", 0.0)  # every finish is "long enough ago" here
    with ThreadPoolExecutor(4) as pool:
        out = io.StringIO()
        assert gather(_finishing_in_reverse(pool, 3), "evaluate", "run", file=out) == [0, 1, 2]
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == [
        "evaluate: 1 of 3 runs done", "evaluate: 2 of 3 runs done", "evaluate: 3 of 3 runs done"]
    monkeypatch.setattr(common, "PLAIN_EVERY_S", 3600.0)  # a gather quicker than that prints nothing
    with ThreadPoolExecutor(4) as pool:
        out = io.StringIO()
        gather(_finishing_in_reverse(pool, 3), "evaluate", "run", file=out)
    assert out.getvalue() == ""
    monkeypatch.setattr(common, "PLAIN_EVERY_S", 0.0)
    monkeypatch.setenv(PROGRESS_ENV, "0")  # asked for no progress: none
    with ThreadPoolExecutor(4) as pool:
        out = io.StringIO()
        gather(_finishing_in_reverse(pool, 3), "evaluate", "run", file=out)
    assert out.getvalue() == ""


def test_a_failed_future_raises_after_the_others_finish(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "0")

    def boom():
        raise ValueError("shard 0 failed")

    done = threading.Event()

    def slow():
        done.wait(0.2)
        done.set()
        return 1

    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match="shard 0 failed"):
        gather([pool.submit(boom), pool.submit(slow)], "score")
    assert done.is_set()


def test_prefect_futures(monkeypatch, prefect_harness):
    from prefect import flow, task

    monkeypatch.setenv(PROGRESS_ENV, "1")
    out = io.StringIO()

    @task
    def square(i: int) -> int:
        return i * i

    @flow
    def fan_out() -> list:
        return gather([square.submit(i) for i in range(6)], "select", "method", file=out)

    assert fan_out() == [0, 1, 4, 9, 16, 25]
    assert "6/6" in out.getvalue()
