"""Claims on requests in flight (RequestCache.claim): a run asking what another run is asking at that moment waits
for its answer instead of paying for it again, and a claim that nobody will answer does not hold a run up."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from mira_core.errors import INTERRUPTED
from mira_core.rubric import Anchor
from mira_core.teachers.base import Doc, Outcome, Teacher
from mira_core.teachers.cache import RequestCache

A = (Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=1),)
DOCS = [Doc(f"s/{i}", "s", "code", f"text {i}") for i in range(3)]


class Slow:
    """A backend that answers each score request with 3 after `wait` seconds (or fails them), counting what it sent."""

    provider, model = "slow", "s1"

    def __init__(self, wait: float = 0.0, fail: str | None = None):
        self.sent, self.wait, self.fail = 0, wait, fail

    def run(self, requests, on_outcome=None):
        self.sent += len(requests)
        time.sleep(self.wait)
        if self.fail:
            return [Outcome.failure(r.doc.record_id, "busy", self.fail) for r in requests]
        return [Outcome(r.doc.record_id, True, {"scores": {"a00": {"score": 3, "rationale": "ok"}}}, calls=1)
                for r in requests]


def _teacher(path, backend) -> Teacher:
    return Teacher(backend, RequestCache(path), "p1", {}, (1, 5))


def _requests(t: Teacher):
    """The score requests `t.score(DOCS, A, "v1")` makes, captured from its ask."""
    seen = []
    real = t.ask
    t.ask = lambda reqs: seen.extend(reqs) or [Outcome.failure(r.doc.record_id, "x", "capped") for r in reqs]
    t.score(DOCS, A, "v1")
    t.ask = real
    return seen


def test_a_request_asked_elsewhere_at_that_moment_is_read_from_its_answer(tmp_path):
    first, second = Slow(wait=1.5), Slow()
    a, b = _teacher(tmp_path / "c.sqlite", first), _teacher(tmp_path / "c.sqlite", second)
    thread = threading.Thread(target=a.score, args=(DOCS, A, "v1"))
    thread.start()
    time.sleep(0.5)  # the first run has claimed and is asking
    out = b.score(DOCS, A, "v1")
    thread.join(30)
    assert (first.sent, second.sent) == (3, 0)
    assert all(o.ok and o.cached for o in out) and [o.record_id for o in out] == [d.record_id for d in DOCS]
    assert a.cache.claim([], "x") == set() and not a.cache._con.execute("SELECT * FROM claims").fetchall()


def test_what_the_other_run_let_go_of_without_an_answer_is_asked_here(tmp_path):
    failing, second = Slow(wait=1.0, fail="transient"), Slow()
    a, b = _teacher(tmp_path / "c.sqlite", failing), _teacher(tmp_path / "c.sqlite", second)
    thread = threading.Thread(target=a.score, args=(DOCS, A, "v1"))
    thread.start()
    time.sleep(0.3)
    out = b.score(DOCS, A, "v1")
    thread.join(30)
    assert second.sent == 3 and all(o.ok and not o.cached for o in out)


def test_a_claim_of_a_process_that_is_gone_is_no_claim(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    backend = Slow()
    t = _teacher(tmp_path / "c.sqlite", backend)
    keys = [t.key(r) for r in _requests(t)]
    t.cache._con.executemany("INSERT INTO claims VALUES (?,?,?,?)", [(k, "killed", int(dead.stdout), time.time())
                                                                      for k in keys])
    t.cache._con.commit()
    out = t.score(DOCS, A, "v1")
    assert backend.sent == 3 and all(o.ok for o in out)


def test_an_interrupt_while_waiting_on_another_run_ends_the_wait(tmp_path):
    import os

    backend = Slow()
    t = _teacher(tmp_path / "c.sqlite", backend)
    keys = [t.key(r) for r in _requests(t)]
    # a live process (this one) under another owner holds them: the wait would last until it answers
    t.cache._con.executemany("INSERT INTO claims VALUES (?,?,?,?)", [(k, "elsewhere", os.getpid(), time.time())
                                                                      for k in keys])
    t.cache._con.commit()
    threading.Timer(1.0, INTERRUPTED.set).start()
    try:
        out = t.score(DOCS, A, "v1")
    finally:
        INTERRUPTED.clear()
    assert backend.sent == 0 and all(o.error_kind == "capped" for o in out)
