"""Tests of the teacher-oracle reference: the labeled records scored by the teacher's own labels, aggregated and
selected exactly as the student's scores are, beside the student's selection."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import SelectParams
from mira_core.layout import Layout
from mira_core.manifests import oracle_summary, oracle_table
from mira_core.rubric import Anchor, Rubric, save_rubric


@pytest.fixture
def project(tmp_path):
    lay = Layout(tmp_path)
    anchors = [Anchor(id=f"a0{i}", name=n, description=n, exemplar_reason="r", support=1)
               for i, n in enumerate(("parses", "docs"))]
    save_rubric(Rubric(group="g", teacher="rules", prompt_version="p", sources=["s", "t"], anchors=anchors)
                .with_version(), lay.rubrics / "g.json")
    n = 40
    rng = np.random.default_rng(0)
    teacher = rng.integers(1, 6, size=n).astype(float)
    labels = pl.DataFrame({"record_id": [f"s/{i}" for i in range(n)], "source": ["s"] * n,
                           "split": ["val" if i % 2 else "train" for i in range(n)],
                           "a00": teacher, "a01": np.full(n, 3.0)})
    lay.labels.mkdir(parents=True)
    labels.write_parquet(lay.labels / "g.parquet")
    index = pl.DataFrame({"record_id": [f"s/{i}" for i in range(n)] + ["s/unlabeled"], "source": "s", "group": "g",
                          "n_tokens": 10, "held_out": False})
    mask = pl.DataFrame({"group": "g", "source": "s", "anchor": ["a00", "a01"], "on": [True, False]})
    return lay, index, teacher, mask


def test_a_student_that_ranks_as_the_teacher_keeps_what_the_teacher_keeps(project):
    lay, index, teacher, mask = project
    scored = pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(teacher))] + ["s/unlabeled"],
                           "score": [*(teacher * 0.5 + 1), 9.0]})  # same order, same ties
    scales = {"g": {"a00": (3.0, 1.0), "a01": (3.0, 1.0)}}
    table = oracle_table(lay.labels, lay.rubrics, index, scored, mask, scales, SelectParams(budget=0.5, worst_weight=0), [])
    assert table.height == len(teacher) and "s/unlabeled" not in table["record_id"].to_list()
    np.testing.assert_allclose(table.sort("record_id")["teacher_score"].to_numpy(),
                               pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(teacher))], "t": teacher - 3})
                               .sort("record_id")["t"].to_numpy())  # only the unmasked anchor, standardised
    assert table["kept_teacher"].sum() == table["kept_student"].sum() == 20
    summary = oracle_summary(table)
    assert summary["all"]["spearman"] == 1.0 and summary["all"]["kept_overlap"] == 1.0
    assert set(summary["by_group"]) == {"g"}


def test_a_student_that_ranks_backwards_keeps_little_of_it(project):
    lay, index, teacher, mask = project
    scored = pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(teacher))],
                           "score": -teacher + 0.01 * np.arange(len(teacher))})
    table = oracle_table(lay.labels, lay.rubrics, index, scored, mask, {}, SelectParams(budget=0.5, standardize=False), [])
    summary = oracle_summary(table)
    assert summary["all"]["spearman"] < -0.9
    assert summary["all"]["teacher_kept_share_kept_by_student"] < 0.3


def test_mira_scores_sets_apart_a_source_sharing_no_anchor_and_names_why(tmp_path):
    """s and t are ranked on a00; d only on a02; e on nothing reliable. With the knob on, d takes its own unit and
    is named no_shared_anchor, e no_reliable_anchor; off, d is pooled with the group and only e is set apart.
    The scores are the same either way: only where d's budget is counted changes."""
    from mira_core.manifests import NO_RELIABLE, NO_SHARED, mira_scores

    lay = Layout(tmp_path)
    anchors = [Anchor(id=f"a0{i}", name=f"n{i}", description="d", exemplar_reason="r", support=1) for i in range(3)]
    save_rubric(Rubric(group="g", teacher="rules", prompt_version="p", sources=list("stde"), anchors=anchors)
                .with_version(), lay.rubrics / "g.json")
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    on = {"s": {"a00"}, "t": {"a00", "a01"}, "d": {"a02"}, "e": set()}
    reports = {"g": {"anchors": {a.id: good for a in anchors},
                     "sources": {s: {"n_val": 50, "anchors": {a.id: good if a.id in ons else bad for a in anchors}}
                                 for s, ons in on.items()}}}
    for s in on:
        folder = lay.scores / "g" / s
        folder.mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{s}/{i}" for i in range(4)], "group": "g", "a00": [1.0, 2.0, 3.0, 4.0],
                      "a01": [2.0, 2.0, 3.0, 3.0], "a02": [5.0, 4.0, 5.0, 4.0]}).write_parquet(folder / "part-00000.parquet")
    scored, mask, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    assert own.units == {"e": "source:e", "d": "source:d"}
    assert own.named() == {NO_RELIABLE: ["e"], NO_SHARED: ["d"]}
    scored_off, _, off, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams(unshared_own_budget=False))
    assert off.units == {"e": "source:e"} and off.named() == {NO_RELIABLE: ["e"], NO_SHARED: []}
    assert scored.sort("record_id").equals(scored_off.sort("record_id"))
    assert mask.filter(pl.col("on")).height == 4  # s: a00; t: a00, a01; d: a02
