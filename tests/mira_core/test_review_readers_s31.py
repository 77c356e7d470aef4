"""Review round 31 of the readers, the source model and the schema: regressions, and seeded random checks."""

from __future__ import annotations

import gzip
import json
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source


def _ingest(tmp_path, spec: SourceSpec, **params) -> tuple[dict, pl.DataFrame | None, pl.DataFrame | None]:
    report = ingest_source(spec, IngestParams(**params), tmp_path, tmp_path / "corpus", tmp_path / "q")
    kept = pl.read_parquet(tmp_path / "corpus" / "part-*.parquet") if report["kept"] else None
    rejected = pl.read_parquet(tmp_path / "q" / "part-*.parquet") if report["quarantined"] else None
    return report, kept, rejected


def test_a_parquet_timestamp_python_cannot_hold_quarantines_its_row_not_the_stage(tmp_path):
    """pyarrow's to_pylist raised OverflowError for a timestamp or date past year 9999: a traceback, no record kept.
    Only that row is set aside now, naming the column, and the rows around it are kept."""
    pq.write_table(pa.table({"text": ["before", "odd", "after", "late"],
                             "t": pa.array([0, 2**62, 0, None], pa.timestamp("us")),
                             "d": pa.array([0, 0, 0, 2**30], pa.date32())}), tmp_path / "a.parquet")
    spec = SourceSpec(name="s", path="a.parquet", format="text")
    report, kept, rejected = _ingest(tmp_path, spec, read_batch=2)
    assert report["read"] == 4 == report["kept"] + report["quarantined"]
    assert kept["text"].to_list() == ["before", "after"]
    assert rejected["locator"].to_list() == ["a.parquet#1", "a.parquet#3"]
    assert set(rejected["reason"]) == {"unreadable"}
    assert "column 't'" in rejected["detail"][0] and "column 'd'" in rejected["detail"][1]


def test_an_id_field_that_is_null_or_empty_is_named_so_not_absent(tmp_path):
    """A null or empty id was quarantined as "no id field 'id'", sending the user to look for a field that is there."""
    (tmp_path / "s.jsonl").write_text('{"id": "1", "text": "a"}\n{"id": null, "text": "b"}\n{"id": "", "text": "c"}\n'
                                      '{"text": "d"}\n', encoding="utf-8")
    spec = SourceSpec(name="s", path="s.jsonl", format="text", id_field="id")
    report, kept, rejected = _ingest(tmp_path, spec)
    assert report["read"] == 4 and kept["record_id"].to_list() == ["s/1"]
    assert rejected["detail"].to_list() == ["id field 'id' is null", "id field 'id' is empty", "no id field 'id'"]
    assert set(rejected["reason"]) == {"missing_field"}


# Pieces of random text: whitespace, non-ASCII, a line separator, NUL, JSON's escaped characters.
ALPHABET = ["a", "b", " ", "\t", "\u00e9", "\U0001f600", "\u2028", "\n", "\x00", "\\", '"', "\r"]
ODD_LINES = [b"", b"   \t", b"[1, 2]", b"42", b'{"text": "cut', b'{"text": "caf\xe9"}', b'{"text": "\\ud83d half"}',
             b'{"body": "x"}', b'{"text": 5}']


def _random_line(r: random.Random, with_id: bool) -> bytes:
    if r.random() < 0.25:
        return r.choice(ODD_LINES)
    rec: dict = {"text": "".join(r.choice(ALPHABET) for _ in range(r.randint(0, 6)))}
    if with_id:
        rec["id"] = r.choice([r.randint(0, 5), str(r.randint(0, 5)), 1.5, True, None, "", "x\x00"])
    if r.random() < 0.2:
        rec["x"] = r.choice([float("nan"), float("inf"), [1.0, float("-inf")], "\u00e9", None])
    return json.dumps(rec, ensure_ascii=r.random() < 0.5).encode()


def _locators(report: dict, kept: pl.DataFrame | None, rejected: pl.DataFrame | None) -> list[str]:
    return ([json.loads(m)["locator"] for m in kept["meta"]] if kept is not None else []) + (
        rejected["locator"].to_list() if rejected is not None else [])


def test_random_jsonl_sources_account_for_every_line_once_within_the_limits(tmp_path):
    """Seeded random JSONL files (odd lines, CRLF, a BOM, no last newline, gzip or zstd) under random limits: every
    non-blank line is kept or quarantined exactly once at its own locator, counts balance, kept texts respect
    max_chars, min_chars and the NUL policy, ids are unique, and a re-run writes the same records."""
    for seed in range(200):
        r = random.Random(seed)
        with_id = r.random() < 0.4
        eol = r.choice([b"\n", b"\r\n"])
        data = eol.join(_random_line(r, with_id) for _ in range(r.randint(0, 12))) + (eol if r.random() < 0.7 else b"")
        bom = b"\xef\xbb\xbf" if r.random() < 0.2 else b""
        suffix = r.choice(["", ".gz", ".zst"])
        blob = {"": bytes, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}[suffix](bom + data)
        case = tmp_path / str(seed)
        case.mkdir()
        (case / f"s.jsonl{suffix}").write_bytes(blob)
        p = {"max_chars": r.randint(1, 8), "min_chars": r.randint(1, 3), "on_too_long": r.choice(["truncate", "reject"]),
             "dedup_exact": r.random() < 0.6, "nul": r.choice(["quarantine", "strip"]), "read_batch": r.randint(1, 4),
             "shard_max_records": r.randint(1, 3)}
        spec = SourceSpec(name="s", path=f"s.jsonl{suffix}", format="text", id_field="id" if with_id else None)
        report, kept, rejected = _ingest(case, spec, **p)
        where = f"seed {seed}: {p} {data[:200]!r}"
        want = [f"s.jsonl{suffix}:{i}" for i, line in enumerate(data.split(b"\n"), 1) if line.strip()]
        assert sorted(_locators(report, kept, rejected), key=lambda s: int(s.rsplit(":", 1)[1])) == want, where
        assert report["read"] == report["kept"] + report["quarantined"] == len(want), where
        assert report["quarantined"] == sum(report["by_reason"].values()), where
        if kept is not None:
            assert kept["record_id"].n_unique() == kept.height, where
            assert all(len(t) == n <= p["max_chars"] and len(t.strip()) >= p["min_chars"] and "\x00" not in t
                       for t, n in zip(kept["text"], kept["n_chars"], strict=True)), where
            assert not p["dedup_exact"] or kept["text"].n_unique() == kept.height, where
            assert report["n_chars"] == kept["n_chars"].sum() and report["n_tokens"] == kept["n_tokens"].sum(), where
        if seed % 10 == 0:
            again = _ingest(case, spec, **p)
            assert again[0] == report and all(a is b is None or a.equals(b) for a, b in zip(again[1:], (kept, rejected),
                                                                                            strict=True)), where


def _random_column(r: random.Random, n: int) -> pa.Array:
    values = [r.choice(["a", "b", " ", "\u00e9", "", None, "a\x00b", "abab"]) for _ in range(n)]
    kind = r.choice(["string", "large_string", "binary", "null", "int", "dictionary"])
    if kind == "binary":
        return pa.array([None if v is None else v.encode() if r.random() < 0.8 else b"\xff" for v in values], pa.binary())
    if kind == "null":
        return pa.nulls(n)
    if kind == "int":
        return pa.array([r.randint(0, 3) for _ in range(n)], pa.int64())
    array = pa.array(values, pa.large_string() if kind == "large_string" else pa.string())
    return array.dictionary_encode() if kind == "dictionary" else array


def test_random_parquet_sources_account_for_every_row_once(tmp_path):
    """Seeded random globs of Parquet files (names with spaces and brackets, small row groups, text columns of every
    type, null ids, nested NaN, timestamps Python cannot hold): every row is kept or quarantined once, at its own
    locator, and the counts balance."""
    for seed in range(120):
        r = random.Random(seed)
        case = tmp_path / str(seed)
        case.mkdir()
        want = []
        for k in range(r.randint(1, 3)):
            n = r.randint(0, 9)
            columns = {"text": _random_column(r, n)}
            if r.random() < 0.5:
                columns["id"] = pa.array([r.choice([1, 2, 3, None]) for _ in range(n)], pa.int64())
            if r.random() < 0.5:
                columns["x"] = pa.array([{"f": r.choice([1.0, float("nan"), None])} for _ in range(n)])
            if r.random() < 0.3:
                columns["t"] = pa.array([r.choice([0, 2**62, None]) for _ in range(n)], pa.timestamp("us"))
            pq.write_table(pa.table(columns), case / f"p {k}[x].parquet", row_group_size=r.randint(1, 4))
            want += [f"p {k}[x].parquet#{i}" for i in range(n)]
        spec = SourceSpec(name="s", path="p *.parquet", format="text", id_field="id" if r.random() < 0.3 else None)
        report, kept, rejected = _ingest(case, spec, read_batch=r.randint(1, 4), dedup_exact=r.random() < 0.5,
                                         max_chars=r.randint(1, 6))
        assert sorted(_locators(report, kept, rejected)) == sorted(want), f"seed {seed}"
        assert report["read"] == report["kept"] + report["quarantined"] == len(want), f"seed {seed}"


def test_a_saved_dataset_row_python_cannot_hold_is_quarantined_not_a_traceback(tmp_path):
    """As for Parquet: an Arrow value past year 9999 failed the whole hf_dataset source with OverflowError."""
    import datasets

    from mira_core.ingest.hf_dataset import read_hf_dataset

    table = pa.table({"text": ["before", "odd", "after"], "t": pa.array([0, 2**62, 0], pa.timestamp("us"))})
    datasets.Dataset(table).save_to_disk(str(tmp_path / "ds"))
    items = list(read_hf_dataset(tmp_path / "ds", "ds", batch_size=2))
    assert [i.payload["text"] for i in items if i.error is None] == ["before", "after"]
    (bad,) = [i for i in items if i.error is not None]
    assert bad.locator.endswith("#1") and bad.error.reason == "unreadable" and "column 't'" in str(bad.error)
