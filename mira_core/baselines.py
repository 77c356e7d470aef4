"""Baselines selected at the same token budget as MIRA, each as a score that `selection.select` ranks by.

- random: a seeded hash of the record id (a uniform random order, the same on every run).
- length: the number of tokens (longest first), the simplest "more is better" heuristic.
- dsir: importance resampling toward target sources (Xie et al., 2023): hashed word 1-2-gram bags,
  a log-likelihood ratio of the target over the raw distribution per record, plus Gumbel noise, so
  that taking the top of the ranking samples records in proportion to their importance weights.
- single_rubric: one quality score for the whole corpus, as peers do (FineWeb-Edu style): one ridge
  head on the record embeddings (and the document statistics, when the embed stage made them: the same
  inputs the MIRA students get, so the comparison isolates groups, rubrics and the mask), trained on every
  labeled record of every group to predict the mean of its anchor scores, applied to every record, no
  groups and no mask.

All four rank globally (one cut over the corpus): that is how each is used by its authors.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mira_core.errors import ConfigError

DSIR_FEATURES = 2**16


def random_scores(record_ids: pl.Series, seed: int) -> np.ndarray:
    """A uniform score in [0, 1) per record, fixed by the seed and the id."""
    return (record_ids.hash(seed=seed).to_numpy() >> np.uint64(11)).astype(np.float64) / float(2**53)


def length_scores(n_tokens: pl.Series) -> np.ndarray:
    return n_tokens.to_numpy().astype(np.float64)


def _bags(texts: list[str]):
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(n_features=DSIR_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None,
                            lowercase=True, token_pattern=r"(?u)\b\w+\b")
    return vec.transform(texts)


def dsir_scores(texts: list[str], is_target: np.ndarray, seed: int, record_ids: pl.Series) -> np.ndarray:
    """log p_target(x) - log p_raw(x) under hashed n-gram bag models, plus Gumbel noise fixed by the seed and each
    record's id (`record_ids`, one per text)."""
    is_target = np.asarray(is_target, dtype=bool)
    if not is_target.any():
        # with no target text the target model is add-one smoothing alone, and the "importance" would just
        # reward rare n-grams: a ranking that looks like a baseline and means nothing
        raise ConfigError("dsir: no record of the dsir_target sources is in the corpus (all quarantined, or empty)")
    x = _bags(texts)
    counts_t = np.asarray(x[is_target].sum(axis=0)).ravel() + 1.0  # add-one smoothing
    counts_r = np.asarray(x.sum(axis=0)).ravel() + 1.0
    log_ratio = np.log(counts_t / counts_t.sum()) - np.log(counts_r / counts_r.sum())
    weights = x @ log_ratio
    # The noise is keyed by the record id, as the random baseline's scores are: drawn by row position, it followed
    # the line order of the source files, and two records of the same text swapped scores when their lines did.
    # "dsir/" keeps it apart from the random baseline's draw at the same seed. u lies in (0, 1).
    u = ((("dsir/" + record_ids).hash(seed=seed).to_numpy() >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)
    gumbel = -np.log(-np.log(u))
    return np.asarray(weights).ravel() + gumbel


def single_rubric_scores(train_x: np.ndarray, train_y: np.ndarray, all_x: np.ndarray,
                         alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)) -> np.ndarray:
    """One global scorer: ridge on standardised inputs (the head student's recipe, L2 strength by leave-one-out),
    fitted to the mean anchor score of every labeled record (one without a finite mean has no target and is left
    out). A ConfigError when no record is left to fit on: scikit-learn's "Found array with 0 sample(s)" named
    neither the baseline nor the labels."""
    from sklearn.linear_model import RidgeCV

    has_target = np.isfinite(np.asarray(train_y, dtype=np.float64))
    if not has_target.all():
        train_x, train_y = np.asarray(train_x)[has_target], np.asarray(train_y)[has_target]
    if not len(train_y):
        raise ConfigError("single_rubric: no labeled record with an embedding and a finite mean anchor score to fit "
                          "on (re-run label, or leave single_rubric out of select.baselines)")
    if not len(all_x):
        return np.empty(0, dtype=np.float64)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    model = RidgeCV(alphas=alphas).fit((train_x - mean) / std, train_y)
    return model.predict((all_x - mean) / std).astype(np.float64)
