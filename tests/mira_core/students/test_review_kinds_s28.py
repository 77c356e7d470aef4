"""Review tests (session 28) of the linear, trees and generative students: each failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.config import GenerativeParams, LinearParams, TreesParams
from mira_core.errors import ConfigError
from mira_core.students.base import Inputs
from mira_core.students.generative import GenerativeStudent
from mira_core.students.linear import LinearStudent
from mira_core.students.trees import TreesStudent

ANCHORS = ["a", "b"]
SCALE = (1, 5)


def _data(n: int = 60, seed: int = 0) -> tuple[Inputs, np.ndarray]:
    """Texts, statistics and embeddings; a is linear in statistic 0, b in embedding axis 0."""
    rng = np.random.default_rng(seed)
    stats = rng.normal(size=(n, 3)).astype(np.float32)
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    texts = [f"word{i % 5} other{i % 3} text" for i in range(n)]
    return Inputs(texts=texts, embeddings=emb, stats=stats), np.stack([3 + stats[:, 0], 3 + 1.5 * emb[:, 0]], 1)


def test_a_served_reply_with_a_non_ascii_digit_token_is_read_not_a_crash():
    # "²".isdigit() is True and int("²") a ValueError: a rationale citing m² failed the whole served shard
    student = GenerativeStudent(GenerativeParams(model="unused", device="cpu"), ["a00"], SCALE)
    toks = ['{"scores": [{"anchor": "a00", "rationale": "area in m', "²", '", "score": ', "3", "}]}"]
    lp = {"tokens": toks, "token_logprobs": [-0.01] * 5,
          "top_logprobs": [{toks[0]: -0.01}, {"²": -0.01}, {toks[2]: -0.01}, {"3": -0.1, "4": -2.0}, {toks[4]: -0.01}]}
    got = student._expected_from_logprobs(lp, {"a00": 3})
    assert set(got) == {"a00"} and 3.0 < got["a00"] < 3.5


def test_trees_fitted_on_principal_axes_refuse_inputs_without_or_with_other_embeddings():
    # the walk read a column past the statistics (IndexError), or the centring failed to broadcast
    x, y = _data()
    s = TreesStudent(TreesParams(pca=4, n_estimators=10), ANCHORS, SCALE)
    s.fit(x, y)
    assert any((s.tensors["b.feature"] >= 3).tolist())  # b splits on the principal axes
    with pytest.raises(ValueError, match="trees student reads embeddings; these inputs hold none"):
        s.predict(Inputs(stats=x.stats))
    with pytest.raises(ConfigError, match=r"trees student was trained on 8-dim embeddings; got shape \(60, 6\)"):
        s.predict(Inputs(embeddings=x.embeddings[:, :6], stats=x.stats))
    np.testing.assert_array_equal(s.predict(x), s.predict(Inputs(embeddings=x.embeddings, stats=x.stats)))


def test_linear_n_features_past_the_hashers_bound_is_refused_by_params_naming_the_key():
    # params.yaml accepted any n_features > 0; make_student then failed with a bare ValueError, after labeling
    from mira_core.config import parse_params

    src = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}]}
    with pytest.raises(ConfigError, match=r"distill.linear.n_features = 33554432: Input should be less than or equal "
                                          r"to 16777216"):
        parse_params({**src, "distill": {"linear": {"n_features": 2**25}}})
    assert parse_params({**src, "distill": {"linear": {"n_features": 2**24}}}).distill.linear.n_features == 2**24


def test_a_linear_student_fitted_again_without_statistics_forgets_the_first_fits():
    x, y = _data()
    s = LinearStudent(LinearParams(n_features=2**10), ANCHORS, SCALE)
    s.fit(x, y)
    assert s.reads_stats
    s.fit(Inputs(texts=x.texts), y)  # kept the first fit's standardisation, then refused its own inputs
    assert not s.reads_stats and s.predict(Inputs(texts=x.texts)).shape == (60, 2)


@pytest.mark.parametrize("kind", ["linear", "trees"])
def test_statistics_that_are_not_finite_are_refused_not_turned_into_nan_scores(kind):
    # one inf statistic in training made every linear prediction NaN (a train_mae of nan, no error)
    x, y = _data()
    student = (LinearStudent(LinearParams(n_features=2**10), ANCHORS, SCALE) if kind == "linear"
               else TreesStudent(TreesParams(pca=0, n_estimators=5), ANCHORS, SCALE))
    bad = x.stats.copy()
    bad[0, 2] = np.inf
    with pytest.raises(ConfigError, match=f"1 document statistic\\(s\\) given to the {kind} student are not finite"):
        student.fit(Inputs(texts=x.texts, stats=bad), y)
    student.fit(x, y)
    bad[0, 2] = np.nan
    with pytest.raises(ConfigError, match="not finite"):
        student.predict(Inputs(texts=x.texts, stats=bad))


def test_a_checkpoint_whose_settings_this_version_does_not_take_is_named(tmp_path):
    # A settings key from a newer mira (or a hand edit) failed as pydantic's bare ValidationError, naming no folder
    import json

    from mira_core.students import load_student

    x = Inputs(texts=[f"r{i}" for i in range(40)], stats=np.random.default_rng(0).normal(size=(40, 4)))
    s = TreesStudent(TreesParams(pca=0, n_estimators=5), ANCHORS, SCALE)
    s.fit(x, np.tile(np.arange(40, dtype=float)[:, None] % 5 + 1, (1, len(ANCHORS))))
    s.save(tmp_path / "t")
    np.testing.assert_array_equal(load_student(tmp_path / "t").predict(x), s.predict(x))
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    cfg["settings"]["leaf_budget"] = 3
    (tmp_path / "t" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"/t: config.json's settings do not fit this version of mira "
                                          r"\(leaf_budget: Extra inputs are not permitted\); re-run distill"):
        load_student(tmp_path / "t")
