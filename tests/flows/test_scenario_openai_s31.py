"""Scenario s31: a user with an OpenAI-compatible teacher (a local vLLM, played by tests/fake_openai.py) on a
small mixed corpus, meeting rate limits, timeouts, malformed replies, spending caps and Ctrl-C.

Each test reproduces one bug the scenario met, on tiny data; each failed before its fix.
"""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.config import DiscoverParams, TeacherParams
from mira_core.errors import INTERRUPTED, MiraError
from mira_core.failure_budget import FailureBudgetError, check_failure_budget
from mira_core.rubric import Anchor
from mira_core.teachers import make_teacher, prompts
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.spend import SpendLedger, cap_error
from tests.fake_openai import FakeOpenAI

ANCHORS = (Anchor(id="a00", name="correctness", description="Free of errors.", exemplar_reason="ok", support=1),)
PRICE_IN, PRICE_OUT, MAX_TOKENS = 2.0, 8.0, 200


def _docs(n: int) -> list[Doc]:
    return [Doc(f"r{i}", "web", "text", f"Record {i} talks about subject {i * 17} in a few plain words.")
            for i in range(n)]


def _teacher_params(server: FakeOpenAI, **kw) -> TeacherParams:
    base = {"provider": "openai", "model": "fake-teacher", "base_url": server.base_url, "api_key_env": None,
            "timeout_s": 5.0, "max_retries": 0, "max_repairs": 0, "concurrency": 1, "max_tokens": MAX_TOKENS,
            "response_format": "json_schema", "price_input_per_1m": PRICE_IN, "price_output_per_1m": PRICE_OUT,
            "cache_path": "c.sqlite"}
    return TeacherParams(**{**base, **kw})


def test_the_cap_message_says_what_the_ledger_spent_when_timed_out_attempts_used_the_budget(tmp_path):
    # A slow server: the first three attempts time out. The ledger keeps each at its worst case (the server may
    # have answered and billed it), so the cap is reached; the stage's message then said "($0.0000 spent)".
    msgs = prompts.messages(Request("score", _docs(1)[0], ANCHORS, "v1"), (1, 5), 12_000, 8)
    worst = SpendLedger(tmp_path / "probe.sqlite", None, None, None, PRICE_IN, PRICE_OUT, MAX_TOKENS).worst_case(msgs)
    with FakeOpenAI() as server:
        server.fail_next(3, "slow", delay=1.0)
        p = _teacher_params(server, timeout_s=0.3, max_cost=round(3.5 * worst, 6))
        t = make_teacher(p, tmp_path, {}, run_id="run-s31")
        out = t.score(_docs(6), ANCHORS, "v1")
        assert [o.error_kind for o in out[:3]] == ["transient"] * 3  # the three timeouts
        assert all(o.error_kind == "capped" for o in out[3:])  # the cap refused the rest
        _, settled = t.backend.budget.totals()
        assert settled == pytest.approx(3 * worst, rel=0.05)  # the ledger charged the three timeouts
        msg = cap_error(t.stats.as_dict(PRICE_IN, PRICE_OUT), None, p.max_cost)
        assert f"(${settled:.4f} spent)" in msg, msg  # was "($0.0000 spent)": the cap reached on nothing spent


def test_the_failure_budget_message_says_permanent_failures_need_retry_failed():
    # 18 invalid replies (malformed JSON after the repair) in a label run of 119 requests: the stage fails saying
    # "a re-run after the fix asks only the rest"; the re-run sent 0 requests and failed the same way.
    failures = pl.DataFrame({
        "record_id": [f"code/code-{i}" for i in range(18)],
        "error": ["invalid reply after 2 call(s): the reply is not a JSON object (Expecting value)"] * 18,
        "error_kind": ["permanent"] * 18})
    with pytest.raises(FailureBudgetError) as e:
        check_failure_budget("label", 119, failures, 0.1, "data/labels/failures/*.parquet")
    assert "retry_failed" in str(e.value)


def test_judge_sample_does_not_hand_back_a_partial_sample_after_ctrl_c(tmp_path):
    corpus = pl.DataFrame([{"record_id": d.record_id, "source": d.source, "format": d.format, "text": d.text}
                           for d in _docs(6)])
    with FakeOpenAI() as server:
        t = make_teacher(_teacher_params(server), tmp_path, {})
        from mira_core.discovery import judge_sample

        INTERRUPTED.set()  # what flows.common.gather does on Ctrl-C, while the group's task thread runs on
        try:
            with pytest.raises((KeyboardInterrupt, MiraError)):
                judge_sample("g0", corpus, t, DiscoverParams(records_per_group=6, retry_deadline_s=0))
        finally:
            INTERRUPTED.clear()
        assert server.requests == []  # nothing was sent (this part holds today)
