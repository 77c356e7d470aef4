"""The `linear` student: hashed word and character n-grams with ridge regression, no encoder at all.

Role: the fastText-class option, for scoring a corpus on CPU where even the embedding pass is too
slow. Features come from `ngrams.NgramHasher` (word 1-2 grams and char 3,5 grams over the first
`max_chars` characters, each block L2-normalised, `n_features` buckets); one ridge regression fits
all anchors. Predicting is one sparse (n x n_features) by dense (n_features x n_anchors) product.

Key decisions, measured on 2 KB chunks of the standard library, one core (torch and BLAS at one
thread), 15 anchors, 2^18 buckets:
- predict 3,000-3,300 docs/s per core (featurizing is ~90% of it, its key sort ~half of that); the
  target is 2,000. sklearn's HashingVectorizer with char n-grams managed ~500 docs/s (see ngrams.py).
- fit 1.75-2.0 s on 640 records, 14.7 s on 3,200 (sklearn Ridge on the sparse matrix; its default
  solver matched an exact dual (kernel) solution to 4e-4, and the dual was only 1.2-1.7x faster).
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
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import Ridge

from mira_core.config import LinearParams
from mira_core.errors import ConfigError
from mira_core.students.base import Inputs, Need, clip, write_config
from mira_core.students.common import WEIGHTS, config_head, read_checkpoint, targets, texts_of
from mira_core.students.ngrams import NgramHasher


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

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        texts = texts_of(x, self.kind)
        y = targets(y, len(texts), self.anchors)
        start = time.perf_counter()
        features = self.hasher.transform(texts)
        features.sum_duplicates()  # canonical CSR for the solver (a word and a char n-gram may share a bucket)
        model = Ridge(alpha=self.params.alpha).fit(features, y)
        self._set(np.asarray(model.coef_, dtype=np.float32).reshape(len(self.anchors), -1),
                  np.asarray(model.intercept_, dtype=np.float32).reshape(-1))
        return {"kind": self.kind, "n_train": len(texts), "seconds": round(time.perf_counter() - start, 3),
                "nnz_per_record": round(features.nnz / max(len(texts), 1), 1),
                "train_mae": float(np.abs(self.predict(x) - y).mean())}

    def predict(self, x: Inputs) -> np.ndarray:
        if self._coef_t is None:
            raise RuntimeError("the linear student is not fitted")
        texts = texts_of(x, self.kind)
        parts = [features @ self._coef_t for features in self.hasher.batches(texts)]
        out = np.concatenate(parts) if parts else np.zeros((0, len(self.anchors)), np.float32)
        return clip(out + self.intercept, self.scale)

    def save(self, folder: Path) -> None:
        if self.coef is None:
            raise RuntimeError("the linear student is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"coef": self.coef, "intercept": self.intercept}, str(folder / WEIGHTS))
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
        return student

    def _set(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)
        self._coef_t = np.ascontiguousarray(self.coef.T)
