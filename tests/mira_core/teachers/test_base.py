"""Tests of the cached Teacher: what goes into a request's key, reply validation, stats."""

from __future__ import annotations

import pytest

from mira_core.rubric import Anchor
from mira_core.teachers.base import Doc, Outcome, ReplyError, Request, Teacher, extract_json, validate_reply
from mira_core.teachers.cache import RequestCache

A = (Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=1),)


class Echo:
    """A backend that answers every score request with 3 and counts what it was asked."""

    provider, model = "echo", "e1"

    def __init__(self):
        self.seen = 0

    def run(self, requests, on_outcome=None):  # reports nothing as it goes: Teacher stores the batch at the end
        self.seen += len(requests)
        return [Outcome(r.doc.record_id, True, {"scores": {"a00": {"score": 3, "rationale": "ok"}}}, calls=1)
                for r in requests]


def test_key_covers_text_rubric_prompt_repeat_and_settings(tmp_path):
    t = Teacher(Echo(), RequestCache(tmp_path / "c.sqlite"), "p1", {"temperature": 0}, (1, 5))
    base = Request("score", Doc("s/1", "s", "code", "x"), A, "v1")
    k = t.key(base)
    assert t.key(Request("score", Doc("s/OTHER-ID", "s2", "code", "x"), A, "v1")) == k  # text, not id, matters
    # the anchors as the prompt shows them, not the rubric's version, which hashes the group's name and sources too
    # (review s34: a renamed source, or renumbered groups, had the teacher answer identical prompts again)
    assert t.key(Request("score", base.doc, A, "v2")) == k
    reworded = (A[0].model_copy(update={"description": A[0].description + " (reworded)"}), *A[1:])
    for other in (Request("score", Doc("s/1", "s", "code", "y"), A, "v1"), Request("score", base.doc, reworded, "v2"),
                  Request("score", base.doc, A, "v1", repeat=1), Request("judge", base.doc)):
        assert t.key(other) != k
    assert Teacher(Echo(), t.cache, "p2", {"temperature": 0}, (1, 5)).key(base) != k
    assert Teacher(Echo(), t.cache, "p1", {"temperature": 0.7}, (1, 5)).key(base) != k


def test_second_ask_hits_the_cache_and_stats_say_so(tmp_path):
    backend = Echo()
    t = Teacher(backend, RequestCache(tmp_path / "c.sqlite"), "p1", {}, (1, 5))
    docs = [Doc(f"s/{i}", "s", "code", f"text {i}") for i in range(4)]
    t.score(docs, A, "v1")
    again = t.score(docs, A, "v1")
    assert backend.seen == 4 and all(o.cached and o.ok for o in again)
    assert t.stats.as_dict(1.0, 2.0) == {"requests": 8, "cache_hits": 4, "calls": 4, "prompt_tokens": 0,
                                         "completion_tokens": 0, "failures": {}, "response_format": {},
                                         "cost_usd": 0.0}


def test_reply_validation():
    req = Request("score", Doc("s/1", "s", "code", "x"), A, "v1")
    assert validate_reply({"scores": [{"anchor": "a00", "score": 5}]}, req, (1, 5))["scores"]["a00"]["score"] == 5
    with pytest.raises(ReplyError, match="out of range: a00"):
        validate_reply({"scores": [{"anchor": "a00", "score": 9}]}, req, (1, 5))
    with pytest.raises(ReplyError, match="missing anchors: a00"):
        validate_reply({"scores": []}, req, (1, 5))
    judged = validate_reply({"judgments": [{"name": "Code Clarity", "score": 2, "reason": "r"}]},
                            Request("judge", req.doc), (1, 5))
    assert judged["judgments"][0]["name"] == "code_clarity"
    # the judge prompt's contract, which only json_schema mode enforced: at most max_judgments, each dimension once,
    # no blank reason (discover clusters every judgment: one record must not weigh twenty, or count one twice)
    judge = Request("judge", req.doc)
    many = {"judgments": [{"name": f"dim {i}", "score": 3, "reason": "r"} for i in range(12)]}
    with pytest.raises(ReplyError, match="at most 4 judgments, not 12"):
        validate_reply(many, judge, (1, 5), max_judgments=4)
    assert len(validate_reply(many, judge, (1, 5), max_judgments=12)["judgments"]) == 12
    for bad, why in (([("Clarity", "r"), ("clarity ", "s")], "more than once: clarity"),
                     ([("Clarity", "r"), ("depth", " \n")], "a name and a reason"),
                     ([("Clarity", "r"), ("  ", "s")], "a judgment needs a name")):
        with pytest.raises(ReplyError, match=why):
            validate_reply({"judgments": [{"name": n, "score": 3, "reason": r} for n, r in bad]}, judge, (1, 5))
    assert extract_json('Here you go:\n```json\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(ReplyError):
        extract_json("no json here")
    # Valid JSON past Python's limits is a reply to repair, like bad JSON, not a crash of the request.
    with pytest.raises(ReplyError, match="4300 digits"):
        extract_json('{"scores": ' + "9" * 5000 + "}")
    with pytest.raises(ReplyError, match="nested too deep"):
        extract_json('{"scores": ' + "[" * 5000 + "]" * 5000 + "}")


def test_scores_must_be_true_integers_one_per_anchor_asked():
    """Lenient parsing would read true as 1 and "5" as 5, and keep the last of two scores for one anchor: each of
    these is a ReplyError instead, which the openai and transformers teachers feed back in a repair request."""
    a01 = Anchor(id="a01", name="clarity", description="d", exemplar_reason="e", support=1)
    req = Request("score", Doc("s/1", "s", "code", "x"), (*A, a01), "v1")
    good = [{"anchor": "a00", "score": 4}, {"anchor": "a01", "score": 2}]
    assert validate_reply({"scores": good}, req, (1, 5))["scores"]["a01"]["score"] == 2
    for score in (True, "5", 4.0):
        with pytest.raises(ReplyError, match="schema"):
            validate_reply({"scores": [{"anchor": "a00", "score": score}, good[1]]}, req, (1, 5))
        with pytest.raises(ReplyError, match="schema"):
            validate_reply({"judgments": [{"name": "x", "score": score, "reason": "r"}]}, Request("judge", req.doc),
                           (1, 5))
    with pytest.raises(ReplyError, match="more than once: a00"):
        validate_reply({"scores": [*good, {"anchor": "a00", "score": 1}]}, req, (1, 5))
    with pytest.raises(ReplyError, match="unknown anchors .*: a99"):
        validate_reply({"scores": [*good, {"anchor": "a99", "score": 1}]}, req, (1, 5))


def test_a_failure_stored_under_an_answers_key_does_not_replace_it(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    req = Request("score", Doc("s/1", "s", "code", "x"), A, "v1")
    answer = Outcome("s/1", True, {"scores": {"a00": {"score": 3, "rationale": "ok"}}}, calls=1)
    cache.put_many([("k", req, Outcome.failure("s/1", "HTTP 500", "transient"))])
    cache.put_many([("k", req, answer)])  # an answer replaces a failure
    cache.put_many([("k", req, Outcome.failure("s/2", "invalid reply", "permanent"))])  # a failure never an answer
    assert cache.get_many(["k"])["k"] == answer
    cache.close()


class DiesMidBatch:
    """A backend that reports its first answers, then dies (as a killed process would) before the batch ends."""

    provider, model = "dies", "d1"

    def run(self, requests, on_outcome=None):
        for i, r in enumerate(requests[:3]):
            on_outcome(i, Outcome(r.doc.record_id, True, {"scores": {"a00": {"score": 2, "rationale": "r"}}}, calls=1))
        raise KeyboardInterrupt  # not an Exception: nothing after this line of the batch runs


def test_each_answer_is_in_the_cache_as_soon_as_the_backend_reports_it(tmp_path):
    docs = [Doc(f"s/{i}", "s", "code", f"text {i}") for i in range(6)]
    t = Teacher(DiesMidBatch(), RequestCache(tmp_path / "c.sqlite"), "p1", {}, (1, 5))
    with pytest.raises(KeyboardInterrupt):
        t.score(docs, A, "v1")
    backend = Echo()
    again = Teacher(backend, RequestCache(tmp_path / "c.sqlite"), "p1", {}, (1, 5))
    again.key = t.key  # the same requests (the provider name is part of the key)
    out = again.score(docs, A, "v1")
    assert [o.cached for o in out] == [True] * 3 + [False] * 3 and backend.seen == 3
    assert out[0].data["scores"]["a00"]["score"] == 2  # the answer the dying run got


def test_stats_of_a_stages_tasks_sum_key_by_key_nested_counts_included():
    from mira_core.teachers.base import sum_stats

    total: dict = {}
    sum_stats(total, {"requests": 3, "cost_usd": 0.1, "failures": {"transient": 1}, "response_format": {"json_schema": 3}})
    sum_stats(total, {"requests": 2, "cost_usd": 0.2, "failures": {"capped": 2}, "response_format": {"json_schema": 2}})
    assert total == {"requests": 5, "cost_usd": 0.3, "failures": {"transient": 1, "capped": 2},
                     "response_format": {"json_schema": 5}}
