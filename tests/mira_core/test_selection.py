"""Tests of the reliability mask, the trimmed mean and budgeted selection, on frames built here."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mira_core.config import SelectParams
from mira_core.errors import ConfigError, InvariantError
from mira_core.selection import (
    aggregate,
    anchors_on,
    overlap,
    reliability_mask,
    select,
    summary,
    trimmed_mean,
    unshared,
)


def _records(rows):
    return pl.DataFrame(rows, orient="row", schema={"record_id": pl.String, "source": pl.String, "group": pl.String,
                                      "n_tokens": pl.Int64, "score": pl.Float64, "held_out": pl.Boolean})


def test_trimmed_mean_cuts_both_ends_but_keeps_one_value():
    x = np.array([[1, 2, 3, 4, 100], [5, 5, 5, 5, 5]], dtype=float)
    np.testing.assert_allclose(trimmed_mean(x, 0.2), [3.0, 5.0])
    np.testing.assert_allclose(trimmed_mean(x, 0.0), [22.0, 5.0])
    np.testing.assert_allclose(trimmed_mean(np.array([[1.0, 9.0]]), 0.49), [5.0])  # k=2: nothing can be cut


def test_the_worst_anchor_keeps_one_failed_anchor_from_being_outvoted():
    """A page of repeated navigation: the floor on duplicate lines, the top on every word-level anchor. The paper's
    mean ranks it above an ordinary good page; half weight on the lowest anchor ranks it below."""
    scores = pl.DataFrame({"dup": [1.0, 4.0, np.nan], "words": [5.0, 4.0, 4.0], "stop": [5.0, 4.0, 4.0],
                           "punct": [5.0, 4.0, 4.0], "length": [5.0, 4.0, 4.0]})
    cols = ["dup", "words", "stop", "punct", "length"]
    mean = aggregate(scores, cols, trim=0.0)
    blended = aggregate(scores, cols, trim=0.0, worst=0.5)
    assert mean[0] > mean[1]  # boilerplate wins under the mean (4.2 against 4.0) ...
    # ... and loses with the lowest anchor blended in, centred over the source's scored records (mean low 2.5)
    np.testing.assert_allclose(blended[:2], [0.5 * 4.2 + 0.5 * (1.0 - 2.5), 0.5 * 4.0 + 0.5 * (4.0 - 2.5)])
    assert np.isnan(mean[2]) and np.isnan(blended[2])  # an unscored anchor leaves the record unscored either way
    assert np.isnan(aggregate(scores, cols, trim=0.2, worst=0.5)[2])  # also when the trim would cut the NaN


def test_the_worst_anchor_term_does_not_favour_sources_with_fewer_anchors():
    """Two sources of the same quality, one with 2 anchors on and one with 10: the lowest of 10 standard normals
    sits ~1 below the lowest of 2, which must not move one source's records below the other's."""
    rng = np.random.default_rng(0)
    few = pl.DataFrame({f"a{j}": rng.standard_normal(4000) for j in range(2)})
    many = pl.DataFrame({f"a{j}": rng.standard_normal(4000) for j in range(10)})
    raw_gap = many.to_numpy().min(axis=1).mean() - few.to_numpy().min(axis=1).mean()
    assert raw_gap < -0.8  # what an uncentred lowest anchor would cost the 10-anchor source
    gap = (aggregate(many, many.columns, 0.0, worst=0.5).mean() - aggregate(few, few.columns, 0.0, worst=0.5).mean())
    assert abs(gap) < 0.05


def test_the_worst_anchor_is_centred_over_the_records_that_compete():
    """A source's near-duplicate pages (scored, never kept) score the floor on one anchor: counted in the centring
    mean, they lower it and lift every page the source keeps against its group's other sources."""
    scores = pl.DataFrame({"a": [4.0, 3.0, 1.0, 1.0], "b": [4.0, 5.0, 5.0, 5.0]})
    competing = np.array([True, True, False, False])
    alone = aggregate(scores[:2], ["a", "b"], 0.0, worst=0.5)
    np.testing.assert_allclose(aggregate(scores, ["a", "b"], 0.0, worst=0.5, competing=competing)[:2], alone)
    assert (aggregate(scores, ["a", "b"], 0.0, worst=0.5)[:2] > alone + 0.5).all()  # what counting them did
    nothing = aggregate(scores, ["a", "b"], 0.0, worst=0.5, competing=np.zeros(4, dtype=bool))
    np.testing.assert_allclose(nothing, aggregate(scores, ["a", "b"], 0.0, worst=0.5))  # none compete: every row


def test_mask_rules_and_the_group_fallback_for_small_sources():
    reports = {"g": {
        "anchor_names": {"a00": "docs", "a01": "length"},
        "anchors": {"a00": {"mae": 0.3, "spearman": 0.9}, "a01": {"mae": 0.2, "spearman": 0.1}},
        "sources": {
            "big": {"n_val": 50, "anchors": {"a00": {"mae": 0.5, "spearman": 0.6}, "a01": {"mae": 1.5, "spearman": 0.9}}},
            "flat": {"n_val": 50, "anchors": {"a00": {"mae": 0.1, "spearman": None},
                                              "a01": {"mae": 0.1, "spearman": 0.4}}},
            "tiny": {"n_val": 3, "anchors": {"a00": {"mae": 3.0, "spearman": -1.0},
                                             "a01": {"mae": 0.0, "spearman": 1.0}}},
        }}}
    m = reliability_mask(reports, SelectParams(tau_mae=0.8, tau_rank=0.3, min_val_records=10,
                                                 agreement="spearman"))
    got = {(r["source"], r["anchor"]): (r["on"], r["basis"], r["why"]) for r in m.iter_rows(named=True)}
    assert got[("big", "a00")] == (True, "source", "reliable")
    assert got[("big", "a01")] == (False, "source", "MAE 1.50 > 0.8")
    assert got[("flat", "a00")] == (False, "source", "Spearman undefined (a constant side)")
    assert got[("flat", "a01")] == (True, "source", "reliable")
    assert got[("tiny", "a00")] == (True, "group", "reliable")          # the group's figures, not its own
    assert got[("tiny", "a01")] == (False, "group", "Spearman 0.10 < 0.3")
    on, unjudged = anchors_on(m, "g", ["a00", "a01"])
    assert on == {"big": ["a00"], "flat": ["a01"], "tiny": ["a00"]} and unjudged == []


def test_a_source_with_no_reliable_anchor_uses_every_anchor_and_is_flagged():
    m = pl.DataFrame({"group": ["g", "g", "g", "g"], "source": ["a", "a", "b", "b"], "anchor": ["a00", "a01"] * 2,
                      "on": [True, False, False, False]})
    on, unjudged = anchors_on(m, "g", ["a00", "a01"])
    assert on == {"a": ["a00"], "b": ["a00", "a01"]} and unjudged == ["b"]
    scores = pl.DataFrame({"source": ["a", "b"], "a00": [4.0, 2.0], "a01": [1.0, 5.0]})
    per_source = [aggregate(scores.filter(pl.col("source") == s), on[s], trim=0.0)[0] for s in ("a", "b")]
    np.testing.assert_allclose(per_source, [4.0, 3.5])
    assert np.isnan(aggregate(scores, [], trim=0.0)).all()  # a source with no anchor on is unscored


def test_parts_of_a_group_that_share_no_anchor_with_the_rest_take_their_own_budget():
    # a-b-c are linked through a00/a01; d stands alone; u has no reliable anchor (ranked on all, links nothing)
    on = {"a": ["a00"], "b": ["a00", "a01"], "c": ["a01"], "d": ["a02", "a03"], "u": ["a00", "a01", "a02", "a03"]}
    assert unshared(on, unjudged=["u"]) == {"d": "source:d"}
    # two linked parts: the smaller one ({d, e}) gets one unit of its own, the larger stays in the group's
    on2 = {"a": ["a00"], "b": ["a00"], "c": ["a00", "a01"], "d": ["a02"], "e": ["a02", "a03"]}
    assert unshared(on2, []) == {"d": "source:d+e", "e": "source:d+e"}
    # a source linked to the rest only through a held-out one (never selected) is apart
    assert unshared({"a": ["a00"], "h": ["a00", "a01"], "c": ["a01"]}, [], held_out=["h"]) == {"c": "source:c"}
    assert unshared({"a": ["a00"], "d": ["a02"]}, []) == {"d": "source:d"}  # two strangers: one is set apart
    assert unshared({"d": ["a02"]}, []) == {} and unshared({"d": ["a02"], "u": ["a00"]}, ["u"]) == {}
    # at selection, d and e share their own part of the budget however their scores sit against the others'
    rows = [("b/1", "b", "g", 10, 0.5), ("b/2", "b", "g", 10, 0.4), ("d/1", "d", "g", 10, 2.0),
            ("d/2", "d", "g", 10, 1.5), ("e/1", "e", "g", 10, 3.0), ("e/2", "e", "g", 10, 2.5)]
    recs = _records([(*r, False) for r in rows])
    assert select(recs, 0.5, "group", "mira").filter("kept")["record_id"].to_list() == ["d/1", "e/1", "e/2"]
    own = select(recs, 0.5, "group", "mira", own_budget=unshared({"b": ["a00"], "d": ["a02"], "e": ["a02"]}, []))
    assert own.filter("kept")["record_id"].to_list() == ["b/1", "e/1", "e/2"]


def test_group_budget_keeps_each_groups_share_best_first_with_id_tie_break():
    rows = [("x/1", "x", "g1", 10, 5.0), ("x/2", "x", "g1", 10, 4.0), ("x/3", "x", "g1", 10, 4.0),
            ("x/4", "x", "g1", 10, 1.0), ("y/1", "y", "g2", 10, 1.0), ("y/2", "y", "g2", 10, 0.5)]
    recs = _records([(*r, False) for r in rows])
    m = select(recs, 0.5, "group", "mira")
    expect = recs.select("record_id", "source", "group", "n_tokens", "score").with_columns(
        kept=pl.Series([True, True, False, False, True, False]),
        reason=pl.Series(["kept", "kept", "over_budget", "over_budget", "kept", "over_budget"]),
        method=pl.lit("mira"), epochs=pl.Series([1.0, 1.0, 0.0, 0.0, 1.0, 0.0]))
    assert_frame_equal(m, expect)
    # one global cut would starve g2, whose scores run low
    assert select(recs, 0.5, "global", "mira").filter(pl.col("group") == "g2")["kept"].sum() == 0


def test_every_reason_and_the_counts_balance():
    recs = _records([("a/1", "a", "g", 10, 3.0, False), ("a/2", "a", "g", 10, None, False),
                     ("a/3", "a", "g", 10, 0.5, False), ("a/4", "a", "g", 10, 2.0, False),
                     ("a/5", "a", "g", 10, 1.0, False), ("h/1", "h", "g", 10, 9.0, True)])
    m = select(recs, 0.4, "group", "mira", min_score=1.0)
    assert dict(zip(m["record_id"], m["reason"], strict=True)) == {
        "a/1": "kept", "a/2": "unscored", "a/3": "below_threshold", "a/4": "kept", "a/5": "over_budget",
        "h/1": "held_out"}
    assert m.height == recs.height and m["kept"].sum() == 2


def test_absolute_budget_is_shared_by_token_share_and_own_budget_sources_keep_theirs():
    recs = _records([(f"a/{i}", "a", "g", 10, float(i), False) for i in range(8)]
                    + [(f"b/{i}", "b", "g", 10, -float(i), False) for i in range(2)])
    m = select(recs, 50, "group", "mira")
    assert m["kept"].sum() == 5 and m.filter(pl.col("source") == "b")["kept"].sum() == 0
    m = select(recs, 50, "group", "mira", own_budget=["b"])  # b: 20 of 100 tokens -> 10 tokens of budget
    kept = m.filter(pl.col("kept"))
    assert kept.filter(pl.col("source") == "b")["record_id"].to_list() == ["b/0"]
    assert kept.filter(pl.col("source") == "a")["n_tokens"].sum() == 40


def test_overlap_is_jaccard_of_kept_sets():
    a = pl.DataFrame({"record_id": ["1", "2", "3"], "kept": [True, True, False]})
    b = pl.DataFrame({"record_id": ["1", "2", "3"], "kept": [False, True, True]})
    assert overlap({"a": a, "b": b}) == {"a": {"a": 1.0, "b": pytest.approx(1 / 3, abs=1e-4)},
                                         "b": {"a": pytest.approx(1 / 3, abs=1e-4), "b": 1.0}}


def test_budget_validation():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="whole number"):
        SelectParams(budget=10.5)
    with pytest.raises(ValidationError, match="dsir_target"):
        SelectParams(baselines=["dsir"], dsir_target=[])


def test_one_budget_rule_a_share_up_to_one_else_tokens_and_never_more_than_selectable():
    from mira_core.errors import ConfigError
    from mira_core.selection import budget_tokens, is_fraction

    assert is_fraction(1) and is_fraction(0.5) and not is_fraction(2)
    assert budget_tokens(0.5, 1000) == 500 and budget_tokens(1, 1000) == 1000
    assert budget_tokens(600, 1000) == 600
    with pytest.raises(ConfigError, match="select.budget = 1001 tokens, but only 1000"):
        budget_tokens(1001, 1000)


def test_counts_that_do_not_balance_are_a_bug_not_a_result():
    from mira_core.selection import check_counts, summary

    manifest = pl.DataFrame({"record_id": ["a", "b"], "source": ["s", "s"], "group": ["g", "g"], "n_tokens": [5, 5],
                             "score": [1.0, 0.0], "kept": [True, False], "reason": ["kept", "over_budget"],
                             "method": ["mira", "mira"], "epochs": [1.0, 0.0]})
    s = summary(manifest, 5)
    assert s["kept_tokens"] == 5 and s["kept_token_share"] == 0.5 and s["reasons"]["over_budget"] == 1
    check_counts("mira", s, 2)
    with pytest.raises(InvariantError, match="counts do not balance"):
        check_counts("mira", s, 3)  # ingest kept a record the manifest lost


def test_attach_scores_equals_the_string_join_with_missing_and_extra_records():
    from mira_core.manifests import attach_scores

    index = pl.DataFrame({"record_id": [f"s/{i}" for i in range(500)], "source": ["s"] * 500,
                          "n_tokens": list(range(500))})
    scored = pl.DataFrame({"record_id": [f"s/{i}" for i in range(0, 700, 2)],  # half missing, some unknown
                           "score": [float(i) for i in range(0, 700, 2)]})
    got = attach_scores(index, scored).sort("record_id")
    want = index.join(scored, on="record_id", how="left").sort("record_id")
    assert got.equals(want)
    assert got["score"].null_count() == 250
    assert attach_scores(index, scored)["record_id"].equals(index["record_id"])  # the index's order, not a copy's
    # the index as corpus_index returns it (sorted by record_id): binary search and a scatter, the same result
    ordered = index.sort("record_id")
    scored = scored.with_columns(score=pl.when(pl.col("record_id") == "s/4").then(None).otherwise(pl.col("score")))
    got = attach_scores(ordered, scored)
    assert got.equals(ordered.join(scored, on="record_id", how="left", maintain_order="left"))
    assert got["score"].null_count() == 251 and got.filter(pl.col("record_id") == "s/2")["score"].item() == 2.0
    for bad in (pl.concat([scored, scored.head(3).with_columns(score=pl.lit(-1.0))]),  # a record scored twice
                scored.clear()):  # nothing scored
        assert attach_scores(ordered, bad).sort("record_id", "score").equals(
            ordered.join(bad, on="record_id", how="left").sort("record_id", "score"))
    repeated = pl.concat([ordered, ordered.head(1)]).sort("record_id")  # an index that repeats a record_id
    assert attach_scores(repeated, scored).sort("record_id", "score").equals(
        repeated.join(scored, on="record_id", how="left").sort("record_id", "score"))


def test_mask_off_turns_every_anchor_on():
    reports = {"g": {"anchors": {"a00": {"mae": 3.0, "spearman": -0.5}},
                     "sources": {"s": {"n_val": 50, "anchors": {"a00": {"mae": 3.0, "spearman": -0.5}}}}}}
    assert reliability_mask(reports, SelectParams())["on"].to_list() == [False]
    off = reliability_mask(reports, SelectParams(mask=False))
    assert off["on"].to_list() == [True] and off["why"].to_list() == ["mask off"]


def test_standardised_anchors_put_sources_with_different_anchors_on_one_footing():
    """Source a is judged on an anchor that sits high for everybody, source b on one that sits low: on the raw
    scale a's worst record beats b's best; standardised, each record is ranked by how it stands on its anchor."""
    from mira_core.selection import anchor_scales

    a = pl.DataFrame({"a00": [4.6, 4.7, 4.8, 4.9], "a01": [1.0, 1.0, 1.0, 1.0]})
    b = pl.DataFrame({"a00": [3.0, 3.0, 3.0, 3.0], "a01": [1.2, 1.4, 1.6, 2.6]})
    scales = anchor_scales([(a, ["a00"]), (b, ["a01"])], ["a00", "a01"])
    assert scales["a00"][0] == pytest.approx(4.75) and scales["a01"][0] == pytest.approx(1.7)  # where each is on
    raw = np.concatenate([aggregate(a, ["a00"], 0.0), aggregate(b, ["a01"], 0.0)])
    assert raw[:4].min() > raw[4:].max()
    z = np.concatenate([aggregate(a, ["a00"], 0.0, scales), aggregate(b, ["a01"], 0.0, scales)])
    assert z[7] > z[0]  # b's best record now outranks a's worst
    assert list(np.argsort(z[:4])) == [0, 1, 2, 3] and list(np.argsort(z[4:])) == [0, 1, 2, 3]  # orders kept
    const = anchor_scales([(pl.DataFrame({"a00": [2.0, 2.0]}), ["a00"])], ["a00"])
    assert const["a00"] == (2.0, 1.0)  # a constant anchor is centred, never divided by zero


def test_an_anchor_is_standardised_over_the_sources_it_is_on_for():
    """Bullets never occur in code (the teacher's top score, the anchor masked there) and vary in docs: pooled with
    code, the docs' small differences would become huge z-scores; counted where the anchor is on, they do not."""
    from mira_core.selection import anchor_scales

    code = pl.DataFrame({"bullets": [5.0] * 98 + [4.9, 5.1]})
    docs = pl.DataFrame({"bullets": [3.0, 4.0, 5.0, 4.0]})
    pooled = anchor_scales([(code, ["bullets"]), (docs, ["bullets"])], ["bullets"])
    where_on = anchor_scales([(code, []), (docs, ["bullets"])], ["bullets"])
    z = lambda s: (5.0 - s["bullets"][0]) / s["bullets"][1]  # noqa: E731 - the best docs record's z-score
    assert z(pooled) < 1.0 < 2 * z(where_on) and where_on["bullets"][0] == pytest.approx(4.0)


def test_the_mask_says_when_the_teacher_itself_never_varies():
    from mira_core.reliability import agreement

    flat = agreement(np.array([5.0, 5.0, 5.0, 5.0]), np.array([4.9, 5.1, 5.0, 5.2]))
    assert flat["spearman"] is None and flat["teacher_constant"] is True
    assert agreement(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]))["teacher_constant"] is False
    reports = {"g": {"anchors": {"a00": flat}, "sources": {"s": {"n_val": 50, "anchors": {"a00": flat}}}}}
    why = reliability_mask(reports, SelectParams())["why"].item()
    assert "the teacher gives one score to every val record" in why


def test_a_small_source_judged_on_its_groups_figures_drops_an_anchor_its_labels_never_vary_on():
    from mira_core.reliability import label_constancy

    # a code source shares a group with QA: the teacher scores `relevance` (a01) 3 for every code file (it does
    # not apply), and the QA records' figures make the anchor reliable for the group
    labels = pl.DataFrame({"source": ["code"] * 25 + ["qa"] * 25 + ["few"] * 4,
                           "a00": [float(i % 5 + 1) for i in range(54)],
                           "a01": [3.0] * 25 + [float(i % 5 + 1) for i in range(25)] + [3.0] * 4})
    labels = labels.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("a01")).alias("a01"))
    flat = label_constancy(labels, ["a00", "a01"])
    assert flat == {"code": {"n": 25, "constant": ["a01"]}, "few": {"n": 4, "constant": ["a01"]},
                    "qa": {"n": 25, "constant": []}}  # a missing score is not a second value
    good = {"mae": 0.3, "somers_d": 0.9, "spearman": 0.8}
    small = {"n_val": 5, "anchors": {"a00": good, "a01": good}}
    reports = {"g": {"anchors": {"a00": good, "a01": good}, "label_constancy": flat,
                     "sources": {"code": small, "qa": small, "few": small,
                                 "big": {"n_val": 50, "anchors": {"a00": good, "a01": good}}}}}
    flat["big"] = {"n": 250, "constant": ["a01"]}  # judged on its own val records: they decide, as before
    m = reliability_mask(reports, SelectParams(min_val_records=20))
    got = {(r["source"], r["anchor"]): (r["on"], r["why"]) for r in m.iter_rows(named=True)}
    assert got[("code", "a01")] == (False, "the teacher gives one score to all 25 labeled records of the source: "
                                           "nothing to rank")
    assert got[("code", "a00")] == (True, "reliable") and got[("qa", "a01")] == (True, "reliable")
    assert got[("few", "a01")] == (True, "reliable")  # 4 labels are too few to say the anchor never varies
    assert got[("big", "a01")] == (True, "reliable")
    del reports["g"]["label_constancy"]  # students' figures from before it was reported: the group's figures alone
    assert reliability_mask(reports, SelectParams(min_val_records=20))["on"].all()
    assert reliability_mask({"g": reports["g"] | {"label_constancy": flat}}, SelectParams(mask=False))["on"].all()


def test_weights_set_each_units_share_of_the_budget_and_the_rest_is_proportional():
    # three groups of 100 tokens each; budget 0.5 of 300 = 150 tokens
    rows = [(f"{g}/{i}", g, g, 10, float(10 - i), False) for g in ("ga", "gb", "gc") for i in range(10)]
    recs = _records(rows)
    m = select(recs, 0.5, "group", "mira", weights={"ga": 0.6})
    kept = dict(m.filter(pl.col("kept")).group_by("group").agg(pl.col("n_tokens").sum()).iter_rows())
    assert kept == {"ga": 90, "gb": 30, "gc": 30}  # 0.6 x 150 = 90; gb, gc split the other 60 by tokens
    assert set(m.filter(pl.col("kept"))["epochs"].to_list()) == {1.0}
    with pytest.raises(ConfigError, match="'gz', which is not a unit"):
        select(recs, 0.5, "group", "mira", weights={"gz": 0.2})


def test_an_upsampled_unit_repeats_its_records_up_to_max_epochs():
    rows = [(f"{g}/{i}", g, g, 10, float(10 - i), False) for g in ("ga", "gb") for i in range(10)]
    recs = _records(rows)
    # budget 0.5 of 200 = 100 tokens; ga asks for 0.9 x 100 = 90 of its 100 tokens, gb for 10 of its 100
    m = select(recs, 0.5, "group", "mira", weights={"ga": 0.9, "gb": 0.1})
    assert m.filter(pl.col("group") == "ga")["kept"].sum() == 9
    # ga at 0.9 of a 300-token budget asks for 270 tokens of its 100: all kept, 2.7 epochs, capped at 2
    m = select(recs, 300, "group", "mira", weights={"ga": 0.9, "gb": 0.1}, max_epochs=2.0)
    ga = m.filter(pl.col("group") == "ga")
    assert ga["kept"].all() and set(ga["epochs"].to_list()) == {2.0}
    gb = m.filter(pl.col("group") == "gb")
    assert gb.filter(pl.col("kept"))["n_tokens"].sum() == 30 and set(gb.filter(pl.col("kept"))["epochs"]) == {1.0}
    assert summary(m, 300)["trained_tokens"] == 2 * 100 + 30


def test_a_unit_under_its_budget_for_want_of_good_records_is_not_upsampled():
    # g2 has 2 records over min_score; a weight on g1 (its proportional share) leaves g2 a budget of 50 tokens
    # that its 20 eligible ones cannot fill: the quality floor must not turn into 2.5 repeats of those two
    rows = [(f"g1/{i}", "g1", "g1", 10, float(10 - i), False) for i in range(10)]
    rows += [(f"g2/{i}", "g2", "g2", 10, 9.0 if i < 2 else 0.0, False) for i in range(10)]
    recs = _records(rows)
    for weights in (None, {"g1": 0.5}):
        m = select(recs, 0.5, "group", "mira", min_score=5.0, weights=weights, max_epochs=3.0)
        g2 = m.filter((pl.col("group") == "g2") & pl.col("kept"))
        assert g2.height == 2 and set(g2["epochs"]) == {1.0}, weights
    # a weight that asks g2 for more than all its tokens (0.9 x 300 = 270 of 100) repeats what it keeps
    m = select(recs, 300, "group", "mira", min_score=5.0, weights={"g2": 0.9}, max_epochs=3.0)
    assert set(m.filter((pl.col("group") == "g2") & pl.col("kept"))["epochs"]) == {2.7}


def test_a_record_that_fills_a_fractional_budget_exactly_is_kept():
    # 0.57 x 100 tokens is 56.99999999999999 in floating point: the 57-token record fills the budget exactly
    recs = _records([("s/a", "s", "g", 57, 2.0, False), ("s/b", "s", "g", 43, 1.0, False)])
    m = select(recs, 0.57, "group", "mira")
    assert m.filter(pl.col("kept"))["record_id"].to_list() == ["s/a"]


def test_a_huge_whole_number_budget_is_not_passed_by_its_float_slack():
    # the slack that lets 56.99999999999999 hold 57 tokens was relative: a budget of 10^13 tokens took 10 more
    big = 10**13
    recs = _records([("s/a", "s", "g", big - 5, 2.0, False), ("s/b", "s", "g", 9, 1.0, False),
                     ("s/c", "s", "g", big, 0.0, False)])
    m = select(recs, float(big), "group", "mira")
    assert m.filter(pl.col("kept"))["record_id"].to_list() == ["s/a"]
    assert m.filter(pl.col("kept"))["n_tokens"].sum() <= big


def test_a_record_longer_than_its_units_budget_does_not_starve_the_unit():
    # a source on its own budget (no reliable anchor) whose best record is longer than that budget kept nothing
    rows = [(f"big/{i}", "big", "g", 100, float(10 - i), False) for i in range(8)]
    rows += [("small/0", "small", "g", 120, 3.0, False), ("small/1", "small", "g", 40, 2.0, False),
             ("small/2", "small", "g", 40, 1.0, False)]
    m = select(_records(rows), 0.5, "group", "mira", own_budget=["small"])
    small = m.filter(pl.col("source") == "small")
    assert dict(small.select("record_id", "reason").iter_rows()) == {
        "small/0": "over_budget", "small/1": "kept", "small/2": "kept"}
    # at granularity source, a one-record source under a 0.9 budget can never be kept; the next source still is
    m = select(_records([("one/0", "one", "g", 10, 2.0, False), ("two/0", "two", "g", 5, 1.0, False),
                         ("two/1", "two", "g", 4, 0.5, False)]), 0.9, "source", "mira")
    assert m.filter(pl.col("kept"))["record_id"].to_list() == ["two/0"]


def test_the_mask_counts_under_the_other_statistic_keep_the_label_constancy_rule():
    from mira_core.selection import mask_summary

    # code is judged on its group's figures; the teacher scores a01 3 for all of its 25 labeled records. On
    # Somers' D the group's a01 fails anyway; on Spearman it passes, and must still be off for code
    fig = {"a00": {"mae": 0.3, "somers_d": 0.9, "spearman": 0.8}, "a01": {"mae": 0.3, "somers_d": 0.1, "spearman": 0.8}}
    reports = {"g": {"anchors": fig, "label_constancy": {"code": {"n": 25, "constant": ["a01"]}},
                     "sources": {"code": {"n_val": 5, "anchors": fig}}}}
    p = SelectParams(min_val_records=20)
    m = reliability_mask(reports, p)
    assert m.filter(pl.col("on"))["anchor"].to_list() == ["a00"]
    assert mask_summary(m, p)["on_if"] == {"somers_d": 1, "spearman": 1}


def test_an_unscored_record_does_not_spoil_its_groups_scale():
    from mira_core.selection import anchor_scales

    df = pl.DataFrame({"a00": [1.0, 3.0, float("nan")]})  # a generative student's unparseable reply: NaN
    mean, sd = anchor_scales([(df, ["a00"])], ["a00"])["a00"]
    assert mean == 2.0 and sd == 1.0
    z = aggregate(df, ["a00"], 0.0, {"a00": (mean, sd)})
    assert z[:2].tolist() == [-1.0, 1.0] and np.isnan(z[2])  # the others rank; that one stays unscored


def test_a_source_with_no_reliable_anchor_shares_its_groups_weighted_budget():
    rows = [(f"{s}/{i}", s, g, 10, float(10 - i), False) for s, g in (("a", "ga"), ("b", "gb"), ("c", "gb"))
            for i in range(10)]
    recs = _records(rows)
    # c has no reliable anchor, so it has a unit of its own, but it is still part of gb: ga and gb each get half of
    # the 150-token budget, and gb's 75 are split between its units by tokens (b and c 37.5 each, 30 in whole
    # records). Before, c kept its proportional 50 off the top and the weights shared the other 100, so a weight's
    # meaning moved with the mask's outcome (a weight above a group's share could lower its budget)
    m = select(recs, 0.5, "group", "mira", own_budget=["c"], weights={"ga": 0.5, "gb": 0.5})
    kept = dict(m.filter(pl.col("kept")).group_by("source").agg(pl.col("n_tokens").sum()).iter_rows())
    assert kept == {"a": 70, "b": 30, "c": 30}
    # with granularity source, a weight may name such a source: it is a unit like the others
    m = select(recs, 0.5, "source", "mira", own_budget=["c"], weights={"c": 0.2})
    assert m.filter(pl.col("source") == "c")["n_tokens"].filter(m.filter(pl.col("source") == "c")["kept"]).sum() == 30


def test_a_sources_retention_is_a_share_of_its_selectable_tokens():
    """A source that loses part of its tokens to a filter stage keeps its share of the rest, as its group does;
    a held-out source keeps nothing of nothing selectable (0)."""
    m = pl.DataFrame({"record_id": ["a/1", "a/2", "a/3", "a/4", "h/1"], "source": ["a"] * 4 + ["h"],
                      "group": "g", "n_tokens": 10, "kept": [True, False, False, False, False],
                      "reason": ["kept", "over_budget", "near_duplicate", "contaminated", "held_out"],
                      "epochs": 1.0})
    s = summary(m, 10)
    assert s["by_source"]["a"] == {"records": 4, "kept_records": 1, "tokens": 40, "selectable_tokens": 20,
                                   "kept_tokens": 10, "kept_token_share": 0.5}
    assert s["by_source"]["h"]["kept_token_share"] == 0.0 and s["by_source"]["h"]["selectable_tokens"] == 0
    assert s["by_group"]["g"] == {"records": 5, "kept_records": 1, "tokens": 50, "selectable_tokens": 20,
                                  "kept_tokens": 10, "kept_token_share": 0.5}  # its sources' records, summed
