"""The cached Megatron export re-runs when the tokenizer's configured end-of-document token changes: the export
reads it from the tokenizer_config.json beside the tokenizer.json, which the cache key does not digest, so the
select flow passes it as an argument (`tokenizer_eos`)."""

from __future__ import annotations

import json
import shutil

import polars as pl
from prefect import flow

from mira_core.config import CacheParams
from mira_core.ingest.tokens import tokenizer_file
from mira_core.megatron import configured_eos
from tasks.caching import cached, submit
from tasks.select import materialize_kept
from tests.megatron_reader import read_indexed


def _project(root):
    (root / "data/corpus/a").mkdir(parents=True)
    (root / "rubrics").mkdir()
    (root / "tok").mkdir()
    shutil.copy(tokenizer_file("minilm"), root / "tok/tokenizer.json")
    pl.DataFrame({"record_id": ["a/1", "a/2"], "source": "a", "format": "text", "text": ["hello", "world"],
                  "n_tokens": [1, 1], "n_chars": [5, 5], "meta": "{}"}).write_parquet(
        root / "data/corpus/a/part-00000.parquet")
    pl.DataFrame({"record_id": ["a/1", "a/2"], "source": "a", "group": "g", "n_tokens": [1, 1], "score": [1.0, 0.5],
                  "kept": True, "reason": "kept", "method": "mira", "epochs": 1.0}).write_parquet(
        root / "manifest.parquet")


def test_a_changed_configured_eos_token_is_a_new_export_not_a_cache_hit(tmp_path, prefect_harness):
    _project(tmp_path)
    tokenizer = tmp_path / "tok/tokenizer.json"

    @flow
    def export() -> str:  # as flows/select.py submits it
        fut = submit(cached(materialize_kept, CacheParams(dir=".cache"), tmp_path), tmp_path / "manifest.parquet",
                     "megatron", tmp_path / "data/corpus", tokenizer, None, "p1",
                     tmp_path / "rubrics", out=tmp_path / "megatron", tokenizer_eos=configured_eos(tokenizer))
        fut.result()
        return fut.state.name

    ends = {}
    for eos in ("[SEP]", "[CLS]", "[CLS]"):
        (tmp_path / "tok/tokenizer_config.json").write_text(json.dumps({"eos_token": eos}))
        state = export()
        ends[eos] = {doc[-1] for doc in read_indexed(tmp_path / "megatron/a")["docs"]}
        assert json.loads((tmp_path / "megatron/lineage.json").read_text())["eod_id"] == next(iter(ends[eos]))
    assert ends == {"[SEP]": {102}, "[CLS]": {101}}  # MiniLM's WordPiece ids: the second export is a new one
    assert state == "Cached"  # and the third, with nothing changed, is served from the cache
