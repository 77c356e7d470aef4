"""Review s42 of the students: each test failed before its fix.

Tested here: an embedding that is not finite (refused by name, as a statistic already was: an mlp head fitted on one
NaN scored every record NaN, trees walked it to an arbitrary leaf), and a val record the teacher left unlabeled,
which `agreement` counted as one the student left unscored.
"""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.errors import ConfigError
from mira_core.reliability import agreement
from mira_core.student_params import HeadParams, TreesParams
from mira_core.students.base import Inputs
from mira_core.students.head import HeadStudent
from mira_core.students.trees import TreesStudent
from tests.mira_core.students.test_review_kinds_s28 import ANCHORS, SCALE, _data


def _student(kind: str):
    if kind == "trees":
        return TreesStudent(TreesParams(n_estimators=5), ANCHORS, SCALE)
    return HeadStudent(HeadParams(model=kind.removeprefix("head_"), epochs=5), ANCHORS, SCALE)


@pytest.mark.parametrize("kind", ["head_mlp", "head_ridge", "trees"])
def test_embeddings_that_are_not_finite_are_refused_by_name(kind):
    x, y = _data()
    bad = x.embeddings.copy()
    bad[3, 2] = np.nan
    student = _student(kind)
    with pytest.raises(ConfigError, match=f"1 embedding value\\(s\\) given to the {student.kind} student are not "
                                          "finite"):
        student.fit(Inputs(texts=x.texts, embeddings=bad, stats=x.stats), y)
    student.fit(x, y)
    assert np.isfinite(student.predict(x)).all()
    bad[3, 2] = np.inf
    with pytest.raises(ConfigError, match="not finite"):
        student.predict(Inputs(texts=x.texts, embeddings=bad, stats=x.stats))


def test_a_val_label_the_teacher_left_missing_is_not_counted_as_unscored():
    # the student scored 3 of 4 records; the 4th's teacher label is missing, which is not the student's to answer
    a = agreement(np.array([1.0, 2.0, np.nan, 4.0]), np.array([1.0, 2.0, 3.0, np.nan]))
    assert a["n"] == 2 and a["unscored"] == 1
