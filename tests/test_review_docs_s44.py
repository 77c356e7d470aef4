"""Sessions 44 and 45: sentences of docs/evaluation.md and the README written after the runs at bd7e0d9 and aae3963 are
checked against the figures, so a run that moves them flags them (each assertion fails if its sentence is left
unchecked)."""

from __future__ import annotations

import copy

from tests.test_review_bench_truth_s32 import RECORDED, _said


def test_the_seeds_wrong_answers_sentence_is_checked():
    words = "of the wrong answers, which the teacher's own"
    assert _said(RECORDED, words) == []
    r = copy.deepcopy(RECORDED)
    r["planted"]["seeds"]["1"]["by_kind"]["teacher"]["wrong_answer"] = 0.04  # "drop on every seed" is false
    assert any("no longer true" in x for x in _said(r, words))



def test_the_record_the_students_let_through_is_checked():
    assert _said(RECORDED, "(truncated pages:") == [] and _said(RECORDED, "Those keep") == []
    r = copy.deepcopy(RECORDED)
    r["planted"]["arms"]["default"]["result"]["teacher_all"]["broken_tool_json"].update(both=0, mira_only=0)
    r["planted"]["arms"]["default"]["result"]["methods"]["mira"]["by_kind"]["broken_tool_json"] = 0.0
    said = _said(r, "Those keep")
    assert any("no longer true" in x for x in said)
    assert any("no longer true" in x for x in _said(r, "(truncated pages:"))  # broken tool JSON no longer second



def test_the_garbled_docs_sentences_are_checked():
    r = copy.deepcopy(RECORDED)
    r["planted"]["seeds"]["2"]["by_kind"]["mira"]["garbled"] = 0.05
    assert any("no longer true" in x for x in _said(r, "of the garbled docs on the three corpora"))
    assert any("no longer true" in x for x in _said(r, "Garbled pages, which MIRA kept"))
    assert any("no longer true" in x for x in _said(r, "What MIRA keeps of the docs' broken pages"))



def test_the_balanced_arm_sentences_are_checked():
    r = copy.deepcopy(RECORDED)
    assert _said(RECORDED, "(the `balanced` arm) keep about as many") == []
    for s in r["planted"]["seeds"].values():
        s["arms"]["balanced"]["broken_kept"] = s["mira"]["broken_kept"] + 0.01  # a point more: not "about as many"
    assert any("no longer true" in x for x in _said(r, "(the `balanced` arm) keep about as many"))
    assert any("no longer true" in x for x in _said(r, "the `balanced` arm) keeps"))
