"""Sources on object storage: `s3://bucket/key`, a glob of keys, or a prefix, read through fsspec.

Any protocol an installed fsspec implementation serves works (s3 through s3fs, which mira installs; gs://
with gcsfs, az:// with adlfs ... when installed). Credentials come from the environment only, never from
params.yaml: for S3, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), AWS_PROFILE or an
instance role, and AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) for an S3-compatible server (MinIO, Ceph ...).

Objects are streamed as local files are: JSONL line after line through a buffered reader, Parquet and
Arrow row batch after row batch over a seekable remote file, so memory holds one batch (plus the
filesystem's read-ahead block), never a whole object. A URL is remote when it holds "://"; local paths never
come here.
"""

from __future__ import annotations

import io
import posixpath
from typing import Any

from mira_core.errors import ConfigError

GLOB_CHARS = "*?["
BUFFER = 1 << 20  # the buffered reader's chunk: lines are split in C, not by fsspec's readline
BLOCK = 4 << 20  # fsspec's read-ahead block (s3fs's default is 50 MiB per open object)


def is_url(path: str) -> bool:
    """Whether a source path names object storage (`s3://...`, any fsspec protocol) rather than a local path."""
    return "://" in str(path)


def has_glob(path: str) -> bool:
    return any(ch in path for ch in GLOB_CHARS)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem serving `url`, and the path within it (no protocol)."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:  # an unknown protocol, or one whose package is not installed
        raise ConfigError(f"{url}: cannot open this URL: {e}") from None


def full_url(fs: Any, path: str) -> str:
    """`path` (as the filesystem lists it) with its protocol again: `bkt/a.jsonl` -> `s3://bkt/a.jsonl`."""
    return fs.unstrip_protocol(path)


def objects(url: str) -> list[tuple[str, dict]]:
    """(full URL, fsspec info) of the objects a URL names: the object itself (FileNotFoundError when there is
    none), or a glob's matching objects, sorted (one listing, no request per object)."""
    fs, path = filesystem(url)
    fs.invalidate_cache()  # a listing cached by an earlier read in this process could be stale
    if not has_glob(url):
        return [(url.rstrip("/"), fs.info(path))]
    found = fs.glob(path, detail=True)
    return [(full_url(fs, p), found[p]) for p in sorted(found) if found[p].get("type") == "file"]


def expand_url(url: str) -> list[str]:
    """The objects a URL names: the object itself (unchecked), or a glob's matching objects (sorted), as full URLs."""
    if not has_glob(url):
        return [url.rstrip("/")]
    return [u for u, _ in objects(url)]


def fingerprint(url: str, meta: dict) -> dict:
    """What identifies an object's version, for cache keys: its URL, size, ETag (or checksum) and mtime."""
    version = next((str(meta[k]) for k in ("ETag", "etag", "md5Hash", "crc32c", "checksum") if meta.get(k)), None)
    mtime = next((str(meta[k]) for k in ("LastModified", "last_modified", "mtime", "updated", "modified")
                  if meta.get(k) is not None), None)
    return {"url": url, "size": meta.get("size"), "etag": version, "mtime": mtime}


def tree_fingerprints(url: str) -> list[dict]:
    """The fingerprints of every object under the prefix `url` (a folder or dataset source), by name."""
    fs, path = filesystem(url)
    fs.invalidate_cache()
    found = fs.find(path.rstrip("/"), detail=True)
    return [fingerprint(full_url(fs, p), found[p]) for p in sorted(found)]


def open_binary(url: str) -> io.BufferedReader:
    """A buffered binary stream over the object `url` (FileNotFoundError when there is none)."""
    fs, path = filesystem(url)
    return io.BufferedReader(fs.open(path, "rb", block_size=BLOCK), buffer_size=BUFFER)


def open_seekable(url: str) -> Any:
    """A seekable file object over the object `url`, for Parquet and Arrow readers (random access)."""
    fs, path = filesystem(url)
    return fs.open(path, "rb", block_size=BLOCK)


def is_dir(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.isdir(path.rstrip("/"))


def is_file(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.isfile(path)


def find(url: str, pattern: str = "**/*") -> list[tuple[str, str]]:
    """(relative path, full URL) of each object under the prefix `url` matching `pattern`, by relative path."""
    fs, path = filesystem(url)
    base = path.rstrip("/")
    fs.invalidate_cache()
    found = fs.glob(f"{base}/{pattern}", detail=True)
    out = [(posixpath.relpath(p, base), full_url(fs, p)) for p, meta in found.items() if meta.get("type") == "file"]
    return sorted(out)


def read_text(url: str) -> str:
    fs, path = filesystem(url)
    return fs.cat_file(path).decode("utf-8")


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])
