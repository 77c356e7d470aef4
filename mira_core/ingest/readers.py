"""Streaming readers for JSONL (plain, .gz, .zst), Parquet and folders of files.

Each reader yields `Item`s one at a time (Parquet in row batches), so a multi-GB source is never
held in memory. A line or file that cannot be decoded becomes an `Item` carrying a `RecordError`
with its locator, not an exception: ingest quarantines it and reads on. A compressed file cut short
(a truncated .gz or .zst) ends with one `unreadable` Item at the first line it could not deliver,
never with a silent end. A UTF-8 byte-order mark at the start of a file is an encoding marker, not
content, and is dropped.
"""

from __future__ import annotations

import glob as globlib
import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mira_core.errors import ConfigError, RecordError
from mira_core.schema import QuarantineReason as Q

BOM = b"\xef\xbb\xbf"
# A \uD800-\uDFFF escape: usually half of a valid pair (an emoji), so only a line holding one is checked
# for a lone surrogate, which json.loads accepts but no UTF-8 writer (Parquet, the tokenizer) can encode.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "a boolean", type(None): "null"}


def json_type(value: object) -> str:
    """What a value is, in JSON's words ("an array", "a number"), for quarantine details."""
    return JSON_TYPES.get(type(value), f"a {type(value).__name__}")


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


class _ZstdRaw(io.RawIOBase):
    """A .zst file decompressed frame after frame, raising EOFError when it ends inside a frame.

    zstandard's own stream_reader returns a plain end of stream for a truncated file, which would
    lose the rest of the file without a word; gzip raises EOFError, and this does the same.
    """

    CHUNK = 1 << 16

    def __init__(self, path: Path) -> None:
        import zstandard

        self._zstd = zstandard
        self._f = open(path, "rb")  # noqa: SIM115 (a stream object: closed by its close())
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._fed = False  # bytes of the current frame were fed: an end of file now is a truncation
        self._out, self._pos = b"", 0
        self._error: EOFError | None = None

    def readable(self) -> bool:
        return True

    def _decompress(self, data: bytes) -> bytes:
        out: list[bytes] = []
        try:
            if self._obj.eof:  # the last chunk ended exactly at the end of a frame
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
            out.append(self._obj.decompress(data))
            self._fed = not self._obj.eof
            while self._obj.eof and self._obj.unused_data:  # the next frame of a multi-frame file
                rest = self._obj.unused_data
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
                out.append(self._obj.decompress(rest))
                self._fed = not self._obj.eof
        except self._zstd.ZstdError as e:  # the frames before the corrupt one are still delivered
            self._error = EOFError(f"corrupt zstd data: {e}")
        return b"".join(out)

    def readinto(self, buf: memoryview) -> int:
        while self._pos == len(self._out):
            if self._error is not None:
                raise self._error
            chunk = self._f.read(self.CHUNK)
            if not chunk:
                if self._fed:
                    raise EOFError("the .zst file ends inside a frame (truncated)")
                return 0
            self._out, self._pos = self._decompress(chunk), 0
        n = min(len(buf), len(self._out) - self._pos)
        buf[:n] = self._out[self._pos:self._pos + n]  # an offset, not a re-slice: a chunk may decompress to MBs
        self._pos += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _open_bytes(path: Path) -> io.BufferedIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdRaw(path))
    return open(path, "rb")


def _parse_line(raw: bytes) -> dict:
    """The object one JSONL line holds, or a RecordError saying why it holds none."""
    nul = raw.find(b"\x00")
    if nul >= 0:  # not JSON; most often a file padded with zeros when a writer crashed
        raise RecordError(Q.NUL_CHARACTER, f"a raw NUL byte at byte {nul} (not valid JSON)")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(Q.INVALID_UTF8, f"invalid UTF-8 at byte {e.start}") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise RecordError(Q.INVALID_JSON, f"{e.msg.removesuffix(' at')} at column {e.colno}: {line[:80]!r}") from None
    if not isinstance(obj, dict):
        raise RecordError(Q.NOT_AN_OBJECT, f"{json_type(obj)}, not an object")
    if SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise RecordError(Q.INVALID_UTF8, f"a lone UTF-16 surrogate escape (\\u{ord(e.object[e.start]):04x}) "
                              "cannot be UTF-8") from None
    return obj


def read_jsonl(path: Path, label: str) -> Iterator[Item]:
    """One Item per non-blank line; `label` is the path as the user wrote it, used in locators.

    Lines end at LF, so CRLF files read the same (JSON ignores the CR). Blank lines are no records.
    """
    lineno = 0
    try:
        with _open_bytes(path) as f:
            for lineno, raw in enumerate(f, 1):  # noqa: B007 (lineno is read after the loop on a read error)
                if lineno == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                if not raw.strip():
                    continue
                loc = f"{label}:{lineno}"
                try:
                    yield Item(loc, _parse_line(raw))
                except RecordError as err:
                    yield Item(loc, None, err)
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
            text = data.removeprefix(BOM).decode("utf-8")
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
