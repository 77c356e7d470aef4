"""The encoder pass: one embedding per record, computed once and reused by group, discover, distill, score.

Speed comes from three choices, measured in BENCHMARKS.md: records are tokenized once and sorted by
length so each batch is padded only to its own longest record (dynamic padding); the model runs in
bf16 where the hardware has native bf16 (AVX512-BF16/AMX CPUs, CUDA), with fp32 pooling; and text is
cut to a few characters per token before tokenizing, so a 100 kB record does not cost a 100 kB
tokenization to keep its first 256 tokens.

Embeddings are mean-pooled and L2-normalised (the sentence-transformers recipe of all-MiniLM-L6-v2;
the pooling mode is read from the model folder when it has a sentence-transformers config).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import EmbedParams
from mira_core.errors import ConfigError
from mira_core.ingest.tokens import resolve_model_path
from mira_core.io import file_digest, write_json, write_parquet

CHARS_PER_TOKEN_CAP = 16  # a WordPiece token is rarely longer than this; text beyond max_length * 16 is never read


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device_dtype(p: EmbedParams) -> tuple[str, str]:
    """The device and dtype `auto` stands for on this machine."""
    import torch

    device = p.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embed.device = 'cuda': no CUDA device is available")
    dtype = p.dtype
    if dtype == "auto":
        dtype = "bf16" if (device == "cuda" or cpu_has_bf16()) else "fp32"
    return device, dtype


def _pooling(path: Path) -> tuple[str, bool]:
    """(mode, normalize) from a sentence-transformers model folder; mean + normalize by default."""
    mode, normalize = "mean", True
    cfg = path / "1_Pooling" / "config.json"
    if cfg.exists():
        c = json.loads(cfg.read_text())
        mode = "cls" if c.get("pooling_mode_cls_token") else "mean"
    modules = path / "modules.json"
    if modules.exists():
        normalize = any("Normalize" in m.get("type", "") for m in json.loads(modules.read_text()))
    return mode, normalize


class Encoder:
    """A Hugging Face encoder with pooling, loaded once; `encode` turns texts into unit vectors."""

    def __init__(self, p: EmbedParams) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar; our own bar counts records
        path = Path(resolve_model_path(p.encoder))
        if not (path / "config.json").exists():
            raise ConfigError(f"embed.encoder = {p.encoder!r}: no model folder with config.json at {path}")
        self.device, self.dtype = resolve_device_dtype(p)
        if p.threads:
            torch.set_num_threads(p.threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        torch_dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float32
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True, dtype=torch_dtype).to(self.device)
        self.model.eval()
        self.pooling, self.normalize = _pooling(path)
        self.max_length = min(p.max_length, getattr(self.model.config, "max_position_embeddings", p.max_length))
        self.batch_size = p.batch_size
        self.dim = int(self.model.config.hidden_size)
        self.fingerprint = {
            "encoder": p.encoder, "weights": _weights_digest(path), "dtype": self.dtype, "max_length": self.max_length,
            "pooling": self.pooling, "normalize": self.normalize, "dim": self.dim,
        }

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text's head, special tokens included, no padding."""
        cut = self.max_length * CHARS_PER_TOKEN_CAP
        enc = self.tokenizer([t[:cut] for t in texts], truncation=True, max_length=self.max_length,
                             padding=False, return_attention_mask=False)
        return enc["input_ids"]

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings (n, dim) float32 in input order; batches are length-sorted and padded per batch."""
        import torch

        ids = self.tokenize(texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pad = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = max(len(ids[i]) for i in idx)
                input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    m = mask.unsqueeze(-1).float()
                    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.cpu().numpy()
                if progress:
                    progress(len(idx))
        return out


def _weights_digest(path: Path) -> str:
    """Identify the weights cheaply: digest of config.json plus the weight files' names and sizes."""
    h = hashlib.blake2b(digest_size=8)
    h.update((path / "config.json").read_bytes())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()


_LOAD = threading.Lock()


def load_encoder(p: EmbedParams) -> Encoder:
    """One Encoder per params value in a process, shared by the tasks of a thread pool.

    The lock matters: transformers' lazy imports are not thread-safe, and two tasks loading at once
    would also hold two copies of the weights.
    """
    with _LOAD:
        return _load_encoder(p)


@lru_cache(maxsize=2)
def _load_encoder(p: EmbedParams) -> Encoder:
    return Encoder(p)


def embedding_schema(dim: int) -> dict:
    return {"record_id": pl.String, "embedding": pl.Array(pl.Float32, dim)}


def _sidecar(out: Path) -> Path:
    return out.with_suffix(".json")


def embed_shard(corpus_shard: Path, out: Path, enc: Encoder, progress: Callable[[int], None] | None = None) -> dict:
    """Embed one corpus shard into `out`, unless `out` already holds this shard's embeddings (resume).

    A sidecar `out.json` records the input's digest and the encoder fingerprint; it is written after
    the Parquet file, so its presence means the shard is complete and current.
    """
    stamp = {"input": file_digest(corpus_shard), "encoder": enc.fingerprint}
    side = _sidecar(out)
    if out.exists() and side.exists() and json.loads(side.read_text()).get("stamp") == stamp:
        n = pl.scan_parquet(out).select(pl.len()).collect().item()
        if progress:
            progress(n)
        return {"records": n, "resumed": True}
    df = pl.read_parquet(corpus_shard, columns=["record_id", "text"])
    vectors = enc.encode(df["text"].to_list(), progress)
    table = pl.DataFrame({"record_id": df["record_id"], "embedding": vectors}, schema=embedding_schema(enc.dim))
    write_parquet(table, out)
    write_json({"stamp": stamp, "records": df.height}, side)
    return {"records": df.height, "resumed": False}


def read_embeddings(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """(record_ids, matrix) of embedding shards, in shard order."""
    if not paths:
        return [], np.zeros((0, 0), dtype=np.float32)
    df = pl.concat([pl.read_parquet(p) for p in paths])
    return df["record_id"].to_list(), df["embedding"].to_numpy().astype(np.float32, copy=False)
