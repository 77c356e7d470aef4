"""Review of ingest and `mira init` (session 27): a regression test for each bug found, each failing without its fix."""

from __future__ import annotations

import os

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.hf_dataset import read_hf_dataset
from mira_core.ingest.readers import expand, read_source
from mira_core.ingest.source import empty_source_problem, ingest_source, source_inputs
from mira_core.init_project import guess_format
from tests.conftest import write_jsonl

PROSE = [{"text": f"A plain sentence about topic number {i}, written as prose."} for i in range(3)]


def test_hf_dataset_reads_parquet_shards_behind_a_linked_folder(tmp_path):
    # pathlib's rglob does not follow a link to a folder (before Python 3.13), while the cache key does: the
    # shards behind it were left out without a word.
    (tmp_path / "elsewhere").mkdir()
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "elsewhere" / "train-00000.parquet")
    (tmp_path / "ds").mkdir()
    pq.write_table(pa.table({"text": ["c"]}), tmp_path / "ds" / "test-00000.parquet")
    os.symlink(tmp_path / "elsewhere", tmp_path / "ds" / "data")
    locators = [i.locator for i in read_hf_dataset(tmp_path / "ds", "ds")]
    assert locators == ["ds/data/train-00000.parquet#0", "ds/data/train-00000.parquet#1", "ds/test-00000.parquet#0"]


def test_hf_dataset_reads_parquet_shards_named_in_capitals(tmp_path):
    # with no reader set, a folder of TRAIN.PARQUET files is refused with "set reader: hf_dataset", which then
    # found no shard in it
    (tmp_path / "ds").mkdir()
    pq.write_table(pa.table({"text": ["a record of text"]}), tmp_path / "ds" / "TRAIN.PARQUET")
    spec = SourceSpec(name="ds", path="ds", format="text")
    with pytest.raises(ConfigError, match="reader: hf_dataset"):
        source_inputs(spec, 0, tmp_path)
    assert [i.payload for i in read_source("hf_dataset", "ds", tmp_path)] == [{"text": "a record of text"}]


def test_a_glob_source_in_a_project_folder_whose_name_holds_a_bracket(tmp_path):
    # the project folder's own "[2]" made `root / "data/*.jsonl"` a pattern that matched nothing: "no such file"
    root = tmp_path / "runs[2]"
    write_jsonl(root / "data" / "a.jsonl", PROSE)
    assert expand("data/*.jsonl", root) == [root / "data" / "a.jsonl"]
    spec = SourceSpec(name="s", path="data/*.jsonl", format="text")
    assert source_inputs(spec, 0, root) == [root / "data" / "a.jsonl"]
    report = ingest_source(spec, IngestParams(), root, root / "corpus" / "s", root / "q" / "s")
    assert report["read"] == report["kept"] == 3


def test_init_guesses_a_source_from_a_working_folder_whose_name_holds_a_bracket(tmp_path, monkeypatch):
    # The absolute path made from the working folder was taken as a pattern, a plain path's too: "no file matches".
    root = tmp_path / "runs[2]"
    write_jsonl(root / "data" / "a.jsonl", PROSE)
    monkeypatch.chdir(root)
    for path in ("data/a.jsonl", "data/*.jsonl"):
        g = guess_format(path)
        assert (g.reader, g.format) == ("jsonl", "text"), path


def test_a_glob_matching_a_link_that_leads_nowhere_fails_naming_it(tmp_path):
    # A git-annex or DVC file not fetched is a dangling link: the glob passed over it and ingest read the other
    # files as if they were the whole source.
    write_jsonl(tmp_path / "data" / "a.jsonl", PROSE)
    os.symlink(tmp_path / "annex" / "objects" / "b", tmp_path / "data" / "b.jsonl")
    spec = SourceSpec(name="s", path="data/*.jsonl", format="text")
    with pytest.raises(ConfigError, match=r"b\.jsonl is a link to a file that does not exist"):
        source_inputs(spec, 0, tmp_path)
    with pytest.raises(ConfigError, match=r"data/b\.jsonl: file not found"):
        list(read_source("jsonl", "data/*.jsonl", tmp_path))
    with pytest.raises(ConfigError, match=r"b\.jsonl is a link to a file that does not exist"):
        guess_format(str(tmp_path / "data" / "*.jsonl"))


def test_ingest_of_a_glob_still_reads_every_file_in_order(tmp_path):
    # the glob's rewrite (matched from the project folder) keeps its matches and their order
    for name in ("b.jsonl", "a.jsonl", "sub/c.jsonl"):
        write_jsonl(tmp_path / "data" / name, [{"text": f"record of {name}"}])
    spec = SourceSpec(name="s", path="data/**/*.jsonl", format="text")
    ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus" / "s", tmp_path / "q" / "s")
    kept = pl.read_parquet(tmp_path / "corpus" / "s" / "part-*.parquet")
    assert kept["text"].to_list() == ["record of a.jsonl", "record of b.jsonl", "record of sub/c.jsonl"]


def test_credentials_in_a_source_url_stay_out_of_locators_fingerprints_and_messages(tmp_path, http_folder):
    # The URL as written went into every kept record's meta (its locator), the quarantine, the cache-key fingerprints
    # (task parameters) and the error messages, password and token included.
    served, port = http_folder
    (served / "x.jsonl").write_bytes(b'{"text": "a record served over HTTP"}\n{oops\n')
    # (a `user:password@` is refused in params since review s43; a query token passes and is starred)
    url = f"http://127.0.0.1:{port}/x.jsonl?token=tok123"
    spec = SourceSpec(name="w", path=url, reader="jsonl", format="text")
    inputs = source_inputs(spec, 0, tmp_path)
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus", tmp_path / "q")
    assert (report["kept"], report["quarantined"]) == (1, 1)
    meta = pl.read_parquet(tmp_path / "corpus" / "part-*.parquet")["meta"][0]
    locator = pl.read_parquet(tmp_path / "q" / "part-*.parquet")["locator"][0]
    assert locator == f"http://127.0.0.1:{port}/x.jsonl?token=***:2"
    missing = SourceSpec(name="w", path=url.replace("x.jsonl", "gone.jsonl"), reader="jsonl", format="text")
    with pytest.raises(ConfigError) as e:
        source_inputs(missing, 0, tmp_path)
    with pytest.raises(ConfigError) as read_error:
        list(read_source("jsonl", missing.path, tmp_path))
    empty = empty_source_problem(spec, {"read": 0, "kept": 0, "by_reason": {}}, "data/quarantine/w")
    for shown in (repr(inputs), meta, locator, str(e.value), str(read_error.value), empty):
        assert "s3cr3t" not in shown and "tok123" not in shown, shown
