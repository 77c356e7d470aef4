"""Session 44: sentences of docs/evaluation.md written after the run at bd7e0d9 are checked against the figures, so a
run that moves them flags them (each assertion fails if its sentence is left unchecked)."""

from __future__ import annotations

import copy

from tests.test_review_bench_truth_s32 import RECORDED, _said


def test_the_seed_1_wrong_answers_sentence_is_checked():
    assert _said(RECORDED, "On seed 1 MIRA keeps wrong answers") == []
    r = copy.deepcopy(RECORDED)
    r["planted"]["seeds"]["1"]["by_kind"]["mira"]["wrong_answer"] = 0.3  # over the bar: "just under" is false
    assert any("no longer true" in x for x in _said(r, "On seed 1 MIRA keeps wrong answers"))


def test_the_echoed_answer_the_students_let_through_is_checked():
    assert _said(RECORDED, "(spam pages:") == []
    r = copy.deepcopy(RECORDED)
    r["planted"]["arms"]["default"]["result"]["teacher_all"]["echoed_answer"].update(both=0, mira_only=0)
    r["planted"]["arms"]["default"]["result"]["methods"]["mira"]["by_kind"]["echoed_answer"] = 0.0
    said = _said(r, "Those keep")
    assert any("no longer true" in x for x in said)
