"""select refuses an impossible budget before it selects anything."""

from __future__ import annotations

import json

import pytest

from flows import select
from mira_core.config import parse_params
from mira_core.errors import ConfigError

pytestmark = pytest.mark.slow


def test_an_absolute_budget_above_the_selectable_tokens_fails_before_any_work(tmp_path, prefect_harness):
    params = parse_params({"sources": [{"name": "a", "path": "raw/a.jsonl", "format": "text"},
                                       {"name": "b", "path": "raw/b.jsonl", "format": "text"}],
                           "select": {"budget": 900, "held_out_sources": ["b"]}})
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "students.json").write_text("{}")
    (tmp_path / "metrics" / "ingest.json").write_text(json.dumps(
        {"sources": {"a": {"n_tokens": 800}, "b": {"n_tokens": 5000}}, "total": {"kept": 2, "read": 2,
                                                                             "quarantined": 0}}))
    with pytest.raises(ConfigError, match="select.budget = 900 tokens, but only 800 tokens are selectable"):
        select.run(params, tmp_path)  # b is held out: only a's 800 tokens can be selected
    assert not (tmp_path / "data" / "selection").exists()  # no method was selected


def test_scores_of_a_corpus_ingested_again_are_refused_before_any_work(tmp_path, prefect_harness):
    # the check runs once in the flow, before MIRA and its ablations are selected (session 44)
    import polars as pl

    from mira_core.layout import Layout
    from mira_core.schema import CORPUS, CORPUS_DIGEST

    params = parse_params({"sources": [{"name": "a", "path": "raw/a.jsonl", "format": "text"}],
                           "select": {"held_out_sources": []}})
    lay = Layout(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "students.json").write_text("{}")
    (tmp_path / "metrics" / "ingest.json").write_text(json.dumps(
        {"sources": {"a": {"n_tokens": 800}}, "total": {"kept": 1, "read": 1, "quarantined": 0}}))
    for path in (lay.group_map(), lay.dedup, lay.decontaminate):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    shard = lay.corpus / "a" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["a/1"], "source": "a", "format": "text", "text": "x", "n_tokens": 800, "n_chars": 1,
                  "meta": "{}"}, schema=CORPUS).write_parquet(shard)
    scores = lay.scores / "g" / "a" / shard.name
    scores.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["a/1"], "a00": [1.0]}).write_parquet(scores, metadata={CORPUS_DIGEST: "an old shard"})
    with pytest.raises(ConfigError, match="scored another version of their corpus shard"):
        select.run(params, tmp_path)
    assert not (tmp_path / "data" / "selection").exists()  # no method was selected
