"""The `linear` student: hashed word and character n-grams with ridge regression, no encoder at all.

Role: the fastText-class option, for scoring a corpus on CPU where even the embedding pass is too
slow. The document statistics of the embed stage (mira_core/docstats.py), standardised, are appended
as dense columns when present and `linear.stats` is on. Features come from `ngrams.NgramHasher`
(word 1-2 grams and char 3,5 grams over the first
`max_chars` characters, each block L2-normalised, `n_features` buckets); one ridge regression fits
all anchors. Predicting is one sparse (n x n_features) by dense (n_features x n_anchors) product.

Key decisions, measured on 2 KB chunks of the standard library, one core (torch and BLAS at one
thread), 15 anchors, 2^18 buckets:
- predict 3,000-3,300 docs/s per core (featurizing is ~90% of it, its key sort ~half of that); the
  target is 2,000. sklearn's HashingVectorizer with char n-grams managed ~500 docs/s (see ngrams.py).
- fit by an exact dual (kernel) solve, `dual_ridge`. sklearn's iterative solver was 1.2-1.7x slower on
  n-grams alone, and ~40x slower once the dense statistics columns joined the sparse n-grams (76 s against
  under 2 s for 632 demo records and 15 anchors on a loaded machine): their scale makes the system
  ill-conditioned for conjugate gradients, while the dual solve does not care.
- `balance` > 0 weighs each training record, per anchor, by the rarity of its label value
  (`common.label_weights`): one weighted dual solve per anchor (`weighted_dual_ridge`) on one shared Gram
  matrix, each as cheap as the joint solve.
- on those chunks, with rules-teacher labels (lexical signals), it beat a ridge head on MiniLM
  embeddings: held-out Spearman 0.57 vs 0.34 (640 train, 1,360 test). Lexical labels favour it;
  an LLM teacher's judgments may not.
- weights are a dense float32 (n_anchors, n_features) matrix: 4 * 15 * 2^18 bytes = 15.7 MB per
  group at the defaults. Sparse storage would save little: 640 records already touch ~160k buckets.
- targets are not standardised: ridge is fitted per target, and an affine change of a target
  changes its coefficients by the same affine map, so it would change nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from mira_core.config import LinearParams
from mira_core.errors import ConfigError
from mira_core.students.base import Inputs, Need, clip, write_config
from mira_core.students.common import (
    WEIGHTS,
    config_head,
    label_weights,
    read_checkpoint,
    standardize,
    stats_of,
    targets,
    texts_of,
)
from mira_core.students.ngrams import NgramHasher


def dual_ridge(x: sp.csr_matrix, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with an unpenalised intercept, solved in the dual: exact, and for a few thousand records over 2^18
    hashed features far faster than an iterative primal solver (one n x n Gram matrix and one solve).

    With X and y centred, w = Xc^T (Xc Xc^T + alpha I)^-1 yc; Xc Xc^T is the doubly centred Gram matrix of X,
    and the dual weights sum to zero, so Xc^T a = X^T a and nothing dense of size n x n_features is formed.
    Returns (coef (n_targets, n_features), intercept (n_targets,)).
    """
    gram = (x @ x.T).toarray().astype(np.float64)
    centred = gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()
    y_mean = y.mean(axis=0)
    a = np.linalg.solve(centred + alpha * np.eye(len(gram)), y - y_mean)
    coef = np.asarray(x.T @ a).T
    x_mean = np.asarray(x.mean(axis=0)).ravel()
    return coef, y_mean - coef @ x_mean


def weighted_dual_ridge(x: sp.csr_matrix, y: np.ndarray, alpha: float, w: np.ndarray,
                        gram: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """`dual_ridge` for one target with record weights w: minimises sum_i w_i (y_i - x_i.b - c)^2 + alpha |b|^2.

    Centring now uses the weighted means; with Xc = X - 1 m^T and s = sqrt(w), b = Xc^T s (s Kc s + alpha I)^-1
    s yc, where Kc = Xc Xc^T is the Gram matrix centred by the weighted row mean (rank-one updates of X X^T, so
    again nothing dense of size n x n_features is formed; the dual weights no longer sum to zero, so
    Xc^T a = X^T a - m sum(a)). Weights of 1 give `dual_ridge`'s solution. `gram` (X X^T as float64) may be
    passed in, so that fitting many targets on one X forms it once. Returns (coef (n_features,), intercept).
    """
    w = np.asarray(w, np.float64)
    p = w / w.sum()
    if gram is None:
        gram = (x @ x.T).toarray().astype(np.float64)
    m = gram @ p  # row i: x_i . (weighted mean of the rows)
    centred = gram - m[:, None] - m[None, :] + p @ m
    s = np.sqrt(w)
    y_mean = float(p @ y)
    a = s * np.linalg.solve(s[:, None] * centred * s[None, :] + alpha * np.eye(len(gram)), s * (y - y_mean))
    x_mean = np.asarray(x.T @ p).ravel()
    coef = np.asarray(x.T @ a).ravel() - x_mean * a.sum()
    return coef, y_mean - float(coef @ x_mean)


class LinearStudent:
    """Ridge regression from hashed n-gram features to every anchor of a group."""

    kind = "linear"
    needs: Need = "text"

    def __init__(self, params: LinearParams, anchors: list[str], scale: tuple[int, int],
                 hasher: NgramHasher | None = None) -> None:
        self.params = params
        self.anchors = list(anchors)
        self.scale = (int(scale[0]), int(scale[1]))
        self.hasher = hasher or NgramHasher(n_features=params.n_features, max_chars=params.max_chars)
        self.coef: np.ndarray | None = None  # (n_anchors, n_features) float32
        self.intercept: np.ndarray | None = None  # (n_anchors,) float32
        self._coef_t: np.ndarray | None = None  # coef.T, C-contiguous: what the sparse product reads fastest
        self.stats_mean: np.ndarray | None = None  # standardisation of the document statistics (None: not read)
        self.stats_std: np.ndarray | None = None

    @property
    def reads_stats(self) -> bool:
        """Whether it was fitted on the document statistics beside its n-grams (`distill.linear.stats`)."""
        return self.stats_mean is not None

    def _stats(self, x: Inputs) -> np.ndarray | None:
        if self.stats_mean is None:
            return None
        return ((stats_of(x, self.kind, len(self.stats_mean)) - self.stats_mean) / self.stats_std).astype(np.float32)

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        texts = texts_of(x, self.kind)
        y = targets(y, len(texts), self.anchors)
        start = time.perf_counter()
        self.stats_mean = self.stats_std = None  # a refit without statistics must not keep the last fit's
        features = self.hasher.transform(texts)
        if self.params.stats and x.stats is not None:
            # rounded as the checkpoint stores them (float32), so distill's val figures are of the student that
            # score loads: unrounded, 9 of 100 records scored up to 2e-7 apart, enough to swap near ties
            mean, std = standardize(stats_of(x, self.kind))  # float64, checked finite
            self.stats_mean, self.stats_std = (v.astype(np.float32).astype(np.float64) for v in (mean, std))
            features = sp.hstack([features, sp.csr_matrix(self._stats(x))], format="csr")
        features.sum_duplicates()  # canonical CSR for the solver (a word and a char n-gram may share a bucket)
        if self.params.balance > 0:  # each anchor has its own weights, so one solve per anchor (one Gram matrix)
            gram = (features @ features.T).toarray().astype(np.float64)
            fits = [weighted_dual_ridge(features, y[:, j], self.params.alpha,
                                        label_weights(y[:, j], self.params.balance), gram)
                    for j in range(len(self.anchors))]
            coef, intercept = np.stack([c for c, _ in fits]), np.array([b for _, b in fits])
        else:
            coef, intercept = dual_ridge(features, y, self.params.alpha)
        self._set(coef.astype(np.float32), intercept.astype(np.float32))
        return {"kind": self.kind, "n_train": len(texts), "seconds": round(time.perf_counter() - start, 3),
                "nnz_per_record": round(features.nnz / max(len(texts), 1), 1),
                "train_mae": float(np.abs(self.predict(x) - y).mean())}

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        if self._coef_t is None:
            raise RuntimeError("the linear student is not fitted")
        texts = texts_of(x, self.kind)
        nf = self.hasher.n_features
        parts = [features @ self._coef_t[:nf] for features in self.hasher.batches(texts)]
        out = np.concatenate(parts) if parts else np.zeros((0, len(self.anchors)), np.float32)
        stats = self._stats(x)
        if stats is not None and len(texts):
            out = out + stats @ self._coef_t[nf:]
        return clip(out + self.intercept, self.scale, clipped)

    def save(self, folder: Path) -> None:
        if self.coef is None:
            raise RuntimeError("the linear student is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"coef": self.coef, "intercept": self.intercept}
        if self.stats_mean is not None:
            tensors.update(stats_mean=self.stats_mean.astype(np.float32), stats_std=self.stats_std.astype(np.float32))
        save_file(tensors, str(folder / WEIGHTS))
        config = config_head(self.kind, self.anchors, self.scale, self.params.model_dump())
        config["features"] = self.hasher.settings()
        config["dims"] = {"n_features": self.hasher.n_features, "anchors": len(self.anchors)}
        write_config(folder, config)

    @classmethod
    def load(cls, folder: Path) -> LinearStudent:
        cfg = read_checkpoint(folder, cls.kind)
        try:
            hasher = NgramHasher.from_settings(cfg["features"])
        except ValueError as e:
            raise ConfigError(f"{folder}: {e}; retrain this student") from None
        student = cls(LinearParams(**cfg["settings"]), cfg["anchors"], tuple(cfg["scale"]), hasher)
        tensors = load_file(str(Path(folder) / WEIGHTS))
        student._set(tensors["coef"], tensors["intercept"])
        if "stats_mean" in tensors:
            student.stats_mean = tensors["stats_mean"].astype(np.float64)
            student.stats_std = tensors["stats_std"].astype(np.float64)
        return student

    def _set(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)
        self._coef_t = np.ascontiguousarray(self.coef.T)
