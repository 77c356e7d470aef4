"""Review tests (session 31) of the students and the distill stage: each failed before its fix."""

from __future__ import annotations

import numpy as np

from mira_core.config import DistillParams, EmbedParams
from mira_core.students import make_student
from mira_core.students.auto import _fold_constant
from mira_core.students.base import Inputs

SCALE = (1, 5)


def test_auto_with_one_record_folds_judges_its_candidates_on_their_order_not_as_constants():
    # at as many folds as train records (10 at folds: 10, 3 at the default 3) every fold holds one record, so every
    # candidate 'gave every record of a fold one value': all were judged constants, and a blend of them won the
    # choice at a cross-validated Spearman of -1.0
    rng = np.random.default_rng(0)
    e = rng.normal(size=(10, 4)).astype(np.float32)
    x = Inputs(texts=[f"t{i}" for i in range(10)], embeddings=e, stats=rng.normal(size=(10, 2)).astype(np.float32))
    y = np.clip(np.rint(3 + 1.5 * e[:, :1]), *SCALE)
    p = DistillParams(student="auto", auto={"folds": 10, "candidates": ["head", "linear"]}, linear={"n_features": 64})
    info = make_student(p, ["a"], SCALE, EmbedParams(), None).fit(x, y)
    assert info["cv"]["a"]["head"]["spearman"] is not None and info["cv"]["a"]["head"]["spearman"] > 0.5
    assert info["choice"] == {"a": "head"}
    folds = [np.array([0]), np.array([1, 2]), np.array([3])]
    assert not _fold_constant(np.array([1.0, 2.0, 3.0, 4.0]), [np.array([i]) for i in range(4)])
    assert _fold_constant(np.array([1.0, 2.0, 2.0, 4.0]), folds)  # a fold of two records still says it
    assert not _fold_constant(np.array([1.0, 2.0, 3.0, 4.0]), folds)


def test_random_tiny_groups_give_finite_scores_on_the_scale_that_a_checkpoint_gives_back(tmp_path):
    # invariants over seeded tiny inputs (2-12 records, constant or all-but-one-constant anchors, zero-vector
    # embeddings, statistics at 1e6): finite, clipped into the scale, an anchor constant in train predicted as that
    # constant, a saved checkpoint predicting the same bytes, and one record at a time as in a batch
    from mira_core.students import load_student

    for case in range(24):
        rng = np.random.default_rng(case)
        n, k = int(rng.choice([2, 3, 5, 12])), int(rng.choice([1, 3]))
        emb = rng.normal(size=(n, 3)).astype(np.float32)
        emb[int(rng.integers(n))] = 0.0
        stats = (rng.normal(size=(n, 2)) * rng.choice([1.0, 1e6])).astype(np.float32)
        texts = [" ".join(rng.choice(["alpha", "β", "日本", "😀", "x", ""], size=int(rng.integers(0, 5)))) for _ in range(n)]
        y = rng.integers(SCALE[0], SCALE[1] + 1, size=(n, k)).astype(np.float32)
        y[:, 0] = 3.0
        if n > 2 and k > 1:
            y[:, 1] = 5.0
            y[0, 1] = 1.0
        x = Inputs(texts=texts, embeddings=emb, stats=stats)
        for kind in ("head", "linear", "trees"):
            p = DistillParams(student=kind, seed=case, linear={"n_features": 64}, trees={"n_estimators": 3, "pca": 2})
            s = make_student(p, [f"a{j}" for j in range(k)], SCALE, EmbedParams(), None)
            s.fit(x, y)
            raw = s.predict(x, clipped=False)
            assert np.isfinite(raw).all(), (case, kind)
            assert ((s.predict(x) >= SCALE[0]) & (s.predict(x) <= SCALE[1])).all(), (case, kind)
            np.testing.assert_allclose(raw[:, 0], 3.0, atol=1e-3, err_msg=f"{case} {kind}")
            s.save(tmp_path / f"{case}-{kind}")
            np.testing.assert_array_equal(load_student(tmp_path / f"{case}-{kind}").predict(x, clipped=False), raw)
            one = np.concatenate([s.predict(x.take(np.array([i])), clipped=False) for i in range(n)])
            np.testing.assert_allclose(one, raw, rtol=1e-5, atol=1e-4, err_msg=f"{case} {kind}")


def test_a_candidate_judged_constant_gets_no_weight_in_the_served_blend():
    # trees that cannot split within a fold's train records (min_samples_leaf 45 % of the records) give each fold one
    # value: judged constant, no Spearman. Their column in the stack was their mean, which centred to rounding noise
    # (~1e-16) that NNLS weighted at 0.056 here, and the blend served the full-fit trees (which can split) with it
    n = 232
    rng = np.random.default_rng(17)
    rng.integers(40, 300)  # the draw that gave n in the review's search
    e = rng.normal(size=(n, 4)).astype(np.float32)
    stats = rng.normal(size=(n, 2)).astype(np.float32)
    tok = rng.integers(0, 2, size=n)
    x = Inputs(texts=[("good" if t else "bad") + f" t{i}" for i, t in enumerate(tok)], embeddings=e, stats=stats)
    y = np.clip(np.rint(3 + 1.5 * e[:, :1] + tok[:, None] + rng.normal(size=(n, 1))), 1, 5)
    p = DistillParams(student="auto", auto={"folds": 3, "candidates": ["head", "linear", "trees"]},
                      linear={"n_features": 256}, trees={"min_samples_leaf": int(n * 0.45), "pca": 0, "n_estimators": 5})
    student = make_student(p, ["a"], (1, 5), EmbedParams(), None)
    info = student.fit(x, y)
    assert info["cv"]["a"]["trees"]["spearman"] is None and info["choice"]["a"] == "blend"
    assert student.stack["a"]["weights"]["trees"] == 0.0 and "trees" not in student.members
