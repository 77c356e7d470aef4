"""Review (session 34, angle h8): a teacher scale other than 1..5 (`teacher.scale_min` / `teacher.scale_max`).

The scale was followed through every stage on tiny data (the rules teacher mapped onto 0..10, 0..1, 1..3 and -2..2;
the openai teacher through tests/fake_openai.py): prompts, reply validation, labels, the students' clipping, the
mask, the aggregate, the report, `mira summary`, `mira estimate`, `mira compare`, and a scale changed mid-project.
What was wrong, each fixed with its test below:

- the label stage labels on the teacher's new scale under a rubric discovered on the old one, and distill fits and
  clips to the rubric's scale: `mira stage label` (or `mira run --from label`) after an edit of teacher.scale_max
  gave 0..10 labels under a 1..5 rubric, students clipped to 1..5 (a group's val MAE 3.36 against the constant
  predictor's 0.45), half the mask's anchors lost and another selection (Jaccard 0.71 with a consistent 0..10
  run's); nothing refused the mix;
- the teacher's prompts show the reply's shape with a fixed `"score": 3`, off the scale the same prompt asks for on
  0..1 (a binary teacher) or -2..2: the one example reply a model copies fails the reply validation.
"""

from __future__ import annotations

import json

import pytest

from mira_core.config import TeacherParams
from mira_core.errors import ConfigError
from mira_core.labels import check_rubric_teacher
from mira_core.rubric import Anchor, Rubric, Scale
from mira_core.teachers import prompts, teacher_prompt_version
from mira_core.teachers.base import Doc, Request, validate_reply


def _rubric(lo: int, hi: int) -> Rubric:
    """A rubric the rules teacher (at this version of its code) discovered on lo..hi."""
    anchors = [Anchor(id="a00", name="correctness", description="d", exemplar_reason="r", support=1)]
    return Rubric(group="g0", teacher="rules/rules-v1", prompt_version=teacher_prompt_version(TeacherParams()),
                  scale=Scale(min=lo, max=hi), sources=["code"], anchors=anchors).with_version()


def test_a_rubric_discovered_on_another_scale_is_refused_before_labeling():
    """Discover on 1..5, then teacher.scale_max edited to 10 and `mira stage label` (or `mira run --from label`) run:
    dvc repro would run discover first, these do not. label_flow's guard against a mix no fresh run gives
    (labels.check_rubric_teacher, called for every group before any spend) looks at the teacher's name and prompt
    version only, so the stage labels 0..10 under the 1..5 rubric; distill then fits and clips to the rubric's 1..5
    (on a 240-record mira init project: g1's val MAE 3.36 against the constant predictor's 0.45; mask 5 on / 31 off
    against 10 / 26 on a consistent 0..10 run at the same tau_mae, 113 records kept against 94, Jaccard 0.71).
    Nothing downstream refuses it either: the labels carry the rubric's version, which is unchanged."""
    with pytest.raises(ConfigError, match="scale"):
        check_rubric_teacher(_rubric(1, 5), TeacherParams(scale_min=0, scale_max=10))
    check_rubric_teacher(_rubric(0, 10), TeacherParams(scale_min=0, scale_max=10))  # the same scale passes


def _example_reply(messages: list[dict]) -> object:
    """The JSON object the prompt shows as the shape of the reply (its last line)."""
    return json.loads(messages[-1]["content"].rstrip().splitlines()[-1])


@pytest.mark.parametrize("scale", [(0, 1), (-2, 2)])
@pytest.mark.parametrize("kind", ["judge", "score"])
def test_the_prompts_example_reply_is_on_the_scale_it_asks_for(scale, kind):
    """The prompt asks for "an integer from {lo} to {hi}" and then shows the reply's shape with "score": 3, which
    validate_reply refuses on 0..1 and -2..2 (a model that copies the example's score gets a repair request, then a
    failure counted against teacher.max_failure_rate). The example should pass the validation it is held to."""
    anchor = Anchor(id="a00", name="correctness", description="d", exemplar_reason="r", support=1)
    req = Request(kind, Doc("s/1", "s", "text", "A short record."), (anchor,) if kind == "score" else ())
    msgs = prompts.messages(req, scale, 12_000, 8)
    assert f"from {scale[0]}" in msgs[-1]["content"]  # the prompt states the scale
    validate_reply(_example_reply(msgs), req, scale, 8)
