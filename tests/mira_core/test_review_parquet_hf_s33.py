"""Review of Parquet and Hugging Face dataset sources with awkward schemas (session 33): a regression test for each
bug found, each failing without its fix.

Tested here: the Parquet reader holds one row group in memory, not the whole file (pyarrow's `ParquetFile` pre-buffers
by default, and `iter_batches` over every row group then reads the file's column chunks in ahead: Arrow's memory grew
with the file); a `string` column holding bytes that are not UTF-8 (written by a writer that does not validate) is
quarantined as `invalid_utf8`, as the same bytes in a `binary` column are, not as `unreadable`; `mira init` tells a
text field held in a `binary` column (ingest decodes it as UTF-8), and one whose first record is null (a Parquet
column with nulls), as it tells a string one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mira_core.ingest.readers import read_parquet
from mira_core.init_project import guess_format
from mira_core.schema import QuarantineReason as Q

PROSE = ("The river rose after three days of rain, and the ferry stopped running until the water went down "
         "again; the town waited, as it always had, for the bridge the council kept promising.")

# Run in a fresh interpreter: Arrow's pool remembers the largest allocation of the whole process.
POOL_PEAK = """
import sys, pyarrow as pa
from pathlib import Path
from mira_core.ingest.readers import read_parquet
n = sum(1 for _ in read_parquet(Path(sys.argv[1]), "big.parquet", 256))
print(n, pa.default_memory_pool().max_memory())
"""


def test_the_parquet_reader_holds_one_row_group_not_the_file(tmp_path):
    groups, rows, width = 10, 1000, 1000
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("text", pa.string())]), compression="none") as w:
        for g in range(groups):
            w.write_table(pa.table({"id": pa.array(range(g * rows, (g + 1) * rows), pa.int64()),
                                    "text": [f"{g:03d}{i:05d}".ljust(width, "x") for i in range(rows)]}))
    assert pq.ParquetFile(path).metadata.num_row_groups == groups
    out = subprocess.run([sys.executable, "-c", POOL_PEAK, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    n, peak = map(int, out.stdout.split())
    assert n == groups * rows
    file_bytes = path.stat().st_size  # about 10 MB; one row group is about 1 MB
    assert peak < file_bytes / 3, f"Arrow held {peak / 1e6:.1f} MB reading a {file_bytes / 1e6:.1f} MB file"


def test_a_string_column_holding_bytes_that_are_not_utf8_is_invalid_utf8(tmp_path):
    raw = pa.array([b"good text one", b"bad \xff\xfe text", b"good text three"], pa.binary())
    path = tmp_path / "strings.parquet"
    pq.write_table(pa.table({"text": raw.view(pa.string()), "title": ["a", "b", "c"]}), path)  # no validation
    items = list(read_parquet(path, "strings.parquet"))
    assert [i.error is None for i in items] == [True, False, True]
    err = items[1].error
    assert err.reason == Q.INVALID_UTF8, err
    assert "'text'" in err.detail and items[1].locator == "strings.parquet#1"


def _web_rows(n: int) -> list[str]:
    return [f"{PROSE} Case {i}." for i in range(n)]


@pytest.mark.parametrize("fmt", [None, "text"])
def test_init_tells_a_text_field_held_in_a_binary_column(tmp_path, fmt):
    path = tmp_path / "web.parquet"
    pq.write_table(pa.table({"id": list(range(25)), "text": pa.array([t.encode() for t in _web_rows(25)],
                                                                        pa.binary())}), path)
    guess = guess_format(path, fmt)
    assert (guess.reader, guess.format) == ("parquet", "text")
    assert guess.fields.get("text_field", "text") == "text"


def test_init_tells_a_text_field_whose_first_value_is_null(tmp_path):
    path = tmp_path / "web.parquet"
    texts = _web_rows(25)
    texts[0] = None
    pq.write_table(pa.table({"id": list(range(25)), "text": pa.array(texts, pa.large_string())}), path)
    guess = guess_format(path)
    assert (guess.reader, guess.format) == ("parquet", "text")


def test_glob_of_parquet_files_with_drifting_schemas_reads_every_row(tmp_path):
    """Not a bug: a glob's files read one by one, a column missing in one and int32 widened to int64 in another."""
    from mira_core.ingest.readers import read_source

    (tmp_path / "web").mkdir()
    pq.write_table(pa.table({"id": pa.array(range(30), pa.int64()), "text": pa.array(_web_rows(30), pa.large_string()),
                             "lang": pa.array(["en", "de"] * 15).dictionary_encode()}), tmp_path / "web/a.parquet",
                   row_group_size=7)
    pq.write_table(pa.table({"id": pa.array(range(30, 50), pa.int32()),
                             "text": pa.array(_web_rows(20)).dictionary_encode()}), tmp_path / "web/b.parquet",
                   row_group_size=6, compression="zstd")
    items = list(read_source("parquet", "web/*.parquet", tmp_path, batch_size=4))
    assert len(items) == 50 and all(i.error is None for i in items)
    assert [i.payload["id"] for i in items] == list(range(50))
    assert items[0].payload["lang"] == "en" and "lang" not in items[-1].payload
    assert json.dumps(items[-1].payload)  # plain Python values
