"""Streaming readers for JSONL (plain, .gz, .zst), Parquet and folders of files.

Each reader yields `Item`s one at a time (Parquet in row batches), so a multi-GB source is never
held in memory. A line or file that cannot be decoded becomes an `Item` carrying a `RecordError`
with its locator, not an exception: ingest quarantines it and reads on.
"""

from __future__ import annotations

import glob as globlib
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mira_core.errors import ConfigError, RecordError
from mira_core.schema import QuarantineReason as Q


@dataclass(frozen=True, slots=True)
class Item:
    """One raw record: where it came from, its fields, or the error that stopped it being read."""

    locator: str
    payload: dict | None
    error: RecordError | None = None
    native_id: str | None = None  # set by readers that know one (the folder reader: the relative path)


def expand(path: str, root: Path) -> list[Path]:
    """The files a source path names: the file itself, or a glob's matches, sorted."""
    p = Path(path)
    full = p if p.is_absolute() else root / p
    if any(ch in path for ch in "*?["):
        return sorted(Path(m) for m in globlib.glob(str(full), recursive=True) if Path(m).is_file())
    return [full]


def _open_bytes(path: Path) -> io.BufferedIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb")


def read_jsonl(path: Path, label: str) -> Iterator[Item]:
    """One Item per non-blank line; `label` is the path as the user wrote it, used in locators."""
    lineno = 0
    try:
        with _open_bytes(path) as f:
            for lineno, raw in enumerate(f, 1):  # noqa: B007 (lineno is read after the loop on a read error)
                if not raw.strip():
                    continue
                loc = f"{label}:{lineno}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield Item(loc, None, RecordError(Q.INVALID_UTF8, f"invalid UTF-8 at byte {e.start}"))
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    yield Item(loc, None, RecordError(Q.INVALID_JSON, f"{e.msg} at column {e.colno}: {line[:80]!r}"))
                    continue
                if not isinstance(obj, dict):
                    yield Item(loc, None, RecordError(Q.NOT_AN_OBJECT, f"a JSON {type(obj).__name__}, not an object"))
                    continue
                yield Item(loc, obj)
    except (OSError, EOFError) as e:  # truncated .gz, corrupt .zst: the rest of the file is unreadable
        if isinstance(e, FileNotFoundError):
            raise ConfigError(f"{label}: file not found") from None
        yield Item(f"{label}:{lineno + 1}", None, RecordError(Q.UNREADABLE, f"file unreadable from here on: {e}"))


def read_parquet(path: Path, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """One Item per row, read in row batches."""
    import pyarrow.parquet as pq

    if not path.exists():
        raise ConfigError(f"{label}: file not found")
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid and friends for a file that is not Parquet
        yield Item(label, None, RecordError(Q.UNREADABLE, f"not a readable Parquet file: {e}"))
        return
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for rec in batch.to_pylist():
            yield Item(f"{label}#{row}", rec)
            row += 1


def read_folder(path: Path, label: str, pattern: str) -> Iterator[Item]:
    """One Item per file under `path` matching `pattern`; the relative path is the native id."""
    if not path.is_dir():
        raise ConfigError(f"{label}: not a folder (the folder reader needs a directory)")
    for f in sorted(path.glob(pattern)):
        rel = f.relative_to(path).as_posix()
        if not f.is_file():
            continue
        loc = f"{label}/{rel}"
        try:
            data = f.read_bytes()
        except OSError as e:
            yield Item(loc, None, RecordError(Q.UNREADABLE, str(e)))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            yield Item(loc, None, RecordError(Q.INVALID_UTF8, f"invalid UTF-8 at byte {e.start}"))
            continue
        yield Item(loc, {"text": text, "path": rel}, native_id=rel)


def read_source(kind: str, path: str, root: Path, pattern: str = "**/*", batch_size: int = 1024) -> Iterator[Item]:
    """All Items of one source, file after file."""
    if kind == "folder":
        full = Path(path) if Path(path).is_absolute() else root / path
        yield from read_folder(full, path.rstrip("/"), pattern)
        return
    files = expand(path, root)
    if not files:
        raise ConfigError(f"{path}: no file matches")
    for f in files:
        label = f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f)
        if kind == "jsonl":
            yield from read_jsonl(f, label)
        else:
            yield from read_parquet(f, label, batch_size)
