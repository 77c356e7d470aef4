"""Tests of the encoder pass: pooling, dynamic padding, order, resume by shard, and agreement with sentence-transformers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import EmbedParams
from mira_core.embedding import Encoder, embed_shard, read_embeddings

TEXTS = ["short text", "a somewhat longer text about parsing JSON lines in Python " * 3, "def f(x):\n    return x",
         "tiny", "another record of medium length, with words and numbers 1 2 3"]


@pytest.fixture(scope="module")
def enc(tiny_encoder):
    return Encoder(EmbedParams(encoder=str(tiny_encoder), dtype="fp32", batch_size=2, max_length=64))


def test_vectors_are_unit_length_and_in_input_order(enc):
    v = enc.encode(TEXTS)
    assert v.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    one_by_one = np.vstack([enc.encode([t]) for t in TEXTS])  # no padding at all
    np.testing.assert_allclose(v, one_by_one, atol=1e-5)      # batching + padding changes nothing


def test_max_length_cuts_the_head(enc):
    long = "word " * 500
    assert len(enc.tokenize([long])[0]) == 64
    np.testing.assert_allclose(enc.encode([long]), enc.encode([long + " tail that is never read"]), atol=1e-6)


def test_embed_shard_resumes_and_notices_changes(tmp_path, enc, monkeypatch):
    shard = tmp_path / "corpus" / "s" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(TEXTS))], "text": TEXTS}).write_parquet(shard)
    out = tmp_path / "emb" / "s" / "part-00000.parquet"
    assert embed_shard(shard, out, enc) == {"records": 5, "resumed": False}
    ids, m = read_embeddings([out])
    assert ids == [f"s/{i}" for i in range(5)] and m.shape == (5, 32)

    def no_model(*a, **k):
        raise AssertionError("the encoder ran on a shard that was already done")

    monkeypatch.setattr(enc, "encode", no_model)
    assert embed_shard(shard, out, enc)["resumed"] is True
    monkeypatch.undo()
    pl.DataFrame({"record_id": ["s/x"], "text": ["new content"]}).write_parquet(shard)
    assert embed_shard(shard, out, enc) == {"records": 1, "resumed": False}


def test_minilm_matches_sentence_transformers():
    """Pooling and normalisation reproduce the reference implementation of all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer

    from mira_core.ingest.tokens import minilm_path

    ours = Encoder(EmbedParams(dtype="fp32")).encode(TEXTS)
    ref = SentenceTransformer(str(minilm_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert (ours * ref).sum(axis=1).min() > 0.9999
