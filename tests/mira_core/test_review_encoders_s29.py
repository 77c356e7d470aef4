"""Review of the fast encoders and the embed stage (s29): a record with no token the static encoder knows gets the
all-zero vector, which every reader takes without NaN and the stage counts (`zero_vectors`); a static source whose
tokenizer has no CLS or SEP is a ConfigError, not a TypeError from torch; the embed task reads its corpus shard by
name (a project under "runs [2]" found no file) and names a shard it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import CacheParams, EmbedParams, HeadParams
from mira_core.embedding import StaticEncoder, embed_shard, embedding_schema
from mira_core.errors import ConfigError
from mira_core.schema import CORPUS

# no token of the MiniLM vocabulary: emoji tokenize to [UNK] (dropped), a zero-width space to nothing, and the
# text of a special token to that token, whose row is zero
NO_KNOWN_TOKEN = ["\U0001f600\U0001f389", "\u200b", "[SEP] [CLS]"]
TEXTS = ["plain words about parsing json", "def f(x):\n    return x", *NO_KNOWN_TOKEN, "a smile \U0001f600 and words"]


def _corpus(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"record_id": [f"{path.parent.name}/{i}" for i in range(len(texts))], "source": path.parent.name,
                  "format": "text", "text": texts, "n_tokens": [len(t.split()) for t in texts],
                  "n_chars": [len(t) for t in texts], "meta": "{}"}, schema=CORPUS).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def static_params(tiny_encoder, tmp_path_factory) -> tuple[EmbedParams, Path]:
    return EmbedParams(encoder="static", static_source=str(tiny_encoder)), tmp_path_factory.mktemp("static_cache")


def test_a_record_with_no_known_token_is_a_zero_vector_every_reader_takes(static_params, tmp_path):
    """The documented behaviour (static_encoder's docstring): zero rows, no NaN in group, label's covering space,
    the anchors' clusters or a head student, and counted per shard."""
    from mira_core import grouping, sampling
    from mira_core.anchors import cluster_anchors
    from mira_core.static_encoder import zero_vectors
    from mira_core.students.base import Inputs
    from mira_core.students.head import HeadStudent

    p, cache = static_params
    enc = StaticEncoder(p, cache)
    v, cover = enc.encode_records(TEXTS)
    norms = np.linalg.norm(v, axis=1)
    assert list(np.flatnonzero(norms == 0)) == [2, 3, 4] and np.allclose(norms[[0, 1, 5]], 1.0, atol=1e-4)
    assert np.isfinite(v).all()

    out = tmp_path / "emb" / "s" / "part-00000.parquet"
    corpus = _corpus(tmp_path / "corpus" / "s" / "part-00000.parquet", TEXTS)
    assert embed_shard(corpus, out, enc, p)["zero_vectors"] == 3  # counted as the shard is embedded ...
    assert zero_vectors([out]) == 3
    assert embed_shard(corpus, out, enc, p)["zero_vectors"] == 3  # ... and given again when it is resumed
    side = out.with_suffix(".json")
    side.write_text(json.dumps({k: v for k, v in json.loads(side.read_text()).items() if k != "zero_vectors"}))
    assert embed_shard(corpus, out, enc, p) | {"coverage": None} == {  # a stamp from before the count
        "records": len(TEXTS), "resumed": True, "coverage": None, "zero_vectors": 3}
    shards = {}
    for source, rows in {"known": v[[0, 1, 5]], "unknown": v[[2, 3, 4]], "mixed": v[[0, 2]]}.items():
        shards[source] = [tmp_path / source / "part-00000.parquet"]
        shards[source][0].parent.mkdir()
        pl.DataFrame({"record_id": [f"{source}/{i}" for i in range(len(rows))], "embedding": rows,
                      "coverage": np.ones(len(rows), np.float32)}, schema=embedding_schema(enc.dim)
                     ).write_parquet(shards[source][0])
    names, centroids, _ = grouping.source_centroids(shards)
    assert np.isfinite(centroids).all() and np.isfinite(grouping.similarity(centroids)).all()
    assert np.isfinite(sampling.cover_features(v)).all()
    judgments = pl.DataFrame({"name": ["a", "b", "c", "d", "e", "f"], "reason": TEXTS, "description": ""})
    assert cluster_anchors(judgments, v, 3, 0)  # KMeans on the unit rows, a zero row included
    head = HeadStudent(HeadParams(model="ridge", stats=False), ["x"], (1, 5))
    head.fit(Inputs(embeddings=v), np.arange(len(v), dtype=np.float32)[:, None] % 5 + 1)
    assert np.isfinite(head.predict(Inputs(embeddings=v))).all()


def test_the_stage_counts_zero_vectors_in_its_metrics(static_params, tmp_path, prefect_harness, capsys):
    from flows.embed import embed_flow

    p, cache = static_params
    _corpus(tmp_path / "data" / "corpus" / "s" / "part-00000.parquet", TEXTS)
    _corpus(tmp_path / "data" / "corpus" / "t" / "part-00000.parquet", TEXTS[:2])
    metrics = embed_flow(p.model_copy(update={"cache_dir": str(cache)}), CacheParams(dir=".c"), str(tmp_path))
    assert metrics["zero_vectors"] == 3
    assert json.loads((tmp_path / "metrics" / "embed.json").read_text())["zero_vectors"] == 3
    assert "3 records hold no token the encoder knows" in capsys.readouterr().out


def test_a_static_source_without_cls_or_sep_is_a_config_error(tiny_causal_lm, tmp_path):
    # a GPT-2 folder with its tokenizer.json: torch.full_like(chunk, None) failed with a TypeError
    with pytest.raises(ConfigError, match=r"embed\.static_source.*no CLS or SEP"):
        StaticEncoder(EmbedParams(encoder="static", static_source=str(tiny_causal_lm)), tmp_path / "cache")
    assert not [c for c in (tmp_path / "cache").iterdir() if not c.name.endswith(".lock")]  # nothing half-made


def test_the_embed_task_reads_a_corpus_shard_under_a_folder_named_with_a_bracket(tiny_encoder, tmp_path):
    # polars read the shard's path as a glob pattern: "runs [2]" matched "runs 2", and nothing was found
    from tasks.embed import embed_one

    root = tmp_path / "runs [2]"
    shard = _corpus(root / "data" / "corpus" / "s" / "part-00000.parquet", TEXTS[:2])
    out = root / "data" / "embeddings" / "s" / "part-00000.parquet"
    p = EmbedParams(encoder=str(tiny_encoder), backend="torch", dtype="fp32", max_length=32)
    assert embed_one.fn(shard, p, str(root), out)["records"] == 2
    assert pl.read_parquet(out, glob=False).height == 2


def test_the_embed_task_names_a_corpus_shard_it_cannot_read(tiny_encoder, tmp_path):
    from tasks.embed import embed_one

    shard = _corpus(tmp_path / "data" / "corpus" / "s" / "part-00000.parquet", TEXTS)
    shard.write_bytes(shard.read_bytes()[:-30])  # truncated: no footer
    p = EmbedParams(encoder=str(tiny_encoder), backend="torch", dtype="fp32", max_length=32)
    with pytest.raises(ConfigError, match=r"part-00000\.parquet: not a readable Parquet file"):
        embed_one.fn(shard, p, str(tmp_path), tmp_path / "emb" / "s" / "part-00000.parquet")


def test_zero_vectors_of_an_empty_shard_and_of_none(tmp_path):
    from mira_core.static_encoder import zero_vectors

    out = tmp_path / "part-00000.parquet"
    pl.DataFrame({"record_id": [], "embedding": np.zeros((0, 4), np.float32), "coverage": []},
                 schema=embedding_schema(4)).write_parquet(out)
    assert zero_vectors([out]) == 0 and zero_vectors([]) == 0
