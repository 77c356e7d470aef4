"""Tests of the students that read document statistics: trees (against sklearn's own predictions), the head and
linear students with statistics beside their inputs, and auto's per-anchor choice."""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.config import DistillParams, EmbedParams, TreesParams
from mira_core.students import load_student, make_student, student_version
from mira_core.students.base import Inputs
from mira_core.students.common import label_weights
from mira_core.students.trees import TreesStudent

ANCHORS = ["a0", "a1"]


def data(n: int, seed: int = 0) -> tuple[Inputs, np.ndarray]:
    """a0 is a step on statistic 0 (a 'parses' anchor); a1 is linear in the embedding (a topical one)."""
    rng = np.random.default_rng(seed)
    stats = rng.normal(size=(n, 6)).astype(np.float32)
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    w = np.random.default_rng(99).normal(size=16)  # one target function for every sample
    y = np.stack([np.where(stats[:, 0] > 0.3, 4.5, 1.5), 3 + 4 * emb @ w / np.linalg.norm(w)], axis=1)
    texts = [f"record {i} " + "word " * int(3 + 5 * abs(s)) for i, s in enumerate(stats[:, 1])]
    return Inputs(texts=texts, embeddings=emb, stats=stats), y


def test_trees_predict_exactly_as_sklearn_and_survive_a_round_trip(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = data(300)
    p = TreesParams(pca=0, n_estimators=40)
    s = TreesStudent(p, ANCHORS, (1, 5), seed=3)
    s.fit(x, y)
    test, _ = data(200, seed=1)
    ref = HistGradientBoostingRegressor(max_iter=40, learning_rate=p.learning_rate, max_depth=p.max_depth,
                                        min_samples_leaf=p.min_samples_leaf, l2_regularization=p.l2,
                                        early_stopping=False, random_state=3).fit(x.stats, y[:, 0])
    np.testing.assert_allclose(s.predict(test, clipped=False)[:, 0], ref.predict(test.stats), atol=1e-6)
    s.save(tmp_path / "t")
    again = load_student(tmp_path / "t")
    np.testing.assert_array_equal(again.predict(test), s.predict(test))


def test_balanced_trees_predict_as_sklearn_on_unweighted_bins_with_the_weights(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    from mira_core.students.trees import bin_edges, to_bins

    x, y = data(400)  # 400 distinct values per statistic: quantile bins, not midpoints
    y[:6, 0] = 1.0  # a rare score, so the weights differ
    p = TreesParams(pca=0, n_estimators=40, balance=0.5)
    s = TreesStudent(p, ANCHORS, (1, 5), seed=3)
    s.fit(x, y)
    test, _ = data(200, seed=1)
    edges = bin_edges(x.stats)
    assert all(len(np.unique(c)) > 255 for c in x.stats.T)  # the quantile path, not the midpoints
    for mine, sklearns in zip(edges, _BinMapper().fit(x.stats.astype(np.float64)).bin_thresholds_, strict=True):
        np.testing.assert_array_equal(mine, sklearns)  # the very edges sklearn bins with when unweighted
    ref = HistGradientBoostingRegressor(max_iter=40, learning_rate=p.learning_rate, max_depth=p.max_depth,
                                        min_samples_leaf=p.min_samples_leaf, l2_regularization=p.l2,
                                        early_stopping=False, random_state=3)
    ref.fit(to_bins(x.stats, edges), y[:, 0], sample_weight=label_weights(y[:, 0], 0.5))
    # the checkpoint's thresholds are on the statistics themselves, so predicting needs no bins
    np.testing.assert_allclose(s.predict(test, clipped=False)[:, 0], ref.predict(to_bins(test.stats, edges)),
                               atol=1e-6)
    s.save(tmp_path / "t")
    np.testing.assert_array_equal(load_student(tmp_path / "t").predict(test), s.predict(test))


def test_trees_learn_a_step_that_ridge_on_embeddings_cannot(tmp_path):
    x, y = data(400)
    test, ty = data(300, seed=2)
    trees = TreesStudent(TreesParams(), ANCHORS, (1, 5))
    trees.fit(x, y)
    assert np.abs(trees.predict(test)[:, 0] - ty[:, 0]).mean() < 0.3
    head = make_student(DistillParams(student="head", head={"stats": False}), ANCHORS, (1, 5), EmbedParams(), None)
    head.fit(x, y)
    assert np.abs(head.predict(test)[:, 0] - ty[:, 0]).mean() > 0.9  # the embedding knows nothing of statistic 0


@pytest.mark.parametrize("kind", ["head", "linear"])
def test_statistics_beside_the_inputs_help_and_are_checked(kind, tmp_path):
    x, y = data(400)
    test, ty = data(300, seed=2)
    errors = {}
    for with_stats in (False, True):
        p = DistillParams(student=kind, head={"stats": with_stats}, linear={"stats": with_stats, "n_features": 4096})
        s = make_student(p, ANCHORS, (1, 5), EmbedParams(), None)
        s.fit(x, y)
        errors[with_stats] = np.abs(s.predict(test)[:, 0] - ty[:, 0]).mean()
        s.save(tmp_path / f"{kind}{with_stats}")
        # exactly: distill's val figures are of the fitted student, score's of the loaded one
        loaded = load_student(tmp_path / f"{kind}{with_stats}")
        np.testing.assert_array_equal(loaded.predict(test, clipped=False), s.predict(test, clipped=False))
    assert errors[True] < errors[False] - 0.2
    with pytest.raises(Exception, match="statistics"):
        s.predict(Inputs(texts=test.texts, embeddings=test.embeddings, stats=test.stats[:, :3]))


def test_unclipped_predictions_go_past_the_scale_and_clipped_ones_do_not():
    x, y = data(300)
    y = y.copy()
    y[:, 1] = np.clip(y[:, 1] * 3 - 6, 1, 5)  # many labels at the ends of the scale
    s = make_student(DistillParams(student="head"), ANCHORS, (1, 5), EmbedParams(), None)
    s.fit(x, y)
    raw, clipped = s.predict(x, clipped=False), s.predict(x)
    assert raw.max() > 5 and clipped.max() == 5 and clipped.min() >= 1


def test_auto_chooses_per_anchor_on_train_folds_and_round_trips(tmp_path):
    x, y = data(360)
    p = DistillParams(student="auto", auto={"candidates": ["head", "trees"], "folds": 3}, head={"stats": False},
                      trees={"pca": 0})
    s = make_student(p, ANCHORS, (1, 5), EmbedParams(), None)
    info = s.fit(x, y)
    assert info["choice"]["a0"] == "trees"
    # the topic is the head's: alone, or a blend that weighs it almost entirely
    assert info["choice"]["a1"] == "head" or (info["choice"]["a1"] == "blend" and
                                              info["stack"]["a1"]["weights"]["head"] > 0.8 >
                                              info["stack"]["a1"]["weights"]["trees"] * 4)
    assert set(info["cv"]["a0"]) == {"head", "trees", "blend"} and info["cv"]["a0"]["trees"]["spearman"] > 0.8
    test, ty = data(200, seed=5)
    pred = s.predict(test)
    assert np.abs(pred - ty).mean(axis=0).max() < 0.5
    s.save(tmp_path / "auto")
    assert sorted(p.name for p in (tmp_path / "auto").iterdir() if p.is_dir()) == ["head", "trees"]
    again = load_student(tmp_path / "auto")
    np.testing.assert_allclose(again.predict(test), pred, atol=1e-5)
    v = student_version(tmp_path / "auto")
    (tmp_path / "auto" / "trees" / "model.safetensors").write_bytes(b"changed")
    assert student_version(tmp_path / "auto") != v  # a member's change is a new version


def test_the_blend_weighs_candidates_by_their_use_not_equally():
    from mira_core.students.auto import _stack, _stacked

    rng = np.random.default_rng(0)
    y = rng.integers(1, 6, 400).astype(float)
    good, noise = y + rng.normal(0, 0.3, 400), rng.uniform(1, 5, 400)  # a candidate that learned, one that did not
    stack = _stack(np.column_stack([good, noise]), y, ["trees", "head"])
    assert stack["weights"]["head"] < 0.05 < 0.8 < stack["weights"]["trees"]
    stacked = _stacked({"trees": good, "head": noise}, stack, 400)
    assert np.abs(stacked - y).mean() < np.abs((good + noise) / 2 - y).mean() / 2  # the plain mean is dragged


def test_a_chosen_blend_round_trips_and_an_older_checkpoint_reads_as_the_mean(tmp_path):
    import json

    x, y = data(360)
    y = np.column_stack([y[:, 0] / 2 + y[:, 1] / 2, y[:, 1]])  # a0 needs both: the step (trees), the topic (head)
    p = DistillParams(student="auto", auto={"candidates": ["head", "trees"], "folds": 3}, head={"stats": False},
                      trees={"pca": 0})
    s = make_student(p, ANCHORS, (1, 5), EmbedParams(), None)
    info = s.fit(x, y)
    assert info["choice"]["a0"] == "blend"
    assert set(info["stack"]) == {a for a, k in info["choice"].items() if k == "blend"}  # only where it scores
    assert all(w > 0.2 for w in info["stack"]["a0"]["weights"].values())
    test, _ = data(100, seed=5)
    pred = s.predict(test)
    s.save(tmp_path / "auto")
    np.testing.assert_allclose(load_student(tmp_path / "auto").predict(test), pred, atol=1e-5)
    cfg = json.loads((tmp_path / "auto" / "config.json").read_text())
    del cfg["stack"]  # as saved before the blend was stacked: it meant the plain mean
    (tmp_path / "auto" / "config.json").write_text(json.dumps(cfg))
    members = {k: load_student(tmp_path / "auto" / k).predict(test, clipped=False)[:, 0] for k in ("head", "trees")}
    np.testing.assert_allclose(load_student(tmp_path / "auto").predict(test)[:, 0],
                               np.clip((members["head"] + members["trees"]) / 2, 1, 5), atol=1e-5)


def test_dual_ridge_equals_sklearns_ridge_with_an_intercept():
    import scipy.sparse as sp
    from sklearn.linear_model import Ridge

    from mira_core.students.linear import dual_ridge

    rng = np.random.default_rng(0)
    x = sp.random(80, 500, density=0.05, format="csr", random_state=1)
    x = sp.hstack([x, sp.csr_matrix(rng.normal(size=(80, 4)) * 3)], format="csr")  # dense statistics-like columns
    y = rng.normal(size=(80, 3))
    coef, intercept = dual_ridge(x, y, 2.0)
    ref = Ridge(alpha=2.0, solver="svd").fit(x.toarray(), y)
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-8)


def test_weighted_dual_ridge_equals_sklearns_weighted_ridge_and_equal_weights_the_plain_one():
    import scipy.sparse as sp
    from sklearn.linear_model import Ridge

    from mira_core.students.linear import dual_ridge, weighted_dual_ridge

    rng = np.random.default_rng(0)
    x = sp.random(80, 500, density=0.05, format="csr", random_state=1)
    x = sp.hstack([x, sp.csr_matrix(rng.normal(size=(80, 4)) * 3)], format="csr")
    y = rng.normal(size=80)
    w = rng.uniform(0.2, 5.0, size=80)
    coef, intercept = weighted_dual_ridge(x, y, 2.0, w)
    ref = Ridge(alpha=2.0, solver="svd").fit(x.toarray(), y, sample_weight=w)
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-8)
    assert abs(intercept - ref.intercept_) < 1e-8
    plain_coef, plain_intercept = dual_ridge(x, y[:, None], 2.0)
    coef, intercept = weighted_dual_ridge(x, y, 2.0, np.ones(80))  # (label_weights have mean 1)
    np.testing.assert_allclose(coef, plain_coef[0], atol=1e-8)
    assert abs(intercept - plain_intercept[0]) < 1e-8


def test_label_weights_lift_a_rare_score_and_leave_none_when_off():
    y = np.array([5.0] * 18 + [1.0] * 2)
    assert label_weights(y, 0.0) is None
    w = label_weights(y, 1.0)
    assert np.isclose(w.mean(), 1.0) and np.isclose(w[-1] / w[0], 9.0)  # 18 against 2: inverse frequency
    assert np.isclose(label_weights(y, 0.5)[-1] / label_weights(y, 0.5)[0], 3.0)  # its square root


def test_balanced_trees_reach_a_rare_floor_the_unweighted_ones_average_away():
    # 4 of 200 records carry the floor score 1 and sit at the far end of a noisy statistic; the rest score 4-5
    rng = np.random.default_rng(5)
    stats = rng.normal(size=(200, 6)).astype(np.float32)
    rare = np.argsort(stats[:, 0])[-4:]
    stats[rare, 0] += rng.normal(0, 0.5, 4).astype(np.float32)  # not cleanly apart from the high common ones
    y = np.stack([np.where(rng.random(200) < 0.5, 4.0, 5.0)] * 2, axis=1)
    y[rare] = 1.0
    x = Inputs(texts=[f"r{i}" for i in range(200)], embeddings=None, stats=stats)
    pred = {}
    for balance in (0.0, 1.0):
        s = TreesStudent(TreesParams(pca=0, balance=balance), ANCHORS, (1, 5), seed=0)
        s.fit(x, y)
        pred[balance] = s.predict(x)[rare, 0].mean()
    assert pred[1.0] < pred[0.0] - 0.3, pred  # weighted, the floor is reached more nearly


@pytest.mark.parametrize("kind", ["head", "mlp", "linear"])
def test_balanced_head_and_linear_students_come_nearer_a_rare_floor(kind):
    # 6 of 300 records score 1 and sit apart on statistic 0 only partly (noise); the rest score 4-5. Weighted,
    # the rare records pull the fit toward them; unweighted, their squared error is worth little
    rng = np.random.default_rng(5)
    stats = rng.normal(size=(300, 6)).astype(np.float32)
    rare = np.argsort(stats[:, 0])[-6:]
    stats[rare, 0] += rng.normal(0, 0.5, 6).astype(np.float32)
    emb = rng.normal(size=(300, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    y = np.stack([np.where(rng.random(300) < 0.5, 4.0, 5.0)] * 2, axis=1)
    y[rare] = 1.0
    x = Inputs(texts=[f"r{i}" for i in range(300)], embeddings=emb, stats=stats)
    pred = {}
    for balance in (0.0, 1.0):
        settings = {"head": {"ridge_alphas": [10.0]}, "linear": {"alpha": 10.0},
                    "mlp": {"model": "mlp", "epochs": 100, "hidden": 4, "lr": 0.01}}[kind]  # too small to memorise
        student = "linear" if kind == "linear" else "head"
        s = make_student(DistillParams(student=student, **{student: {"balance": balance, **settings}}), ANCHORS, (1, 5),
                         EmbedParams(), None)
        s.fit(x, y)
        pred[balance] = s.predict(x, clipped=False)[rare, 0].mean()
    assert pred[1.0] < pred[0.0] - 0.3, pred  # weighted, the floor is reached more nearly


def test_a_balanced_head_fits_each_anchor_as_sklearns_weighted_ridge_does():
    from sklearn.linear_model import RidgeCV

    x, y = data(200)
    y[:5, 1] = 0.5  # a rare value, so the weights are not all equal
    alphas = [0.1, 10.0, 1000.0]
    s = make_student(DistillParams(student="head", head={"balance": 0.5, "ridge_alphas": alphas}), ANCHORS, (1, 5),
                     EmbedParams(), None)
    s.fit(x, y)
    test, _ = data(50, seed=4)
    f = np.hstack([x.embeddings, x.stats]).astype(np.float64)
    mean, std = f.mean(axis=0), f.std(axis=0)
    for j in range(2):
        ref = RidgeCV(alphas=alphas).fit((f - mean) / std, y[:, j], sample_weight=label_weights(y[:, j], 0.5))
        tf = (np.hstack([test.embeddings, test.stats]) - mean) / std
        np.testing.assert_allclose(s.predict(test, clipped=False)[:, j], ref.predict(tf), atol=1e-3)


class _Fixed:
    """A candidate whose scores are one column of the embeddings: the test sets each record's unclipped score."""

    def __init__(self, column: int) -> None:
        self.column = column

    def fit(self, x, y):
        return {}

    def predict(self, x, clipped=True):
        return x.embeddings[:, [self.column]].astype(np.float32)


def test_auto_chooses_on_the_unclipped_scores_the_mask_and_selection_read():
    """Candidate "head" overshoots the scale's top: clipped to 5, six top records tie and its Spearman equals the
    other's, at a lower MAE; but unclipped it ranks a 4 above a 5, which selection sees. "trees" orders every
    record as the teacher does (unclipped Spearman 0.88 against 0.83, Somers' D 1.0 against 0.93): it wins."""
    from mira_core.students.auto import AutoStudent

    t = np.array([5, 5, 5, 5, 5, 5, 4, 4, 1, 1.0] * 3)
    over = np.array([9, 8, 7, 6, 5.5, 4.6, 4.8, 4.0, 1, 1.2] * 3)
    inside = np.array([4.9, 4.8, 4.7, 4.6, 4.5, 4.45, 4.3, 4.2, 1, 1.2] * 3)
    x = Inputs(embeddings=np.column_stack([over, inside]).astype(np.float32))
    p = DistillParams(student="auto", auto={"candidates": ["head", "trees"], "folds": 3})
    s = AutoStudent(p, ["a0"], (1, 5), lambda kind: _Fixed({"head": 0, "trees": 1}[kind]))
    info = s.fit(x, t[:, None])
    cv = info["cv"]["a0"]
    assert cv["head"]["somers_d"] < cv["trees"]["somers_d"] == 1.0 and cv["head"]["mae"] < cv["trees"]["mae"]
    assert info["choice"]["a0"] in ("trees", "blend") and info["choice"]["a0"] != "head"
    if info["choice"]["a0"] == "blend":  # the stack may take the same order; then it must weigh "trees"
        assert info["stack"]["a0"]["weights"]["trees"] > info["stack"]["a0"]["weights"]["head"]


def test_the_blend_is_judged_on_weights_that_never_saw_the_fold_it_scores():
    """Three candidates that read pure noise, and noise labels: no option orders the records. Weights stacked on
    every out-of-fold prediction and judged on the same predictions fit the noise (least squares never correlates
    negatively with its own target), so the blend would win the choice by its own fit: in 11 of these 20 draws,
    at a mean cross-validated Spearman of +0.18. Cross-fitted (each fold scored by weights from the other folds)
    it wins none."""
    from mira_core.students.auto import AutoStudent

    column = {"head": 0, "linear": 1, "trees": 2}
    p = DistillParams(student="auto", auto={"candidates": list(column), "folds": 3})
    wins, rho = 0, []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = Inputs(embeddings=rng.normal(3, 1, size=(30, 3)).astype(np.float32))
        info = AutoStudent(p, ["a0"], (1, 5), lambda kind: _Fixed(column[kind])).fit(x, rng.normal(3, 1, (30, 1)))
        wins += info["choice"]["a0"] == "blend"
        rho.append(info["cv"]["a0"]["blend"]["spearman"] or 0.0)
        assert set(info["stack"]) == ({"a0"} if info["choice"]["a0"] == "blend" else set())
    assert wins <= 2 and np.mean(rho) < 0.05


def test_a_blend_of_no_weight_is_judged_as_the_constant_it_serves():
    """Candidates that predict one value for every record help nothing: the stack gives them no weight and serves
    its intercept. Cross-fitted, each fold would get the other folds' mean label as its intercept, a made-up order
    with a defined Spearman (-0.20 here) that would rank the blend above options whose Spearman is undefined."""
    from mira_core.students.auto import AutoStudent, _stack

    column = {"head": 0, "linear": 1, "trees": 2}
    x = Inputs(embeddings=np.tile(np.array([[1.0, 2.0, 3.0]], np.float32), (30, 1)))
    y = np.arange(30, dtype=np.float64)[:, None] % 5 + 1
    p = DistillParams(student="auto", auto={"candidates": list(column), "folds": 3})
    info = AutoStudent(p, ["a0"], (1, 5), lambda kind: _Fixed(column[kind])).fit(x, y)
    # the stack it would serve (kept in `info` only where the blend wins): no weight on any candidate
    assert all(w == 0 for w in _stack(x.embeddings.astype(np.float64), y[:, 0], list(column))["weights"].values())
    assert info["cv"]["a0"]["blend"]["spearman"] is None and info["cv"]["a0"]["blend"]["somers_d"] in (None, 0.0)
    assert info["cv"]["a0"]["blend"]["mae"] <= min(v["mae"] for v in info["cv"]["a0"].values())  # the mean label


class _MeanOf:
    """A candidate that found nothing to split on: every record gets one value, the mean of an embedding column
    over the records it was fitted on (a fold's train labels, when the column holds them)."""

    def __init__(self, column: int) -> None:
        self.column = column

    def fit(self, x, y):
        self.value = float(x.embeddings[:, self.column].mean())
        return {}

    def predict(self, x, clipped=True):
        return np.full((len(x), 1), self.value, np.float32)


def test_a_candidate_constant_within_each_fold_is_judged_as_a_constant():
    """Nine of 60 records score 1, the rest 5. "trees" gives every record of a fold one value that follows the
    fold's train labels, so its out-of-fold scores order the folds by how many 1s they hold: a Spearman made by the
    folds, not the records (0.20 / 0.29 / 0.23 in draws 1, 2 and 4), which won the choice, alone or through the
    blend, over "head" that does order the records (0.15 / 0.28 / 0.37). Judged as the constant it is, it neither
    wins nor carries a weight in the blend."""
    from mira_core.students.auto import AutoStudent

    p = DistillParams(student="auto", auto={"candidates": ["head", "trees"], "folds": 3})
    for seed in range(5):
        rng = np.random.default_rng(seed)
        y = np.full(60, 5.0)
        y[rng.choice(60, 9, replace=False)] = 1.0
        x = Inputs(embeddings=np.column_stack([-y, y + rng.normal(0, 4, 60)]).astype(np.float32))
        info = AutoStudent(p, ["a0"], (1, 5), lambda kind: {"head": _Fixed(1), "trees": _MeanOf(0)}[kind]).fit(
            x, y[:, None])
        cv = info["cv"]["a0"]
        assert cv["trees"]["spearman"] is None and cv["trees"]["somers_d"] is None, (seed, cv)
        assert info["choice"]["a0"] == "head", (seed, info["choice"], cv)


def test_auto_says_when_a_group_has_too_few_labels_for_its_folds():
    from mira_core.errors import ConfigError
    from mira_core.students.auto import AutoStudent

    x = Inputs(embeddings=np.arange(4, dtype=np.float32).reshape(2, 2))
    s = AutoStudent(DistillParams(student="auto", auto={"candidates": ["head", "trees"]}), ["a0"], (1, 5),
                    lambda kind: _Fixed(0))
    with pytest.raises(ConfigError, match=r"2 labeled train records: too few for distill.auto.folds = 3"):
        s.fit(x, np.array([[1.0], [5.0]]))
    three = Inputs(embeddings=np.arange(6, dtype=np.float32).reshape(3, 2))
    assert s.fit(three, np.array([[1.0], [3.0], [5.0]]))["n_train"] == 3  # 3 records, 3 folds: each fits on 2


def test_auto_candidates_are_listed_once_and_trees_need_the_statistics():
    from mira_core.config import parse_params
    from mira_core.errors import ConfigError

    src = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}]}
    with pytest.raises(ConfigError, match="lists a kind more than once"):
        parse_params({**src, "distill": {"auto": {"candidates": ["head", "head"]}}})
    with pytest.raises(ConfigError, match="embed.stats is false"):
        parse_params({**src, "embed": {"stats": False}})  # the default auto student has trees among its candidates
    assert parse_params({**src, "embed": {"stats": False}, "distill": {"auto": {"candidates": ["head", "linear"]}}})
    with pytest.raises(ConfigError, match=r"ridge_alphas\[0\] = 0.0: Input should be greater than 0"):
        parse_params({**src, "distill": {"head": {"ridge_alphas": [0.0]}}})  # at params time, not inside RidgeCV


def test_an_mlp_head_ignores_a_statistic_that_never_varied_in_train():
    # A defect absent from the labels leaves its statistic constant in train; the MLP's first-layer weights for it
    # got no gradient, and a scored record where it is not 0 must not move the prediction through them.
    x, y = data(200)
    x.stats[:, 5] = 0.0
    p = DistillParams(student="head", head={"model": "mlp", "epochs": 50, "hidden": 8, "lr": 0.01})
    s = make_student(p, ANCHORS, (1, 5), EmbedParams(), None)
    s.fit(x, y)
    test, _ = data(50, seed=4)
    test.stats[:, 5] = 0.0
    before = s.predict(test, clipped=False)
    test.stats[:, 5] = 50.0  # never seen in train
    np.testing.assert_allclose(s.predict(test, clipped=False), before, atol=1e-5)


@pytest.mark.parametrize("model", ["ridge", "mlp"])
def test_a_head_predicts_an_anchor_constant_in_train_as_that_constant(model):
    # Every train record scores 4 on a1: nothing to learn. Ridge gives 4 exactly; the mlp's output weights for it
    # trained toward 0 from a random start, and its scores spread around 4 (and so ordered records by noise).
    x, y = data(200)
    y[:, 1] = 4.0
    p = DistillParams(student="head", head={"model": model, "epochs": 30, "hidden": 8, "lr": 0.01})
    s = make_student(p, ANCHORS, (1, 5), EmbedParams(), None)
    s.fit(x, y)
    test, _ = data(50, seed=4)
    np.testing.assert_allclose(s.predict(test, clipped=False)[:, 1], 4.0, atol=1e-5)
    assert np.ptp(s.predict(test, clipped=False)[:, 0]) > 0.5  # the other anchor is still learned
