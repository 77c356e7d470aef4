"""Agreement between scorers: student versus teacher on val, and the teacher versus itself on repeats.

MAE, Spearman's rho and Somers' D per anchor, overall and per source. Spearman is undefined when either
side is constant (a student that learned one value, an anchor that does not apply to a source and always
gets the middle score); it is reported as None, and the selection stage treats None as unreliable.

Why Somers' D beside Spearman: a teacher scores on a 1..5 scale, so its labels tie, and on an anchor
that flags a rare defect almost every record ties at one value. A student predicts a continuous score,
so it never ties, and Spearman counts its spread inside the teacher's tie as disagreement: a student that
orders every pair the teacher orders, and ranks all the rare defects below all the rest, gets only
sqrt(3q(1-q)) for a defect share q (0.52 at 10 %, 0.30 at 3 %). `spearman_ceiling` is that bound for the
labels at hand. Somers' D(student | teacher) asks only about the pairs the teacher orders: the share the
student orders the same way minus the share it orders the other way, 1 for that perfect student, about 0
for a random one, -1 for a reversed one, undefined (like Spearman) for a constant one; for two teacher
levels it is 2 AUC - 1. The reliability mask reads it by default (`select.agreement`); docs/selection.md
has the demo's figures.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def _undefined(a: np.ndarray, b: np.ndarray) -> bool:
    """Fewer than 3 pairs, a constant side, or a value that is not finite: a NaN has no rank (scipy gave NaN, and
    Somers' D counted it as a level of its own: 0.5 for a perfect order). `agreement` leaves such records out first."""
    return len(a) < 3 or not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, or None when it is undefined (fewer than 3 pairs, a constant side, or a value not finite)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if _undefined(a, b):
        return None
    return round(float(spearmanr(a, b).statistic), 4)


def somers_d(truth: np.ndarray, pred: np.ndarray) -> float | None:
    """Somers' D of `pred` given `truth`: over the pairs whose truth differs, (concordant - discordant) / pairs.

    None when undefined, as Spearman is: fewer than 3 records, a constant side (a constant teacher gives
    nothing to order; a constant student orders nothing, and a mask with tau_rank <= 0 must not keep it), or a
    value that is not finite.
    O(k n log n) for k truth levels (scipy.stats.somersd builds a
    contingency table, quadratic in the distinct predictions: 4 s for 10,000 val records); a test checks
    that both give the same value.
    """
    t, p = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    if _undefined(t, p):
        return None
    levels, counts = np.unique(t, return_counts=True)
    pairs = (len(t) ** 2 - float(np.sum(counts.astype(float) ** 2))) / 2
    net, below = 0.0, np.empty(0)
    for level in levels:  # ascending: every earlier group's truth is lower
        group = np.sort(p[t == level])
        if below.size:
            lower = np.searchsorted(below, group, side="left")  # lower-truth records predicted strictly lower
            higher = below.size - np.searchsorted(below, group, side="right")  # ... strictly higher
            net += float(np.sum(lower - higher))
        below = np.sort(np.concatenate([below, group]))
    return round(net / pairs, 4)


def spearman_ceiling(truth: np.ndarray) -> float | None:
    """The Spearman of a student that orders every pair the teacher orders and ties nothing: the most a
    prediction without ties can reach against these tied labels (the order inside a tie does not change it).
    A student that ties records too (one clipped at the scale's ends) can pass it a little."""
    t = np.asarray(truth, dtype=float)
    if len(t) < 3 or np.ptp(t) == 0:
        return None
    return spearman(t, np.argsort(np.argsort(t, kind="stable"), kind="stable").astype(float))


def mae(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(float(np.mean(np.abs(np.asarray(a, float) - np.asarray(b, float)))), 4) if len(a) else None


def agreement(truth: np.ndarray, pred: np.ndarray, ranked: np.ndarray | None = None) -> dict:
    """{n, mae, spearman, somers_d, spearman_ceiling, teacher_constant, unscored} for one anchor; teacher_constant:
    the teacher gave every record the same score, so there is no ranking to agree with (an anchor that does not
    vary in this source).

    `ranked`: the unclipped predictions, which are what selection ranks (scoring.py): the rank statistics are
    read from them, MAE from `pred`, the scores on the teacher's scale. Judged on clipped predictions, a student
    that orders four records above the top of the scale correctly would tie them all at the top and be masked
    off for ties that selection never sees.

    A record the student could not score (NaN: a generative student's unparseable reply) is left out of MAE
    and Spearman and counted in `unscored`; were it kept, NaN would compare as "not above tau" and pass the
    mask. With every record unscored there are no figures (None), and the mask turns the anchor off.
    """
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    ranked = pred if ranked is None else np.asarray(ranked, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(truth) & np.isfinite(ranked)
    t, p, r = truth[ok], pred[ok], ranked[ok]
    known = truth[np.isfinite(truth)]
    return {"n": int(ok.sum()), "mae": mae(t, p), "spearman": spearman(t, r), "somers_d": somers_d(t, r),
            "spearman_ceiling": spearman_ceiling(t),
            # over every val record the teacher scored, whether the student did or not: a student that left most
            # unscored made a varied anchor read as one the teacher gives one score to
            "teacher_constant": bool(known.size and np.ptp(known) == 0),
            # of the records the teacher scored: a val label missing is not the student's (the label stage writes
            # none, but a label table edited by hand can hold one)
            "unscored": int((np.isfinite(truth) & ~ok).sum())}


def per_anchor(truth: np.ndarray, pred: np.ndarray, anchor_ids: list[str], ranked: np.ndarray | None = None
               ) -> dict[str, dict]:
    return {a: agreement(truth[:, j], pred[:, j], None if ranked is None else ranked[:, j])
            for j, a in enumerate(anchor_ids)}


def student_report(val: pl.DataFrame, pred: np.ndarray, anchor_ids: list[str], train_mean: np.ndarray,
                   ranked: np.ndarray | None = None) -> dict:
    """Student vs teacher on val: per anchor, per (source, anchor), and the constant predictor beside it.
    `pred`: the student's scores clipped to the scale (MAE); `ranked`: unclipped, as selection ranks them (the
    rank statistics; `pred` when not given)."""
    truth = val.select(anchor_ids).to_numpy().astype(float)
    const = np.broadcast_to(train_mean, truth.shape)
    overall = per_anchor(truth, pred, anchor_ids, ranked)
    # the records `agreement` counts (one unscored record must not make the group's MAE NaN); ranked too: an
    # unclipped inf clips to the scale's end, so `pred` alone counted a record the anchor's figures leave out
    ok = np.isfinite(pred) & np.isfinite(truth) & np.isfinite(pred if ranked is None else np.asarray(ranked, float))
    for j, a in enumerate(anchor_ids):  # over the records the student scored, as its own MAE is
        overall[a]["const_mae"] = mae(truth[ok[:, j], j], const[ok[:, j], j])
    sources = {}
    src = val["source"].to_numpy()
    for s in sorted(set(src)):
        m = src == s
        sources[s] = {"n_val": int(m.sum()),
                      "anchors": per_anchor(truth[m], pred[m], anchor_ids, None if ranked is None else ranked[m])}
    return {"anchors": overall, "sources": sources, "median_spearman": _median(overall, "spearman"),
            "median_somers_d": _median(overall, "somers_d"), "median_spearman_ceiling": _median(overall, "spearman_ceiling"),
            "mean_mae": mae(truth[ok], pred[ok]), "const_mean_mae": mae(truth[ok], const[ok])}


def label_constancy(labels: pl.DataFrame, anchor_ids: list[str]) -> dict[str, dict]:
    """Per source, over all its labeled records (train and val): {"n": labeled records, "constant": the anchors
    the teacher gave every one of them the same score}.

    The mask judges a source with too few val records on its group's figures (`select.min_val_records`), and
    those cannot say that an anchor does not apply to the source: on the planted benchmark, a code source
    that shared its group with QA records kept `answer_relevance` on, an anchor the rules teacher scores 3 (the
    scale's middle: it does not apply) for every code file, so the students' noise around 3 ranked the code
    files, and after standardising over the group that constant's place on the scale, not any judgment, moved
    the group's budget between code and QA. Its labels are the teacher's own scores, so they show it. A missing
    score (NaN or null) does not count as a value."""
    out = {}
    for (s,), part in labels.group_by(["source"], maintain_order=True):
        x = part.select(anchor_ids).to_numpy().astype(float)
        constant = []
        for j, a in enumerate(anchor_ids):
            v = x[:, j][np.isfinite(x[:, j])]
            if v.size and np.ptp(v) == 0:
                constant.append(a)
        out[str(s)] = {"n": part.height, "constant": constant}
    return dict(sorted(out.items()))


def median_spearman_interval(truth: np.ndarray, pred: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                             seed: int = 0) -> tuple[float, float] | None:
    """Bootstrap interval of the median over anchors of the val Spearman: (n, k) teacher labels and predictions,
    records resampled with replacement (all anchors together, as the median is over one set of records). A
    record without a finite label and prediction is left out of its anchor's Spearman, as in `agreement`.

    Every draw takes the median over the anchors the figure itself is over (those with a Spearman on all the
    val records). A draw on which one of them has none (a rare defect's few records all missed, its labels then
    constant) is drawn again rather than given the median of the other anchors: that is another statistic, and
    it lifted the interval's top, as a rare defect's Spearman is low by its ties (at most 20 draws per kept one).

    A group's median val Spearman is read from a few hundred records at most; this says how far that figure
    would move on another draw of them, so a target missed by less than the noise reads as such. None when no
    anchor has a Spearman, or no draw has every one of them."""
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    ok = np.isfinite(truth) & np.isfinite(pred)
    anchors = [j for j in range(truth.shape[1]) if spearman(truth[ok[:, j], j], pred[ok[:, j], j]) is not None]
    if not anchors:
        return None
    rng = np.random.default_rng(seed)
    medians: list[float] = []
    for _ in range(20 * n_boot):
        if len(medians) == n_boot:
            break
        idx = rng.integers(0, len(truth), len(truth))
        t, q, o = truth[idx], pred[idx], ok[idx]
        rho = [spearman(t[o[:, j], j], q[o[:, j], j]) for j in anchors]
        if all(r is not None for r in rho):
            medians.append(float(np.median(rho)))
    if not medians:
        return None
    lo, hi = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
    return round(float(lo), 4), round(float(hi), 4)


def _median(figures: dict[str, dict], key: str) -> float | None:
    values = [v[key] for v in figures.values() if v.get(key) is not None]
    return float(np.median(values)) if values else None


def self_agreement(first: pl.DataFrame, second: pl.DataFrame, anchor_ids: list[str]) -> dict[str, dict]:
    """The teacher against itself on records labeled twice: per anchor n, MAE, Spearman and exact agreement."""
    both = first.join(second, on="record_id", suffix="__2")
    out = {}
    for a in anchor_ids:
        x, y = both[a].to_numpy().astype(float), both[f"{a}__2"].to_numpy().astype(float)
        ok = np.isfinite(x) & np.isfinite(y)  # the records `agreement` counts: a missing score is not a disagreement
        out[a] = {**agreement(x, y), "exact": round(float(np.mean(x[ok] == y[ok])), 4) if ok.any() else None}
    return out
