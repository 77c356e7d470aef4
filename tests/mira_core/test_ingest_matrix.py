"""A matrix of malformed sources: every good record survives, every bad one is quarantined, nothing is lost.

Each case is one small source with good records around the bad ones. It states every record it
holds: the texts and locators that must be kept, and the reason, locator and a piece of the detail
of each that must be quarantined. The check is exact both ways, so a record that vanishes (kept
nowhere, quarantined nowhere) fails the case, and read = kept + quarantined must balance.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import zlib
from collections import Counter
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import empty_source_problem, ingest_source
from mira_core.io import text_digest

BOM = b"\xef\xbb\xbf"


def rec(text: object, **fields) -> bytes:
    """One JSONL line holding a record."""
    return json.dumps({"text": text, **fields}).encode() + b"\n"


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def noise(n: int) -> str:
    """Incompressible text, so a cut in the compressed stream lands inside it."""
    return "".join(random.Random(n).choices(string.ascii_letters, k=n))


def truncated_gz(whole: bytes, cut: bytes) -> bytes:
    """`whole` compressed and flushed, then `cut` compressed and cut off halfway (no end marker)."""
    c = zlib.compressobj(wbits=31)  # 31: the gzip container
    head = c.compress(whole) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(cut) + c.flush()
    return head + tail[: len(tail) // 2]


def truncated_zst(whole: bytes, cut: bytes) -> bytes:
    c = zstandard.ZstdCompressor().compressobj()
    head = c.compress(whole) + c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    tail = c.compress(cut) + c.flush()
    return head + tail[: len(tail) // 2]


def parquet(**columns: list) -> pa.Table:
    return pa.table(columns)


@dataclass(frozen=True)
class Case:
    files: dict[str, bytes | pa.Table]  # path -> content; a Table is written as Parquet
    kept: list[tuple[str, str]]  # (text, locator) of every record that must survive, in order
    bad: list[tuple[str, str, str]] = field(default_factory=list)  # (reason, locator, piece of the detail), in order
    spec: dict = field(default_factory=dict)  # SourceSpec fields; name "s", the first file and format text by default
    params: dict = field(default_factory=dict)  # IngestParams fields


GOOD = rec("good before") + rec("good after")
HUGE = "h" * 1_000_000

CASES = [
    pytest.param(Case({"s.jsonl": rec("a") + b'{"text": "cut\n' + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:3")],
                      bad=[("invalid_json", "s.jsonl:2", "Invalid control character at column 14")]), id="bad-json"),
    pytest.param(Case({"s.jsonl": rec("a") + b"[1, 2]\n" + b'"text"\n' + b"42\n" + b"null\n" + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:6")],
                      bad=[("not_an_object", "s.jsonl:2", "an array, not an object"),
                           ("not_an_object", "s.jsonl:3", "a string"), ("not_an_object", "s.jsonl:4", "a number"),
                           ("not_an_object", "s.jsonl:5", "null, not an object")]),
                 id="json-not-an-object"),
    pytest.param(Case({"s.jsonl": rec("a") + b'{"body": "no text field"}\n' + b'{"text": null}\n' + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:4")],
                      bad=[("missing_field", "s.jsonl:2", "no field 'text' (fields: body)"),
                           ("missing_field", "s.jsonl:3", "field 'text' is null")]), id="missing-field"),
    pytest.param(Case({"s.jsonl": rec("a") + rec(42) + rec(["x"]) + rec({"x": 1}) + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:5")],
                      bad=[("missing_field", "s.jsonl:2", "is a number, not text"),
                           ("missing_field", "s.jsonl:3", "is an array, not text"),
                           ("missing_field", "s.jsonl:4", "is an object, not text")]), id="wrong-typed-text"),
    pytest.param(Case({"s.jsonl": rec("a", id="1") + rec("x", id={"k": 1}) + rec("y", id=1.5) + rec("z", id=True)
                       + rec("w") + rec("b", id=2)},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:6")], spec={"id_field": "id"},
                      bad=[("missing_field", "s.jsonl:2", "is an object, not a string or integer"),
                           ("missing_field", "s.jsonl:3", "is a number"), ("missing_field", "s.jsonl:4", "a boolean"),
                           ("missing_field", "s.jsonl:5", "no id field 'id'")]), id="missing-or-wrong-typed-id"),
    pytest.param(Case({"s.jsonl": rec("a") + rec("") + rec(" \n\t ") + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:4")],
                      bad=[("empty_text", "s.jsonl:2", "0 characters"), ("empty_text", "s.jsonl:3", "0 characters")]),
                 id="empty-text"),
    pytest.param(Case({"s.jsonl": rec("a") + b'{"text": "caf\xe9"}\n' + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:3")],
                      bad=[("invalid_utf8", "s.jsonl:2", "invalid UTF-8 at byte 13")]), id="bad-utf8"),
    pytest.param(Case({"s.jsonl": rec("a") + b'{"text": "half \\ud83d of a pair"}\n' + rec("emoji \U0001f600")},
                      kept=[("a", "s.jsonl:1"), ("emoji \U0001f600", "s.jsonl:3")],
                      bad=[("invalid_utf8", "s.jsonl:2", "lone UTF-16 surrogate escape (\\ud83d)")]),
                 id="lone-surrogate-escape"),
    pytest.param(Case({"s.jsonl": rec("a") + rec("nul\u0000inside") + rec("b")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:3")],
                      bad=[("nul_character", "s.jsonl:2", "1 NUL character(s) in the rendered text, the first at "
                            "character 3")]), id="nul-escaped-in-text"),
    pytest.param(Case({"s.jsonl": GOOD + b"\x00" * 64},
                      kept=[("good before", "s.jsonl:1"), ("good after", "s.jsonl:2")],
                      bad=[("nul_character", "s.jsonl:3", "raw NUL byte at byte 0")]), id="nul-padded-tail"),
    pytest.param(Case({"s.jsonl": rec("a", id="1") + rec("b", id="x\u0000y") + rec("c", id="3")},
                      kept=[("a", "s.jsonl:1"), ("c", "s.jsonl:3")], spec={"id_field": "id"},
                      bad=[("nul_character", "s.jsonl:2", "id field 'id' holds a NUL")]), id="nul-in-id"),
    pytest.param(Case({"s.jsonl": b'{"question": "Q1?", "answer": "A1."}\n{"question": "Q2?", "answer": "A\\u0000"}\n'
                                  b'{"question": "Q3?", "answer": 3}\n{"question": "Q4?", "answer": "A4."}\n'},
                      kept=[("Question:\nQ1?\n\nAnswer:\nA1.", "s.jsonl:1"), ("Question:\nQ4?\n\nAnswer:\nA4.", "s.jsonl:4")],
                      spec={"format": "qa"},
                      bad=[("nul_character", "s.jsonl:2", "NUL"), ("missing_field", "s.jsonl:3", "'answer' is a number")]),
                 id="qa-nul-and-wrong-type"),
    pytest.param(Case({"s.jsonl": json.dumps({"messages": [
                          {"role": "assistant", "content": "", "tool_calls": [
                              {"function": {"name": "run", "arguments": "{\"cmd\": \"a\u0000\"}"}}]}]}).encode() + b"\n"
                       + b'{"messages": "not json"}\n' + b'{"messages": [{"role": "user", "content": "hi"}]}\n'},
                      kept=[("[user]\nhi", "s.jsonl:3")], spec={"format": "agent"},
                      bad=[("nul_character", "s.jsonl:1", "NUL"), ("invalid_messages", "s.jsonl:2", "not JSON")]),
                 id="agent-nul-in-tool-arguments"),
    *[pytest.param(Case({name: pack(BOM + GOOD)}, kept=[("good before", f"{name}:1"), ("good after", f"{name}:2")]),
                   id=f"bom-{name}") for name, pack in [("s.jsonl", bytes), ("s.jsonl.gz", gz), ("s.jsonl.zst", zst)]],
    pytest.param(Case({"s.jsonl": GOOD + BOM + rec("c")},
                      kept=[("good before", "s.jsonl:1"), ("good after", "s.jsonl:2")],
                      bad=[("invalid_json", "s.jsonl:3", "Unexpected UTF-8 BOM")]), id="bom-mid-file"),
    pytest.param(Case({"s.jsonl.gz": gz(GOOD.replace(b"\n", b"\r\n") + b'{"text": "line\\r\\nbreak"}\r\n')},
                      kept=[("good before", "s.jsonl.gz:1"), ("good after", "s.jsonl.gz:2"),
                            ("line\r\nbreak", "s.jsonl.gz:3")]), id="crlf-line-endings"),
    pytest.param(Case({"s.jsonl": b"\n" + rec("a") + b"\n   \n\r\n\t\n" + rec("b") + b"\n\n"},
                      kept=[("a", "s.jsonl:2"), ("b", "s.jsonl:7")]), id="blank-lines"),
    pytest.param(Case({"s.jsonl": rec("a", id="1") + rec("b", id="1") + rec("c", id=1) + rec("d", id="2")},
                      kept=[("a", "s.jsonl:1"), ("d", "s.jsonl:4")], spec={"id_field": "id"},
                      bad=[("duplicate_id", "s.jsonl:2", "'s/1' was seen earlier"),
                           ("duplicate_id", "s.jsonl:3", "'s/1' was seen earlier")]), id="duplicate-ids"),
    pytest.param(Case({"s.jsonl": rec("a") + rec("b") + rec("a")},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:2")],
                      bad=[("duplicate_content", "s.jsonl:3", f"same text as an earlier record of this source, "
                                                              f"s/{text_digest('a')}")]), id="duplicate-content"),
    pytest.param(Case({"s.jsonl": rec("a", id="1") + rec("a", id="2")}, kept=[("a", "s.jsonl:1")],
                      spec={"id_field": "id"},
                      bad=[("duplicate_content", "s.jsonl:2", "same text as an earlier record of this source")]),
                 id="duplicate-content-native-ids"),
    pytest.param(Case({"s.jsonl": rec("a") + rec(HUGE) + rec("b")}, params={"on_too_long": "reject"},
                      kept=[("a", "s.jsonl:1"), ("b", "s.jsonl:3")],
                      bad=[("too_long", "s.jsonl:2", "1000000 characters > limit 100000")]), id="huge-record-rejected"),
    pytest.param(Case({"s.jsonl": rec("a") + rec(HUGE) + rec("b")},
                      kept=[("a", "s.jsonl:1"), (HUGE[:100_000], "s.jsonl:2"), ("b", "s.jsonl:3")]),
                 id="huge-record-truncated"),
    pytest.param(Case({"s.jsonl.gz": truncated_gz(GOOD + rec("third"), rec(noise(20_000)) + rec("lost"))},
                      kept=[("good before", "s.jsonl.gz:1"), ("good after", "s.jsonl.gz:2"), ("third", "s.jsonl.gz:3")],
                      bad=[("unreadable", "s.jsonl.gz:4", "end-of-stream marker")]), id="truncated-gz"),
    pytest.param(Case({"s.jsonl.zst": truncated_zst(GOOD + rec("third"), rec(noise(20_000)) + rec("lost"))},
                      kept=[("good before", "s.jsonl.zst:1"), ("good after", "s.jsonl.zst:2"),
                            ("third", "s.jsonl.zst:3")],
                      bad=[("unreadable", "s.jsonl.zst:4", "ends inside a frame")]), id="truncated-zst"),
    pytest.param(Case({"s.jsonl.zst": zst(GOOD) + zst(rec("second frame")) + b"not zstd"},
                      kept=[("good before", "s.jsonl.zst:1"), ("good after", "s.jsonl.zst:2"),
                            ("second frame", "s.jsonl.zst:3")],
                      bad=[("unreadable", "s.jsonl.zst:4", "corrupt zstd data")]), id="zst-frames-then-garbage"),
    pytest.param(Case({"d/1.jsonl": GOOD, "d/2.jsonl": b"", "d/3.jsonl": b"{oops\n" + rec("three")},
                      kept=[("good before", "d/1.jsonl:1"), ("good after", "d/1.jsonl:2"), ("three", "d/3.jsonl:2")],
                      spec={"path": "d/*.jsonl"}, bad=[("invalid_json", "d/3.jsonl:1", "Expecting property name")]),
                 id="glob-with-an-empty-file"),
    pytest.param(Case({"p.parquet": parquet(text=["a", "nul\u0000", None, "b"])},
                      kept=[("a", "p.parquet#0"), ("b", "p.parquet#3")],
                      bad=[("nul_character", "p.parquet#1", "NUL"), ("missing_field", "p.parquet#2", "field 'text' is null")]),
                 id="parquet-nul-and-null"),
    pytest.param(Case({"p.parquet": parquet(text=pa.array([b"a", b"caf\xe9", b"b"], pa.binary()))},
                      kept=[("a", "p.parquet#0"), ("b", "p.parquet#2")],
                      bad=[("invalid_utf8", "p.parquet#1", "invalid UTF-8 at byte 3")]), id="parquet-binary-bad-utf8"),
    pytest.param(Case({"src/a.txt": BOM + b"alpha", "src/b.bin": b"bin\x00ary", "src/c.txt": b"caf\xe9",
                       "src/d.txt": b"", "src/e.txt": b"omega\r\n"},
                      kept=[("alpha", "src/a.txt"), ("omega\r\n", "src/e.txt")],
                      spec={"path": "src", "reader": "folder"},
                      bad=[("nul_character", "src/b.bin", "a binary file (a NUL byte at byte 3)"),
                           ("invalid_utf8", "src/c.txt", "byte 3"), ("empty_text", "src/d.txt", "0 characters")]),
                 id="folder-bom-binary-bad-utf8-empty"),
]


def _write(tmp_path, files: dict[str, bytes | pa.Table]) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pa.Table):
            pq.write_table(content, path)
        else:
            path.write_bytes(content)


def _ingest(tmp_path, case: Case) -> tuple[dict, pl.DataFrame, pl.DataFrame, SourceSpec]:
    _write(tmp_path, case.files)
    spec = SourceSpec(**{"name": "s", "path": next(iter(case.files)), "format": "text", **case.spec})
    report = ingest_source(spec, IngestParams(**case.params), tmp_path, tmp_path / "corpus", tmp_path / "quarantine")
    kept = pl.read_parquet(tmp_path / "corpus" / "*.parquet") if report["kept"] else pl.DataFrame(
        schema={"text": pl.String, "meta": pl.String})
    rejected = pl.read_parquet(tmp_path / "quarantine" / "*.parquet") if report["quarantined"] else pl.DataFrame(
        schema={"reason": pl.String, "locator": pl.String, "detail": pl.String})
    return report, kept, rejected, spec


@pytest.mark.parametrize("case", CASES)
def test_malformed_source(tmp_path, case):
    report, kept, rejected, _ = _ingest(tmp_path, case)

    got_kept = [(t, json.loads(m)["locator"]) for t, m in zip(kept["text"], kept["meta"], strict=True)]
    assert got_kept == case.kept
    assert [(r, loc) for r, loc in zip(rejected["reason"], rejected["locator"], strict=True)] == [
        (r, loc) for r, loc, _ in case.bad]
    for (_, loc, piece), detail in zip(case.bad, rejected["detail"], strict=True):
        assert piece in detail, f"{loc}: {detail!r}"
    assert report["read"] == len(case.kept) + len(case.bad) == report["kept"] + report["quarantined"]
    assert report["by_reason"] == dict(Counter(r for r, _, _ in case.bad))
    assert report["empty"] is False


def test_nul_strip_keeps_the_record_and_counts_what_it_removed(tmp_path):
    case = Case({"s.jsonl": rec("a\u0000b\u0000") + rec("\u0000") + rec("c")},
                kept=[("ab", "s.jsonl:1"), ("c", "s.jsonl:3")],
                bad=[("empty_text", "s.jsonl:2", "0 characters")], params={"nul": "strip"})
    report, kept, rejected, _ = _ingest(tmp_path, case)
    assert list(zip(kept["text"], [json.loads(m)["locator"] for m in kept["meta"]], strict=True)) == case.kept
    assert json.loads(kept["meta"][0])["mira_nul_stripped"] == 2 and "mira_nul_stripped" not in kept["meta"][1]
    assert rejected["reason"].to_list() == ["empty_text"]  # nothing but NULs: empty once they are gone
    assert report["nul_stripped"] == 1 and report["read"] == 3


def test_a_truncated_huge_record_says_so_in_meta(tmp_path):
    case = Case({"s.jsonl": rec(HUGE)}, kept=[(HUGE[:100_000], "s.jsonl:1")])
    report, kept, _, _ = _ingest(tmp_path, case)
    assert json.loads(kept["meta"][0])["mira_truncated_from_chars"] == 1_000_000 and report["truncated"] == 1


EMPTY = [
    pytest.param({"e.jsonl": b""}, {}, id="empty-jsonl"),
    pytest.param({"e.jsonl": b"\n  \r\n\n"}, {}, id="blank-lines-only"),
    pytest.param({"e.jsonl": BOM}, {}, id="bom-only"),
    pytest.param({"e.jsonl.gz": b""}, {}, id="zero-byte-gz"),
    pytest.param({"e.jsonl.gz": gz(b"")}, {}, id="empty-gz"),
    pytest.param({"e.jsonl.zst": zst(b"")}, {}, id="empty-zst"),
    pytest.param({"e.parquet": parquet(text=pa.array([], pa.string()))}, {}, id="parquet-no-rows"),
    pytest.param({"e/a.txt": b"not matched"}, {"path": "e", "reader": "folder", "glob": "*.md"}, id="folder-no-match"),
]


@pytest.mark.parametrize(("files", "spec"), EMPTY)
def test_an_empty_source_is_flagged_and_named_with_its_path(tmp_path, files, spec):
    report, _, _, source = _ingest(tmp_path, Case(files, kept=[], spec=spec))
    assert report["read"] == report["kept"] == report["quarantined"] == 0 and report["empty"] is True
    problem = empty_source_problem(source, report, "data/quarantine/s")
    assert problem.startswith(f"source 's' (path {source.path!r}) kept no record: it holds no record")


def test_a_source_whose_every_record_is_quarantined_is_flagged_with_the_reasons(tmp_path):
    case = Case({"s.jsonl": b"{oops\n" + rec("") + b"[]\n"}, kept=[],
                bad=[("invalid_json", "s.jsonl:1", "Expecting"), ("empty_text", "s.jsonl:2", "0 characters"),
                     ("not_an_object", "s.jsonl:3", "array")])
    report, _, rejected, spec = _ingest(tmp_path, case)
    assert rejected["locator"].to_list() == ["s.jsonl:1", "s.jsonl:2", "s.jsonl:3"] and report["empty"] is True
    assert empty_source_problem(spec, report, "data/quarantine/s") == (
        "source 's' (path 's.jsonl') kept no record: all 3 records read were quarantined "
        "(empty_text 1, invalid_json 1, not_an_object 1; see data/quarantine/s)")
    assert empty_source_problem(spec, {**report, "kept": 1}, "q") is None


def test_a_reader_the_path_contradicts_is_pointed_out_when_nothing_is_kept(tmp_path):
    """`reader: parquet` on a .jsonl file quarantines every record as unreadable: the message asks about the reader."""
    report, _, _, spec = _ingest(tmp_path, Case({"s.jsonl": rec("a")}, kept=[], spec={"reader": "parquet"},
                                                bad=[("unreadable", "s.jsonl", "")]))
    assert empty_source_problem(spec, report, "q").endswith(
        "; the source sets `reader: parquet` on a path whose name says jsonl: is that right?")


def test_the_flow_fails_on_an_empty_source_unless_it_is_optional(tmp_path, prefect_harness, capsys):
    """metrics/ingest.json names the empty source either way; only a non-optional one fails the stage."""
    from flows.ingest import ingest_flow
    from mira_core.config import CacheParams, RunnerParams

    (tmp_path / "full.jsonl").write_bytes(GOOD)
    (tmp_path / "none.jsonl").write_bytes(b"")
    full = SourceSpec(name="full", path="full.jsonl", format="text")

    def run(optional: bool) -> dict:
        none = SourceSpec(name="none", path="none.jsonl", format="text", optional=optional)
        return ingest_flow((full, none), IngestParams(), RunnerParams(), CacheParams(enabled=False), str(tmp_path))

    with pytest.raises(ConfigError, match=r"source 'none' \(path 'none.jsonl'\) kept no record: .* `optional: true`"):
        run(optional=False)
    metrics = json.loads((tmp_path / "metrics" / "ingest.json").read_text())
    assert metrics["empty_sources"] == ["none"] and metrics["sources"]["full"]["kept"] == 2

    capsys.readouterr()
    assert run(optional=True)["empty_sources"] == ["none"]
    assert "warning: source 'none' (path 'none.jsonl') kept no record" in capsys.readouterr().err
