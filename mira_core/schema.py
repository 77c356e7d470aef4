"""Column names and dtypes of every table that passes between stages (DESIGN section 3).

Each stage checks its input against these with `check`, so a stale or foreign file fails with the
file's name and the column at fault instead of a KeyError three functions later.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import polars as pl

from mira_core.errors import SchemaError

CORPUS = {
    "record_id": pl.String,  # "<source>/<native id or content hash>", assigned once at ingest
    "source": pl.String,
    "format": pl.String,  # text | code | qa | chat | agent
    "text": pl.String,  # canonical rendering
    "n_tokens": pl.Int64,
    "n_chars": pl.Int64,
    "meta": pl.String,  # JSON object: what the source had besides the rendered fields
}

REJECTED = {
    "source": pl.String,
    "locator": pl.String,  # file:line, file#row or a path inside a folder source
    "reason": pl.String,  # a QuarantineReason
    "detail": pl.String,
}

GROUPS = {"source": pl.String, "group": pl.String, "method": pl.String}


class QuarantineReason(StrEnum):
    """Why ingest set a record aside; each is counted per source in metrics/ingest.json."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    EMPTY_TEXT = "empty_text"
    INVALID_MESSAGES = "invalid_messages"
    TOO_LONG = "too_long"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_CONTENT = "duplicate_content"
    UNREADABLE = "unreadable"
    NUL_CHARACTER = "nul_character"


def empty(schema: dict) -> pl.DataFrame:
    """An empty frame with the given schema."""
    return pl.DataFrame(schema=schema)


def check(actual: pl.Schema | dict, expected: dict, where: str | Path, exact: bool = False) -> None:
    """Raise SchemaError naming `where` when a column is missing, has another dtype, or (exact) is extra."""
    actual = dict(actual)
    problems = []
    for col, dtype in expected.items():
        if col not in actual:
            problems.append(f"missing column {col!r}")
        elif actual[col] != dtype:
            problems.append(f"column {col!r} is {actual[col]}, expected {dtype}")
    if exact:
        problems += [f"unexpected column {c!r}" for c in actual if c not in expected]
    if problems:
        raise SchemaError(f"{where}: " + "; ".join(problems))


def check_parquet(path: Path, expected: dict, exact: bool = False) -> None:
    """Check a Parquet file's schema without reading its rows."""
    check(pl.read_parquet_schema(path), expected, path, exact=exact)
