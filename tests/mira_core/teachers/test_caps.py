"""Spending caps (teacher.max_requests, teacher.max_cost): a stage run stops within one request of its cap,
across the parallel tasks that share its run id, and what a cap refused is asked again by a re-run."""

from __future__ import annotations

import threading
import time

import pytest

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.rubric import Anchor
from mira_core.teachers import make_teacher, prompts, spend_stale_s
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.spend import WAIT, CapReached, SpendLedger
from tests.fake_openai import FakeOpenAI

ANCHORS = (Anchor(id="a00", name="correctness", description="Free of errors.", exemplar_reason="ok", support=1),)
PRICE_IN, PRICE_OUT = 2.0, 8.0  # USD per million tokens


def docs(n: int, tag: str = "") -> list[Doc]:
    return [Doc(f"r{tag}{i}", "web", "text", f"Record {tag}{i} talks about subject {i * 17} in some words.")
            for i in range(n)]


def params(server: FakeOpenAI, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "fake-teacher", "base_url": server.base_url, "api_key_env": None,
            "timeout_s": 5.0, "max_retries": 0, "max_repairs": 0, "concurrency": 4, "max_tokens": 200,
            "price_input_per_1m": PRICE_IN, "price_output_per_1m": PRICE_OUT, "cache_path": "c.sqlite"}
    return TeacherParams(**{**base, **kw})


def cost_of(server: FakeOpenAI) -> float:
    """What the server billed: its usage (the fake counts words) at the configured prices."""
    from tests.fake_openai import answer

    total = 0.0
    for r in server.requests:
        pt = sum(len(str(m.get("content", "")).split()) for m in r.messages)
        ct = len(answer(r.messages).split())
        total += (pt * PRICE_IN + ct * PRICE_OUT) / 1e6
    return total


def test_max_requests_stops_exactly_at_the_cap_and_a_rerun_with_a_raised_cap_resumes(tmp_path):
    with FakeOpenAI(latency=0.02) as server:
        t = make_teacher(params(server, max_requests=10), tmp_path, {}, run_id="run-1")
        out = t.score(docs(30), ANCHORS, "v1")
        assert len(server.requests) == 10  # never one more, with 4 in flight
        assert sum(o.ok for o in out) == 10
        capped = [o for o in out if not o.ok]
        assert len(capped) == 20 and all(o.error_kind == "capped" and o.calls == 0 for o in capped)
        assert capped[0].error.startswith("teacher.max_requests reached (10 of 10 requests)")
        assert "raise the cap and re-run" in capped[0].error
        assert t.cap_reached == capped[0].error and t.stats.as_dict()["failures"] == {"capped": 20}

        again = make_teacher(params(server, max_requests=100), tmp_path, {}, run_id="run-2")
        out2 = again.score(docs(30), ANCHORS, "v1")
        assert all(o.ok for o in out2) and sum(o.cached for o in out2) == 10
        assert len(server.requests) == 30  # the refused 20 were not cached as failures: asked now, once
        assert again.cap_reached is None


def test_max_cost_is_never_passed_and_stops_within_one_request_of_it(tmp_path):
    with FakeOpenAI(latency=0.02) as server:
        p = params(server, max_cost=0.012, concurrency=8)
        t = make_teacher(p, tmp_path, {}, run_id="run-1")
        out = t.score(docs(80), ANCHORS, "v1")
        billed = cost_of(server)
        worst = t.backend.budget.worst_case(prompts.messages(Request("score", docs(1)[0], ANCHORS, "v1"), (1, 5),
                                                             p.max_doc_chars, p.max_judgments))
        assert 0 < sum(o.ok for o in out) < 80 and t.cap_reached.startswith("teacher.max_cost reached")
        assert billed <= p.max_cost  # never passed
        assert p.max_cost - billed < worst * 1.01  # and the stage stopped less than one request short of it
        requests, settled = t.backend.budget.totals()
        assert requests == len(server.requests) and settled == pytest.approx(billed)
        assert t.stats.as_dict(PRICE_IN, PRICE_OUT)["cost_usd"] == pytest.approx(billed, abs=1e-6)


def test_tasks_opening_a_new_ledger_at_once_all_open_it(tmp_path):
    """A stage's chunks open the ledger's new SQLite file at once. Switching a new file to WAL fails at once
    ("database is locked", no busy wait) for a connection that races another: a CI run lost a label chunk to it.
    Eight threads at a time on sixty new files: before the fix, a few of the 480 failed in every run tried."""
    errors: list[Exception] = []
    for i in range(60):
        gate = threading.Barrier(8)

        def open_ledger(path=tmp_path / f"run-{i}" / "cache.sqlite", gate=gate) -> None:
            gate.wait()
            try:
                SpendLedger(path, "run", 10, None, None, None, 100)
            except Exception as e:  # noqa: BLE001 - every failure is counted below
                errors.append(e)

        threads = [threading.Thread(target=open_ledger) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert errors == []


def test_one_cap_holds_across_parallel_tasks_of_a_run(tmp_path):
    """Four label chunks at once, each with its own teacher (as threads or Dask workers have): one cap."""
    with FakeOpenAI(latency=0.02) as server:
        outs: list = []

        def chunk(k: int) -> None:
            t = make_teacher(params(server, max_requests=25), tmp_path, {}, run_id="stage-run")
            outs.extend(t.score(docs(15, tag=f"c{k}-"), ANCHORS, "v1"))

        threads = [threading.Thread(target=chunk, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(server.requests) == 25 and sum(o.ok for o in outs) == 25
        assert sum(o.error_kind == "capped" for o in outs) == 35
        # another run id is another stage run: its own cap
        t = make_teacher(params(server, max_requests=5), tmp_path, {}, run_id="next-run")
        assert sum(o.ok for o in t.score(docs(10, tag="n"), ANCHORS, "v1")) == 5


def test_a_request_waits_while_only_holds_in_flight_block_it(tmp_path):
    ledger = SpendLedger(tmp_path / "c.sqlite", "r", None, 1.0, 1e6, 1e6, max_tokens=0)  # $1 a token
    first = ledger.try_hold(0.6)
    assert isinstance(first, int) and ledger.try_hold(0.6) == WAIT  # might fit once the first settles cheaper
    ledger.settle(first, 0.3)
    second = ledger.try_hold(0.6)
    assert isinstance(second, int)
    ledger.settle(second, 0.6)
    with pytest.raises(CapReached, match=r"\$0.9000 spent of \$1"):
        ledger.try_hold(0.2)  # settled spend alone leaves too little: refused, not waited on


def test_a_cost_cap_needs_prices():
    with pytest.raises((ValueError, ConfigError), match="max_cost needs price"):
        TeacherParams(provider="openai", max_cost=1.0)


def test_the_stage_error_names_the_cap_and_what_was_spent():
    from mira_core.teachers.spend import cap_error

    assert cap_error({"failures": {"transient": 2}, "calls": 9}, 10, None) is None
    msg = cap_error({"failures": {"capped": 20}, "calls": 10, "cost_usd": 0.0112}, None, 0.012)
    assert msg == ("the teacher's spending cap was reached (teacher.max_cost = $0.012): 20 request(s) not sent after "
                   "10 provider requests ($0.0112 spent); answers so far are cached; raise the cap and re-run")


@pytest.mark.usefixtures("transport")
def test_a_spend_hold_spans_one_attempt_never_the_waits_between_retries(tmp_path, monkeypatch):
    """A hold older than stale_s is taken for a killed process's and no longer counted, so a live hold must never
    be that old, or the stage could pass max_cost. A hold spans one attempt, which the timeout bounds as a whole
    (test_openai.py's trickle tests); a retry takes a hold of its own after its wait."""
    born: dict[int, float] = {}
    lives: list[float] = []
    try_hold, settle = SpendLedger.try_hold, SpendLedger.settle

    def timed_hold(self, worst):
        hold = try_hold(self, worst)
        if hold != WAIT:
            born[hold] = time.monotonic()
        return hold

    def timed_settle(self, hold, cost):
        lives.append(time.monotonic() - born[hold])
        settle(self, hold, cost)

    monkeypatch.setattr(SpendLedger, "try_hold", timed_hold)
    monkeypatch.setattr(SpendLedger, "settle", timed_settle)
    with FakeOpenAI() as server:
        server.fail_next(2, "429", retry_after=0.6)
        p = params(server, max_retries=2, max_requests=10, concurrency=1)
        out = make_teacher(p, tmp_path, {}, run_id="run-1").score(docs(1), ANCHORS, "v1")
    assert out[0].ok and out[0].retries == 2 and len(lives) == 3
    assert max(lives) < 0.6  # no hold waited out a Retry-After
    assert spend_stale_s(p) > p.timeout_s + 30


@pytest.mark.usefixtures("transport")
def test_an_attempt_cancelled_in_flight_is_charged_its_worst_case(tmp_path):
    """A stopped worker cancels its requests: one already sent may have been answered and billed."""
    import asyncio

    from mira_core.teachers.openai_teacher import OpenAIBackend

    with FakeOpenAI() as server:
        server.fail_next(1, "slow", delay=2.0)
        p = params(server, max_cost=1.0)
        ledger = SpendLedger(tmp_path / "s.sqlite", "run-1", None, p.max_cost, PRICE_IN, PRICE_OUT, p.max_tokens)
        backend = OpenAIBackend(p, None, budget=ledger)
        req = Request("score", docs(1)[0], ANCHORS, "v1")

        async def cancel_soon() -> None:
            task = asyncio.ensure_future(backend._run_all([req], None))
            while not server.requests:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(cancel_soon())
        worst = ledger.worst_case(prompts.messages(req, (1, 5), p.max_doc_chars, p.max_judgments))
        assert ledger.totals() == (1, pytest.approx(worst))


@pytest.mark.usefixtures("transport")
def test_every_attempt_is_a_provider_request_and_a_lost_one_is_charged(tmp_path):
    """A retried attempt is a provider request of its own. One that timed out may still have been answered and
    billed: it is settled at its worst case, so what the ledger counts is never less than what the server bills."""
    with FakeOpenAI() as server:
        server.fail_next(2, "slow", delay=5.0)  # the first two attempts time out; the server bills them all the same
        # a set format: under `auto` the first request probes alone, and would draw both slow replies. The timeout sits
        # far from both the slow reply and a quick one: at 0.3 s a quick retry through the SDK on two loaded cores
        # (a CI run) timed out too; the server wakes its sleeping handlers when it closes, so the wait costs nothing
        p = params(server, timeout_s=1.5, max_retries=1, concurrency=2, max_cost=1.0, response_format="json_schema")
        t = make_teacher(p, tmp_path, {}, run_id="run-1")
        out = t.score(docs(4), ANCHORS, "v1")
        assert all(o.ok for o in out)
        requests, settled = t.backend.budget.totals()
        assert requests == len(server.requests) == 6
        assert settled >= cost_of(server)
        assert t.stats.as_dict()["calls"] == 6 and sum(o.retries for o in out) == 2


@pytest.mark.usefixtures("transport")
def test_max_requests_counts_retries(tmp_path):
    with FakeOpenAI() as server:
        server.fail_next(1, "500", retry_after_ms=10)
        t = make_teacher(params(server, max_retries=2, concurrency=1, max_requests=2), tmp_path, {}, run_id="run-1")
        out = t.score(docs(2), ANCHORS, "v1")
        assert len(server.requests) == 2  # the first record's 500 and its retry: the second record is not sent
        assert out[0].ok and out[1].error_kind == "capped"
