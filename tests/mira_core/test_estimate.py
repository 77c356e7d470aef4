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


def test_the_output_ratio_is_measured_on_replies_in_the_shape_the_prompt_asks_for(tmp_path):
    # the cache stores a score reply validated ({"scores": {a00: {...}}}), shorter than the list the teacher wrote,
    # which is what the estimate sizes: measured on the stored shape, label's output tokens came out 7 % high
    import json

    from mira_core.estimate import calibrate
    from mira_core.teachers.base import Outcome

    params = parse_params({"sources": [{"name": "s", "path": "s.jsonl", "format": "text"}]})
    teacher = make_teacher(params.teacher, tmp_path, {})
    rubric = placeholder_rubric("g", 8)
    anchors = tuple(rubric.anchors)
    why = "r" * 100
    written = {"scores": [{"anchor": a.id, "score": 3, "rationale": why} for a in anchors]}
    stored = {"scores": {a.id: {"score": 3, "rationale": why} for a in anchors}}
    tokens = round(len(json.dumps(written)) / 4)  # the endpoint's tokenizer: 4 characters per token
    old = [Request("score", Doc(f"s/{i}", "s", "text", f"old text {i}"), anchors, rubric.version) for i in range(5)]
    teacher.cache.put_many([(teacher.key(r), r, Outcome(r.doc.record_id, True, stored, prompt_tokens=500,
                                                        completion_tokens=tokens, calls=1)) for r in old])
    new = [Request("score", Doc(f"s/n{i}", "s", "text", f"new text {i}"), anchors, rubric.version) for i in range(5)]
    est = estimate_stage("label", teacher, new, params, calibrate(teacher, old, params))
    teacher.cache.close()
    assert abs(est.output_tokens / 5 / tokens - 1) < 0.01
