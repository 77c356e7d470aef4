"""The `auto` student: per anchor, the best of several student kinds, chosen by cross-validation on train.

Role: one weak input should not sink an anchor. A `parses` anchor is a step function of the document statistics
(the trees win), a topical anchor is best read from the embedding (the head wins), a lexical one from n-grams
(the linear student wins). `auto` fits every candidate kind of `distill.auto.candidates` on `folds` folds of the
training labels, scores each anchor's out-of-fold predictions against the teacher, then fits the winners on all
the training labels. The choice reads the scores selection ranks and the reliability mask judges, the
*unclipped* ones: their Spearman, then their Somers' D, then the MAE of the clipped scores as served. A first
version read the Spearman of clipped scores: clipping ties every record past the scale's end, which can lift a
candidate that overshoots the top above one that orders the records better. Spearman comes before Somers' D
because Somers' D counts a candidate's own ties against it: the trees' step scores lose to a blend that breaks
their ties with a near-zero weight on a weak candidate (0.984 against 0.985 in
tests/mira_core/students/test_stats_students.py), a difference of noise. With two or more candidates, `blend`
competes too: a stacked regression (Breiman 1996), per anchor the candidates' predictions weighted by
non-negative least squares on their out-of-fold predictions, plus an intercept. It wins where the candidates' errors
differ. Its figures are cross-fitted, as every candidate's are: each fold's blend comes from weights stacked on
the other folds' out-of-fold predictions (the weights it serves with are stacked on all of them). A first version
read them from weights fitted on the very predictions they were judged on: least squares never correlates
negatively with its own target, so on pure noise the blend won the choice in 11 of 20 draws
(tests/mira_core/students/test_stats_students.py); on the demo's labels, cross-fitting moved six of the 34
anchors from the blend to a single kind, at val Spearman within 0.005 of before. A first version of the blend took the
plain mean, which let a weak candidate drag the others toward the middle: on the planted benchmark's QA source
the wrong answers' `answer_relevance` came out at 2.1 from the mean where the trees alone said 1.3 (the head
candidate, at cross-validated Spearman 0.37, had an equal vote); the stack gives it no weight there. The val
split is never used for the choice, so the val figures that the reliability mask reads stay honest. A candidate
that gives every record of a fold one value (trees with nothing to split on give the fold's train mean) is judged
as a constant, with no Spearman and no weight in the blend: pooled, its out-of-fold scores order records by the
folds they fell in, and that made-up order won the choice (tests/mira_core/students/test_stats_students.py).

The checkpoint is a folder with one sub-folder per kind that won at least one anchor or carries weight in a
chosen blend, and a config.json that says which kind scores which anchor, with the cross-validated figures of
every candidate and the blend's weights (`stack`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mira_core.config import DistillParams
from mira_core.errors import ConfigError
from mira_core.reliability import somers_d, spearman
from mira_core.students.base import Inputs, Need, Student, clip, read_config, write_config
from mira_core.students.common import targets

BLEND = "blend"  # the candidates' predictions, stacked: non-negative weights per anchor plus an intercept


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


class AutoStudent:
    """A per-anchor choice among student kinds; predicts each anchor with its winner."""

    kind = "auto"
    needs: Need = "both"

    def __init__(self, p: DistillParams, anchors: list[str], scale: tuple[int, int], make) -> None:
        self.p = p
        self.anchors = list(anchors)
        self.scale = (int(scale[0]), int(scale[1]))
        self._make = make  # kind -> a fresh student of that kind for these anchors
        self.choice: dict[str, str] = {}
        self.cv: dict[str, dict[str, dict]] = {}
        self.members: dict[str, Student] = {}
        self.stack: dict[str, dict] = {}  # anchor -> {"weights": {kind: w}, "intercept": b}, for the blend
        self.settings = p.auto.model_dump()  # what config.json records; a loaded student has these, not `p`

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        y = targets(y, len(x), self.anchors)
        k, n = self.p.auto.folds, len(x)
        if n - -(-n // k) < 2:  # the largest fold leaves this many to fit on; a student needs 2
            raise ConfigError(f"{n} labeled train records: too few for distill.auto.folds = {k} (each fold fits on "
                              "the others, and a student needs 2 records); label more (label.records_per_group) or "
                              "set distill.student to one kind")
        start = time.perf_counter()
        kinds = list(self.p.auto.candidates)
        raw = {k: np.zeros_like(y) for k in kinds}  # unclipped, as `predict` gives the stack its members' scores
        folds = _folds(len(x), self.p.auto.folds, self.p.seed)
        for fold in folds:
            train = np.setdiff1d(np.arange(len(x)), fold)
            for k in kinds:
                s = self._make(k)
                s.fit(x.take(train), y[train])
                raw[k][fold] = s.predict(x.take(fold), clipped=False)
        options = kinds + ([BLEND] if len(kinds) > 1 else [])
        # a candidate that gives one value to every record of each fold (the fold's train mean, when it found
        # nothing to split on) orders records only by fold: judged, and stacked, as the constant it is
        flat = {k: [_fold_constant(raw[k][:, j], folds) for j in range(len(self.anchors))] for k in kinds}
        if len(kinds) > 1:
            raw[BLEND] = np.zeros_like(y)
            for j, a in enumerate(self.anchors):
                # a flat candidate's column is zeros, not its mean: centred, a column of one value was left with
                # rounding noise (~1e-16), which least squares gave an arbitrary weight (0.009-0.056 measured), and
                # the blend served that member's full-fit scores, which no fold had judged
                cols = np.column_stack([np.zeros(n) if flat[k][j] else raw[k][:, j] for k in kinds])
                self.stack[a] = _stack(cols, y[:, j], kinds)  # served: weights from every out-of-fold prediction
                if any(self.stack[a]["weights"].values()):
                    raw[BLEND][:, j] = _cross_fitted(cols, y[:, j], kinds, folds)  # judged: each fold's from the rest
                else:  # served as a constant, so judged as one: per-fold intercepts would make up an order
                    raw[BLEND][:, j] = self.stack[a]["intercept"]
        served = {k: clip(v, self.scale) for k, v in raw.items()}  # what each would score, as served
        for j, a in enumerate(self.anchors):
            # ranks on the unclipped scores, which selection ranks and the mask judges; the error as served
            self.cv[a] = {k: _cv(y[:, j], raw[k][:, j], served[k][:, j], k in flat and flat[k][j]) for k in options}
            self.choice[a] = max(options, key=lambda k: _rank_key(self.cv[a][k]))
        used = set(self.choice.values())
        for a in [a for a in self.stack if self.choice[a] != BLEND]:
            del self.stack[a]  # kept only where the blend scores the anchor
        needed = {k for a in self.stack for k, w in self.stack[a]["weights"].items() if w > 0}
        for k in sorted((used - {BLEND}) | needed):
            self.members[k] = self._make(k)
            self.members[k].fit(x, y)
        wins = {k: sum(v == k for v in self.choice.values()) for k in options}
        return {"kind": self.kind, "n_train": len(x), "candidates": kinds, "folds": self.p.auto.folds, "wins": wins,
                "choice": dict(self.choice), "cv": self.cv, "stack": self.stack,
                "seconds": round(time.perf_counter() - start, 3),
                "train_mae": float(np.abs(self.predict(x) - y).mean())}

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        if not self.choice:
            raise RuntimeError("the auto student is not fitted")
        preds = {k: student.predict(x, clipped=False) for k, student in self.members.items()}
        out = np.zeros((len(x), len(self.anchors)), np.float32)
        for j, a in enumerate(self.anchors):
            if self.choice[a] == BLEND:
                out[:, j] = _stacked({k: p[:, j] for k, p in preds.items()}, self.stack.get(a) or _even(preds), len(x))
            else:
                out[:, j] = preds[self.choice[a]][:, j]
        return clip(out, self.scale, clipped)

    def save(self, folder: Path) -> None:
        if not self.choice:
            raise RuntimeError("the auto student is not fitted")
        folder = Path(folder)
        for k, student in self.members.items():
            student.save(folder / k)
        write_config(folder, {"kind": self.kind, "anchors": self.anchors, "scale": list(self.scale),
                              "choice": self.choice, "cv": self.cv, "stack": self.stack,
                              "members": sorted(self.members),
                              "settings": self.settings})

    @classmethod
    def load(cls, folder: Path, load_member) -> AutoStudent:
        cfg = read_config(folder)
        student = cls.__new__(cls)
        student.anchors, student.scale = cfg["anchors"], tuple(cfg["scale"])
        student.choice, student.cv = cfg["choice"], cfg.get("cv", {})
        student.stack = cfg.get("stack", {})  # absent in a checkpoint from before the stack: the plain mean
        student.settings = cfg.get("settings", {})  # saved again as read: a re-save keeps its version
        student.members = {k: load_member(Path(folder) / k) for k in cfg["members"]}
        return student

    def check_encoder(self, fingerprint: dict | None) -> None:
        for student in self.members.values():
            if hasattr(student, "check_encoder"):
                student.check_encoder(fingerprint)


def _cv(y: np.ndarray, raw: np.ndarray, served: np.ndarray, flat: bool) -> dict:
    """One candidate's out-of-fold figures on one anchor; ranks undefined for a fold-constant one."""
    return {"somers_d": None if flat else somers_d(y, raw), "spearman": None if flat else spearman(y, raw),
            "mae": round(float(np.abs(y - served).mean()), 4)}


def _fold_constant(pred: np.ndarray, folds: list[np.ndarray]) -> bool:
    """Whether out-of-fold predictions take one value within every fold: any order among them is between folds,
    from the folds' own train labels, not from the records. A fold of one record holds one value whatever the
    candidate does, so it says nothing: with as many folds as train records (3 records at the default 3 folds),
    counting it judged every candidate a constant (the choice fell to the MAE, or to a blend of them at a
    cross-validated Spearman of -1). With no fold of two records, none is (leave-one-out means of a candidate with
    nothing to learn then order records against their labels)."""
    judged = [f for f in folds if len(f) > 1]
    return bool(judged) and all(np.ptp(pred[f]) <= 1e-9 * max(1.0, float(np.abs(pred[f]).max())) for f in judged)


def _rank_key(cv: dict) -> tuple:
    """Higher is better: a defined Spearman first, then its value, then Somers' D, then the lower MAE."""
    return (cv["spearman"] is not None, cv["spearman"] or 0.0, cv["somers_d"] or 0.0, -cv["mae"])


def _stack(x: np.ndarray, y: np.ndarray, kinds: list[str]) -> dict:
    """Non-negative weights of the columns of `x` (candidates' unclipped out-of-fold predictions) and an intercept,
    least squares to `y`. All weights zero (no candidate helps) gives a constant: its Spearman is undefined, so
    the choice takes it only where every option's is (an anchor constant in train), and then it predicts that
    constant from the intercept. `fit` judges such a blend as that constant too: cross-fitted, each fold would
    get its own intercept (the other folds' mean label), an order between folds that the served blend lacks."""
    from scipy.optimize import nnls

    centre = x.mean(axis=0)
    w, _ = nnls(x - centre, y - y.mean())
    return {"weights": {k: round(float(v), 6) for k, v in zip(kinds, w, strict=True)},
            "intercept": round(float(y.mean() - centre @ w), 6)}


def _cross_fitted(x: np.ndarray, y: np.ndarray, kinds: list[str], folds: list[np.ndarray]) -> np.ndarray:
    """The blend's out-of-fold predictions: each fold's from weights stacked on the other folds' rows alone, so
    its figures, like every candidate's, come from records its weights never saw."""
    out = np.zeros(len(y), dtype=np.float64)
    for fold in folds:
        rest = np.setdiff1d(np.arange(len(y)), fold)
        weights = _stack(x[rest], y[rest], kinds)
        out[fold] = _stacked({k: x[fold, i] for i, k in enumerate(kinds)}, weights, len(fold))
    return out


def _stacked(preds: dict[str, np.ndarray], stack: dict, n: int) -> np.ndarray:
    out = np.full(n, stack["intercept"], dtype=np.float64)
    for k, w in stack["weights"].items():
        if w:
            out += w * preds[k]
    return out


def _even(preds: dict[str, np.ndarray]) -> dict:
    """The plain mean, as a stack: what a checkpoint saved before the stacked blend meant by `blend`."""
    return {"weights": dict.fromkeys(preds, 1 / len(preds)), "intercept": 0.0}
