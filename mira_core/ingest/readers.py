"""Streaming readers for JSONL (plain, .gz, .zst), Parquet and folders of files.

Each reader yields `Item`s one at a time (Parquet in row batches), so a multi-GB source is never
held in memory. A line or file that cannot be decoded becomes an `Item` carrying a `RecordError`
with its locator, not an exception: ingest quarantines it and reads on. A compressed file cut short
or corrupt (a truncated .gz or .zst), or a local Parquet file with a corrupt row group, ends with one
`unreadable` Item at the first line (row) it could not deliver, never with a silent end or a bare error.
A Parquet row holding a value Arrow reads but Python cannot hold (a timestamp past year 9999) is one
`unreadable` Item naming its column, and the file is read on.
A UTF-8 byte-order mark at the start of a file is an encoding marker, not content, and is dropped.
Hidden files and folders of a folder source are skipped (`read_folder`).

A path holding "://" (`s3://bucket/key`, a glob of keys, a prefix) is read through fsspec
(mira_core/ingest/remote.py) the same way, streamed; its locators are the object's URL + `:line` or `#row`.
"""

from __future__ import annotations

import glob as globlib
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from mira_core.errors import JSON_REFUSED, ConfigError, MiraError, RecordError, json_refusal, json_type
from mira_core.ingest import remote
from mira_core.io import glob_regex, is_hidden, walk_files
from mira_core.redact import redact_credentials
from mira_core.schema import QuarantineReason as Q

BOM = b"\xef\xbb\xbf"
# byte-order marks of the encodings a JSON Lines file must not be in (UTF-32's first: its LE mark starts as UTF-16's)
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
             (b"\xfe\xff", "UTF-16"))
# A \uD800-\uDFFF escape: usually half of a valid pair (an emoji), so only a line holding one is checked
# for a lone surrogate, which json.loads accepts but no UTF-8 writer (Parquet, the tokenizer) can encode.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def wide_detail(encoding: str) -> str:
    """The quarantine detail of a file whose byte-order mark says UTF-16 or UTF-32."""
    return f"the file is {encoding} (its byte-order mark), not UTF-8: re-encode it (iconv -f {encoding} -t UTF-8)"


@dataclass(frozen=True, slots=True)
class Item:
    """One raw record: where it came from, its fields, or the error that stopped it being read."""

    locator: str
    payload: dict | None
    error: RecordError | None = None
    native_id: str | None = None  # set by readers that know one (the folder reader: the relative path)


def expand(path: str, root: Path) -> list[Path]:
    """The files a source path names: the file itself, or a glob's matches, sorted (links that lead nowhere
    among them: they do not exist, and the caller says so)."""
    p = Path(path)
    full = p if p.is_absolute() else root / p
    if any(ch in path for ch in "*?["):
        # A relative pattern is matched from `root`, not inside str(root / p): a project folder named like
        # "runs[2]" would read as a pattern itself and match nothing.
        base = Path("/") if p.is_absolute() else root
        # A matching link that leads nowhere (a git-annex or DVC file not fetched) is kept, for the caller to name,
        # not passed over: the glob's other files alone would be read as if they were the whole source.
        return sorted(base / m for m in globlib.glob(path, root_dir=base, recursive=True)
                      if (base / m).is_file() or ((base / m).is_symlink() and not (base / m).exists()))
    return [full]


class _ZstdRaw(io.RawIOBase):
    """A .zst file decompressed frame after frame, raising EOFError when it ends inside a frame.

    zstandard's own stream_reader returns a plain end of stream for a truncated file, which would
    lose the rest of the file without a word; gzip raises EOFError, and this does the same.

    The input is fed 1 KB at a time because `decompressobj` has no cap on its output: a zstd block of a few bytes
    can stand for 128 KB, so 64 KB of a very repetitive file (the same line a million times) came out as about
    2 GB at once. 1 KB holds one read to about 32 MB; reading a demo-sized file costs some 10 % more time.
    """

    CHUNK = 1 << 10

    def __init__(self, path: Path | io.BufferedIOBase) -> None:
        import zstandard

        self._zstd = zstandard
        # A path is opened here; a stream (a remote object) is taken over: both closed by close().
        self._f = open(path, "rb") if isinstance(path, Path) else path  # noqa: SIM115
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
            self._out = b""  # let the last output go before the next is made: two of them were held at once
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


def _local_or_url(path: Path | str) -> Path | str:
    """A URL stays a string (read through fsspec); any other path is a local Path."""
    if isinstance(path, Path) or remote.is_url(path):
        return path
    return Path(path)


@contextmanager
def _open_remote(url: str) -> Iterator[io.BufferedIOBase]:
    """A remote object's bytes, decompressed by its name's suffix as `_open_bytes` does; every layer closed after."""
    raw = remote.open_binary(url)
    name = url.lower()
    try:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                yield f
        elif name.endswith(".zst"):
            with io.BufferedReader(_ZstdRaw(raw)) as f:
                yield f
        else:
            yield raw
    finally:
        raw.close()


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
    except JSON_REFUSED as e:  # valid JSON beyond Python's limits (a 5,000-digit number, nesting 1,000 deep)
        raise RecordError(Q.INVALID_JSON, f"{json_refusal(e)}: {line[:80]!r}") from None
    if not isinstance(obj, dict):
        raise RecordError(Q.NOT_AN_OBJECT, f"{json_type(obj)}, not an object")
    if SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise RecordError(Q.INVALID_UTF8, f"a lone UTF-16 surrogate escape (\\u{ord(e.object[e.start]):04x}) "
                              "cannot be UTF-8") from None
    return obj


def read_jsonl(path: Path | str, label: str) -> Iterator[Item]:
    """One Item per non-blank line; `label` is the path as the user wrote it, used in locators.

    Lines end at LF, so CRLF files read the same (JSON ignores the CR). Blank lines are no records.
    `path` is a local Path, or a URL string read through fsspec.
    """
    path = _local_or_url(path)
    lineno = 0
    wide = None  # the file's encoding when its byte-order mark says UTF-16 or UTF-32
    try:
        with _open_bytes(path) if isinstance(path, Path) else _open_remote(path) as f:
            for lineno, raw in enumerate(f, 1):  # noqa: B007 (lineno is read after the loop on a read error)
                if lineno == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                elif lineno == 1:
                    wide = next((name for mark, name in WIDE_BOMS if raw.startswith(mark)), None)
                if not (raw.strip(b" \t\r\n\x00") if wide else raw.strip()):  # a wide blank line holds NULs
                    continue
                loc = f"{label}:{lineno}"
                if wide:  # every line would read as "a raw NUL byte", which names a crashed writer, not this
                    yield Item(loc, None, RecordError(Q.INVALID_UTF8, wide_detail(wide)))
                    continue
                try:
                    yield Item(loc, _parse_line(raw))
                except RecordError as err:
                    yield Item(loc, None, err)
    except (OSError, EOFError, zlib.error) as e:  # truncated or corrupt .gz, corrupt .zst: the rest is unreadable
        if isinstance(e, FileNotFoundError):
            raise ConfigError(f"{label}: file not found") from None
        if isinstance(e, PermissionError) and not isinstance(path, Path):  # a remote object the credentials cannot read
            raise ConfigError(f"{label}: access denied ({e}); credentials come from the environment") from None
        if not isinstance(path, Path) and _network_error(e):  # not the file's fault: fail, never cache a cut source
            raise MiraError(f"{label}: reading stopped at line {lineno + 1}: {e} (a network error; run ingest "
                            "again)") from e
        yield Item(f"{label}:{lineno + 1}", None, RecordError(Q.UNREADABLE, f"file unreadable from here on: {e}"))


def read_parquet(path: Path | str, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """One Item per row, read in row batches; `path` is a local Path, or a URL string read through fsspec."""

    path = _local_or_url(path)
    if not isinstance(path, Path):
        yield from _read_remote_parquet(path, label, batch_size)
        return
    if not path.exists():
        raise ConfigError(f"{label}: file not found")
    yield from _parquet_items(path, label, batch_size, cut_is_unreadable=True)


def _parquet_items(source: Path | object, label: str, batch_size: int, cut_is_unreadable: bool = False
                   ) -> Iterator[Item]:
    """One Item per row of a Parquet file (a path, or a seekable file object), read in row batches.

    With `cut_is_unreadable` (a local file), a row group that cannot be decoded ends the file with one
    `unreadable` Item at its first row; otherwise the error propagates (a remote read may have failed on the
    network, which `_read_remote_parquet` must not mistake for the file's fault).
    """
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
    except Exception as e:  # pyarrow raises ArrowInvalid and friends for a file that is not Parquet
        yield Item(label, None, RecordError(Q.UNREADABLE, f"not a readable Parquet file: {e}"))
        return
    row = 0
    try:
        # One row group at a time: over the whole file, pyarrow's pre-buffering (on by default) reads every row
        # group's column chunks in ahead, so memory grew with the file.
        for group in range(pf.num_row_groups):
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group]):
                for item in batch_items(batch, label, row):
                    yield item
                    row += 1
    except (OSError, ValueError) as e:  # a corrupt row group; pyarrow's ArrowIOError/ArrowInvalid subclass these
        if not cut_is_unreadable:
            raise
        yield Item(f"{label}#{row}", None, RecordError(Q.UNREADABLE, f"not a readable Parquet file from here on: {e}"))


def batch_items(batch: object, label: str, first: int) -> list[Item]:
    """The Items of one decoded row batch whose first row is row `first` of the file.

    A value Arrow holds but Python cannot (a timestamp or date past year 9999, an unknown time zone) fails the
    batch's conversion with an OverflowError or the like: then rows are converted one by one, and each such row is
    quarantined naming its column, while the rest of the file is read on (the bytes themselves were read fine).
    """
    try:
        return [Item(f"{label}#{first + i}", rec) for i, rec in enumerate(batch.to_pylist())]
    except Exception:  # conversion only: the bytes are in memory, so no I/O error is hidden by this
        pass
    items = []
    for i in range(batch.num_rows):
        one = batch.slice(i, 1)
        try:
            items.append(Item(f"{label}#{first + i}", one.to_pylist()[0]))
            continue
        except Exception as e:
            why, error = f"{type(e).__name__}: {e}", e
        bad = next((name for name, col in zip(one.schema.names, one.columns, strict=True) if not _converts(col)), "?")
        if isinstance(error, UnicodeDecodeError):  # a string column written without validation: bytes, not a value
            items.append(Item(f"{label}#{first + i}", None, RecordError(
                Q.INVALID_UTF8, f"column {bad!r}: invalid UTF-8 at byte {error.start}")))
            continue
        items.append(Item(f"{label}#{first + i}", None, RecordError(
            Q.UNREADABLE, f"column {bad!r} holds a value Python cannot represent ({why})")))
    return items


def _converts(column: object) -> bool:
    try:
        column.to_pylist()
    except Exception:
        return False
    return True


def _read_remote_parquet(url: str, label: str, batch_size: int) -> Iterator[Item]:
    """`read_parquet` over a remote object: pyarrow reads the footer, then row groups, through a seekable fsspec file."""
    try:
        f = remote.open_seekable(url)
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except PermissionError as e:
        raise ConfigError(f"{label}: access denied ({e}); credentials come from the environment") from None
    with f:
        item = None
        try:
            for item in _parquet_items(f, label, batch_size):
                yield item
        except OSError as e:  # the object could not be read to its end: fail, never cache a cut source
            # pyarrow re-raises the file object's own exception, so a network error keeps its type; a corrupt row
            # group and a storage error that s3fs reports as a plain OSError look the same, hence the advice.
            where = f"after {item.locator}" if item is not None else "at its start"
            why = ("a network error; run ingest again" if _network_error(e) else
                   "run ingest again; if it stops at the same row again, the object itself is corrupt: replace it, "
                   "or leave it out of the source's path")
            raise MiraError(f"{label}: reading stopped {where}: {e} ({why})") from e


def _network_error(e: BaseException) -> bool:
    """An error of the connection or the storage service, as opposed to one of the bytes (a truncated .gz)."""
    top = type(e).__module__.split(".")[0]
    return isinstance(e, ConnectionError | TimeoutError) or top in ("aiohttp", "botocore", "aiobotocore", "s3fs",
                                                                    "fsspec")


def display_name(name: str) -> str:
    """A file name as text: its bytes read as UTF-8 (what the OS decoded under another locale is undone), a byte
    that is not UTF-8 written as \\xNN: a record id and a locator must be writable as UTF-8."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def read_folder(path: Path, label: str, pattern: str) -> Iterator[Item]:
    """One Item per file under `path` matching `pattern`; the relative path is the native id.

    Hidden files and folders (`.git/`, `.github/ci.yml`, `.DS_Store`) are skipped, matching or not: they are
    tooling, not corpus, and the task cache key (`io.tree_digest`) ignores them, so a read one could change
    without the source being read again. Links to folders are followed, as the cache key follows them
    (`io.walk_files`); a matching link that leads nowhere is quarantined as unreadable, not passed over.
    """
    if not path.is_dir():
        raise ConfigError(f"{label}: not a folder (the folder reader needs a directory)")
    match = glob_regex(pattern).match
    files, dangling, unlistable = walk_files(path)
    found = sorted([*files, *((rel, None) for rel in dangling)], key=lambda x: x[0])  # path order, as walk_files
    # a folder that cannot be listed is one unreadable item, whatever `pattern` (which of its files would match is
    # unknown): os.walk passed over it in silence
    for rel, why in unlistable:
        where = "" if rel == PurePath(".") else f"{display_name(rel.as_posix())}/"  # "": the folder itself
        yield Item(f"{label}/{where}", None,
                   RecordError(Q.UNREADABLE, f"a folder that cannot be listed ({why}): none of its files was read"))
    for rel, f in ((display_name(r.as_posix()), f) for r, f in found if match(r.as_posix())):
        loc = f"{label}/{rel}"
        if f is None:
            yield Item(loc, None, RecordError(Q.UNREADABLE, "a link to a file that does not exist"))
            continue
        try:
            data = f.read_bytes()
        except OSError as e:
            yield Item(loc, None, RecordError(Q.UNREADABLE, str(e)))
            continue
        yield _file_item(loc, rel, data)


BINARY_PROBE = 8192  # bytes of a file searched for a NUL, git's test of a binary file


def _file_item(loc: str, rel: str, data: bytes) -> Item:
    """One file of a folder source as a record: its UTF-8 text (a BOM dropped) and relative path, the native id.
    A file with a NUL byte in its first 8 KB is a binary (an object file can be valid UTF-8), quarantined whatever
    `ingest.nul` says: that knob strips NULs out of text, and a binary stripped of them was kept and selected. A
    Jupyter notebook is its cells' sources (`notebook_text`), not its JSON. A UTF-16 or UTF-32 text file (its
    byte-order mark says so) is quarantined as not UTF-8, as a JSON Lines file is: its NULs made it "a binary"."""
    if wide := next((name for mark, name in WIDE_BOMS if data.startswith(mark)), None):
        return Item(loc, None, RecordError(Q.INVALID_UTF8, wide_detail(wide)))
    if (nul := data.find(b"\x00", 0, BINARY_PROBE)) != -1:
        return Item(loc, None, RecordError(Q.NUL_CHARACTER, f"a binary file (a NUL byte at byte {nul}); "
                                           "ingest.nul applies to text, not to binaries"))
    try:
        text = data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as e:
        return Item(loc, None, RecordError(Q.INVALID_UTF8, f"invalid UTF-8 at byte {e.start}"))
    if rel.lower().endswith(".ipynb"):
        text = notebook_text(text)
    return Item(loc, {"text": text, "path": rel}, native_id=rel)


# an IPython line magic (%matplotlib inline) or shell escape (!pip), not a continued line's `!= b` or `% b`
_MAGIC = re.compile(r"^([ \t]*)(%[A-Za-z]|!(?!=))", re.M)


def notebook_text(raw: str) -> str:
    """A Jupyter notebook as its cells' sources, each under a jupytext "percent" header (`# %%`, `# %% [markdown]`),
    its outputs left out: a plot's base64 output was most of the record. As jupytext writes it, a cell that is not
    code, an IPython magic and a shell escape are commented out with `# `: a notebook is a code record, and its
    prose or `%matplotlib inline` read as Python failed `parses` (a SyntaxError where the JSON had passed). A file
    that is not notebook JSON is returned as it is."""
    try:
        cells = json.loads(raw)["cells"]
        parts = []
        for c in cells:
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            kind = c.get("cell_type")
            src = src.rstrip()
            if kind != "code" or src.lstrip().startswith("%%"):  # prose, or a cell magic's other language (%%bash)
                src = "\n".join(f"# {line}".rstrip() for line in src.split("\n"))
            else:
                src = _MAGIC.sub(r"\1# \2", src)
            parts.append(f"{'# %%' if kind == 'code' else f'# %% [{kind}]'}\n{src}\n")
        return "\n".join(parts)
    except (ValueError, KeyError, TypeError, AttributeError):
        return raw


def read_remote_folder(url: str, label: str, pattern: str) -> Iterator[Item]:
    """`read_folder` over an object-storage prefix: one Item per object matching `pattern` under it, hidden
    ones skipped as `read_folder` skips them."""
    if not remote.is_dir(url):
        raise ConfigError(f"{label}: not a folder (no object under this prefix; the folder reader needs one)")
    for rel, full in remote.find(url, pattern):
        if is_hidden(rel):
            continue
        loc = f"{label}/{rel}"
        try:
            with remote.open_binary(full) as f:
                data = f.read()
        except OSError as e:
            yield Item(loc, None, RecordError(Q.UNREADABLE, str(e)))
            continue
        yield _file_item(loc, rel, data)


def _read_remote_source(kind: str, url: str, pattern: str, batch_size: int) -> Iterator[Item]:
    """`read_source` over a URL, its credentials (`https://user:pass@host`, `?token=...`) kept out of what leaves:
    locators (stored in every record's meta and in the quarantine), quarantine details and error messages."""
    last = None
    try:
        for item in _remote_items(kind, url, pattern, batch_size):
            if item.error is not None and (detail := redact_credentials(item.error.detail)) != item.error.detail:
                item = Item(item.locator, None, RecordError(item.error.reason, detail), item.native_id)
            last = item.locator
            yield item
    except MiraError as e:
        if (said := redact_credentials(str(e))) == str(e):
            raise
        raise type(e)(said) from None  # not chained: the cause's message holds the credentials too
    except Exception as e:
        # what a storage backend raises mid-read that is no OSError (aiohttp's ClientResponseError when a presigned
        # URL expires: 403, the URL and its token in the message): the source, where it stopped, and no credentials.
        # A builtin error other than OSError, or mira's own, is a bug: its traceback is kept.
        origin = type(e).__module__.split(".")[0]
        if origin in ("builtins", "mira_core") and not isinstance(e, OSError):
            raise
        where = f"after {last}" if last else "before its first record"
        raise MiraError(redact_credentials(f"{url}: reading stopped {where}: "
                                           f"{type(e).__name__}: {e} (run ingest again; a presigned URL that has "
                                           "expired needs a new one)")) from None


def _remote_items(kind: str, url: str, pattern: str, batch_size: int) -> Iterator[Item]:
    if kind == "folder":
        yield from read_remote_folder(url.rstrip("/"), redact_credentials(url.rstrip("/")), pattern)
        return
    if kind == "hf_dataset":
        from mira_core.ingest.hf_dataset import read_remote_hf_dataset

        yield from read_remote_hf_dataset(url.rstrip("/"), redact_credentials(url.rstrip("/")), batch_size)
        return
    files = remote.expand_url(url)
    if not files:
        raise ConfigError(f"{url}: no object matches")
    for f in files:
        if kind == "jsonl":
            yield from read_jsonl(f, redact_credentials(f))
        else:
            yield from read_parquet(f, redact_credentials(f), batch_size)


def read_source(kind: str, path: str, root: Path, pattern: str = "**/*", batch_size: int = 1024) -> Iterator[Item]:
    """All Items of one source, file after file (a URL path: object after object, through fsspec)."""
    if remote.is_url(path):
        yield from _read_remote_source(kind, path, pattern, batch_size)
        return
    if kind == "folder":
        full = Path(path) if Path(path).is_absolute() else root / path
        yield from read_folder(full, path.rstrip("/"), pattern)
        return
    if kind == "hf_dataset":  # a save_to_disk folder or a folder of Parquet shards (mira_core/ingest/hf_dataset.py)
        from mira_core.ingest.hf_dataset import read_hf_dataset

        yield from read_hf_dataset(Path(path) if Path(path).is_absolute() else root / path, path.rstrip("/"),
                                   batch_size)
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
