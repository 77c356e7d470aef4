"""The embedding stamps key the distill and score caches: distill stamps the student with the encoder it reads
from the `<shard>.json` beside each embedding shard, and score checks a shard's stamp against the student. A
re-embed that writes the same vectors (byte-identical Parquet) under another stamp must re-fit and re-check, not be
served the old student, which then failed every later score with "re-run distill", a re-run served again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.distill import distill_flow
from flows.score import score_flow
from mira_core.config import CacheParams, DistillParams, EmbedParams, ScoreParams
from mira_core.embedding import embedding_schema
from mira_core.errors import ConfigError
from mira_core.io import file_digest, read_json, write_json, write_parquet
from mira_core.labels import label_schema
from mira_core.rubric import Anchor, Rubric, save_rubric
from mira_core.schema import CORPUS, GROUPS


def _project(root: Path, n: int = 40) -> Path:
    """One group of one source: corpus, embeddings with their stamp, a one-anchor rubric, labels. The stamp's path."""
    rng = np.random.default_rng(0)
    ids, texts = [f"s/r{i:03d}" for i in range(n)], [f"word{i % 5} text number {i} " * (1 + i % 3) for i in range(n)]
    corpus = root / "data/corpus/s/part-00000.parquet"
    corpus.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ids, "source": "s", "format": "text", "text": texts,
                  "n_tokens": [len(t.split()) for t in texts], "n_chars": [len(t) for t in texts], "meta": "{}"},
                 schema=CORPUS).write_parquet(corpus)
    emb = root / "data/embeddings/s/part-00000.parquet"
    x = rng.normal(size=(n, 8)).astype(np.float32)
    write_parquet(pl.DataFrame({"record_id": ids, "embedding": x, "coverage": np.ones(n, np.float32)},
                               schema=embedding_schema(8)), emb)
    stamp = emb.with_suffix(".json")
    write_json({"stamp": {"input": file_digest(corpus), "encoder": {
        "encoder": "minilm", "weights": "aaaa", "dim": 8, "embed": "embed/2", "stats": None, "n_stats": 0}},
        "records": n}, stamp)
    rubric = Rubric(group="g", teacher="t", prompt_version="p", sources=["s"], anchors=[
        Anchor(id="a00", name="x", description="d", exemplar_reason="r", support=1)]).with_version()
    save_rubric(rubric, root / "data/rubrics/g.json")
    labels = pl.DataFrame({"record_id": ids, "source": "s", "group": "g",
                           "split": ["train" if i % 4 else "val" for i in range(n)],
                           "a00": (1 + np.clip(np.round(x[:, 0] + 2), 0, 4)).astype(int), "rationales": "{}",
                           "teacher": "t", "rubric_version": rubric.version, "prompt_hash": "h"},
                          schema=label_schema(["a00"]))
    (root / "data/labels/repeats").mkdir(parents=True)
    labels.write_parquet(root / "data/labels/g.parquet")
    labels.head(0).write_parquet(root / "data/labels/repeats/g.parquet")
    groups = root / "data/groups/groups.parquet"
    groups.parent.mkdir(parents=True)
    pl.DataFrame({"source": ["s"], "group": ["g"], "method": ["pin"]}, schema=GROUPS).write_parquet(groups)
    return stamp


def _states(root: Path, stage: str) -> dict:
    return json.loads((root / ".mira" / "runs" / f"{stage}.json").read_text())["tasks"]


def test_a_new_embedding_stamp_refits_the_student_and_rechecks_the_scores(tmp_path, prefect_harness):
    stamp = _project(tmp_path)
    cache = CacheParams(dir=".cache")

    def distill() -> None:
        distill_flow(DistillParams(student="head"), EmbedParams(), cache, str(tmp_path))

    distill()
    score_flow(ScoreParams(), cache, str(tmp_path))
    distill()
    assert _states(tmp_path, "distill") == {"Cached": 1}  # nothing changed: a hit
    body = read_json(stamp)
    body["stamp"]["encoder"]["weights"] = "bbbb"  # the encoder folder re-saved: same vectors, another stamp
    write_json(body, stamp)
    with pytest.raises(ConfigError, match="fitted on inputs made otherwise"):
        score_flow(ScoreParams(), cache, str(tmp_path))  # the old student is checked, not served from the cache
    distill()
    assert _states(tmp_path, "distill") == {"Completed": 1}
    assert read_json(tmp_path / "data/students/g/inputs.json")["encoder"]["weights"] == "bbbb"
    score_flow(ScoreParams(), cache, str(tmp_path))
    assert _states(tmp_path, "score") == {"Completed": 1}


def test_knobs_the_students_do_not_read_leave_the_distill_cache_alone(tmp_path, prefect_harness):
    _project(tmp_path)
    cache = CacheParams(dir=".cache")
    distill_flow(DistillParams(student="head"), EmbedParams(), cache, str(tmp_path))
    distill_flow(DistillParams(student="head", trees={"n_estimators": 7}), EmbedParams(threads=1, batch_size=8),
                 cache, str(tmp_path))
    assert _states(tmp_path, "distill") == {"Cached": 1}  # a trees knob, embed's threads: no re-fit
    distill_flow(DistillParams(student="head", head={"model": "mlp"}), EmbedParams(), cache, str(tmp_path))
    assert _states(tmp_path, "distill") == {"Completed": 1}  # the head's own knob re-fits


def test_an_encoder_retrained_in_place_is_not_served_the_old_vectors(tmp_path, prefect_harness, tiny_encoder):
    # the params name the encoder by its folder: the embed task's key must see its weights (the stamp)
    import shutil

    import torch
    from transformers import BertModel

    from flows.embed import embed_flow

    _project(tmp_path)
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    p, cache = EmbedParams(encoder=str(encoder), backend="torch", dtype="fp32", max_length=32), CacheParams(dir=".c")
    embed_flow(p, cache, str(tmp_path))
    embed_flow(p, cache, str(tmp_path))
    assert _states(tmp_path, "embed") == {"Cached": 1}
    torch.manual_seed(1)
    BertModel(BertModel.config_class.from_pretrained(encoder)).save_pretrained(encoder)  # retrained, same shapes
    embed_flow(p, cache, str(tmp_path))
    assert _states(tmp_path, "embed") == {"Completed": 1}


def test_a_deleted_stamp_is_written_again_by_the_next_embed(tmp_path, grouped_project):
    # the stamp was no output of the cached task: deleted, the next embed was served from the cache without it,
    # and score kept saying "no embeddings stamp beside it (re-run embed)"
    from flows import embed
    from mira_core.config import parse_params
    from mira_core.layout import Layout

    params = parse_params({**grouped_project("three_sources"), "cache": {"enabled": True, "dir": ".mira/cache"}})
    embed.run(params, tmp_path)
    lay = Layout(tmp_path)
    side = lay.embedding_shard(lay.corpus_shards()[0]).with_suffix(".json")
    side.unlink()
    embed.run(params, tmp_path)
    assert side.exists()
    assert json.loads((tmp_path / ".mira" / "runs" / "embed.json").read_text())["tasks"].get("Cached", 0) == 2
