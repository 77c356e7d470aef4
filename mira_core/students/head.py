"""The `head` student: a multi-output head on the frozen embeddings (the FineWeb-Edu recipe).

Role: the default student. The embed stage has already paid for one encoder pass over the corpus,
so scoring costs one small matrix product per record. Its input is the record's embedding and, when the
embed stage computed them (`embed.stats`, the default), the record's document statistics
(mira_core/docstats.py) beside it: structure an embedding blurs (does the code parse, is the tool call's
JSON valid, how repetitive is it). `HeadParams.model` picks the head:
- ridge: ridge regression on the standardised inputs (embedding and statistics columns), the L2
  strength chosen per anchor among `ridge_alphas` by exact leave-one-out error (sklearn's RidgeCV,
  one SVD for all of them), intercept not penalised. Standardising puts the 0.05-sized components of a
  unit-norm embedding and the statistics on one footing, so one penalty treats them alike.
- mlp: one hidden layer (GELU), full-batch AdamW for `epochs`, decoupled weight decay `alpha`,
  seeded. Inputs and targets are standardised per column (the statistics are saved with the
  weights): unit-norm 384-dim embeddings have components of ~0.05, too small for a default-
  initialised layer to learn quickly, and per-anchor target scales would otherwise weight the loss.
  Decoupled decay (AdamW), because a coupled L2 of the default alpha=1 dominates the gradient of a
  unit-scale MSE: on the tests' linear task (600 records, 200 epochs) Adam with it took the train
  loss only from 1.03 to 0.96 (held-out MAE 0.92, constant 0.94), AdamW to 0.08 (MAE 0.35).
- `balance` > 0 weighs each training record, per anchor, by the rarity of its label value
  (`common.label_weights`, as the trees do): ridge then fits each anchor on its own, the mlp weights its loss.

Measured on CPU (one core), 640 records x 384-dim MiniLM embeddings, 13 anchors: ridge fits in
0.01-0.03 s and predicts ~2M records/s; the mlp (hidden 256, 200 epochs) fits in 1.4-3.9 s and
predicts ~180k records/s. On those (rules-teacher labels of standard-library chunks) the mlp did
not beat ridge (held-out Spearman 0.28 vs 0.34): with a few hundred labels it overfits; it wins
where the target is nonlinear in the embedding (see the tests).

The checkpoint keeps the fingerprint of the encoder it was trained on, and `check_encoder` refuses
embeddings of another encoder (scoring should call it before predicting).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import Ridge

from mira_core.config import HeadParams
from mira_core.errors import ConfigError, check_interrupted
from mira_core.students.base import Inputs, Need, clip, write_config
from mira_core.students.common import (
    SEEDED,
    WEIGHTS,
    config_head,
    embeddings_of,
    label_weights,
    read_checkpoint,
    same_json,
    standardize,
    stats_of,
    targets,
)

PREDICT_ROWS = 65_536  # mlp rows per forward pass when scoring: bounds the hidden activations to ~64 MB


class HeadStudent:
    """Ridge or a one-hidden-layer MLP from an embedding to every anchor of a group."""

    kind = "head"
    needs: Need = "embedding"

    def __init__(self, params: HeadParams, anchors: list[str], scale: tuple[int, int], seed: int = 0,
                 encoder: dict | None = None) -> None:
        self.params = params
        self.anchors = list(anchors)
        self.scale = (int(scale[0]), int(scale[1]))
        self.seed = seed
        self.encoder = encoder  # the embedding encoder's fingerprint, or None when unknown
        self.tensors: dict[str, np.ndarray] = {}  # what model.safetensors holds
        self.dim: int | None = None
        self.n_stats = 0  # document statistics read beside the embedding (0: none)
        self._mlp = None  # the torch module of an mlp head, rebuilt from `tensors`

    def _features(self, x: Inputs, fitting: bool = False) -> np.ndarray:
        """The embedding, with the document statistics appended when the student reads them."""
        e = embeddings_of(x, self.kind, None if fitting else self.dim)
        if fitting:
            self.dim = e.shape[1]
            self.n_stats = x.stats.shape[1] if (x.stats is not None and self.params.stats) else 0
        if not self.n_stats:
            return e
        return np.hstack([e, stats_of(x, self.kind, self.n_stats).astype(np.float32)])

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        f = self._features(x, fitting=True)
        y = targets(y, len(f), self.anchors)
        start = time.perf_counter()
        report = self._fit_ridge(f, y) if self.params.model == "ridge" else self._fit_mlp(f, y)
        seconds = round(time.perf_counter() - start, 3)
        return {"kind": self.kind, "model": self.params.model, "n_train": len(f), "n_stats": self.n_stats, **report,
                "seconds": seconds, "train_mae": float(np.abs(self.predict(x) - y).mean())}

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        if not self.tensors:
            raise RuntimeError("the head student is not fitted")
        f = self._features(x)
        if self.params.model == "ridge":
            if "x_mean" in self.tensors:
                f = (f - self.tensors["x_mean"]) / self.tensors["x_std"]
            return clip(f @ self.tensors["coef"].T + self.tensors["intercept"], self.scale, clipped)
        import torch

        parts = []
        with torch.inference_mode():
            for i in range(0, len(f), PREDICT_ROWS):
                parts.append(self._mlp(torch.from_numpy(np.ascontiguousarray(f[i : i + PREDICT_ROWS]))).numpy())
        return clip(np.concatenate(parts) if parts else np.zeros((0, len(self.anchors))), self.scale, clipped)

    def check_encoder(self, fingerprint: dict | None) -> None:
        """Refuse embeddings from an encoder other than the one this head was trained on."""
        if self.encoder is not None and fingerprint is not None and not same_json(self.encoder, fingerprint):
            diff = sorted(k for k in set(self.encoder) | set(fingerprint) if self.encoder.get(k) != fingerprint.get(k))
            raise ConfigError(f"this head student was trained on embeddings of another encoder (differs in "
                              f"{', '.join(diff)}); re-run distill after embed")

    def save(self, folder: Path) -> None:
        if not self.tensors:
            raise RuntimeError("the head student is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.tensors, str(folder / WEIGHTS))
        config = config_head(self.kind, self.anchors, self.scale, self.params.model_dump())
        hidden = self.params.hidden if self.params.model == "mlp" else None
        config.update(model=self.params.model, seed=self.seed, encoder=self.encoder,
                      dims={"input": self.dim, "stats": self.n_stats, "hidden": hidden, "anchors": len(self.anchors)})
        write_config(folder, config)

    @classmethod
    def load(cls, folder: Path) -> HeadStudent:
        cfg = read_checkpoint(folder, cls.kind)
        student = cls(HeadParams(**cfg["settings"]), cfg["anchors"], tuple(cfg["scale"]), cfg["seed"], cfg["encoder"])
        student.dim = int(cfg["dims"]["input"])
        student.n_stats = int(cfg["dims"].get("stats", 0))
        student._set(load_file(str(Path(folder) / WEIGHTS)))
        return student

    def _fit_ridge(self, f: np.ndarray, y: np.ndarray) -> dict:
        from sklearn.linear_model import RidgeCV

        mean, std = standardize(f.astype(np.float64))
        xs = (f - mean) / std
        alphas = sorted(self.params.ridge_alphas)

        def ridge(target: np.ndarray, weight: np.ndarray | None):
            if len(alphas) == 1:
                return Ridge(alpha=alphas[0], solver="cholesky").fit(xs, target, sample_weight=weight)
            return RidgeCV(alphas=alphas, alpha_per_target=True).fit(xs, target, sample_weight=weight)

        if self.params.balance > 0:  # each anchor has its own weights, so one fit per anchor
            models = [ridge(y[:, j], label_weights(y[:, j], self.params.balance)) for j in range(len(self.anchors))]
            coef = np.stack([m.coef_.ravel() for m in models])
            intercept = np.array([float(np.ravel(m.intercept_)[0]) for m in models])
            chosen = [float(np.ravel(getattr(m, "alpha_", alphas[0]))[0]) for m in models]
        else:  # one fit for every anchor (RidgeCV still picks each anchor's alpha)
            model = ridge(y, None)
            coef, intercept = model.coef_, model.intercept_
            chosen = np.broadcast_to(np.asarray(getattr(model, "alpha_", alphas[0]), dtype=float),
                                     (len(self.anchors),)).tolist()
        self._set({"coef": np.asarray(coef, np.float32).reshape(len(self.anchors), -1),
                   "intercept": np.asarray(intercept, np.float32).reshape(-1),
                   "x_mean": mean.astype(np.float32), "x_std": std.astype(np.float32)})
        return {"alphas": dict(zip(self.anchors, chosen, strict=True))}

    def _fit_mlp(self, e: np.ndarray, y: np.ndarray) -> dict:
        import torch

        from mira_core.students.mlp import MLP

        x_mean, x_std = standardize(e.astype(np.float64))
        y_mean, y_std = standardize(y)
        with SEEDED, torch.random.fork_rng(devices=[]):  # seeded without touching the caller's RNG, one at a time
            torch.manual_seed(self.seed)
            net = MLP(e.shape[1], self.params.hidden, len(self.anchors))
        net.set_scaling(x_mean, x_std, y_mean, y_std)
        xs = net.scale_in(torch.from_numpy(e))
        ys = torch.from_numpy(((y - y_mean) / y_std).astype(np.float32))
        opt = torch.optim.AdamW(net.parameters(), lr=self.params.lr, weight_decay=self.params.alpha)
        weights = None  # per (record, anchor): each anchor's rarity weights (balance > 0)
        if self.params.balance > 0:
            weights = torch.from_numpy(np.column_stack(
                [label_weights(y[:, j], self.params.balance) for j in range(len(self.anchors))]).astype(np.float32))
        losses = []
        for _ in range(self.params.epochs):
            check_interrupted()
            opt.zero_grad()
            out = net.core(xs)
            loss = torch.nn.functional.mse_loss(out, ys) if weights is None else (weights * (out - ys) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(round(loss.item(), 6))
        net.eval()
        constant = np.flatnonzero(e.std(0) <= 1e-8)
        if constant.size:  # an input that never varied in train got no gradient: its random first-layer weights
            with torch.no_grad():  # would act on a value the scorer meets later (a rare defect's statistic)
                net.hidden.weight[:, torch.from_numpy(constant)] = 0.0
        flat = np.flatnonzero(y.std(0) <= 1e-8)
        if flat.size:  # an anchor constant in train: its output weights only learned noise around 0 (ridge, with no
            with torch.no_grad():  # signal, gives the constant exactly); zeroed, it predicts the train value itself
                net.out.weight[torch.from_numpy(flat)] = 0.0
                net.out.bias[torch.from_numpy(flat)] = 0.0
        self._set({k: v.detach().numpy().copy() for k, v in net.state_dict().items()})
        return {"epochs": self.params.epochs, "train_loss": losses}

    def _set(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
        if self.params.model == "mlp":
            import torch

            from mira_core.students.mlp import MLP

            # its random initialisation is overwritten, but drawn: outside SEEDED it took the draws of another
            # group's seeded section running in another thread
            with SEEDED, torch.random.fork_rng(devices=[]):
                net = MLP(self.tensors["hidden.weight"].shape[1], self.tensors["hidden.weight"].shape[0],
                          self.tensors["out.weight"].shape[0])
            net.load_state_dict({k: torch.from_numpy(v) for k, v in self.tensors.items()})
            self._mlp = net.eval()

