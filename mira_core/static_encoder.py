"""A static-embedding encoder distilled offline from the bundled MiniLM: whole records at almost no cost.

Role: `embed.encoder: static` reads every token of every record (no 256-token window), at thousands
of records per second on one CPU core, so the student sees the whole of a long record or agent trace.

How it is made (model2vec's distillation recipe, Tulkens & van Dongen 2024): every token of the
encoder's WordPiece vocabulary is passed through the encoder once as `[CLS] token [SEP]` and
mean-pooled; the (vocab, 384) matrix is reduced by PCA (`PCA_DIMS`) and each row weighted by SIF
(`a / (a + p(token))`, p from Zipf's law over the vocabulary order). A record's vector is the mean of its
tokens' rows, L2-normalised. model2vec's own `distill` pins transformers < 5.4 (this project uses 5.23), so the
recipe is computed here in ~40 lines, and the result is saved in model2vec's folder format and run by
model2vec's `StaticModel` (the maintained inference code: Rust tokenizer, no length limit).

A record none of whose tokens has a row (only emoji or other characters the vocabulary lacks, which tokenize to
[UNK]; zero-width characters; the text of special tokens such as "[SEP]", whose rows stay zero) has nothing to
average: model2vec gives it the all-zero vector, not NaN. Ingest quarantines empty and blank records, but such a
record passes it. Every reader of the vectors takes a zero row without NaN (a zero norm is guarded where they
normalise: group's centroids and cosine, label's covering space, the anchors' clusters; the students read it as
a point at the origin), so it is kept, not replaced: the embed stage counts these rows (`zero_vectors` in
metrics/embed.json, and its summary line names them) so that a corpus full of them is seen. A transformer encoder
never gives one: [CLS] and [SEP] frame every window.

The distilled folder is cached under `embed.cache_dir` (default `~/.cache/mira/encoders`, shared by every
project of the user like Hugging Face's cache, and outside every DVC out), keyed by the source weights and
the recipe, written atomically under a file lock; the first embed pays ~1-2 minutes on 2 CPU cores, later
ones load it in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mira_core.errors import ConfigError
from mira_core.io import atomic_dir, cache_folder, model_digest, read_json

RECIPE = "mira-static/2"  # bump when the recipe below changes: the cache key and the fingerprint follow
# /2: the distilled config names its source by content, not by path (the same weights distilled from another
# checkout had another fingerprint, and every student was refused)
PCA_DIMS = 256
SIF = 1e-4
BATCH = 1024


def _source_digest(model_dir: Path) -> str:
    """The cache key of a distilled model: the source model's content (io.model_digest) and the recipe."""
    return model_digest(model_dir, f"{RECIPE}:{PCA_DIMS}:{SIF}")


def _token_vectors(model_dir: Path) -> tuple[np.ndarray, list[int]]:
    """(vectors of the kept vocabulary, their token ids): one forward pass per token, mean-pooled."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    if cls is None or sep is None:  # before the weights load; torch.full_like failed on None with a TypeError
        raise ConfigError(f"embed.static_source: the tokenizer at {model_dir} has no CLS or SEP token, which frame "
                          "each token the static encoder is distilled from (a BERT-style encoder is expected)")
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32).eval()
    vocab = tok.get_vocab()
    special = set(tok.all_special_ids)
    ids = sorted(i for t, i in vocab.items() if i not in special and not t.startswith("[unused"))
    out = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ids), BATCH):
            chunk = torch.tensor(ids[start : start + BATCH], dtype=torch.long)[:, None]
            x = torch.cat([torch.full_like(chunk, cls), chunk, torch.full_like(chunk, sep)], dim=1)
            hidden = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            out[start : start + len(chunk)] = hidden.mean(dim=1).numpy()
    return out, ids


def distill(model_dir: Path, out: Path) -> None:
    """Distil `model_dir` into a model2vec folder at `out` (the folder must not exist yet)."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    vectors, ids = _token_vectors(model_dir)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # PCA: the rows of vt are the principal axes
    reduced = centred @ vt[: min(PCA_DIMS, vt.shape[0])].T
    rank = np.arange(2, len(ids) + 2, dtype=np.float64)  # Zipf's law over the vocabulary order (model2vec's)
    p = (1 / rank) / (1 / rank).sum()
    reduced *= (SIF / (SIF + p))[:, None]
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    n_vocab = tokenizer.get_vocab_size()
    table = np.zeros((n_vocab, reduced.shape[1]), dtype=np.float32)  # special and unused tokens stay zero
    table[ids] = reduced
    model = StaticModel(vectors=table, tokenizer=tokenizer, normalize=True,
                        config={"recipe": RECIPE, "source_digest": model_digest(model_dir), "pca_dims": PCA_DIMS,
                                "sif": SIF})
    model.save_pretrained(str(out))


def static_model_dir(model_dir: Path, cache_dir: Path) -> Path:
    """The distilled folder for `model_dir`, made once and cached under `cache_dir`.

    A file lock makes a second process (another stage, a parallel test) wait for the first one's
    distillation instead of repeating it; `mira.json` is written last, so a folder without it is never used.
    """
    from filelock import FileLock

    target = cache_dir / f"static-{_source_digest(model_dir)}"
    done = lambda: (target / "model.safetensors").exists() and (target / "mira.json").exists()  # noqa: E731
    if done():
        return target
    cache_folder(cache_dir, "embed.cache_dir")
    with FileLock(str(target) + ".lock"):
        if not done():
            with atomic_dir(target) as tmp:
                distill(model_dir, tmp)
                (tmp / "mira.json").write_text(json.dumps({"recipe": RECIPE, "source": str(model_dir)}) + "\n")
    return target


def zero_vectors(shards: list[Path]) -> int:
    """How many rows of these embedding shards are all zeros: records with no token the static encoder has a row
    for (see the module docstring). A transformer encoder's shards hold none."""
    import polars as pl

    e = pl.col("embedding")
    return sum(pl.scan_parquet(s, glob=False).select(((e.arr.max() == 0) & (e.arr.min() == 0)).sum()).collect().item()
               for s in shards)


def is_static_folder(path: Path) -> bool:
    """A model2vec folder (its config names model2vec) rather than a transformers encoder."""
    cfg = path / "config.json"
    if not cfg.exists():
        return False
    return read_json(cfg).get("model_type") == "model2vec"
