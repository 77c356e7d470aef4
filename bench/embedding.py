"""Embedding pass: mira's Encoder against sentence-transformers `encode` and a plain Hugging Face loop.

All three embed the same records with all-MiniLM-L6-v2 (the bundled copy), 256 tokens, batches of 64,
mean pooling and L2 normalisation, so they compute the same vectors (checked: the cosine between
mira's and each other method's vector of every record). What differs is how they get there:

- mira: tokenize each record's head once, sort by length, pad each batch to its own longest record;
  bf16 where the CPU has native bf16 (or on CUDA), fp32 otherwise (`embed.dtype: auto`).
- sentence-transformers: `SentenceTransformer.encode` (it also sorts by length), fp32 as loaded.
- plain: the loop most scripts have: batches in input order, `tokenizer(..., padding=True)`, fp32.

All three run on CUDA when it is present, on the CPU otherwise.

Child mode: `python -m bench.embedding METHOD RECORDS.parquet OUT.npy` embeds and prints its figures.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench.common import emit, peak_rss_mb

MAX_LENGTH = 256
BATCH = 64
METHODS = ("mira", "sentence-transformers", "plain-hf")


def _device() -> str:
    """CUDA when present, as mira's `embed.device: auto` picks, so every method runs on the same device."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _mira(texts: list[str]) -> tuple[np.ndarray, str]:
    from mira_core.config import EmbedParams
    from mira_core.embedding import Encoder

    enc = Encoder(EmbedParams(encoder="minilm", max_length=MAX_LENGTH, batch_size=BATCH))
    start = time.perf_counter()
    out = enc.encode(texts)
    return out, f"{time.perf_counter() - start}|{enc.dtype}"


def _st(texts: list[str]) -> tuple[np.ndarray, str]:
    from sentence_transformers import SentenceTransformer

    from mira_core.ingest.tokens import minilm_path

    model = SentenceTransformer(str(minilm_path()), device=_device(), local_files_only=True)
    model.max_seq_length = MAX_LENGTH
    start = time.perf_counter()
    out = model.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)
    return np.asarray(out, dtype=np.float32), f"{time.perf_counter() - start}|fp32"


def _plain(texts: list[str]) -> tuple[np.ndarray, str]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from mira_core.ingest.tokens import minilm_path

    path = str(minilm_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    device = _device()
    model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(device)
    start = time.perf_counter()
    parts = []
    with torch.inference_mode():
        for i in range(0, len(texts), BATCH):
            batch = tok(texts[i : i + BATCH], padding=True, truncation=True, max_length=MAX_LENGTH,
                        return_tensors="pt").to(device)
            hidden = model(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
            parts.append(pooled.cpu().numpy())
    return np.concatenate(parts), f"{time.perf_counter() - start}|fp32"


def token_count(texts: list[str]) -> int:
    """Tokens the encoder reads: each record's head up to MAX_LENGTH, special tokens included."""
    from mira_core.config import EmbedParams
    from mira_core.embedding import Encoder

    enc = Encoder(EmbedParams(encoder="minilm", max_length=MAX_LENGTH, batch_size=BATCH))
    return sum(len(ids) for ids in enc.tokenize(texts))


def main(method: str, records: str, out: str) -> None:
    import polars as pl

    texts = pl.read_parquet(records)["text"].to_list()
    fn = {"mira": _mira, "sentence-transformers": _st, "plain-hf": _plain}[method]
    vectors, info = fn(texts)
    seconds, dtype = info.split("|")
    np.save(out, vectors)
    emit({"method": method, "docs": len(texts), "seconds": float(seconds), "dtype": dtype,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main(*sys.argv[1:4])
