"""Tests of the teacher-cost estimate's counting: what is already cached, and what the teacher will really send."""

from __future__ import annotations

from mira_core.config import parse_params
from mira_core.estimate import Calibration, estimate_stage, placeholder_rubric
from mira_core.teachers import make_teacher
from mira_core.teachers.base import Doc, Request


def test_records_with_the_same_text_are_estimated_as_one_request(tmp_path):
    """The teacher asks once per distinct request (Teacher.ask): a second record with the same text is a cache hit
    in the estimate too, not another request's tokens."""
    params = parse_params({"sources": [{"name": "s", "path": "s.jsonl", "format": "text"}]})
    teacher = make_teacher(params.teacher, tmp_path, {})
    rubric = placeholder_rubric("g", 3)
    docs = [Doc("s/1", "s", "text", "the same words"), Doc("s/2", "s", "text", "the same words"),
            Doc("s/3", "s", "text", "other words entirely")]
    reqs = [Request("score", d, tuple(rubric.anchors), rubric.version) for d in docs]
    cal = Calibration()
    est = estimate_stage("label", teacher, reqs, params, cal)
    distinct = estimate_stage("label", teacher, [reqs[0], reqs[2]], params, cal)
    assert (est.requests, est.cached, est.to_send) == (3, 1, 2)
    assert (est.input_tokens, est.output_tokens) == (distinct.input_tokens, distinct.output_tokens)
    teacher.score(docs[:1], tuple(rubric.anchors), rubric.version)  # now cached: both same-text records are hits
    assert estimate_stage("label", teacher, reqs, params, cal).to_send == 1
