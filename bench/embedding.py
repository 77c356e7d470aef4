"""Embedding pass: mira's encoders and backends against sentence-transformers `encode` and a plain Hugging Face loop.

The MiniLM methods embed the same records with all-MiniLM-L6-v2 (the bundled copy), 256-token windows,
batches of 64, mean pooling and L2 normalisation, so they compute the same vectors up to the backend's
arithmetic (checked: the cosine of each method's vector of every record to mira's torch fp32 one):

- mira-torch: tokenize each record's head once, sort by length, pad each batch to its own longest record;
  bf16 where the CPU has native bf16 (or on CUDA), fp32 otherwise.
- mira-onnx-int8: the same batches on ONNX Runtime with dynamic int8 weights (`embed.backend: onnx-int8`).
- mira-onnx-int8-w4: four windows spread from head to tail per record (`embed.windows: 4`), int8.
- mira-static: the static embedding distilled from MiniLM (`embed.encoder: static`, the default): every
  token of every record; its vectors live in another space, so it has no cosine to the others.
- sentence-transformers: `SentenceTransformer.encode` (it also sorts by length), fp32 as loaded.
- plain: the loop most scripts have: batches in input order, `tokenizer(..., padding=True)`, fp32.

Coverage is the share of each record's tokens the method read (mean over records).

Child mode: `python -m bench.embedding METHOD RECORDS.parquet OUT.npy` embeds and prints its figures.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench.common import emit, peak_rss_mb

MAX_LENGTH = 256
BATCH = 64
METHODS = ("mira-torch", "mira-onnx-int8", "mira-onnx-int8-w4", "mira-static", "sentence-transformers", "plain-hf")
MIRA = {"mira-torch": {"encoder": "minilm", "backend": "torch"},
        "mira-onnx-int8": {"encoder": "minilm", "backend": "onnx-int8"},
        "mira-onnx-int8-w4": {"encoder": "minilm", "backend": "onnx-int8", "windows": 4},
        "mira-static": {"encoder": "static"}}


def _device() -> str:
    """CUDA when present, as mira's `embed.device: auto` picks, so every method runs on the same device."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _mira(method: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    from mira_core.config import EmbedParams
    from mira_core.embedding import load_encoder

    enc = load_encoder(EmbedParams(max_length=MAX_LENGTH, batch_size=BATCH, **MIRA[method]))  # export/distil untimed
    start = time.perf_counter()
    out, cover = enc.encode_records(texts)
    return out, cover, f"{time.perf_counter() - start}|{enc.dtype}"


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

    enc = Encoder(EmbedParams(encoder="minilm", max_length=MAX_LENGTH, batch_size=BATCH, backend="torch"))
    return sum(len(ids) for ids in enc.tokenize(texts))


def head_coverage(texts: list[str], n_tokens: list[int]) -> float:
    """Mean share of each record's tokens that a 256-token head window reads (special tokens aside)."""
    return float(np.mean([min(1.0, (MAX_LENGTH - 2) / n) if n else 1.0 for n in n_tokens]))


def main(method: str, records: str, out: str) -> None:
    import polars as pl

    df = pl.read_parquet(records)
    texts = df["text"].to_list()
    if method in MIRA:
        vectors, cover, info = _mira(method, texts)
        coverage = float(np.mean(cover))
    else:
        vectors, info = {"sentence-transformers": _st, "plain-hf": _plain}[method](texts)
        coverage = head_coverage(texts, df["n_tokens"].to_list())
    seconds, dtype = info.split("|")
    np.save(out, vectors)
    emit({"method": method, "docs": len(texts), "seconds": float(seconds), "dtype": dtype, "coverage": coverage,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main(*sys.argv[1:4])
