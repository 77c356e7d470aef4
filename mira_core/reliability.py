"""Agreement between scorers: student versus teacher on val, and the teacher versus itself on repeats.

MAE and Spearman's rho per anchor, overall and per source. Spearman is undefined when either side is
constant (a student that learned one value, an anchor that does not apply to a source and always
gets the middle score); it is reported as None, and the selection stage treats None as unreliable.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, or None when it is undefined (fewer than 3 pairs, or a constant side)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return round(float(spearmanr(a, b).statistic), 4)


def mae(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(float(np.mean(np.abs(np.asarray(a, float) - np.asarray(b, float)))), 4) if len(a) else None


def agreement(truth: np.ndarray, pred: np.ndarray) -> dict:
    """{n, mae, spearman, teacher_constant, unscored} for one anchor; teacher_constant: the teacher gave every record
    the same score, so there is no ranking to agree with (an anchor that does not vary in this source).

    A record the student could not score (NaN: a generative student's unparseable reply) is left out of MAE
    and Spearman and counted in `unscored`; were it kept, NaN would compare as "not above tau" and pass the
    mask. With every record unscored there are no figures (None), and the mask turns the anchor off.
    """
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(truth)
    return {"n": int(ok.sum()), "mae": mae(truth[ok], pred[ok]), "spearman": spearman(truth[ok], pred[ok]),
            "teacher_constant": bool(ok.any() and np.ptp(truth[ok]) == 0), "unscored": int((~ok).sum())}


def per_anchor(truth: np.ndarray, pred: np.ndarray, anchor_ids: list[str]) -> dict[str, dict]:
    return {a: agreement(truth[:, j], pred[:, j]) for j, a in enumerate(anchor_ids)}


def student_report(val: pl.DataFrame, pred: np.ndarray, anchor_ids: list[str], train_mean: np.ndarray) -> dict:
    """Student vs teacher on val: per anchor, per (source, anchor), and the constant predictor beside it."""
    truth = val.select(anchor_ids).to_numpy().astype(float)
    const = np.broadcast_to(train_mean, truth.shape)
    overall = per_anchor(truth, pred, anchor_ids)
    for j, a in enumerate(anchor_ids):
        overall[a]["const_mae"] = mae(truth[:, j], const[:, j])
    sources = {}
    src = val["source"].to_numpy()
    for s in sorted(set(src)):
        m = src == s
        sources[s] = {"n_val": int(m.sum()), "anchors": per_anchor(truth[m], pred[m], anchor_ids)}
    rhos = [v["spearman"] for v in overall.values() if v["spearman"] is not None]
    return {"anchors": overall, "sources": sources, "median_spearman": float(np.median(rhos)) if rhos else None,
            "mean_mae": mae(truth, pred), "const_mean_mae": mae(truth, const)}


def self_agreement(first: pl.DataFrame, second: pl.DataFrame, anchor_ids: list[str]) -> dict[str, dict]:
    """The teacher against itself on records labeled twice: per anchor n, MAE, Spearman and exact agreement."""
    both = first.join(second, on="record_id", suffix="__2")
    out = {}
    for a in anchor_ids:
        x, y = both[a].to_numpy(), both[f"{a}__2"].to_numpy()
        out[a] = {**agreement(x, y), "exact": round(float(np.mean(x == y)), 4) if len(x) else None}
    return out
