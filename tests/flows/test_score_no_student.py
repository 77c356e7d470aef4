"""score names why a group has no student: a rubric with no anchors (label and distill skip the group) is not
"run distill first"."""

from __future__ import annotations

from flows.score import _why_no_student
from mira_core.layout import Layout
from mira_core.rubric import Rubric, save_rubric


def test_a_group_whose_rubric_has_no_anchors_is_named_as_such(tmp_path):
    lay = Layout(tmp_path)
    assert _why_no_student(lay, "g0") == "g0: run distill first"  # no rubric at all
    save_rubric(Rubric(group="g0", teacher="rules", prompt_version="p", sources=["a"], anchors=[]).with_version(),
                lay.rubrics / "g0.json")
    why = _why_no_student(lay, "g0")
    assert why.startswith("g0: its rubric has no anchors, so label and distill skipped it") and "distill first" not in why
