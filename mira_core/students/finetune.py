"""The `finetune` student: the encoder itself, fine-tuned with one regression output per anchor.

Role: the most accurate and most expensive student. The embed stage's encoder (a local folder,
`embed.encoder`) is loaded with AutoModel, its last hidden states are pooled by `embedding.pool` as
the embed stage pools them (masked mean, or CLS where the model folder says so) and a Linear(hidden,
n_anchors) head maps them to the anchors. Training: MSE on per-anchor standardised targets, AdamW with the
encoder at `lr` and the head at 10x `lr` (the head starts from random, the encoder does not),
gradients clipped at norm 1, a constant learning rate, `epochs` passes in a seeded random order,
dynamic padding. CUDA when present (bf16 autocast), else CPU in fp32.

Key decisions:
- no L2 normalisation of the pooled vector, unlike the embeddings (a reasoned choice, not a
  measured one): a unit-norm input needs large head weights to reach unit-variance targets, which
  at the head's default 3e-4 learning rate takes many steps; unnormalised mean-pooled states are
  larger, so the head starts in range.
- the checkpoint is self-contained: model.safetensors holds the whole module (encoder, head and
  the target scaling), config.json holds the encoder's architecture config, and the tokenizer files
  are copied next to them, so `load` needs nothing but the folder.
- an anchor constant in train predicts that value exactly (its head row is zeroed), as ridge does; a
  `max_length` that leaves no room between the tokenizer's special tokens is a ConfigError.
- CPU is possible, not practical: all-MiniLM-L6-v2, batch 16, max_length 128, fp32, one core,
  measured 3.7 s per training step (two shared cores were slower) and ~20 records/s predicting;
  the defaults (800 labels x 0.8 train, 2 epochs = 80 steps) take ~5 minutes per group.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from mira_core.config import FinetuneParams
from mira_core.embedding import CHARS_PER_TOKEN_CAP, _pooling, pool
from mira_core.errors import ConfigError, check_interrupted
from mira_core.ingest.tokens import resolve_model_path
from mira_core.io import read_json
from mira_core.students.base import Inputs, Need, clip, write_config
from mira_core.students.common import (
    SEEDED,
    WEIGHTS,
    config_head,
    read_checkpoint,
    standardize,
    targets,
    texts_of,
    torch_device,
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
PREDICT_BATCH = 64  # records per forward pass when scoring (length-sorted, so padding stays small)
MAX_GRAD_NORM = 1.0
HEAD_LR_FACTOR = 10.0


class Regressor(torch.nn.Module):
    """Encoder -> pooled hidden state -> Linear -> un-standardised anchor scores."""

    def __init__(self, encoder: torch.nn.Module, n_out: int, pooling: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), n_out)
        self.pooling = pooling
        self.register_buffer("y_mean", torch.zeros(n_out))
        self.register_buffer("y_std", torch.ones(n_out))

    def core(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Standardised predictions: what the loss sees."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
        return self.head(pool(hidden, mask, self.pooling)).float()

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.core(input_ids, mask) * self.y_std + self.y_mean


class FinetuneStudent:
    """A fine-tuned encoder with one regression output per anchor."""

    kind = "finetune"
    needs: Need = "text"

    def __init__(self, params: FinetuneParams, anchors: list[str], scale: tuple[int, int], encoder: str = "minilm",
                 seed: int = 0) -> None:
        self.params = params
        self.anchors = list(anchors)
        self.scale = (int(scale[0]), int(scale[1]))
        self.encoder = encoder  # what embed.encoder named: 'minilm' or a local folder
        self.seed = seed
        self.device = torch_device(params.device, "distill.finetune.device")
        self.model: Regressor | None = None
        self.tokenizer = None
        self.tokenizer_dir: Path | None = None  # where the tokenizer files are copied from on save
        self.max_length = params.max_length

    def fit(self, x: Inputs, y: np.ndarray) -> dict:
        texts = texts_of(x, self.kind)
        y = targets(y, len(texts), self.anchors)
        start = time.perf_counter()
        path = self._load_pretrained()
        devices = [torch.device(self.device).index or 0] if self.device == "cuda" else []
        # seeded head init and dropout, one group at a time (SEEDED); the caller's RNG is untouched
        with SEEDED, torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            encoder = _auto_model().from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
            self.model = Regressor(encoder, len(self.anchors), _pooling(path)[0])
            self.max_length = min(self.params.max_length,
                                  _max_positions(encoder.config, self.tokenizer, self.params.max_length))
            frame = self.tokenizer.num_special_tokens_to_add(pair=False)
            if self.max_length <= frame:  # at frame, every record read as [CLS] [SEP]: one score for all; below it,
                # the tokenizer does not truncate at all (it warns) and reads more than max_length tokens
                takes = "" if self.max_length == self.params.max_length else f" (this encoder takes {self.max_length})"
                raise ConfigError(f"distill.finetune.max_length = {self.params.max_length}{takes}: the tokenizer frames "
                                  f"each record with {frame} special tokens, which leaves none of its text; use "
                                  f"{frame + 1} or more")
            mean, std = standardize(y)
            self.model.y_mean.copy_(torch.as_tensor(mean))
            self.model.y_std.copy_(torch.as_tensor(std))
            flat = torch.from_numpy(np.flatnonzero(y.std(0) <= 1e-8))
            if len(flat):  # an anchor constant in train: its random head row scored each record by noise around the
                with torch.no_grad():  # value; zeroed, its output is 0 (the target), gets no gradient and stays 0, so
                    self.model.head.weight[flat] = 0.0  # it predicts the train value itself, as ridge does
                    self.model.head.bias[flat] = 0.0
            self.model.to(self.device)
            ids = self._tokenize(texts)
            train_start = time.perf_counter()
            losses, steps = self._train(ids, ((y - mean) / std).astype(np.float32))
        self.model.eval()
        train_seconds = time.perf_counter() - train_start
        return {"kind": self.kind, "n_train": len(texts), "epochs": self.params.epochs, "train_loss": losses,
                "steps": steps, "device": self.device, "seconds": round(time.perf_counter() - start, 3),
                "seconds_per_step": round(train_seconds / max(steps, 1), 4)}

    def predict(self, x: Inputs, clipped: bool = True) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("the finetune student is not fitted")
        texts = texts_of(x, self.kind)
        if not texts:
            return np.zeros((0, len(self.anchors)), np.float32)
        ids = self._tokenize(texts)
        order = np.argsort([-len(t) for t in ids], kind="stable")
        out = np.zeros((len(ids), len(self.anchors)), np.float32)
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            for i in range(0, len(order), PREDICT_BATCH):
                idx = order[i : i + PREDICT_BATCH]
                out[idx] = self.model(*self._batch(ids, idx)).float().cpu().numpy()
        return clip(out, self.scale, clipped)

    def save(self, folder: Path) -> None:
        if self.model is None:
            raise RuntimeError("the finetune student is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.model, str(folder / WEIGHTS))
        copied = _copy_tokenizer(self.tokenizer_dir, folder, type(self.tokenizer).__name__)
        encoder_config = {k: v for k, v in self.model.encoder.config.to_dict().items() if k != "_name_or_path"}
        config = config_head(self.kind, self.anchors, self.scale, self.params.model_dump())
        config.update(seed=self.seed, encoder={"source": self.encoder}, encoder_config=encoder_config,
                      pooling=self.model.pooling, max_length=self.max_length, tokenizer_files=copied,
                      dims={"hidden": int(self.model.encoder.config.hidden_size), "anchors": len(self.anchors)})
        write_config(folder, config)

    @classmethod
    def load(cls, folder: Path) -> FinetuneStudent:
        from transformers import AutoConfig, AutoTokenizer

        folder = Path(folder)
        cfg = read_checkpoint(folder, cls.kind)
        # the device it was fitted on is no setting of the scoring host: a CUDA-fitted student scores on a CPU one
        student = cls(FinetuneParams(**cfg["settings"] | {"device": "auto"}), cfg["anchors"], tuple(cfg["scale"]),
                      cfg["encoder"]["source"], cfg["seed"])
        student.params = FinetuneParams(**cfg["settings"])  # as saved: a re-save keeps its version
        with SEEDED, torch.random.fork_rng(devices=[]):  # a random init, overwritten: drawn apart from other threads
            encoder = _auto_model().from_config(AutoConfig.for_model(**cfg["encoder_config"]))
            student.model = Regressor(encoder, len(student.anchors), cfg["pooling"])
        load_model(student.model, str(folder / WEIGHTS), strict=True)
        student.model.to(student.device).eval()
        student.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        student.tokenizer_dir = folder
        student.max_length = int(cfg["max_length"])
        return student

    def _load_pretrained(self) -> Path:
        from transformers import AutoTokenizer

        path = Path(resolve_model_path(self.encoder))
        if not (path / "config.json").exists():
            raise ConfigError(f"embed.encoder = {self.encoder!r}: no model folder with config.json at {path}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.tokenizer_dir = path
        return path

    def _train(self, ids: list[list[int]], ys: np.ndarray) -> tuple[list[float], int]:
        encoder = [p for n, p in self.model.named_parameters() if not n.startswith("head.")]
        opt = torch.optim.AdamW([
            {"params": encoder, "lr": self.params.lr},
            {"params": list(self.model.head.parameters()), "lr": self.params.lr * HEAD_LR_FACTOR},
        ])
        rng = np.random.default_rng(self.seed)
        self.model.train()
        losses, steps = [], 0
        for _ in range(self.params.epochs):
            total = 0.0
            order = rng.permutation(len(ids))
            for i in range(0, len(order), self.params.batch_size):
                check_interrupted()
                idx = order[i : i + self.params.batch_size]
                target = torch.from_numpy(ys[idx]).to(self.device)
                with self._autocast():
                    loss = torch.nn.functional.mse_loss(self.model.core(*self._batch(ids, idx)), target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
                opt.step()
                total += loss.item() * len(idx)
                steps += 1
            losses.append(round(total / len(ids), 6))
        return losses, steps

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        cut = self.max_length * CHARS_PER_TOKEN_CAP  # never tokenize text the model cannot read
        enc = self.tokenizer([t[:cut] for t in texts], truncation=True, max_length=self.max_length, padding=False,
                             return_attention_mask=False)
        return enc["input_ids"]

    def _batch(self, ids: list[list[int]], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded input ids and attention mask of records `idx`, on the device."""
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _auto_model():
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar
    return AutoModel



def _max_positions(config, tokenizer, default: int) -> int:
    """The longest input the encoder takes: its position embeddings, and its tokenizer's limit (a RoBERTa-family
    model's 514 positions hold 512 tokens, as its tokenizer says; transformers' unset limit is huge)."""
    positions = int(getattr(config, "max_position_embeddings", None) or default)
    limit = getattr(tokenizer, "model_max_length", None) or positions
    return min(positions, int(limit)) if limit < 1_000_000 else positions


def _copy_tokenizer(src: Path, dst: Path, tokenizer_class: str) -> list[str]:
    """Copy the tokenizer files of `src` into `dst`; names the class in tokenizer_config.json.

    The class must be named there: without it, AutoTokenizer would look for the model type in
    dst/config.json, which is the student's config, not a transformers one.
    """
    copied = []
    for name in TOKENIZER_FILES:
        if (src / name).exists() and (src / name).resolve() != (dst / name).resolve():
            shutil.copyfile(src / name, dst / name)
        if (dst / name).exists():
            copied.append(name)
    tc_path = dst / "tokenizer_config.json"
    tc = read_json(tc_path) if tc_path.exists() else {}
    if not tc.get("tokenizer_class"):
        tc["tokenizer_class"] = tokenizer_class
        tc_path.write_text(json.dumps(tc, indent=2, sort_keys=True) + "\n")
        copied = sorted(set(copied) | {"tokenizer_config.json"})
    return copied
