"""Student-teacher agreement (`mira_core.reliability`) and the (source, anchor) mask the select stage builds from it.

The figures are worked out by hand on small val frames; the mask tests run the real path, val labels and
student predictions -> `student_report` -> `selection.reliability_mask`, so a pair where the student disagrees
with the teacher is masked and one where it agrees is kept.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import SelectParams
from mira_core.reliability import (
    agreement,
    mae,
    median_spearman_interval,
    self_agreement,
    somers_d,
    spearman,
    spearman_ceiling,
    student_report,
)
from mira_core.selection import _judge, mask_summary, reliability_mask

ANCHORS = ["a00", "a01"]


def val_frame(truth: dict[str, list[list[int]]]) -> pl.DataFrame:
    """source -> rows of anchor scores: the val labels."""
    rows = [{"record_id": f"{s}/{i}", "source": s, **dict(zip(ANCHORS, r, strict=True))}
            for s, rs in truth.items() for i, r in enumerate(rs)]
    return pl.DataFrame(rows)


def mask_of(report: dict, **select) -> dict[tuple[str, str], tuple[bool, str, str]]:
    m = reliability_mask({"g": report}, SelectParams(**select))
    return {(r["source"], r["anchor"]): (r["on"], r["basis"], r["why"]) for r in m.iter_rows(named=True)}


def test_figures_by_hand():
    truth, pred = np.array([1, 2, 3, 4]), np.array([1.0, 2.0, 4.0, 3.0])
    assert mae(truth, pred) == 0.5  # |0| + |0| + |1| + |1|, over 4
    assert spearman(truth, pred) == 0.8  # 1 - 6 * (1 + 1) / (4 * 15): one swapped pair
    assert spearman(truth, -pred) == -0.8
    assert somers_d(truth, pred) == round(4 / 6, 4)  # 6 pairs the teacher orders, 5 kept and 1 reversed
    assert somers_d(truth, -pred) == -round(4 / 6, 4)
    assert agreement(truth, pred) == {"n": 4, "mae": 0.5, "spearman": 0.8, "somers_d": round(4 / 6, 4),
                                      "spearman_ceiling": 1.0, "teacher_constant": False, "unscored": 0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_somers_d_is_scipys_with_ties_on_both_sides(seed):
    from scipy.stats import somersd

    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, 300).astype(float)  # a 1..5 teacher: many ties
    pred = np.round(truth + rng.normal(0, 1.5, 300), 1)  # a student rounded to ties of its own
    assert somers_d(truth, pred) == pytest.approx(somersd(truth, pred).statistic, abs=1e-4)


def test_somers_d_undefined_without_a_teacher_order_or_for_a_constant_student():
    assert somers_d(np.array([3, 3, 3, 3]), np.array([1, 2, 3, 4])) is None
    assert somers_d(np.array([1, 2]), np.array([1, 2])) is None
    assert somers_d(np.array([1, 2, 3, 4]), np.full(4, 2.5)) is None  # as Spearman: a constant side
    on, why = _judge({"mae": 0.5, "spearman": None, "somers_d": None}, SelectParams(tau_rank=-1.0))
    assert not on and why == "Somers' D undefined (a constant side)"  # even at the lowest threshold


def _rare_defect(n: int = 100, rare: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A teacher that scores 3 of 100 records 1 (a rare defect) and the rest 5, and a student that ranks all
    three below every other record, with the spread inside the teacher's tie that any regression has."""
    rng = np.random.default_rng(seed)
    truth = np.array([1.0] * rare + [5.0] * (n - rare))
    pred = np.where(truth == 1, rng.uniform(1.0, 1.5, n), rng.uniform(4.6, 5.1, n))
    return truth, pred


def test_spearman_caps_a_perfect_student_on_a_rare_defect_and_somers_d_does_not():
    truth, pred = _rare_defect()
    q = 0.03
    # every pair the teacher orders is ordered right, yet Spearman is held to sqrt(3 q (1 - q)), below 0.3
    assert spearman(truth, pred) == pytest.approx(np.sqrt(3 * q * (1 - q)), abs=0.01) and spearman(truth, pred) < 0.3
    assert spearman_ceiling(truth) == spearman(truth, pred)  # the order inside a tie does not move it
    assert somers_d(truth, pred) == 1.0
    shuffled = np.random.default_rng(1).permutation(pred)  # a student that learned nothing
    assert abs(somers_d(truth, shuffled)) < 0.5 and spearman(truth, shuffled) < 0.3


def test_the_mask_keeps_a_rare_defect_anchor_the_student_orders_right_unless_it_reads_spearman():
    truth, pred = _rare_defect()
    rng = np.random.default_rng(2)
    val = val_frame({"s": np.column_stack([truth, rng.integers(1, 6, len(truth))]).astype(int).tolist()})
    student = np.column_stack([pred, rng.uniform(1, 5, len(truth))])  # a01: noise
    report = student_report(val, student, ANCHORS, np.array([4.9, 3.0]))
    d = mask_of(report, tau_mae=0.8, tau_rank=0.3, min_val_records=20)
    r = mask_of(report, tau_mae=0.8, tau_rank=0.3, min_val_records=20, agreement="spearman")
    assert d[("s", "a00")][0] and not r[("s", "a00")][0]
    assert r[("s", "a00")][2].startswith("Spearman 0.") and report["sources"]["s"]["anchors"]["a00"]["spearman"] < 0.3
    assert not d[("s", "a01")][0] and not r[("s", "a01")][0]  # noise fails under either statistic
    summary = mask_summary(reliability_mask({"g": report}, SelectParams(tau_mae=10.0)), SelectParams(tau_mae=10.0))
    assert summary["on"] == 1 and summary["agreement"] == "somers_d"
    assert summary["on_if"] == {"somers_d": 1, "spearman": 0}


def test_the_mask_summary_leaves_held_out_sources_out_of_its_counts():
    """A held-out source has no labels of its own (label skips it), so it is judged on its group's figures; its pairs
    decide nothing (no selection keeps its records) and would count the group's agreement a second time."""
    truth, pred = _rare_defect()
    rng = np.random.default_rng(2)
    val = val_frame({"s": np.column_stack([truth, rng.integers(1, 6, len(truth))]).astype(int).tolist()})
    report = student_report(val, np.column_stack([pred, rng.uniform(1, 5, len(truth))]), ANCHORS, np.array([4.9, 3.0]))
    p = SelectParams(tau_mae=10.0, held_out_sources=["h"])
    mask = reliability_mask({"g": report}, p, {"g": ["s", "h"]})
    assert mask.filter(pl.col("source") == "h")["basis"].to_list() == ["group", "group"]
    summary = mask_summary(mask, p)
    assert (summary["on"], summary["off"], summary["held_out_pairs"]) == (1, 1, 2)
    assert summary["by_group"] == {"g": {"on": 1, "off": 1}} and summary["on_if"] == {"somers_d": 1, "spearman": 0}


@pytest.mark.parametrize("a, b", [
    ([1, 2], [1, 2]),  # fewer than 3 pairs: no ranking to speak of
    ([3, 3, 3, 3], [1, 2, 3, 4]),  # the teacher gave one score
    ([1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5]),  # the student learned one value
])
def test_spearman_is_undefined_not_a_number(a, b):
    assert spearman(np.array(a), np.array(b)) is None


def test_no_pairs_have_no_mae():
    assert mae(np.array([]), np.array([])) is None
    assert agreement(np.array([]), np.array([]))["n"] == 0


def test_student_report_overall_per_source_and_the_constant_baseline():
    val = val_frame({"s1": [[1, 5], [2, 4], [3, 3], [4, 2]], "s2": [[5, 1], [4, 2], [3, 3]]})
    truth = val.select(ANCHORS).to_numpy().astype(float)
    pred = truth.copy()
    pred[0, 0] = 2.0  # one error of 1 on s1/a00
    train_mean = np.array([3.0, 3.0])
    r = student_report(val, pred, ANCHORS, train_mean)
    assert r["sources"]["s1"]["n_val"] == 4 and r["sources"]["s2"]["n_val"] == 3
    assert r["sources"]["s1"]["anchors"]["a00"]["mae"] == 0.25
    assert r["sources"]["s2"]["anchors"]["a00"]["mae"] == 0.0
    assert r["anchors"]["a00"]["mae"] == round(1 / 7, 4)  # one error over the 7 val records
    # the constant predictor (the train mean, 3) is off by 2, 1, 0, 1 on s1 and 2, 1, 0 on s2 for a00
    assert r["anchors"]["a00"]["const_mae"] == round(7 / 7, 4)
    assert r["mean_mae"] == round(1 / 14, 4) and r["const_mean_mae"] == 1.0
    assert r["anchors"]["a01"]["spearman"] == 1.0 and r["median_spearman"] is not None


def _student_vs_teacher(n: int = 30) -> tuple[pl.DataFrame, np.ndarray]:
    """Two sources of n val records each: on `agree` the student tracks the teacher on both anchors; on
    `disagree` it ranks a00 backwards (a01 still tracked)."""
    rng = np.random.default_rng(0)
    truth = {s: rng.integers(1, 6, size=(n, 2)).tolist() for s in ("agree", "disagree")}
    val = val_frame(truth)
    t = val.select(ANCHORS).to_numpy().astype(float)
    pred = t + rng.normal(0, 0.2, size=t.shape)  # close to the teacher everywhere ...
    off = (val["source"] == "disagree").to_numpy()
    pred[off, 0] = 6.0 - t[off, 0]  # ... except a00 of `disagree`: the scale turned upside down
    return val, pred


def test_a_pair_where_the_student_disagrees_is_masked_and_one_where_it_agrees_is_kept():
    val, pred = _student_vs_teacher()
    report = student_report(val, pred, ANCHORS, np.array([3.0, 3.0]))
    got = mask_of(report, tau_mae=0.8, tau_rank=0.3, min_val_records=20)
    assert got[("agree", "a00")][:2] == (True, "source")
    assert got[("agree", "a01")][:2] == (True, "source")
    assert got[("disagree", "a01")][:2] == (True, "source")  # one bad anchor does not take the source's others
    on, basis, why = got[("disagree", "a00")]
    assert (on, basis) == (False, "source") and why.startswith("MAE")
    # with the MAE threshold out of the way it is the ranking that masks it: both statistics are about -1
    figures = report["sources"]["disagree"]["anchors"]["a00"]
    on, _, why = mask_of(report, tau_mae=10.0, tau_rank=0.3, min_val_records=20)[("disagree", "a00")]
    assert not on and why.startswith("Somers' D -") and figures["somers_d"] < -0.9
    on, _, why = mask_of(report, tau_mae=10.0, tau_rank=0.3, min_val_records=20,
                         agreement="spearman")[("disagree", "a00")]
    assert not on and why.startswith("Spearman -") and figures["spearman"] < -0.9


def test_thresholds_are_inclusive_bounds():
    # s: MAE 0.5 and Spearman 0.8 on a00 (the hand-worked case above), perfect on a01
    val = val_frame({"s": [[1, 1], [2, 2], [3, 3], [4, 4]]})
    pred = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 3.0], [3.0, 4.0]])
    report = student_report(val, pred, ANCHORS, np.array([2.5, 2.5]))

    def on(**kw) -> bool:
        return mask_of(report, min_val_records=1, **kw)[("s", "a00")][0]

    assert on(tau_mae=0.5, tau_rank=0.8, agreement="spearman")  # exactly at both thresholds: kept
    assert not on(tau_mae=0.49, tau_rank=0.8, agreement="spearman")  # MAE above tau_mae
    assert not on(tau_mae=0.5, tau_rank=0.81, agreement="spearman")  # Spearman below tau_rank
    assert on(tau_mae=0.5, tau_rank=0.6667) and not on(tau_mae=0.5, tau_rank=0.6668)  # Somers' D is 4/6
    assert mask_of(report, min_val_records=1, tau_mae=0.01, tau_rank=0.99)[("s", "a01")][0]


def test_a_source_with_too_few_val_labels_is_judged_on_its_groups_figures():
    val, pred = _student_vs_teacher()
    # `few` has 5 val records on which the student is perfect; alone they would pass, but 5 is too few to
    # trust, so the group's figures (dragged down by `disagree` on a00) decide for it
    few = val_frame({"few": [[1, 2], [2, 3], [3, 4], [4, 5], [5, 1]]})
    val = pl.concat([val, few])
    pred = np.vstack([pred, few.select(ANCHORS).to_numpy().astype(float)])
    report = student_report(val, pred, ANCHORS, np.array([3.0, 3.0]))
    assert report["sources"]["few"]["anchors"]["a00"]["mae"] == 0.0
    got = mask_of(report, tau_mae=0.8, tau_rank=0.3, min_val_records=20)
    # over the group, a00 is off by ~2.4 on half the records (`disagree`): MAE ~1.2, above tau_mae
    assert report["anchors"]["a00"]["mae"] > 0.8
    assert got[("few", "a00")][:2] == (False, "group")  # masked, although its own 5 records are perfect
    assert got[("few", "a01")][:2] == (True, "group")
    # with the bar at 5 records its own figures count, and it is kept on both
    own = mask_of(report, tau_mae=0.8, tau_rank=0.3, min_val_records=5)
    assert own[("few", "a00")][:2] == (True, "source") and own[("few", "a01")][:2] == (True, "source")


def test_two_val_records_give_no_spearman_and_so_no_anchor():
    val = val_frame({"s": [[1, 1], [5, 5]]})
    report = student_report(val, val.select(ANCHORS).to_numpy().astype(float), ANCHORS, np.array([3.0, 3.0]))
    got = mask_of(report, min_val_records=1)
    assert got[("s", "a00")] == (False, "source", "Somers' D undefined (fewer than 3 scored val records)")
    assert report["median_spearman"] is None


def test_self_agreement_counts_only_records_labeled_twice():
    first = pl.DataFrame({"record_id": ["r1", "r2", "r3", "r4"], "a00": [1, 2, 3, 4], "a01": [5, 5, 5, 5]})
    second = pl.DataFrame({"record_id": ["r4", "r3", "r2", "r9"], "a00": [4, 3, 1, 2], "a01": [5, 5, 5, 4]})
    out = self_agreement(first, second, ANCHORS)
    # r2, r3, r4 were labeled twice (joined by id, not by row); r1 and r9 only once
    assert out["a00"]["n"] == 3
    assert out["a00"]["exact"] == round(2 / 3, 4) and out["a00"]["mae"] == round(1 / 3, 4)
    assert out["a00"]["spearman"] == 1.0  # (2, 3, 4) against (1, 3, 4): same order
    assert out["a01"] == {"n": 3, "mae": 0.0, "spearman": None, "somers_d": None, "spearman_ceiling": None,
                          "teacher_constant": True, "unscored": 0, "exact": 1.0}


def test_unscored_records_are_left_out_and_counted_and_an_anchor_with_none_scored_is_off():
    truth = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([1.0, np.nan, 3.0, 4.0, np.nan])  # a generative student's two unparseable replies
    a = agreement(truth, pred)
    assert a["n"] == 3 and a["unscored"] == 2 and a["mae"] == 0.0 and a["spearman"] == 1.0
    none = agreement(truth, np.full(5, np.nan))
    assert none["mae"] is None and none["spearman"] is None and none["unscored"] == 5
    on, why = _judge(none, SelectParams())
    assert not on and why == "none of 5 val records scored"  # NaN never passes the mask


def test_median_spearman_interval_holds_the_figure_and_shrinks_with_agreement():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(200, 3))
    assert median_spearman_interval(truth, truth * 2 + 1, n_boot=50) == (1.0, 1.0)  # same order on every draw
    noise = rng.normal(size=(200, 3))
    lo, hi = median_spearman_interval(truth, noise, n_boot=200)
    assert lo < 0 < hi and hi - lo < 0.4  # no agreement: the interval straddles 0
    half = truth + rng.normal(size=(200, 3))  # rho about 0.7
    lo, hi = median_spearman_interval(truth, half, n_boot=200)
    point = np.median([spearman(truth[:, j], half[:, j]) for j in range(3)])
    assert lo < point < hi and lo > 0.5 and hi < 0.85
    assert median_spearman_interval(truth, half, n_boot=200) == (lo, hi)  # seeded
    unscored = half.copy()
    unscored[0, :] = np.nan  # a record the student could not score is left out, not a NaN interval
    assert all(np.isfinite(median_spearman_interval(truth, unscored, n_boot=50)))
    # a constant teacher on every anchor has no Spearman on any draw
    assert median_spearman_interval(np.ones((20, 2)), rng.normal(size=(20, 2)), n_boot=20) is None


def test_rank_statistics_are_read_from_the_unclipped_order_selection_uses():
    """Clipped at the top of the scale, four records the student orders correctly tie at 5 and Somers' D halves;
    selection ranks the unclipped scores, so the mask judges those. MAE stays on the teacher's scale."""
    from mira_core.reliability import agreement

    teacher = np.array([1.0, 4.0, 5.0, 5.0, 4.0])
    ranked = np.array([1.0, 5.2, 5.5, 5.6, 5.1])
    clipped = np.minimum(ranked, 5.0)
    assert agreement(teacher, clipped)["somers_d"] == pytest.approx(0.5)
    both = agreement(teacher, clipped, ranked)
    assert both["somers_d"] == pytest.approx(1.0)
    assert both["mae"] == agreement(teacher, clipped)["mae"]


def test_one_unscored_record_does_not_make_the_groups_mae_nan():
    from mira_core.reliability import student_report

    val = pl.DataFrame({"record_id": ["s/1", "s/2", "s/3"], "source": "s", "a00": [1.0, 3.0, 5.0]})
    report = student_report(val, np.array([[1.0], [np.nan], [4.0]]), ["a00"], np.array([3.0]))
    assert report["mean_mae"] == 0.5 and report["anchors"]["a00"]["unscored"] == 1
    # the constant predictor beside it is judged on the same two records (|1-3| and |5-3|), not on all three
    assert report["anchors"]["a00"]["const_mae"] == 2.0 and report["const_mean_mae"] == 2.0


def test_self_agreement_leaves_a_missing_score_out_of_exact_agreement_as_of_the_rest():
    first = pl.DataFrame({"record_id": ["r1", "r2", "r3", "r4"], "a00": [1.0, 2.0, 3.0, None]})
    second = pl.DataFrame({"record_id": ["r1", "r2", "r3", "r4"], "a00": [1.0, 2.0, 4.0, 5.0]})
    out = self_agreement(first, second, ["a00"])
    assert out["a00"]["n"] == 3 and out["a00"]["exact"] == round(2 / 3, 4)


def test_median_spearman_interval_keeps_a_rare_anchor_in_every_draw():
    # three graded anchors and one whose defect is 2 of 150 records, ranked lowest by the student: draws missing
    # both defects have no Spearman there, and the median over the three others (0.78 here) is another figure;
    # mixing those draws in lifted the interval's top to 0.80 around a figure of 0.60
    rng = np.random.default_rng(3)
    n, cols = 150, []
    for noise in (3.0, 1.2, 1.0):
        t = rng.integers(1, 6, n).astype(float)
        cols.append((t, t + rng.normal(0, noise, n)))
    rare = np.full(n, 5.0)
    rare[[10, 99]] = 1.0
    guess = rng.normal(4.8, 0.1, n)
    guess[[10, 99]] = 1.5
    cols.append((rare, guess))
    truth, pred = np.column_stack([c[0] for c in cols]), np.column_stack([c[1] for c in cols])
    point = float(np.median([spearman(truth[:, j], pred[:, j]) for j in range(4)]))
    lo, hi = median_spearman_interval(truth, pred)
    assert lo < point < hi and hi < 0.72, (lo, point, hi)
    # an anchor with no Spearman on the val records themselves stays out, as it does from the figure
    flat = np.column_stack([truth, np.full(n, 3.0)])
    assert median_spearman_interval(flat, np.column_stack([pred, rng.normal(size=n)])) == (lo, hi)
