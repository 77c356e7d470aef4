"""discover end to end through Prefect, with the openai teacher against a real OpenAI-compatible server.

The server (tests/fake_openai.py) speaks /v1/chat/completions and is scripted to fail: 429 with
Retry-After, 500, malformed JSON, out-of-range scores. Requests are counted at the server, which is
how the tests prove that a re-run pays nothing.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from flows import discover
from mira_core.config import parse_params
from mira_core.failure_budget import FailureBudgetError
from mira_core.rubric import load_rubrics
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow


def _project(base: dict, **teacher):
    """The three-source corpus (tests/flows/conftest.py, through group) with this module's teacher and discover."""
    return parse_params({
        **base,
        "teacher": {"provider": "openai", "model": "fake-teacher", "api_key_env": "MIRA_TEST_KEY",
                    "max_retries": 2, "timeout_s": 5, "concurrency": 4, **teacher},
        "discover": {"records_per_group": 12, "n_anchors": 4, "batch_size": 5},
        "cache": {"enabled": False},  # every run goes to the teacher, so only the request cache can save calls
    })


def test_discover_with_an_openai_teacher_survives_faults_and_reruns_free(tmp_path, grouped_project,
                                                                         monkeypatch):
    monkeypatch.setenv("MIRA_TEST_KEY", "sk-test-secret-123")
    with FakeOpenAI() as server:
        params = _project(grouped_project("three_sources"), base_url=server.base_url)
        server.fail_next(1, "429", retry_after=0.05)
        server.on_request(3, "500", retry_after_ms=10)
        server.on_document("record 5", "malformed", times=1)
        server.on_document("record 6", "out_of_range", times=1)
        metrics = discover.run(params, tmp_path)
        first = len(server.requests)

        rubrics = load_rubrics(tmp_path / "data" / "rubrics")
        assert set(rubrics) == set(metrics["groups"]) and len(rubrics) == 2
        sampled = sum(g["sampled"] for g in metrics["groups"].values())
        assert sampled == 20  # 12 from the two-source group, all 8 of the one-source group
        assert sum(g["judged"] for g in metrics["groups"].values()) == sampled
        judged_ids = pl.read_parquet(tmp_path / "data" / "rubrics" / "judgments" / "*.parquet")["record_id"].unique()
        corpus = pl.read_parquet(tmp_path / "data" / "corpus" / "*" / "*.parquet")
        texts = corpus.filter(pl.col("record_id").is_in(judged_ids.implode()))["text"]
        assert texts.len() == sampled
        assert sum(("record 5" in t) or ("record 6" in t) for t in texts) >= 2
        repairs = 2  # the malformed and the out-of-range reply were each scripted once (times=1)
        # every sampled record once + one retry after the 429 + one after the 500 + one repair per bad reply
        assert first == sampled + 2 + repairs
        for r in rubrics.values():
            assert 1 <= len(r.anchors) <= 4 and r.teacher == "openai/fake-teacher"
            assert sum(a.support for a in r.anchors) == r.n_points
        # every provider request, the retries included (what max_requests caps and the provider may bill)
        assert metrics["teacher"]["calls"] == first and metrics["teacher"]["prompt_tokens"] > 0

        again = discover.run(params, tmp_path)
        assert len(server.requests) == first  # zero new teacher calls
        assert again["teacher"]["cache_hits"] == again["teacher"]["requests"] == sampled
        assert {g: r.version for g, r in load_rubrics(tmp_path / "data" / "rubrics").items()} == \
               {g: r.version for g, r in rubrics.items()}

    secret_free = [tmp_path / "metrics" / "discover.json", *(tmp_path / "data" / "rubrics").rglob("*.*")]
    for f in secret_free:
        assert b"sk-test-secret-123" not in f.read_bytes(), f


def test_failures_are_recorded_and_only_transient_ones_are_asked_again(tmp_path, grouped_project,
                                                                        monkeypatch):
    monkeypatch.setenv("MIRA_TEST_KEY", "k")
    with FakeOpenAI() as server:
        params = _project(grouped_project("three_sources"), base_url=server.base_url, max_retries=0, max_repairs=1)
        # no retry rounds within a run (a record that always fails would be asked until the deadline)
        params = params.model_copy(update={"discover": params.discover.model_copy(update={"retry_deadline_s": 0})})
        server.on_document("record 2", "malformed")  # every time: permanent after the repair
        server.on_document("record 3", "500")        # every time: transient
        with pytest.raises(FailureBudgetError, match="teacher.max_failure_rate"):  # 5 of 20 lost: above 10 %
            discover.run(params, tmp_path)
        first = len(server.requests)
        failures = pl.read_parquet(tmp_path / "data" / "rubrics" / "failures" / "*.parquet")
        kinds = dict(failures.group_by("error_kind").len().iter_rows())
        assert set(kinds) == {"permanent", "transient"}
        assert all("record 2" in pl.read_parquet(tmp_path / "data" / "corpus" / "*" / "*.parquet")
                   .filter(pl.col("record_id") == r)["text"][0]
                   for r in failures.filter(pl.col("error_kind") == "permanent")["record_id"])
        with pytest.raises(FailureBudgetError):
            discover.run(params, tmp_path)
        assert len(server.requests) == first + kinds["transient"]  # only the transient failures were asked again


def test_a_missing_api_key_fails_before_any_request(tmp_path, grouped_project, monkeypatch):
    from mira_core.errors import ConfigError

    monkeypatch.delenv("MIRA_TEST_KEY", raising=False)
    with FakeOpenAI() as server:
        params = _project(grouped_project("three_sources"), base_url=server.base_url)
        with pytest.raises(ConfigError, match="MIRA_TEST_KEY"):
            discover.run(params, tmp_path)
        assert server.requests == []
    assert not json.dumps(params.model_dump()).count("sk-")
