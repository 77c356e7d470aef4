"""Review of the score stage's logic and the agreement figures the reliability mask reads: seeded random
invariants (Somers' D against scipy, order independence, the Spearman ceiling as a bound, every val record counted
once, a shard's scores independent of the batch size) and the regressions they or a reading found."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest
from scipy.stats import somersd

from mira_core.reliability import agreement, somers_d, spearman, spearman_ceiling, student_report
from tests.mira_core.test_dedup import write_corpus


def test_an_infinite_unclipped_prediction_is_left_out_of_the_constant_and_mean_maes_as_of_the_anchors_own():
    # the student's clipped prediction (inf -> 5.0, the scale's top) is finite, so const_mae and mean_mae counted a
    # record the anchor's own figures leave out as unscored: const_mae 1.25 over 4 records beside an MAE over 3
    val = pl.DataFrame({"source": ["s"] * 4, "a00": [1.0, 2.0, 3.0, 5.0]})
    ranked = np.array([[1.5], [2.0], [3.0], [np.inf]])
    report = student_report(val, np.clip(ranked, 1, 5), ["a00"], np.array([3.0]), ranked)
    a = report["anchors"]["a00"]
    assert (a["n"], a["unscored"], a["mae"]) == (3, 1, 0.1667)
    assert a["const_mae"] == 1.0  # |1-3|, |2-3|, |3-3| over the 3 scored records
    assert (report["mean_mae"], report["const_mean_mae"]) == (0.1667, 1.0)


def _random_pair(rng: random.Random, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher labels on 1..5 (ties) and a student's scores, tied integers or continuous."""
    truth = np.array([rng.randint(1, 5) for _ in range(n)], float)
    if rng.random() < 0.5:
        return truth, np.array([rng.randint(1, 5) for _ in range(n)], float)
    return truth, np.array([rng.gauss(3, 1) for _ in range(n)])


def test_random_agreement_figures_hold_their_invariants():
    rng = random.Random(31)
    for _ in range(400):
        n = rng.randint(0, 10)
        t, p = _random_pair(rng, n)
        d = somers_d(t, p)
        defined = n >= 3 and np.ptp(t) > 0 and np.ptp(p) > 0
        assert (d is not None) == defined
        if defined:  # scipy's contingency-table Somers' D of p given t (the docstring's cross-check)
            with np.errstate(invalid="ignore"):  # its p-value's 0/0 on a tiny table; the statistic is what is read
                want = float(somersd(t, p).statistic)
            assert d == pytest.approx(want, abs=1e-4)
            assert somers_d(t, -p) == -d
        perm = list(range(n))
        rng.shuffle(perm)  # the records' order means nothing
        assert somers_d(t[perm], p[perm]) == d and spearman(t[perm], p[perm]) == spearman(t, p)
        tie_free = np.array([rng.random() for _ in range(n)])  # no prediction without ties passes the ceiling
        c, s = spearman_ceiling(t), spearman(t, tie_free)
        if c is not None and s is not None:
            assert s <= c + 1e-4
        holed = p.copy()
        if n:
            holed[rng.randrange(n)] = rng.choice([np.nan, np.inf, -np.inf])
        a = agreement(t, holed)
        assert a["n"] + a["unscored"] == n  # every val record counted once: figured or unscored


def test_random_student_reports_take_every_mae_over_the_records_the_anchor_counts():
    rng = random.Random(7)
    for _ in range(200):
        n, k = rng.randint(1, 8), rng.randint(1, 3)
        truth = np.array([[rng.randint(1, 5) for _ in range(k)] for _ in range(n)], float)
        ranked = truth + np.array([[rng.gauss(0, 2) for _ in range(k)] for _ in range(n)])
        for _ in range(rng.randint(0, 3)):
            ranked[rng.randrange(n), rng.randrange(k)] = rng.choice([np.nan, np.inf, -np.inf])
        pred = np.clip(ranked, 1, 5)
        mean = np.array([rng.uniform(1, 5) for _ in range(k)])
        ids = [f"a{j:02d}" for j in range(k)]
        val = pl.DataFrame({"source": [rng.choice("xy") for _ in range(n)]}).with_columns(
            *(pl.Series(a, truth[:, j]) for j, a in enumerate(ids)))
        report = student_report(val, pred, ids, mean, ranked)
        ok = np.isfinite(ranked)
        for j, a in enumerate(ids):
            fig = report["anchors"][a]
            assert fig["n"] == ok[:, j].sum() and fig["n"] + fig["unscored"] == n
            want = round(float(np.mean(np.abs(truth[ok[:, j], j] - mean[j]))), 4) if ok[:, j].any() else None
            assert fig["const_mae"] == want
        want = round(float(np.mean(np.abs(truth[ok] - pred[ok]))), 4) if ok.any() else None
        assert report["mean_mae"] == want
        assert sum(s["n_val"] for s in report["sources"].values()) == n


def test_random_shards_score_every_record_once_in_corpus_order_whatever_the_batch_size(tmp_path):
    from mira_core.config import DistillParams, EmbedParams
    from mira_core.scoring import score_shard
    from mira_core.students import make_student
    from mira_core.students.base import Inputs

    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "ünï", "𝔘", "x [1]"]
    texts = [" ".join(rng.choice(words) for _ in range(5)) for _ in range(30)]
    student = make_student(DistillParams(student="linear", linear={"stats": False}), ["a00", "a01"], (1, 5),
                           EmbedParams(), None)
    student.fit(Inputs(texts=texts), np.array([[1 + i % 5, 5 - i % 4] for i in range(30)], dtype=np.float32))
    student.save(tmp_path / "student")
    for case in range(25):
        n = rng.randint(1, 12)
        rows = [(f"r{i}", " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))) for i in range(n)]
        lay = write_corpus(tmp_path / f"c {case} [x]", {"a": rows}, shard_size=n)
        (shard,) = lay.corpus_shards()
        tables = []
        for batch in (1, rng.randint(1, 20), 4096):
            out = lay.scores / "g" / "a" / f"b{batch}" / shard.name
            assert score_shard(shard, lay.embedding_shard(shard), tmp_path / "student", "g", out, batch) == {
                "records": n}
            tables.append(pl.read_parquet(out, glob=False))  # a name: the folder has brackets
        assert tables[0]["record_id"].to_list() == [f"a/{r}" for r, _ in rows]
        assert all(t.equals(tables[0]) for t in tables[1:])
        assert np.isfinite(tables[0].select("a00", "a01").to_numpy()).all()


def test_the_mask_says_too_few_val_records_where_that_is_why_the_agreement_is_undefined():
    # two scored val records: Somers' D is undefined for want of records, not for a constant side (found by a review)
    from mira_core.config import SelectParams
    from mira_core.selection import _judge

    m = agreement(np.array([1.0, 4.0]), np.array([1.5, 3.9]))
    assert m["n"] == 2 and m["somers_d"] is None
    on, why = _judge(m, SelectParams(min_val_records=2))
    assert not on and why == "Somers' D undefined (fewer than 3 scored val records)"
    flat = agreement(np.array([2.0, 3.0, 2.0]), np.array([2.5, 2.5, 2.5]))  # a constant student
    assert _judge(flat, SelectParams())[1] == "Somers' D undefined (a constant side)"
