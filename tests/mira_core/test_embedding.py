"""Tests of the encoder pass: pooling, dynamic padding, order, windows and coverage, the static encoder, document
statistics beside the vectors, resume by shard, and agreement with sentence-transformers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import EmbedParams
from mira_core.docstats import NAMES
from mira_core.embedding import Encoder, StaticEncoder, embed_shard, read_embeddings
from mira_core.io import library_versions

TEXTS = ["short text", "a somewhat longer text about parsing JSON lines in Python " * 3, "def f(x):\n    return x",
         "tiny", "another record of medium length, with words and numbers 1 2 3"]


@pytest.fixture(scope="module")
def enc(tiny_encoder):
    return Encoder(EmbedParams(encoder=str(tiny_encoder), dtype="fp32", batch_size=2, max_length=64, backend="torch"))


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
    pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(TEXTS))], "format": ["text"] * 5, "text": TEXTS}
                 ).write_parquet(shard)
    out = tmp_path / "emb" / "s" / "part-00000.parquet"
    p = EmbedParams(encoder="x", dtype="fp32")
    first = embed_shard(shard, out, enc, p)
    assert (first["records"], first["resumed"]) == (5, False) and first["coverage"]["full"] == 5
    ids, m = read_embeddings([out])
    assert ids == [f"s/{i}" for i in range(5)] and m.shape == (5, 32)
    table = pl.read_parquet(out)
    assert table["stats"].to_numpy().shape == (5, len(NAMES)) and table["coverage"].to_list() == [1.0] * 5

    def no_model(*a, **k):
        raise AssertionError("the encoder ran on a shard that was already done")

    monkeypatch.setattr(enc, "encode_records", no_model)
    assert embed_shard(shard, out, enc, p)["resumed"] is True
    monkeypatch.undo()
    import mira_core.embedding as embedding  # after a torch upgrade the shard is embedded again, not resumed

    monkeypatch.setattr(embedding, "library_versions", lambda: {**library_versions(), "torch": "99.0"})
    assert embed_shard(shard, out, enc, p)["resumed"] is False
    monkeypatch.undo()
    assert embed_shard(shard, out, enc, p)["resumed"] is False  # and back
    assert embed_shard(shard, out, enc, p.model_copy(update={"stats": False}))["resumed"] is False  # stats changed
    assert "stats" not in pl.read_parquet(out).columns
    pl.DataFrame({"record_id": ["s/x"], "format": ["code"], "text": ["new content"]}).write_parquet(shard)
    assert embed_shard(shard, out, enc, p)["records"] == 1


def test_minilm_matches_sentence_transformers():
    """Pooling and normalisation reproduce the reference implementation of all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer

    from mira_core.ingest.tokens import minilm_path

    ours = Encoder(EmbedParams(encoder="minilm", dtype="fp32", backend="torch")).encode(TEXTS)
    ref = SentenceTransformer(str(minilm_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert (ours * ref).sum(axis=1).min() > 0.9999


def test_windows_read_the_tail_and_coverage_says_how_much_was_read(tiny_encoder):
    long = "alpha beta gamma " * 200 + " the tail holds different words: zebra quartz violin"
    other_tail = "alpha beta gamma " * 200 + " another ending: harbour lantern meadow"
    head_only = Encoder(EmbedParams(encoder=str(tiny_encoder), dtype="fp32", max_length=64, windows=1, backend="torch"))
    spread = Encoder(EmbedParams(encoder=str(tiny_encoder), dtype="fp32", max_length=64, windows=20, backend="torch"))
    v1, c1 = head_only.encode_records([long, other_tail, "short"])
    np.testing.assert_allclose(v1[0], v1[1], atol=1e-6)  # the head alone cannot tell them apart
    assert c1[0] < 0.2 and c1[2] == 1.0
    v2, c2 = spread.encode_records([long, other_tail, "short"])
    assert np.abs(v2[0] - v2[1]).max() > 1e-4  # the last window sees the tail
    assert c2[0] == pytest.approx(1.0) and c2[1] == pytest.approx(1.0)
    np.testing.assert_allclose(np.linalg.norm(v2, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(v2[2], head_only.encode(["short"])[0], atol=1e-5)  # one window: the same vector


def test_static_encoder_is_distilled_once_and_reads_whole_records(tiny_encoder, tmp_path, monkeypatch):
    import mira_core.static_encoder as se

    p = EmbedParams(encoder="static", static_source=str(tiny_encoder))
    enc = StaticEncoder(p, tmp_path / "cache")
    assert enc.dim == 32  # PCA keeps at most the source's width
    texts = ["word " * 5000 + "zebra quartz", "word " * 5000 + "harbour lantern", "def f(x):\n    return x"]
    v, cover = enc.encode_records(texts)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert np.abs(v[0] - v[1]).max() > 1e-5 and list(cover) == [1.0, 1.0, 1.0]

    def no_distill(*a, **k):
        raise AssertionError("distilled again although the cache holds the model")

    monkeypatch.setattr(se, "distill", no_distill)
    again = StaticEncoder(p, tmp_path / "cache")
    np.testing.assert_allclose(again.encode(texts), v, atol=1e-6)
    assert again.fingerprint == enc.fingerprint


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_onnx_backends_give_the_torch_vectors(tiny_encoder, tmp_path, backend):
    texts = [*TEXTS, "word " * 300]
    p = EmbedParams(encoder=str(tiny_encoder), dtype="fp32", max_length=64, windows=3, batch_size=2)
    ref, ref_cover = Encoder(p.model_copy(update={"backend": "torch"})).encode_records(texts)
    enc = Encoder(p.model_copy(update={"backend": backend}), tmp_path / "cache")
    got, cover = enc.encode_records(texts)
    assert enc.fingerprint["backend"] == backend and enc.fingerprint["onnx"].startswith(
        "int8" if backend == "onnx-int8" else "none")
    np.testing.assert_array_equal(cover, ref_cover)
    if backend == "onnx":
        np.testing.assert_allclose(got, ref, atol=1e-4)
    else:
        assert (got * ref).sum(axis=1).min() > 0.98


def test_the_static_encoders_fingerprint_does_not_depend_on_where_its_source_lies(tiny_encoder, tmp_path):
    # the distilled config held the source's absolute path: the same weights from another checkout or venv had
    # another fingerprint, so every shard was re-embedded and every student refused
    import shutil

    moved = tmp_path / "elsewhere" / "encoder"
    shutil.copytree(tiny_encoder, moved)
    a = StaticEncoder(EmbedParams(encoder="static", static_source=str(tiny_encoder)), tmp_path / "cache_a")
    b = StaticEncoder(EmbedParams(encoder="static", static_source=str(moved)), tmp_path / "cache_b")
    assert a.fingerprint == b.fingerprint


def test_an_int8_encoders_fingerprint_holds_the_batch_size(tiny_encoder, tmp_path):
    p = EmbedParams(encoder=str(tiny_encoder), dtype="fp32", max_length=32, backend="onnx-int8", batch_size=2)
    assert Encoder(p, tmp_path / "cache").fingerprint["batch_size"] == 2
    assert "batch_size" not in Encoder(p.model_copy(update={"backend": "torch"})).fingerprint  # same vectors at any


def test_a_kill_between_the_vectors_and_their_stamp_leaves_no_stale_stamp(tmp_path, enc, monkeypatch):
    import mira_core.embedding as embedding

    shard = tmp_path / "corpus" / "s" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["s/0", "s/1"], "format": ["text"] * 2, "text": TEXTS[:2]}).write_parquet(shard)
    out = tmp_path / "emb" / "s" / "part-00000.parquet"
    p = EmbedParams(encoder="x", dtype="fp32")
    embed_shard(shard, out, enc, p)  # A: vectors and stamp
    monkeypatch.setattr(embedding, "write_json", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # B: killed after its vectors, before its stamp
        embed_shard(shard, out, enc, p.model_copy(update={"stats": False}))
    monkeypatch.undo()
    assert embed_shard(shard, out, enc, p)["resumed"] is False  # back to A: B's vectors are not A's
