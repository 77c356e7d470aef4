"""Review s42 of ingest, hostile inputs: each test failed before its fix.

Tested here: a record nested hundreds of levels deep, a chat record whose `tool_calls` is no list beside Anthropic or
Hermes tool calls, a remote object whose read fails with no OSError (an expired presigned URL), the Hermes tool-call
scan (now without a regex that took quadratic time), a folder that cannot be listed, an Arrow stream cut where a
batch ends, a record without a token that reserved its id, and a glob whose trailing wildcard hid its format.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import threading

import polars as pl
import pyarrow as pa
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import MiraError
from mira_core.ingest.hf_dataset import read_arrow
from mira_core.ingest.readers import read_folder
from mira_core.ingest.render import render_messages
from mira_core.ingest.source import ingest_source
from tests.conftest import write_jsonl


def _ingest(tmp_path, spec: SourceSpec, **params):
    report = ingest_source(spec, IngestParams(**params), tmp_path, tmp_path / "corpus", tmp_path / "q")
    kept = pl.read_parquet(tmp_path / "corpus" / "part-*.parquet") if report["kept"] else None
    rejected = pl.read_parquet(tmp_path / "q" / "part-*.parquet") if report["quarantined"] else None
    return report, kept, rejected


def test_a_record_nested_hundreds_deep_is_quarantined_not_a_crash(tmp_path):
    # json.loads reads ~990 levels; the walk that makes meta's floats finite stopped at ~500 with a bare
    # RecursionError that ended the stage without naming the file or line
    deep = '{"text": "a deep record", "m": ' + "[" * 600 + "]" * 600 + "}"
    (tmp_path / "s.jsonl").write_text('{"text": "a plain record"}\n' + deep + "\n", encoding="utf-8")
    report, kept, rejected = _ingest(tmp_path, SourceSpec(name="s", path="s.jsonl", format="text"))
    assert report["read"] == 2 == report["kept"] + report["quarantined"]
    assert rejected["reason"].to_list() == ["invalid_json"] and rejected["locator"].to_list() == ["s.jsonl:2"]
    assert "nested too deep" in rejected["detail"][0]


@pytest.mark.parametrize("message", [
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}], "tool_calls": True},
    {"role": "assistant", "content": '<tool_call>{"name": "f", "arguments": {}}</tool_call>', "tool_calls": 1},
], ids=["anthropic", "hermes"])
def test_tool_calls_that_are_no_list_beside_other_calls_are_invalid_messages(message):
    # `[*True, ...]` was a TypeError that stopped ingest; `_tool_calls` already refused such a field
    from mira_core.errors import RecordError

    with pytest.raises(RecordError, match=r"messages\[0\]\.tool_calls is not a list"):
        render_messages([message])


OLD_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)


@pytest.mark.parametrize("content", [
    '<tool_call>{"name": "f"}</tool_call>',
    'say <tool_call>\n  {"name": "f", "arguments": {"x": 1}}  \n</tool_call> then <tool_call>{"name": "g"}',
    "<tool_call>   ", "<tool_call></tool_call><tool_call>", "no tag at all", "<tool_call>{" + " " * 50 + "x",
    "a </tool_call> before <tool_call> x </tool_call>", "<tool_call>\u2003{\"name\": \"f\"}\u2003</tool_call>",
])
def test_the_hermes_scan_finds_the_blocks_the_old_regex_found(content):
    # the regex took time in the square of a whitespace run in an unclosed block (25 s for 40,000 spaces); the
    # str.find scan must find the same blocks, bodies and ends
    from mira_core.ingest.render import _hermes_blocks

    old = [(m.start(), m.end(), m.group(1)) for m in OLD_HERMES.finditer(content)]
    assert list(_hermes_blocks(content)) == old


def test_a_remote_read_that_fails_mid_way_names_the_source_and_hides_its_token(tmp_path):
    # a presigned URL that expires between the listing and the read: aiohttp's ClientResponseError is no OSError,
    # so it escaped untranslated, the URL's token in its message
    body = b"".join(b'{"text": "record %d"}\n' % i for i in range(5))

    class Expired(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", "x")
            self.end_headers()

        def do_GET(self):
            if self.server.gets >= 1:  # the listing's GET succeeds, the read is refused
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.server.gets += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Expired)
    srv.gets = 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/a.jsonl?token=SECRETTOKEN"
        with pytest.raises(MiraError) as err:
            _ingest(tmp_path, SourceSpec(name="s", path=url, format="text"))
    finally:
        srv.shutdown()
        srv.server_close()
    said = str(err.value)
    assert "reading stopped" in said and "403" in said and "a.jsonl" in said
    assert "SECRETTOKEN" not in said and err.value.__cause__ is None and err.value.__suppress_context__


def test_a_bug_in_reading_a_remote_source_keeps_its_traceback(monkeypatch):
    # only a storage backend's errors are turned into "reading stopped": a TypeError of mira's own is a bug
    from mira_core.ingest import readers

    def broken(*args):
        raise TypeError("a bug")
        yield

    monkeypatch.setattr(readers, "_remote_items", broken)
    with pytest.raises(TypeError, match="a bug"):
        list(readers._read_remote_source("jsonl", "http://127.0.0.1:9/a.jsonl", "", 10))


def test_a_folder_that_cannot_be_listed_is_quarantined_not_passed_over(tmp_path, monkeypatch):
    # os.walk skips a folder it cannot list (no permission) unless told; its files appeared in no count. Root reads
    # any folder, so the refusal is made here, where os.walk lists it.
    (tmp_path / "d" / "ok").mkdir(parents=True)
    (tmp_path / "d" / "ok" / "a.txt").write_text("a readable file")
    (tmp_path / "d" / "locked").mkdir()
    (tmp_path / "d" / "locked" / "b.txt").write_text("a file in a folder nobody may list")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(read_folder(tmp_path / "d", "d", "**/*.txt"))
    assert [(i.locator, i.error is None) for i in items] == [("d/locked/", False), ("d/ok/a.txt", True)]
    assert items[0].error.reason == "unreadable" and "Permission denied" in items[0].error.detail

    def nothing_listed(path="."):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "scandir", nothing_listed)
    assert [i.locator for i in read_folder(tmp_path / "d", "d", "**/*.txt")] == ["d/"]  # the folder itself


def test_an_arrow_stream_cut_where_a_batch_ends_is_unreadable_from_there(tmp_path):
    # a save_to_disk file cut at a batch boundary read as whole: its first batches, then nothing, no error
    table = pa.table({"text": [f"row {i}" for i in range(30)]})
    with pa.ipc.new_stream(str(tmp_path / "whole.arrow"), table.schema) as w:
        for batch in table.to_batches(max_chunksize=10):
            w.write_batch(batch)
    data = (tmp_path / "whole.arrow").read_bytes()
    reader_source = pa.BufferReader(data)
    ends = [reader_source.tell() for _ in pa.ipc.open_stream(reader_source)]  # where each batch ends
    (tmp_path / "cut.arrow").write_bytes(data[:ends[1]])
    whole = list(read_arrow(tmp_path / "whole.arrow", "whole"))
    cut = list(read_arrow(tmp_path / "cut.arrow", "cut"))
    assert len(whole) == 30 and all(i.error is None for i in whole)
    assert [i.error is None for i in cut] == [True] * 20 + [False]
    assert cut[-1].locator == "cut#20" and "end-of-stream marker" in cut[-1].error.detail
    # a whole stream of the format before Arrow 0.15, which ends in four zero bytes, is whole
    options = pa.ipc.IpcWriteOptions(use_legacy_format=True)
    with pa.ipc.new_stream(str(tmp_path / "legacy.arrow"), table.schema, options=options) as w:
        w.write_table(table)
    assert [i.error for i in read_arrow(tmp_path / "legacy.arrow", "legacy")] == [None] * 30


def test_a_record_without_a_token_does_not_take_its_id_or_text_from_a_later_one(tmp_path):
    # zero-width spaces survive str.strip but are no token: the record was refused after its id and text were
    # taken, so the next record with that id was a duplicate of a record never kept
    write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "text": "\u200b\u200b"}, {"id": "a", "text": "real text"},
                                       {"id": "b", "text": "\u200b\u200b"}])
    spec = SourceSpec(name="s", path="s.jsonl", format="text", id_field="id")
    report, kept, rejected = _ingest(tmp_path, spec, min_chars=1)
    assert kept["record_id"].to_list() == ["s/a"] and kept["text"].to_list() == ["real text"]
    assert report["by_reason"] == {"empty_text": 2} and report["read"] == 3 == report["kept"] + report["quarantined"]
    assert rejected["locator"].to_list() == ["s.jsonl:1", "s.jsonl:3"]


def test_a_glob_whose_last_wildcard_follows_the_suffix_reads_its_format(tmp_path):
    # `*.jsonl*` (plain and compressed shards) picked the folder reader, which said "no such folder"
    import gzip

    (tmp_path / "d").mkdir()
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"text": "first shard"}])
    (tmp_path / "d" / "b.jsonl.gz").write_bytes(gzip.compress(json.dumps({"text": "second shard"}).encode() + b"\n"))
    spec = SourceSpec(name="s", path="d/*.jsonl*", format="text")
    assert spec.resolved_reader() == "jsonl"
    assert SourceSpec(name="s", path="d/*.jsonl.*", format="text").resolved_reader() == "jsonl"
    report, kept, _ = _ingest(tmp_path, spec)
    assert sorted(kept["text"].to_list()) == ["first shard", "second shard"] and report["quarantined"] == 0
