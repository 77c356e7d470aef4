"""Review tests (session 28): reading another stage's Parquet files, a source list a typo left unchecked, and a
YAML boolean where a number is expected."""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.config import parse_params
from mira_core.errors import ConfigError, SchemaError
from mira_core.io import write_parquet
from mira_core.schema import CORPUS, read_checked


def _shard(path):
    row = {"record_id": ["s/1"], "source": ["s"], "format": ["text"], "text": ["a record"], "n_tokens": [2],
           "n_chars": [8], "meta": ["{}"]}
    return write_parquet(pl.DataFrame(row, schema={c: CORPUS[c] for c in row}), path)


def test_a_shard_under_a_folder_named_with_brackets_is_read_as_a_name(tmp_path):
    # polars reads a path as a glob pattern: "runs [2]" is a class that matches "runs 2", so every read of a project
    # under such a folder found nothing ("expanded paths were empty")
    shard = _shard(tmp_path / "runs [2]" / "part-0.parquet")
    (tmp_path / "runs 2").mkdir()  # what the class would match
    assert read_checked(shard, CORPUS, ["record_id", "text"])["text"].to_list() == ["a record"]
    assert read_checked([shard, shard], CORPUS)["record_id"].to_list() == ["s/1", "s/1"]


def test_a_truncated_shard_is_named(tmp_path):
    shard = _shard(tmp_path / "part-0.parquet")
    shard.write_bytes(shard.read_bytes()[:-20])
    with pytest.raises(SchemaError, match=r"part-0.parquet: not a readable Parquet file .*Re-run the stage"):
        read_checked(shard, CORPUS)
    with pytest.raises(FileNotFoundError):  # a missing file stays what it was
        read_checked(tmp_path / "gone.parquet", CORPUS)


def test_dedup_source_priority_names_only_sources():
    src = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}]}
    assert parse_params({**src, "dedup": {"source_priority": ["a"]}}).dedup.source_priority == ["a"]
    with pytest.raises(ConfigError, match=r"dedup.source_priority names 'b', which is not a source \(a\)"):
        parse_params({**src, "dedup": {"source_priority": ["b"]}})


@pytest.mark.parametrize(("section", "knob"), [("select", {"budget": True}), ("select", {"trim": False}),
                                               ("label", {"records_per_group": True}),
                                               ("distill", {"head": {"alpha": True}})])
def test_a_boolean_where_a_number_is_expected_is_refused(section, knob):
    # YAML reads `budget: yes` as True, and pydantic's lax mode made it 1.0: a budget that kept every token
    src = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}]}
    with pytest.raises(ConfigError, match=r"= (true|false): a number is expected here"):
        parse_params({**src, section: knob})
    assert parse_params({**src, "dedup": {"enabled": False}, "select": {"mask": False}}).select.mask is False
