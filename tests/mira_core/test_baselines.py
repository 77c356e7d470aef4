"""The baselines MIRA is compared with (`mira_core.baselines`), on small frames built here: each prefers what its
recipe says it should, and a selection on its scores stays within the token budget."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from mira_core.baselines import dsir_scores, length_scores, random_scores, single_rubric_scores
from mira_core.errors import ConfigError
from mira_core.selection import select

CODE = ["python", "function", "returns", "list", "value", "argument", "import", "module", "class", "method",
        "default", "keyword", "iterator", "generator", "decorator", "exception", "raise", "yield", "lambda", "tuple"]
SPORT = ["football", "match", "goal", "team", "player", "referee", "season", "league", "stadium", "coach",
         "striker", "penalty", "keeper", "midfield", "transfer", "trophy", "fans", "kickoff", "halftime", "derby"]


def text(rng: np.random.Generator, vocab_a: list[str], vocab_b: list[str], share_a: float, words: int = 150) -> str:
    return " ".join(rng.choice(vocab_a) if rng.random() < share_a else rng.choice(vocab_b) for _ in range(words))


def dsir_corpus(seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    """10 target records about code; candidates: 10 about code, 10 half and half, 10 about football."""
    rng = np.random.default_rng(seed)
    texts, kinds = [], []
    for kind, share, n in (("target", 1.0, 10), ("code", 1.0, 10), ("mixed", 0.5, 10), ("sport", 0.0, 10)):
        texts += [text(rng, CODE, SPORT, share) for _ in range(n)]
        kinds += [kind] * n
    return texts, np.array([k == "target" for k in kinds]), kinds


# ---------------------------------------------------------------- DSIR
def _ids(texts: list[str]) -> pl.Series:
    return pl.Series([f"r{i:02d}" for i in range(len(texts))])


def test_dsir_scores_follow_the_record_not_its_row():
    texts, is_target, _ = dsir_corpus()
    ids = _ids(texts)
    order = np.random.default_rng(3).permutation(len(texts))
    shuffled = dsir_scores([texts[i] for i in order], is_target[order], 5, ids[order])
    np.testing.assert_allclose(shuffled, dsir_scores(texts, is_target, 5, ids)[order])
    # and the noise is not the random baseline's draw at the same seed
    assert abs(spearmanr(dsir_scores(["same"] * 40, np.ones(40, bool), 5, ids[:40]), random_scores(ids[:40], 5))
               .statistic) < 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dsir_prefers_records_whose_ngrams_are_closer_to_the_target(seed):
    texts, is_target, kinds = dsir_corpus(seed)
    s = dsir_scores(texts, is_target, seed, _ids(texts))
    by = {k: s[np.array(kinds) == k] for k in ("code", "mixed", "sport")}
    # 150 words each: the log-ratios add up to far more than the Gumbel noise (sd ~1.3), so the order is strict
    assert by["code"].min() > by["mixed"].max() and by["mixed"].min() > by["sport"].max()


def test_dsir_noise_is_seeded_and_makes_it_a_sample_not_a_sort():
    texts, is_target, _ = dsir_corpus()
    np.testing.assert_array_equal(dsir_scores(texts, is_target, 7, _ids(texts)), dsir_scores(texts, is_target, 7,
                                                                                              _ids(texts)))
    # identical records have identical importance: only the Gumbel noise orders them, so each seed orders
    # them differently (sampling in proportion to the weights, not a deterministic top-k)
    same = ["the same record about python functions"] * 50
    target = np.zeros(50, dtype=bool)
    target[:5] = True
    a, b = dsir_scores(same, target, 1, _ids(same)), dsir_scores(same, target, 2, _ids(same))
    assert len(set(np.round(a, 9))) == 50 and abs(spearmanr(a, b).statistic) < 0.5


def test_dsir_needs_target_records():
    texts, _, _ = dsir_corpus()
    with pytest.raises(ConfigError, match="dsir_target"):
        dsir_scores(texts, np.zeros(len(texts), dtype=bool), 0, _ids(texts))


def test_a_dsir_selection_keeps_the_budget_and_the_target_like_records():
    texts, is_target, kinds = dsir_corpus()
    n_tokens = [len(t.split()) for t in texts]  # 150 each
    records = pl.DataFrame({"record_id": [f"r{i:02d}" for i in range(len(texts))], "source": kinds,
                            "group": ["g"] * len(texts), "n_tokens": n_tokens,
                            "score": dsir_scores(texts, is_target, 0, _ids(texts)), "held_out": [False] * len(texts)})
    m = select(records, 0.25, "global", "dsir")
    kept = m.filter("kept")
    assert kept["n_tokens"].sum() <= 0.25 * sum(n_tokens)
    assert kept.height == 10 and set(kept["source"]) <= {"target", "code"}  # nothing about football


# ---------------------------------------------------------------- single rubric
def rubric_data(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features whose first two columns carry the anchors' mean score; the rest is noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    quality = 2.0 * x[:, 0] - x[:, 1]
    y = 3.0 + 0.5 * quality + rng.normal(0, 0.1, n)  # the mean anchor score, around the middle of 1..5
    all_x = rng.normal(size=(500, 6))
    return x, y, all_x, 2.0 * all_x[:, 0] - all_x[:, 1]


def test_single_rubric_ranks_unlabeled_records_by_the_learned_score():
    x, y, all_x, true_quality = rubric_data()
    s = single_rubric_scores(x, y, all_x)
    assert s.shape == (500,)
    assert spearmanr(s, true_quality).statistic > 0.98
    top = np.argsort(-s)[:50]
    assert true_quality[top].min() > np.median(true_quality)  # the kept tenth is all from the better half


def test_single_rubric_does_not_care_about_the_units_of_a_feature():
    # inputs are standardised before the ridge, so a column in other units (or a constant one) changes nothing
    x, y, all_x, _ = rubric_data()
    base = single_rubric_scores(x, y, all_x)
    scale = np.array([1000.0, 0.001, 1.0, 1.0, 50.0, 1.0])
    np.testing.assert_allclose(single_rubric_scores(x * scale, y, all_x * scale), base, rtol=1e-6, atol=1e-6)
    const = np.hstack([x, np.ones((len(x), 1))]), np.hstack([all_x, np.ones((len(all_x), 1))])
    s = single_rubric_scores(const[0], y, const[1])
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s, base, rtol=1e-6, atol=1e-6)


def test_a_single_rubric_selection_keeps_the_budget():
    x, y, all_x, true_quality = rubric_data()
    rng = np.random.default_rng(3)
    n_tokens = rng.integers(50, 500, size=len(all_x))
    records = pl.DataFrame({"record_id": [f"r{i:03d}" for i in range(len(all_x))], "source": ["s"] * len(all_x),
                            "group": ["g"] * len(all_x), "n_tokens": n_tokens,
                            "score": single_rubric_scores(x, y, all_x), "held_out": [False] * len(all_x)})
    m = select(records, 0.3, "global", "single_rubric")
    kept = m.filter("kept")["record_id"].str.slice(1).cast(pl.Int64).to_numpy()
    assert n_tokens[kept].sum() <= 0.3 * n_tokens.sum()
    assert n_tokens[kept].sum() > 0.25 * n_tokens.sum()  # and close to it: one cut fills the budget
    assert true_quality[kept].mean() > true_quality.mean() + 1.0


# ---------------------------------------------------------------- random and length
def test_random_scores_are_uniform_fixed_per_id_and_seed():
    ids = pl.Series("record_id", [f"src/{i}" for i in range(10_000)])
    s = random_scores(ids, 0)
    assert s.min() >= 0 and s.max() < 1
    counts = np.histogram(s, bins=10, range=(0, 1))[0]
    assert counts.min() > 850 and counts.max() < 1150  # 1,000 expected per tenth, binomial sd ~30
    np.testing.assert_array_equal(random_scores(ids, 0), s)  # the same on every run
    # a record's score depends on its id and the seed only, not on which other records are there
    np.testing.assert_array_equal(random_scores(ids[::7], 0), s[::7])
    assert abs(spearmanr(random_scores(ids, 1), s).statistic) < 0.05  # another seed, another order


def test_length_prefers_the_longest():
    s = length_scores(pl.Series([10, 300, 42]))
    assert s.dtype == np.float64 and list(np.argsort(-s)) == [1, 2, 0]


def test_a_baseline_is_keyed_by_the_select_knobs_it_reads_alone():
    # the select task of a baseline took the whole `select` section, so editing the mask's thresholds or the list of
    # ablations re-ran every baseline; it now gets its budget, held-out sources and the knobs its scores read
    from typing import get_args

    from mira_core.config import Baseline, SelectParams
    from mira_core.manifests import BASELINE_READS, baseline_settings

    assert set(BASELINE_READS) == set(get_args(Baseline))
    p = SelectParams(dsir_target=["a"])
    unrelated = p.model_copy(update={"tau_mae": 0.5, "tau_rank": 0.1, "ablations": [], "granularity": "source",
                                     "trim": 0.2, "min_score": 2.0, "materialize": "jsonl"})
    for m in BASELINE_READS:
        assert baseline_settings(m, unrelated) == baseline_settings(m, p)
        assert baseline_settings(m, p.model_copy(update={"budget": 0.3})) != baseline_settings(m, p)
        assert baseline_settings(m, p.model_copy(update={"held_out_sources": ["b"]})) != baseline_settings(m, p)
    reseeded = p.model_copy(update={"seed": 7})
    assert [m for m in BASELINE_READS if baseline_settings(m, reseeded) != baseline_settings(m, p)] == ["random", "dsir"]
    assert baseline_settings("dsir", p.model_copy(update={"dsir_target": ["b"]})) != baseline_settings("dsir", p)


def test_the_random_baseline_scores_from_its_settings_as_from_its_seed():
    from mira_core.config import SelectParams
    from mira_core.manifests import baseline_scores, baseline_settings

    index = pl.DataFrame({"record_id": [f"r{i}" for i in range(50)], "n_tokens": list(range(50))})
    got = baseline_scores("random", index, baseline_settings("random", SelectParams(seed=3)), None, None, None)
    np.testing.assert_array_equal(got, random_scores(index["record_id"], 3))
