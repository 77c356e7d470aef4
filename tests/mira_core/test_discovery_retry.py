"""discover asks transient failures again until every sampled record is judged, so a rubric's input does
not depend on which requests failed; against the real OpenAI-compatible test server, client retries off."""

from __future__ import annotations

import polars as pl

from mira_core.config import DiscoverParams, TeacherParams
from mira_core.discovery import judge_sample
from mira_core.teachers import make_teacher
from tests.fake_openai import FakeOpenAI

CORPUS = pl.DataFrame({"record_id": [f"r{i:02d}" for i in range(12)], "source": ["a", "b"] * 6,
                       "format": ["text"] * 12, "text": [f"Record {i} says something about topic {i % 3}."
                                                         for i in range(12)]})


def run(server: FakeOpenAI, root, deadline: float, sleeps: list[float]):
    teacher = make_teacher(TeacherParams(provider="openai", model="fake", base_url=server.base_url,
                                         api_key_env=None, max_retries=0, timeout_s=5, concurrency=4),
                           root, {})
    p = DiscoverParams(records_per_group=12, batch_size=5, retry_deadline_s=deadline)
    clock = iter(range(10_000)).__next__  # one second per look at the clock
    try:
        return judge_sample("g", CORPUS, teacher, p, clock=lambda: float(clock()), sleep=sleeps.append)
    finally:
        teacher.cache.close()


def test_transient_failures_are_asked_again_until_all_are_judged(tmp_path):
    with FakeOpenAI() as clean:
        reference = run(clean, tmp_path / "clean", 600, [])
    with FakeOpenAI() as server:
        server.fail_next(7, "500")
        sleeps: list[float] = []
        judged = run(server, tmp_path / "faulty", 600, sleeps)
    assert judged.failures.height == 0 and judged.sampled == 12
    assert judged.retry_rounds >= 1 and sleeps[:2] == [1.0, 2.0][: len(sleeps[:2])]
    # the same points, in the same order, as a run where nothing failed
    assert judged.judgments.drop("teacher").equals(reference.judgments.drop("teacher"))


def test_past_the_deadline_the_failures_stay_recorded_with_their_reason(tmp_path):
    with FakeOpenAI() as server:
        server.fail_next(3, "500")
        judged = run(server, tmp_path, 0, [])
    assert judged.retry_rounds == 0 and judged.failures.height == 3
    assert set(judged.failures["error_kind"]) == {"transient"}
    assert all("HTTP 500" in e for e in judged.failures["error"])
