"""Tests of the streaming readers: every format, every way a line or file can be broken."""

from __future__ import annotations

import os
import threading

import polars as pl
import pytest

from mira_core.errors import ConfigError
from mira_core.ingest.readers import read_folder, read_jsonl, read_parquet, read_source
from tests.conftest import write_corrupt_parquet, write_jsonl


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_jsonl_plain_gz_zst(tmp_path, name):
    path = write_jsonl(tmp_path / name, [{"text": "one"}, {"text": "two"}], raw_lines=[b"\n", b'{"text": "three"}\n'])
    items = list(read_jsonl(path, name))
    assert [i.payload["text"] for i in items] == ["one", "two", "three"]
    assert [i.locator for i in items] == [f"{name}:1", f"{name}:2", f"{name}:4"]  # the blank line 3 is no record


def test_jsonl_broken_lines_become_errors_with_locators(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [{"text": "ok"}],
                       raw_lines=[b'{"text": "cut\n', b"[1, 2]\n", b'{"text": "caf\xe9"}\n', b'{"text": "fine"}\n'])
    items = list(read_jsonl(path, "b.jsonl"))
    got = [(i.locator, i.error.reason if i.error else None) for i in items]
    assert got == [("b.jsonl:1", None), ("b.jsonl:2", "invalid_json"), ("b.jsonl:3", "not_an_object"),
                   ("b.jsonl:4", "invalid_utf8"), ("b.jsonl:5", None)]
    assert "byte 13" in items[3].error.detail


def test_valid_json_past_pythons_limits_is_quarantined_not_a_crash(tmp_path):
    # Valid JSON, but json.loads raises a plain ValueError (a 5,000-digit number) or a RecursionError (deep
    # nesting) on it, not a JSONDecodeError: each must be one quarantined record, not the end of ingest.
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "ok"}],
                       raw_lines=[b'{"n": ' + b"1" * 5000 + b"}\n", b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"])
    items = list(read_jsonl(path, "l.jsonl"))
    assert [(i.locator, i.error.reason if i.error else None) for i in items] == [
        ("l.jsonl:1", None), ("l.jsonl:2", "invalid_json"), ("l.jsonl:3", "invalid_json")]
    assert "4300 digits" in items[1].error.detail and "nested too deep" in items[2].error.detail


def test_truncated_gzip_is_an_unreadable_record_not_a_crash(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl.gz", [{"text": f"record {i} " * 50} for i in range(200)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    items = list(read_jsonl(path, "t.jsonl.gz"))
    assert items[-1].error is not None and items[-1].error.reason == "unreadable"
    assert all(i.error is None for i in items[:-1]) and len(items) > 1


def test_jsonl_is_streamed_not_loaded(tmp_path):
    """The first record comes out while the writer has not finished the file (a FIFO)."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    release = threading.Event()

    def writer():
        with open(fifo, "wb") as f:
            f.write(b'{"text": "first"}\n')
            f.flush()
            release.wait(10)
            f.write(b'{"text": "second"}\n')

    t = threading.Thread(target=writer)
    t.start()
    it = read_jsonl(fifo, "pipe.jsonl")
    first = next(it)
    assert first.payload == {"text": "first"} and not release.is_set()
    release.set()
    assert next(it).payload == {"text": "second"}
    t.join()


def test_parquet_rows_and_locators(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"text": ["a", "b", "c"], "id": [1, 2, 3]}).write_parquet(path)
    items = list(read_parquet(path, "p.parquet", batch_size=2))
    assert [i.payload for i in items] == [{"text": "a", "id": 1}, {"text": "b", "id": 2}, {"text": "c", "id": 3}]
    assert items[2].locator == "p.parquet#2"


def test_not_a_parquet_file_is_unreadable(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet")
    (item,) = list(read_parquet(path, "bad.parquet"))
    assert item.error.reason == "unreadable"


def test_folder_reader_keeps_relative_paths_and_flags_bad_utf8(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.sh").write_text("echo a\n")
    (tmp_path / "src" / "b.sh").write_bytes(b"echo \xff\n")
    (tmp_path / "src" / "c.txt").write_text("not matched\n")
    items = list(read_folder(tmp_path / "src", "src", "**/*.sh"))
    assert [(i.locator, i.native_id) for i in items] == [("src/b.sh", None), ("src/pkg/a.sh", "pkg/a.sh")]
    assert items[0].error.reason == "invalid_utf8"
    assert items[1].payload == {"text": "echo a\n", "path": "pkg/a.sh"}


def test_glob_of_files_and_missing_files(tmp_path):
    write_jsonl(tmp_path / "d" / "x1.jsonl", [{"text": "1"}])
    write_jsonl(tmp_path / "d" / "x2.jsonl", [{"text": "2"}])
    items = list(read_source("jsonl", "d/*.jsonl", tmp_path))
    assert [i.locator for i in items] == ["d/x1.jsonl:1", "d/x2.jsonl:1"]
    with pytest.raises(ConfigError, match="no file matches"):
        list(read_source("jsonl", "d/*.parquet", tmp_path))
    with pytest.raises(ConfigError, match="not a folder"):
        list(read_source("folder", "nowhere", tmp_path))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_zst_frames_are_read_across_any_chunk_boundary_and_a_cut_frame_is_unreadable(tmp_path, monkeypatch, chunk):
    """A .zst of several frames reads whole whatever the read size; cut inside a frame, it ends unreadable."""
    import zstandard

    from mira_core.ingest import readers

    monkeypatch.setattr(readers._ZstdRaw, "CHUNK", chunk)
    frames = [zstandard.ZstdCompressor().compress(b'{"text": "%d"}\n' % i) for i in range(3)]
    path = tmp_path / "f.jsonl.zst"
    path.write_bytes(b"".join(frames))
    assert [i.payload["text"] for i in read_jsonl(path, "f")] == ["0", "1", "2"]
    path.write_bytes(b"".join(frames)[:-3])
    items = list(read_jsonl(path, "f"))
    assert [i.payload["text"] for i in items[:2]] == ["0", "1"]
    assert (items[2].locator, items[2].error.reason) == ("f:3", "unreadable") and len(items) == 3


def test_a_bom_starts_only_the_first_line(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [], raw_lines=[b'\xef\xbb\xbf{"text": "one"}\n', b'\xef\xbb\xbf{"text": "two"}\n'])
    first, second = read_jsonl(path, "b.jsonl")
    assert first.payload == {"text": "one"}
    assert second.error.reason == "invalid_json" and "BOM" in second.error.detail  # a BOM mid-file is no marker


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_is_named_so_on_every_line(tmp_path, encoding):
    # every line used to read as "a raw NUL byte", which says a writer crashed, not how to fix the file
    path = tmp_path / "w.jsonl"
    body = '{"text": "one"}\n{"text": "two"}\n\n{"text": "three"}\n'
    mark = {"utf-16-be": "\ufeff"}.get(encoding, "")  # Python writes the mark itself for utf-16 and utf-32
    path.write_bytes((mark + body).encode(encoding))
    items = list(read_jsonl(path, "w.jsonl"))
    assert len(items) == 3 and {i.error.reason for i in items} == {"invalid_utf8"}
    assert f"is {encoding[:6].upper()}" in items[0].error.detail and "iconv" in items[0].error.detail
    zeros = tmp_path / "z.jsonl"  # a file padded with zeros is still said to be one
    zeros.write_bytes(b'{"text": "ok"}\n' + b"\x00" * 64 + b"\n")
    ok, padded = read_jsonl(zeros, "z.jsonl")
    assert ok.payload == {"text": "ok"} and padded.error.reason == "nul_character"


def test_a_corrupt_parquet_row_group_keeps_the_rows_before_and_ends_unreadable(tmp_path):
    """A row group overwritten with 0xFF: the rows before it are kept, then one `unreadable` Item naming the file."""
    path = tmp_path / "c.parquet"
    texts = write_corrupt_parquet(path)
    items = list(read_parquet(path, "c.parquet", batch_size=50))  # raised a bare OSError naming no file before
    *good, bad = items
    assert 100 <= len(good) <= 200 and [i.payload["text"] for i in good] == texts[:len(good)]
    assert (bad.locator, bad.error.reason) == (f"c.parquet#{len(good)}", "unreadable")
    assert "from here on" in bad.error.detail


def test_a_corrupt_gzip_is_unreadable_not_a_crash(tmp_path):
    """Corrupt deflate data (not a cut) raises zlib.error, not OSError: it too ends the file with one unreadable Item."""
    import gzip

    good = gzip.compress(b"".join(b'{"text": "r%d"}\n' % i for i in range(100)))
    bad = bytearray(gzip.compress(b'{"text": "lost"}\n' * 100))
    bad[10] = 0xFF  # the first deflate block of the second gzip member: an invalid block type
    path = tmp_path / "z.jsonl.gz"
    path.write_bytes(good + bytes(bad))
    *before, bad_item = read_jsonl(path, "z.jsonl.gz")  # raised a bare zlib.error before
    assert [i.payload["text"] for i in before] == [f"r{i}" for i in range(100)]
    assert (bad_item.locator, bad_item.error.reason) == ("z.jsonl.gz:101", "unreadable")


def test_folder_reader_skips_hidden_files_and_folders(tmp_path):
    """The cache key (tree_digest) ignores hidden paths, so the reader must too: else editing one serves a stale corpus."""
    from mira_core.io import tree_digest

    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / "pkg" / ".cache").mkdir(parents=True)
    (src / "a.sh").write_text("echo a\n")
    (src / ".env.sh").write_text("secret\n")
    (src / ".github" / "ci.yml").write_text("on: push\n")
    (src / "pkg" / ".cache" / "b.sh").write_text("echo cached\n")
    assert [i.native_id for i in read_folder(src, "src", "**/*")] == ["a.sh"]
    assert [i.native_id for i in read_source("folder", "src", tmp_path, "**/*.sh")] == ["a.sh"]
    before = tree_digest(src)
    (src / ".github" / "ci.yml").write_text("on: pull_request\n")
    assert tree_digest(src) == before  # what the reader skips is exactly what the digest does not see


def test_a_very_repetitive_zst_is_decompressed_a_little_at_a_time(tmp_path):
    """128 MB of one repeated line compresses to some 11 KB: fed 64 KB at a time, the whole file came out of one
    decompress call (134 MB held at once); fed 1 KB at a time, one call yields at most about 32 MB."""
    import json
    import tracemalloc

    import zstandard

    line = json.dumps({"text": "the same log line " * 220}).encode() + b"\n"
    n = (128 << 20) // len(line)
    path = tmp_path / "rep.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=19).compress(line * n))
    tracemalloc.start()
    try:
        count = sum(1 for item in read_jsonl(path, "rep") if item.payload is not None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 48 << 20, f"{peak / 2**20:.0f} MB held while reading"
