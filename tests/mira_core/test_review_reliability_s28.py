"""Review of `mira_core.reliability` and `mira_core.baselines` at their edges: values that are not finite, and a
baseline given nothing to fit on."""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.baselines import single_rubric_scores
from mira_core.errors import ConfigError
from mira_core.reliability import agreement, somers_d, spearman, spearman_ceiling


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_value_that_is_not_finite_makes_the_rank_statistics_undefined(bad):
    # scipy's Spearman was NaN (not None, so not "undefined" to a caller), and Somers' D counted NaN as a teacher
    # level of its own: 0.5 for a student that orders every other pair right
    truth, pred = np.array([1.0, 2.0, 3.0, 4.0, bad]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    for t, p in ((truth, pred), (pred, truth)):
        assert spearman(t, p) is None and somers_d(t, p) is None
    assert spearman_ceiling(truth) is None
    # `agreement` leaves the record out first, as before: the figures of the finite records. A record without a
    # finite teacher label is not one the student left unscored (review s42); one without a finite score is.
    a = agreement(truth, pred)
    assert (a["n"], a["unscored"], a["spearman"], a["somers_d"]) == (4, 0, 1.0, 1.0)
    a = agreement(pred, truth)
    assert (a["n"], a["unscored"], a["spearman"], a["somers_d"]) == (4, 1, 1.0, 1.0)


def test_single_rubric_leaves_records_without_a_target_out_and_needs_one_to_fit_on():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = x[:, 0] + rng.normal(0, 0.1, 20)
    holed = y.copy()
    holed[3] = np.nan  # a labeled record without a finite mean anchor score: "Input y contains NaN" before
    assert np.allclose(single_rubric_scores(x, holed, x), single_rubric_scores(np.delete(x, 3, 0), np.delete(y, 3), x))
    with pytest.raises(ConfigError, match="single_rubric: no labeled record"):  # was sklearn's "0 sample(s)"
        single_rubric_scores(np.empty((0, 3)), np.empty(0), x)
    with pytest.raises(ConfigError, match="single_rubric: no labeled record"):
        single_rubric_scores(x[:2], np.array([np.nan, np.nan]), x)
    assert single_rubric_scores(x, y, np.empty((0, 3))).shape == (0,)
