"""Helpers every student kind shares: checking its inputs and labels, and the common part of its checkpoint.

Role: keep the three student modules about their models. Key decision: labels are checked strictly
(shape (n, n_anchors), finite) rather than imputed; a missing teacher score is the label stage's
business, and a NaN that reached a ridge solve would silently poison every weight.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from mira_core.errors import ConfigError
from mira_core.students.base import Inputs, read_config

WEIGHTS = "model.safetensors"
# torch's random generator is one per process, and the distill and score stages fit and run the students of several
# groups at once in threads: seeded sections that overlapped read each other's draws, and `fork_rng` restored the
# state another section had entered with, so a group's mlp head, fine-tuned head or LoRA adapters started from
# weights its seed did not give (a re-run fitted another student). Every use of that generator by a student holds
# this: its seeded sections, and the random initialisations a checkpoint's weights then overwrite.
SEEDED = threading.RLock()


def texts_of(x: Inputs, kind: str) -> list[str]:
    if x.texts is None:
        raise ValueError(f"the {kind} student reads texts; these inputs hold none")
    return x.texts


def embeddings_of(x: Inputs, kind: str, dim: int | None = None) -> np.ndarray:
    if x.embeddings is None:
        raise ValueError(f"the {kind} student reads embeddings; these inputs hold none")
    e = np.asarray(x.embeddings, dtype=np.float32)
    if e.ndim != 2 or (dim is not None and e.shape[1] != dim):
        raise ConfigError(f"the {kind} student was trained on {dim}-dim embeddings; got shape {e.shape}")
    if not np.isfinite(e).all():  # as for the statistics: one NaN in training made every mlp head score NaN
        bad = int((~np.isfinite(e)).sum())
        raise ConfigError(f"{bad} embedding value(s) given to the {kind} student are not finite; the embed stage "
                          "makes finite ones (a damaged shard, or an encoder of your own?): re-run embed")
    return e


def targets(y: np.ndarray, n: int, anchors: list[str]) -> np.ndarray:
    """Labels as float64 (n, n_anchors), or a ValueError saying what is wrong with them."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n, len(anchors)):
        raise ValueError(f"labels of shape {y.shape}; expected ({n}, {len(anchors)}) for anchors {anchors}")
    if n < 2:
        raise ValueError(f"{n} labeled record(s): a student needs at least 2")
    bad = int((~np.isfinite(y)).sum())
    if bad:
        raise ValueError(f"{bad} label(s) are missing or not finite; drop or fill them before distilling")
    return y


def standardize(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (mean, std); a constant column gets std 1 so it maps to 0, not to NaN."""
    mean, std = y.mean(0), y.std(0)
    return mean, np.where(std > 1e-8, std, 1.0)


def config_head(kind: str, anchors: list[str], scale: tuple[int, int], settings: dict) -> dict:
    """The keys every config.json has."""
    return {"kind": kind, "anchors": list(anchors), "scale": [int(scale[0]), int(scale[1])], "settings": settings}


def read_checkpoint(folder: Path, kind: str) -> dict:
    """A checkpoint's config.json, checked to be of `kind` and to sit next to its weights."""
    folder = Path(folder)
    if not (folder / WEIGHTS).exists():
        raise ConfigError(f"{folder}: no {WEIGHTS}; not a student checkpoint")
    cfg = read_config(folder)
    if cfg.get("kind") != kind:
        raise ConfigError(f"{folder}: config.json says kind {cfg.get('kind')!r}, not {kind!r}")
    return cfg


def same_json(a: object, b: object) -> bool:
    """Equal once both went through JSON, as a value read back from config.json has (tuples become lists)."""
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


def stats_of(x: Inputs, kind: str, n: int | None = None) -> np.ndarray:
    """The document statistics of the inputs, checked against the count a student was trained on."""
    if x.stats is None:
        raise ValueError(f"the {kind} student reads document statistics; these inputs hold none (embed.stats: false?)")
    s = np.asarray(x.stats, dtype=np.float64)
    if s.ndim != 2 or (n is not None and s.shape[1] != n):
        raise ConfigError(f"the {kind} student was trained on {n} document statistics; got shape {s.shape} "
                          "(the statistics changed: re-run embed and distill)")
    bad = int((~np.isfinite(s)).sum())
    if bad:  # docstats makes finite ones; one inf in training poisoned every linear weight, silently (NaN scores)
        raise ConfigError(f"{bad} document statistic(s) given to the {kind} student are not finite; "
                          "mira_core/docstats.py makes finite ones: re-run embed")
    return s


def torch_device(wanted: str, knob: str) -> str:
    """The device a torch student runs on: `auto` is CUDA when present, else CPU; `cuda` without one is a
    ConfigError naming the params key (`knob`)."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{knob} = 'cuda': no CUDA device is available")
    return wanted


def label_weights(y: np.ndarray, balance: float) -> np.ndarray | None:
    """Per record, the count of its (rounded) label value to the power -balance, scaled to mean 1; None when
    balance is 0 (unweighted). A score that only a few training records carry then weighs about as much as a
    common one, instead of being pulled toward the common scores' mean. Each student that fits to labels
    (head, linear, trees) reads its own `balance` knob."""
    if balance <= 0 or not len(y):
        return None
    _, inverse, counts = np.unique(np.rint(y), return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -balance
    return w / w.mean()
