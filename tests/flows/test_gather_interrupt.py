"""Ctrl-C while a stage waits for its tasks: the teachers are told to stop sending, the waiting tasks are dropped."""

from __future__ import annotations

import concurrent.futures

import pytest

import flows.common as common
from mira_core.errors import INTERRUPTED


def test_an_interrupt_while_gathering_stops_the_teachers_and_cancels_what_waits(monkeypatch):
    def interrupted(futures):
        raise KeyboardInterrupt
        yield  # a generator, as the real one is

    monkeypatch.setattr(common, "_as_completed", interrupted)
    waiting = [concurrent.futures.Future() for _ in range(3)]
    try:
        with pytest.raises(KeyboardInterrupt):
            common.gather(waiting, "label", "chunk")
        assert INTERRUPTED.is_set() and all(f.cancelled() for f in waiting)
    finally:
        INTERRUPTED.clear()
