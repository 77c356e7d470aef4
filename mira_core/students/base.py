"""What every student shares: its inputs, the protocol (fit, predict, save, load) and its checkpoint files.

A student predicts all of a group's anchors at once: `predict` returns an (n, n_anchors) float32
matrix on the teacher's scale. A checkpoint is a folder with `model.safetensors` (tensors only, no
pickles) and `config.json` (kind, anchors, scale, settings); its version is a digest of both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from mira_core.errors import ConfigError
from mira_core.io import read_json, write_json

Need = Literal["embedding", "text", "both"]  # both: texts and embeddings (the auto student)


@dataclass
class Inputs:
    """Records as a student sees them: their texts, their embeddings, their document statistics (any of them)."""

    texts: list[str] | None = None
    embeddings: np.ndarray | None = None  # (n, dim) float32, rows aligned with texts
    stats: np.ndarray | None = None  # (n, n_stats) float32: mira_core/docstats.py, computed by the embed stage

    def __len__(self) -> int:
        for part in (self.texts, self.embeddings, self.stats):
            if part is not None:
                return len(part)
        return 0

    def take(self, idx: np.ndarray) -> Inputs:
        return Inputs([self.texts[i] for i in idx] if self.texts is not None else None,
                      self.embeddings[idx] if self.embeddings is not None else None,
                      self.stats[idx] if self.stats is not None else None)


class Student(Protocol):
    """A fast scorer: fitted on teacher labels, then predicts every anchor of its group."""

    kind: str
    needs: Need

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        """Train on (n, n_anchors) labels; returns what training reports (epochs, loss ...)."""
        ...

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        """(n, n_anchors) float32 scores, clipped to the scale (unclipped for ranking: no ties at the ends)."""
        ...

    def save(self, folder: Path) -> None:
        """Write model.safetensors and config.json into `folder`."""
        ...


def write_config(folder: Path, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(config, folder / "config.json")


def read_config(folder: Path) -> dict:
    return read_json(Path(folder) / "config.json")


def student_version(folder: Path) -> str:
    """Digest of a checkpoint's files: a new student gets a new version, the same one the same."""
    h = hashlib.sha256()
    folder = Path(folder)
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):  # a composite student keeps members in sub-folders
        # every weights file: transformers shards a large checkpoint (model-00001-of-00002.safetensors + index)
        if f.name == "config.json" or f.name.endswith((".safetensors", ".safetensors.index.json")):
            h.update(f.relative_to(folder).as_posix().encode())
            with open(f, "rb") as fh:  # streamed: a generative student's weights are hundreds of MB
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
    return h.hexdigest()[:12]


def clip(pred: np.ndarray, scale: tuple[int, int], clipped: bool = True) -> np.ndarray:
    """Predictions on the scale; `clipped=False` keeps values beyond its ends, so ranking them leaves no ties there."""
    pred = np.clip(pred, scale[0], scale[1]) if clipped else pred
    return pred.astype(np.float32, copy=False)


TRAINED_ON = "inputs.json"  # beside a student's checkpoint: the embed fingerprint of the inputs it was fitted on
STATS_KEYS = ("stats", "n_stats")  # the part of the fingerprint a student that reads no embedding depends on


def check_trained_on(student_dir: Path, needs: str, fingerprint: dict, reads_stats: bool = True) -> None:
    """Refuse inputs (embeddings, statistics) made otherwise than the ones a student was fitted on: another encoder,
    its weights, the embedding code's or the statistics' version. A student that reads no embedding (linear on
    n-grams and statistics) is checked on the statistics alone, and one that reads neither (`reads_stats` False:
    linear without statistics, a generative student) on nothing. Checkpoints from before this file pass."""
    trained = Path(student_dir) / TRAINED_ON
    if not trained.exists():
        return
    was = read_json(trained)["encoder"]
    keys = set(was) | set(fingerprint) if needs in ("embedding", "both") else set(STATS_KEYS) if reads_stats else set()
    diff = sorted(k for k in keys if was.get(k) != fingerprint.get(k))
    if diff:
        raise ConfigError(f"{student_dir}: this student was fitted on inputs made otherwise (they differ in "
                          f"{', '.join(diff)}); re-run distill after embed")
