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
    assert summary["by_source"] == {"s": {"group": "g", "records": 40, "teacher_kept_token_share": 0.5,
                                          "student_kept_token_share": 0.5}}


def test_the_summary_says_each_sources_kept_share_for_the_teacher_and_the_student():
    """Two sources of one group: the student keeps all of s and none of t, where the teacher keeps half of each."""
    n = 8
    table = pl.DataFrame({"record_id": [f"{s}/{i}" for s in "st" for i in range(n)], "source": ["s"] * n + ["t"] * n,
                          "group": "g", "split": "val", "n_tokens": [10] * n + [30] * n,
                          "teacher_score": [float(i) for _ in "st" for i in range(n)],
                          "student_score": [1.0] * n + [0.0] * n,
                          "kept_teacher": [i >= n // 2 for _ in "st" for i in range(n)],
                          "kept_student": [True] * n + [False] * n})
    by_source = oracle_summary(table)["by_source"]
    assert by_source["s"] == {"group": "g", "records": n, "teacher_kept_token_share": 0.5,
                              "student_kept_token_share": 1.0}
    assert by_source["t"]["teacher_kept_token_share"] == 0.5 and by_source["t"]["student_kept_token_share"] == 0.0


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


def _scored_project(tmp_path, sources: dict[str, dict[str, list[float]]]):
    """A group g with anchors a00, a01 and one score shard per source ({source: {anchor: scores}})."""
    lay = Layout(tmp_path)
    anchors = [Anchor(id=f"a0{i}", name=f"n{i}", description="d", exemplar_reason="r", support=1) for i in range(2)]
    save_rubric(Rubric(group="g", teacher="rules", prompt_version="p", sources=sorted(sources), anchors=anchors)
                .with_version(), lay.rubrics / "g.json")
    for s, cols in sources.items():
        folder = lay.scores / "g" / s
        folder.mkdir(parents=True)
        n = len(next(iter(cols.values())))
        pl.DataFrame({"record_id": [f"{s}/{i}" for i in range(n)], "group": "g", **cols}).write_parquet(
            folder / "part-00000.parquet")
    return lay


def test_a_source_with_no_val_record_is_judged_on_its_groups_figures_not_left_unscored(tmp_path):
    """The split is a hash per record, so a source with a few labels can have no val record at all. It is judged
    on the group's figures, as a source under min_val_records is; left out of the mask, it had no anchor on and
    every one of its records was unscored (never selected)."""
    from mira_core.manifests import mira_scores

    lay = _scored_project(tmp_path, {"s": {"a00": [1.0, 2.0, 3.0], "a01": [3.0, 3.0, 3.0]},
                                     "new": {"a00": [5.0, 1.0, 3.0], "a01": [3.0, 3.0, 3.0]}})
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    reports = {"g": {"anchors": {"a00": good, "a01": bad},
                     "sources": {"s": {"n_val": 50, "anchors": {"a00": good, "a01": bad}}}}}  # no "new": no val record
    scored, mask, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    new = mask.filter(pl.col("source") == "new")
    assert new["basis"].to_list() == ["group", "group"] and new["n_val"].to_list() == [0, 0]
    assert new.filter(pl.col("on"))["anchor"].to_list() == ["a00"]
    assert scored.filter(pl.col("record_id").str.starts_with("new/"))["score"].is_not_nan().all()
    assert own.units == {}


def test_a_held_out_source_is_never_named_as_having_no_reliable_anchor(tmp_path):
    """A held-out source has no labels (label skips it), so it is judged on its group's figures; when they fail
    every anchor it used to be listed as no_reliable_anchor and given its own budget unit, so select warned about
    a source it never selects. It is still scored, on every anchor."""
    from mira_core.manifests import mira_scores

    lay = _scored_project(tmp_path, {"s": {"a00": [1.0, 2.0, 3.0], "a01": [3.0, 1.0, 2.0]},
                                     "h": {"a00": [5.0, 1.0, 3.0], "a01": [3.0, 2.0, 1.0]}})
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    reports = {"g": {"anchors": {"a00": bad, "a01": bad},  # the group's figures fail both anchors
                     "sources": {"s": {"n_val": 50, "anchors": {"a00": good, "a01": bad}}}}}
    _, _, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    assert own.units == {"h": "source:h"}  # not held out: a source with no reliable anchor keeps its own share
    scored, _, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams(held_out_sources=["h"]))
    assert own.units == {} and own.named()["no_reliable_anchor"] == []
    assert scored.filter(pl.col("record_id").str.starts_with("h/"))["score"].is_not_nan().all()


def test_anchors_are_standardised_over_the_records_that_compete(tmp_path):
    """A held-out source, a record a filter stage dropped and a source with no reliable anchor do not compete for
    the group's budget, so they do not set the scale of the anchors the competing sources are ranked on."""
    from mira_core.manifests import mira_scores

    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 3.0], "a01": [2.0, 4.0]},
                                     "b": {"a00": [2.0, 4.0, 100.0], "a01": [2.0, 4.0, 2.0]},
                                     "held": {"a00": [50.0, 60.0], "a01": [9.0, 9.0]},
                                     "none": {"a00": [-40.0, -30.0], "a01": [7.0, 8.0]}})
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    on = {"a": {"a00"}, "b": {"a00"}, "held": {"a00"}, "none": set()}
    reports = {"g": {"anchors": {"a00": good, "a01": good},
                     "sources": {s: {"n_val": 50, "anchors": {x: good if x in o else bad for x in ("a00", "a01")}}
                                 for s, o in on.items()}}}
    p = SelectParams(held_out_sources=["held"], worst_weight=0.0)
    competing = pl.Series(["a/0", "a/1", "b/0", "b/1", "none/0", "none/1"])  # b/2 dropped (a near-duplicate, say)
    _, _, own, scales = mira_scores(lay.scores, lay.rubrics, reports, p, competing)
    mean, sd = scales["g"]["a00"]
    np.testing.assert_allclose([mean, sd], [2.5, np.std([1.0, 3.0, 2.0, 4.0])])  # a and b's competing records only
    # a01 is on for no competing source: its scale comes from the source ranked on every anchor, which uses it
    np.testing.assert_allclose(scales["g"]["a01"], [7.5, 0.5])
    assert own.units == {"none": "source:none"}
    _, _, _, everything = mira_scores(lay.scores, lay.rubrics, reports, p)  # no competing ids: dropped ones count
    assert everything["g"]["a00"][0] > 2.5


def test_an_anchor_on_only_for_a_source_with_no_competing_record_takes_the_set_apart_sources_scale(tmp_path):
    """b is ranked on a01, but every b record was dropped by a filter stage: no competing record sets a01's
    scale, which must then come from the source ranked on every anchor, not stay (0, 1) (raw scores beside
    z-scores)."""
    from mira_core.manifests import mira_scores

    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 3.0], "a01": [2.0, 4.0]},
                                     "b": {"a00": [2.0, 4.0], "a01": [2.0, 4.0]},
                                     "none": {"a00": [5.0, 6.0], "a01": [7.0, 8.0]}})
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    on = {"a": {"a00"}, "b": {"a00", "a01"}, "none": set()}
    reports = {"g": {"anchors": {"a00": good, "a01": good},
                     "sources": {s: {"n_val": 50, "anchors": {x: good if x in o else bad for x in ("a00", "a01")}}
                                 for s, o in on.items()}}}
    competing = pl.Series(["a/0", "a/1", "none/0", "none/1"])
    _, _, _, scales = mira_scores(lay.scores, lay.rubrics, reports, SelectParams(worst_weight=0.0), competing)
    np.testing.assert_allclose(scales["g"]["a01"], [7.5, 0.5])
    np.testing.assert_allclose(scales["g"]["a00"], [2.0, 1.0])


def test_a_sources_dropped_records_do_not_move_the_scores_of_those_that_compete(tmp_path):
    """b's two near-duplicates (scored, never kept) score the floor on a01: scored with them, b's competing
    records must score as they do without them, worst-anchor term included."""
    from mira_core.manifests import mira_scores

    good = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}
    reports = {"g": {"anchors": {"a00": good, "a01": good},
                     "sources": {s: {"n_val": 50, "anchors": {"a00": good, "a01": good}} for s in ("a", "b")}}}
    a = {"a00": [1.0, 3.0], "a01": [2.0, 4.0]}
    with_dups = _scored_project(tmp_path / "dups", {"a": a, "b": {"a00": [2.0, 4.0, 5.0, 5.0],
                                                                  "a01": [3.0, 4.0, 1.0, 1.0]}})
    without = _scored_project(tmp_path / "clean", {"a": a, "b": {"a00": [2.0, 4.0], "a01": [3.0, 4.0]}})
    competing = pl.Series(["a/0", "a/1", "b/0", "b/1"])
    got, _, _, _ = mira_scores(with_dups.scores, with_dups.rubrics, reports, SelectParams(), competing)
    want, _, _, _ = mira_scores(without.scores, without.rubrics, reports, SelectParams(), competing)
    got = got.filter(pl.col("record_id").is_in(competing.implode())).sort("record_id")
    np.testing.assert_allclose(got["score"].to_numpy(), want.sort("record_id")["score"].to_numpy())


def test_removal_kept_is_also_reported_on_val_records_alone():
    """The students were fitted on the train labels: the val records are the out-of-sample comparison."""
    from mira_core.planted import evaluate_oracle, render_oracle

    truth = pl.DataFrame({"record_id": ["s/1", "s/2", "s/3", "s/4"], "source": "s",
                          "kind": ["good", "spam", "good", "spam"], "defect": [False, True, False, True]})
    oracle = pl.DataFrame({"record_id": ["s/1", "s/2", "s/3", "s/4"], "source": "s", "split": ["train", "train", "val",
                                                                                                "val"],
                           "n_tokens": [100, 100, 100, 100], "kept_teacher": [True, False, True, False],
                           "kept_student": [True, False, False, True]})
    o = evaluate_oracle(truth, oracle)
    assert o["broken_removal_kept"] == 0.5  # all labeled: the student keeps 1 of 2 broken records
    assert o["val"] == {"records": 2, "teacher_broken_kept": 0.0, "student_broken_kept": 1.0,
                        "broken_removal_kept": 0.0, "agreement": 0.0}
    assert any("On the 2 val records alone" in line and "keep 0.0% of the teacher's removal" in line
               for line in render_oracle(o))
    assert "val" not in evaluate_oracle(truth, oracle.drop("split"))  # a hand-made table without splits


# ---------------------------------------------------------------- the whole-corpus teacher oracle's scores
def _teacher(tmp_path):
    from mira_core.config import TeacherParams
    from mira_core.teachers import make_teacher

    return make_teacher(TeacherParams(), tmp_path, {})


def _corpus_shard(path, texts: dict[str, str]):
    from mira_core.io import write_parquet
    from mira_core.schema import CORPUS

    n = len(texts)
    rows = {"record_id": list(texts), "source": ["s"] * n, "format": ["code"] * n, "text": list(texts.values())}
    df = pl.DataFrame({c: rows.get(c, [None] * n) for c in CORPUS}, schema=CORPUS)
    return write_parquet(df, path)


def test_teacher_scores_are_the_teachers_labels_in_the_score_shards_order(tmp_path):
    from mira_core.labels import label_docs
    from mira_core.scoring import score_schema, teacher_score_shard
    from mira_core.teachers.base import Doc

    anchors = [Anchor(id="a00", name="parses", description="d", exemplar_reason="r", support=1),
               Anchor(id="a01", name="docstring_density", description="d", exemplar_reason="r", support=1)]
    rubric = Rubric(group="g", teacher="rules", prompt_version="p", sources=["s"], anchors=anchors).with_version()
    texts = {"s/good": 'def f(x):\n    """Double x."""\n    return 2 * x\n',
             "s/broken": "def f(x:\n    return (2 * x\n", "s/bare": "def g(y):\n    return y + 1\n"}
    corpus = _corpus_shard(tmp_path / "corpus" / "part-00000.parquet", texts)
    order = ["s/bare", "s/good", "s/broken"]  # not the corpus's order: the score shard's is kept
    student = tmp_path / "scores" / "g" / "s" / "part-00000.parquet"
    student.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": order, "group": "g", "a00": [9.0] * 3, "a01": [9.0] * 3, "student_version": "v",
                  "coverage": 1.0}, schema=score_schema(["a00", "a01"])).write_parquet(student)
    teacher = _teacher(tmp_path)
    assert teacher_score_shard(student, corpus, rubric, teacher, student) == {"records": 3, "failed": 0}
    got = pl.read_parquet(student)
    assert got.schema == pl.Schema(score_schema(["a00", "a01"])) and got["record_id"].to_list() == order
    labels, _ = label_docs([Doc(i, "s", "code", texts[i]) for i in order], dict.fromkeys(order, "train"), rubric,
                           teacher)
    assert got["a00"].to_list() == labels["a00"].cast(pl.Float64).to_list()
    assert got["a01"].to_list() == labels["a01"].cast(pl.Float64).to_list()
    assert got.filter(pl.col("record_id") == "s/broken")["a00"].item() < got.filter(
        pl.col("record_id") == "s/good")["a00"].item()
    assert set(got["student_version"]) == {"teacher:rules/rules-v1"}


def test_teacher_scores_name_a_record_missing_from_the_corpus_shard(tmp_path):
    from mira_core.errors import ConfigError
    from mira_core.scoring import score_schema, teacher_score_shard

    anchors = [Anchor(id="a00", name="parses", description="d", exemplar_reason="r", support=1)]
    rubric = Rubric(group="g", teacher="rules", prompt_version="p", sources=["s"], anchors=anchors).with_version()
    corpus = _corpus_shard(tmp_path / "c.parquet", {"s/1": "x = 1\n"})
    shard = tmp_path / "s.parquet"
    pl.DataFrame({"record_id": ["s/1", "s/gone"], "group": "g", "a00": [1.0, 1.0], "student_version": "v",
                  "coverage": 1.0}, schema=score_schema(["a00"])).write_parquet(shard)
    with pytest.raises(ConfigError, match="s/gone"):
        teacher_score_shard(shard, corpus, rubric, _teacher(tmp_path), shard)


def test_a_record_the_teacher_fails_on_gets_null_scores_and_is_counted(tmp_path):
    from mira_core.scoring import score_schema, teacher_score_shard

    # the rules teacher has no dimension for this anchor: a permanent failure per record
    anchors = [Anchor(id="a00", name="overall vibes", description="d", exemplar_reason="r", support=1)]
    rubric = Rubric(group="g", teacher="rules", prompt_version="p", sources=["s"], anchors=anchors).with_version()
    corpus = _corpus_shard(tmp_path / "c.parquet", {"s/1": "x = 1\n"})
    shard = tmp_path / "s.parquet"
    pl.DataFrame({"record_id": ["s/1"], "group": "g", "a00": [4.0], "student_version": "v", "coverage": 1.0},
                 schema=score_schema(["a00"])).write_parquet(shard)
    assert teacher_score_shard(shard, corpus, rubric, _teacher(tmp_path), shard) == {"records": 1, "failed": 1}
    assert pl.read_parquet(shard)["a00"].to_list() == [None]


def test_a_source_none_of_whose_records_compete_links_no_parts_of_its_group(tmp_path):
    """s is ranked on a00 alone and t on a01 alone, so t keeps its own share; x is on both, but every one of its
    records is a near-duplicate (none competes), so it must not join s and t into one part."""
    from mira_core.manifests import mira_scores

    lay = _scored_project(tmp_path, {s: {"a00": [1.0, 2.0, 3.0], "a01": [3.0, 1.0, 2.0]} for s in ("s", "t", "x")})
    good, bad = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}, {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    on = {"s": {"a00"}, "t": {"a01"}, "x": {"a00", "a01"}}
    reports = {"g": {"anchors": {"a00": good, "a01": good},
                     "sources": {s: {"n_val": 50, "anchors": {a: good if a in ons else bad for a in ("a00", "a01")}}
                                 for s, ons in on.items()}}}
    competing = pl.Series([f"{s}/{i}" for s in ("s", "t") for i in range(3)])
    _, _, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams(), competing)
    assert own.units == {"t": "source:t"}
    _, _, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())  # every x record competes: linked
    assert own.units == {}


def test_the_oracle_applies_the_selections_min_score(project):
    """min_score drops records below it even within budget; the oracle's two cuts drop them too, or its overlap
    compared cuts the selection never makes."""
    lay, index, teacher, mask = project
    scored = pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(teacher))], "score": teacher - 3})
    p = SelectParams(budget=0.5, worst_weight=0, standardize=False, min_score=4.5)
    table = oracle_table(lay.labels, lay.rubrics, index, scored, mask, {}, p, [])
    assert table.filter(pl.col("kept_teacher"))["teacher_score"].min() >= 4.5  # the 5s only, not the top half
    assert table["kept_teacher"].sum() == int((teacher == 5).sum()) < 20
    assert table["kept_student"].sum() == 0  # every student score is below 4.5


def test_with_weights_the_oracle_keeps_each_groups_share_of_its_labeled_tokens(tmp_path):
    """g and h have 100 records each in the corpus, g 40 labeled and h 10. Weights g 0.8, h 0.2 at budget 0.5 keep
    80 % of g's tokens and 20 % of h's; the oracle keeps those shares of each group's labeled records (32 and 2),
    not half of each, nor the weights applied to the labeled sample's proportions."""
    lay = Layout(tmp_path)
    lay.labels.mkdir(parents=True)
    anchor = [Anchor(id="a00", name="parses", description="d", exemplar_reason="r", support=1)]
    ids, masks = [], []
    for g, n_labeled in (("g", 40), ("h", 10)):
        save_rubric(Rubric(group=g, teacher="rules", prompt_version="p", sources=[f"{g}s"], anchors=anchor)
                    .with_version(), lay.rubrics / f"{g}.json")
        score = np.arange(n_labeled, dtype=float)
        pl.DataFrame({"record_id": [f"{g}s/{i:03d}" for i in range(n_labeled)], "source": f"{g}s",
                      "split": "val", "a00": score}).write_parquet(lay.labels / f"{g}.parquet")
        ids += [(f"{g}s/{i:03d}", f"{g}s", g) for i in range(100)]
        masks.append({"group": g, "source": f"{g}s", "anchor": "a00", "on": True})
    index = pl.DataFrame(ids, schema=["record_id", "source", "group"], orient="row").with_columns(
        n_tokens=pl.lit(10), held_out=pl.lit(False))
    scored = pl.DataFrame({"record_id": index["record_id"],
                           "score": index["record_id"].str.slice(-3).cast(pl.Float64)})
    p = SelectParams(budget=0.5, worst_weight=0, standardize=False, weights={"g": 0.8, "h": 0.2})
    table = oracle_table(lay.labels, lay.rubrics, index, scored, pl.DataFrame(masks), {}, p, [])
    kept = dict(table.group_by("group").agg(pl.col("kept_teacher").sum()).iter_rows())
    assert kept == {"g": 32, "h": 2}
    assert table.filter(pl.col("kept_teacher"))["record_id"].sort().to_list()[-2:] == ["hs/008", "hs/009"]
    assert table["kept_student"].equals(table["kept_teacher"])  # the same order: the same cut
