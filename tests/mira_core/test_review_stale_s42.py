"""Review s42: a stage run alone on outputs made for another rubric or grouping is refused, not run on them.

`mira stage discover` (or group) alone, then `select`: the score columns a00, a01 ... were read as the new rubric's
anchors and the selection exited 0. `dvc repro` re-runs label, distill and score after either, and each test here
failed before the check.
"""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.config import SelectParams
from mira_core.errors import ConfigError
from mira_core.layout import Layout
from mira_core.manifests import mira_scores
from mira_core.rubric import Anchor, Rubric, check_rubric_sources, save_rubric

GOOD = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}


def _project(tmp_path) -> tuple[Layout, Rubric]:
    lay = Layout(tmp_path)
    anchors = [Anchor(id=f"a0{i}", name=f"n{i}", description="d", exemplar_reason="r", support=1) for i in range(2)]
    rubric = Rubric(group="g", teacher="rules", prompt_version="p", sources=["s", "t"], anchors=anchors).with_version()
    save_rubric(rubric, lay.rubrics / "g.json")
    for s in "st":
        folder = lay.scores / "g" / s
        folder.mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{s}/{i}" for i in range(4)], "group": "g", "a00": [1.0, 2.0, 3.0, 4.0],
                      "a01": [2.0, 2.0, 3.0, 3.0]}).write_parquet(folder / "part-00000.parquet")
    return lay, rubric


def _reports(version: str | None) -> dict:
    figures = {"anchors": {"a00": GOOD, "a01": GOOD}}
    return {"g": {**figures, "rubric_version": version,
                  "sources": {s: {"n_val": 50, **figures} for s in "st"}}}


def test_select_refuses_a_student_distilled_on_another_rubric(tmp_path):
    lay, rubric = _project(tmp_path)
    scored, *_ = mira_scores(lay.scores, lay.rubrics, _reports(rubric.version), SelectParams())
    assert scored.height == 8
    mira_scores(lay.scores, lay.rubrics, _reports(None), SelectParams())  # an older students.json: not checked
    with pytest.raises(ConfigError, match=r"g\.json is rubric .*distilled on rubric 0ld \(metrics/students.json\): "
                                          r"discover ran again since; run label, distill and score again"):
        mira_scores(lay.scores, lay.rubrics, _reports("0ld"), SelectParams())


def test_select_refuses_a_rubric_discovered_for_other_sources_than_its_group_holds(tmp_path):
    lay, rubric = _project(tmp_path)
    reports = _reports(rubric.version)
    mira_scores(lay.scores, lay.rubrics, reports, SelectParams(), groups={"s": "g", "t": "g"})
    # a held-out source is not judged: the rubric names the others
    mira_scores(lay.scores, lay.rubrics, reports, SelectParams(held_out_sources=["u"]),
                groups={"s": "g", "t": "g", "u": "g"})
    with pytest.raises(ConfigError, match=r"rubric g was discovered for the sources \['s', 't'\], and the group now "
                                          r"holds \['s'\]"):
        mira_scores(lay.scores, lay.rubrics, reports, SelectParams(), groups={"s": "g", "t": "h"})


def test_label_refuses_a_rubric_of_other_sources():
    rubric = Rubric(group="g", teacher="rules", prompt_version="p", sources=["code", "qa"], anchors=[]).with_version()
    check_rubric_sources(rubric, ["qa", "code"])  # the order is not the group's
    with pytest.raises(ConfigError, match=r"now holds \['code', 'qa', 'web'\].*run discover, label, distill and score"):
        check_rubric_sources(rubric, ["code", "qa", "web"])
