"""Atomic writes and content digests.

Every output goes to a temporary name in the same folder and is renamed into place only when it is
complete, so a crash never leaves a half file that a re-run would trust. Digests (BLAKE2b) identify
inputs for task cache keys and record ids.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath

import polars as pl

from mira_core.errors import JSON_REFUSED, ConfigError, MiraError, json_refusal

_CHUNK = 1 << 20


def _fsync(path: Path) -> None:
    """Flush a file's data (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """`_fsync` a folder, best effort: Windows cannot open one and some file systems refuse to sync one; there a
    rename is as durable as the platform makes it."""
    with contextlib.suppress(OSError):
        _fsync(path)


def _fsync_tree(path: Path) -> None:
    """`_fsync` every file under `path`, then each folder after its contents (best effort, as `_fsync_dir`)."""
    for folder, _, files in os.walk(path, topdown=False):
        for name in files:
            with contextlib.suppress(OSError):
                _fsync(Path(folder) / name)
        _fsync_dir(Path(folder))


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# writers in Rust or C++ (polars, safetensors) say it in their own words, the errno lost: "File out of
# specification: underlying IO error: File too large (os error 27)", "Error while serializing: I/O error: ..."
_FULL_TEXT = re.compile(r"os error (?:27|28|122)\b|No space left on device|File too large|Disk quota exceeded")


@contextlib.contextmanager
def _full_disk_named(path: Path) -> Iterator[None]:
    """An output that could not be written for want of space (disk, quota, file size limit) is a MiraError naming
    it: the writers' own errors name no file, and came as a traceback."""
    try:
        yield
    except MiraError:
        raise
    except Exception as e:
        if (isinstance(e, OSError) and e.errno in _FULL_ERRNOS) or _FULL_TEXT.search(str(e)):
            first = (str(e).splitlines() or [type(e).__name__])[0][:200]
            raise MiraError(f"{path}: could not be written ({first}): out of disk space, quota or file size limit; "
                            "free some and run the stage again (nothing half-written was kept)") from e
        raise


_UNWRITABLE = {errno.EROFS: "a read-only file system", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}


@contextlib.contextmanager
def _place_named(path: Path) -> Iterator[None]:
    """Making an output's folder and temporary sibling, and renaming it into place: a place that is read-only, not
    writable or full is a MiraError naming the output (the OSError named the temporary file, under some hundreds of
    lines of tracebacks). Only these steps: in the writer's block an EACCES may be an input's."""
    try:
        yield
    except OSError as e:
        if e.errno in _UNWRITABLE:
            # the folder, not the temporary file's made-up name (a folder being made names itself)
            name = str(e.filename or "")
            where = name if name and not os.path.basename(name).endswith(".tmp") else path.parent
            raise MiraError(f"{path}: cannot be written there ({_UNWRITABLE[e.errno]}: {where}); make the folder "
                            "writable, or run the project from a copy that is") from e
        if e.errno in _FULL_ERRNOS:
            raise MiraError(f"{path}: could not be written ({e.strerror}): out of disk space, quota or file size "
                            "limit; free some and run the stage again (nothing half-written was kept)") from e
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` if the block succeeds, delete it if not.

    The data is synced before the rename and the folder after it, so a power cut leaves the old file or the
    whole new one, never a renamed empty or partial file.
    """
    path = Path(path)
    with _place_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _full_disk_named(path):
            yield tmp_path
            os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; outputs are meant to be shared like any file
            _fsync(tmp_path)
            with _place_named(path):
                os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _remove_leftovers(path: Path) -> None:
    """Delete what an `atomic_dir(path)` killed mid-way left beside `path`: its temporary folders
    (`.<name>.XXXXXXXX.tmp`, after a SIGKILL) and the previous output moved aside (`.<name>.old`, when it died
    between its two renames), and those of any `atomic_dir` nested in it, which sit beside `path` too, one dot
    and one `.XXXXXXXX.tmp` more per level (the Megatron export builds its folder inside the select task's:
    `..<name>.XXXXXXXX.tmp.YYYYYYYY.tmp`).
    Only mkdtemp's exact name shape is matched, so the live temporary folder of a sibling whose name extends
    this one (`docs` and `docs.v2`) is never taken for a leftover."""
    if not path.parent.is_dir():
        return
    stale = re.compile(rf"\.+{re.escape(path.name)}(?:\.[a-z0-9_]{{8}}\.tmp)*\.(?:[a-z0-9_]{{8}}\.tmp|old)")
    for child in path.parent.iterdir():
        if stale.fullmatch(child.name):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


_MKSTEMP = r"\.[a-z0-9_]{8}\.tmp"  # the suffix `atomic_path` gives its temporary file (mkstemp's)
TEMP_FILE = re.compile(rf"\..+{_MKSTEMP}")
TEMP_DIR = re.compile(rf"\..+(?:{_MKSTEMP}|\.old)")  # what `atomic_dir` leaves when killed: its folder, or the old one


def temp_file_of(name: str) -> str:
    """The pattern of the temporary file names `atomic_path` gives an output called `name`."""
    return rf"\.{re.escape(name)}{_MKSTEMP}"


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files that `atomic_path` writes killed mid-way (SIGKILL, a power cut) left anywhere
    under `folder`, and the temporary folders `atomic_dir` left, and return them. Hidden, so no stage reads them,
    but DVC hashes and pushes dot-files in an out (a changed hash re-runs every later stage), and they pile up.
    Only for a folder no writer is writing into: a live temporary file has the same name shape."""
    if not Path(folder).is_dir():
        return []
    gone = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            if TEMP_FILE.fullmatch(name):
                f = Path(dirpath, name)
                f.unlink(missing_ok=True)
                gone.append(f)
        # an `atomic_dir` killed mid-way (the export's records/ or megatron/ folder): only its next run under the
        # same name removed it, and after select.materialize changed nothing did, so a half export stayed in the out
        for name in [d for d in dirnames if TEMP_DIR.fullmatch(d)]:
            d = Path(dirpath, name)
            if not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
                gone.append(d)
                dirnames.remove(name)
    return gone


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; it replaces `path` (whole) only if the block succeeds.

    Leftovers of an earlier run killed inside this block are removed first (`_remove_leftovers`): they are
    hidden, but would otherwise pile up beside the output. Every file and folder inside is synced before the
    rename (some writers in the block use a plain `open`: the Megatron export, model files) and the parent after,
    as `atomic_path` does for a file.
    """
    path = Path(path)
    with _place_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with _full_disk_named(path):
            yield tmp
            os.chmod(tmp, 0o755)  # mkdtemp makes 0700
            _fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except OSError:
                os.replace(old, path)  # the previous output back in place: a failed swap loses neither
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cache_folder(path: Path, knob: str) -> Path:
    """`path` made if missing, or a ConfigError naming `knob` where it cannot be made or written: a cache under a
    read-only or missing HOME (a container's) failed a stage with some 300 lines of tracebacks naming no knob."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{knob}: cannot make the cache folder {path} ({e.strerror or e}); set {knob} to a "
                          "writable folder (a relative path is the project's)") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{knob}: the cache folder {path} is not writable; set {knob} to a writable folder (a "
                          "relative path is the project's)")
    return Path(path)


def write_parquet(df: pl.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a frame as zstd Parquet, atomically; `metadata`: key-value pairs for the file's footer
    (`pl.read_parquet_metadata` reads them back)."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", metadata=metadata)
    return Path(path)


# what polars raises on a damaged Parquet file: a cut or a bad footer (ComputeError), or a bad schema in it
# ("unable to decode the encoded schema stored in ARROW:schema": InvalidOperationError)
DAMAGED_PARQUET = (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError)


def read_parquet(path: Path | list[Path], columns: list[str] | None = None) -> pl.DataFrame:
    """`pl.read_parquet` of a file or a list of files, each path read as a name. polars reads a path as a glob
    pattern unless told not to, so under a folder named like "runs [2]" (the class matches "runs 2") every read
    found nothing and failed. A file polars cannot read (truncated, not Parquet) is a ConfigError naming it, where
    polars' own message names no file."""
    paths = path if isinstance(path, list) else [path]
    try:
        return pl.read_parquet(path, columns=columns, glob=False)
    except DAMAGED_PARQUET as e:
        bad = [f for f in paths if not _parquet_footer_ok(f)] or paths
        raise ConfigError(unreadable_parquet(bad, e)) from e


def unreadable_parquet(paths: list, e: Exception) -> str:
    """The message for Parquet file(s) polars could not read: named, with the first line of polars' reason."""
    why = (str(e).splitlines() or [type(e).__name__])[0]
    return (f"{', '.join(map(str, paths))}: not a readable Parquet file ({why}): a truncated or damaged file? Re-run "
            "the stage that writes it")


def _parquet_footer_ok(path: Path) -> bool:
    """Whether polars reads a Parquet file's schema (its footer): a truncated file fails here."""
    try:
        pl.scan_parquet(path, glob=False).collect_schema()
    except (pl.exceptions.PolarsError, OSError):
        return False
    return True


def write_json(obj: object, path: Path) -> Path:
    """Write JSON (sorted keys, indented, trailing newline), atomically."""
    with atomic_path(path) as tmp:
        # UTF-8 whatever the locale: with ensure_ascii=False a non-ASCII name (a source, a rubric's text) could not
        # be written under an ASCII or Latin-1 locale, nor read back by a reader in another
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")
    return Path(path)


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically, in UTF-8."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_json(path: Path) -> object:
    """Read a JSON file (UTF-8, as `write_json` writes it); one that is not JSON (truncated, edited, not UTF-8) is a
    ConfigError naming it, not json's bare message without the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except JSON_REFUSED as e:  # UnicodeDecodeError is a ValueError too
        why = str(e) if isinstance(e, json.JSONDecodeError) else json_refusal(e)  # the former says where
        raise ConfigError(f"{path}: not readable JSON ({why}): a truncated or hand-edited file?") from e


def text_digest(text: str, size: int = 8) -> str:
    """Hex BLAKE2b digest of a string (16 hex characters by default)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


_memo: dict[tuple[str, int, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes; memoised per (path, size, mtime, ctime, inode) within the process: a file
    replaced by one of the same size with its mtime kept (cp -p, rsync -a, tar x) has a new inode or ctime."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _memo:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        _memo[key] = h.hexdigest()
    return _memo[key]


# The libraries whose arithmetic or parsing makes a stage's numbers: an upgrade of one must not serve results
# computed by the old one (evaluate's run key has always held torch and transformers).
NUMERIC_LIBRARIES = ("numpy", "polars", "scipy", "scikit-learn", "torch", "transformers", "tokenizers",
                     "safetensors", "onnxruntime", "model2vec", "datasketch", "regex")


def library_versions() -> dict[str, str | None]:
    """The installed version (None where it is not installed) of each of NUMERIC_LIBRARIES."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    from importlib.metadata import PackageNotFoundError, version  # package metadata: nothing is imported

    def one(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return tuple((n, one(n)) for n in NUMERIC_LIBRARIES)


# every file transformers or sentence-transformers may read from a model folder besides the weights: a BPE
# tokenizer without a tokenizer.json (vocab.json + merges.txt), a SentencePiece one, added tokens, the module list
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
               "vocab.json", "merges.txt", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model",
               "tokenizer.model", "modules.json", "sentence_bert_config.json")


def model_digest(folder: Path, *extra: str) -> str:
    """A model folder by content: its config, tokenizer and weight files (*.safetensors, *.bin), plus `extra`
    strings. By content, not by names and sizes: a model retrained in place keeps its shapes, so its files keep
    their sizes, and its old outputs must not pass for new ones. file_digest memoises, so a second call is stats."""
    folder = Path(folder)
    files = [folder / n for n in MODEL_FILES if (folder / n).is_file()]
    files += sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    h = hashlib.blake2b(digest_size=8)
    for f in files:
        h.update(f"{f.name}:{file_digest(f)}\n".encode())
    for name in extra:
        h.update(name.encode())
    return h.hexdigest()


def is_hidden(rel: str | PurePath) -> bool:
    """Whether a relative path is left out of digests, folder sources and the task cache's output checks: a part of it
    starts with "." (.git/, a crashed atomic write's .name.tmp/) or is __pycache__. One rule, so that what a stage
    reads and what keys its cache agree."""
    parts = rel.split("/") if isinstance(rel, str) else PurePath(rel).parts
    return any(part.startswith(".") or part == "__pycache__" for part in parts)


def tree_files(path: Path) -> list[tuple[PurePath, Path]]:
    """(relative path, file) of every file under a folder that is not hidden, in name order (links followed)."""
    return walk_files(path)[0]


def walk_files(path: Path) -> tuple[list[tuple[PurePath, Path]], list[PurePath], list[tuple[PurePath, str]]]:
    """(relative path, file) of every file under a folder that is not hidden, in name order; the relative paths
    of links that lead nowhere; and (relative path, why) of each folder that cannot be listed (no permission), whose
    files os.walk passed over in silence. Links to folders are followed (a corpus assembled as a farm of links is
    read whole; pathlib's `**` does not follow them before Python 3.13, glob's does); a link back to a folder above
    it is not (its files are read where they are, not again until the path is too long)."""
    path = Path(path)
    files: list[tuple[PurePath, Path]] = []
    dangling: list[PurePath] = []
    unlistable: list[tuple[PurePath, str]] = []

    def cannot_list(err: OSError) -> None:
        unlistable.append((Path(err.filename or path).relative_to(path), err.strerror or str(err)))

    above: dict[str, frozenset[str]] = {str(path): frozenset({os.path.realpath(path)})}  # real folders on the way
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True, onerror=cannot_list):
        rel_dir = Path(dirpath).relative_to(path)
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            if not is_hidden(rel_dir / d) and real not in above[dirpath]:  # a link back up would never end
                above[os.path.join(dirpath, d)] = above[dirpath] | {real}
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            rel, full = rel_dir / name, Path(dirpath, name)
            if is_hidden(rel):
                continue
            if full.is_file():
                files.append((rel, full))
            elif full.is_symlink() and not full.exists():
                dangling.append(rel)
    # in path order (part by part, as sorted Paths compare: a/b before a-b/c), the order a folder source has always
    # been read in: its records' order in the corpus shards, which the samples drawn from them follow
    return sorted(files, key=lambda x: x[0]), sorted(dangling), sorted(unlistable)


def glob_regex(pattern: str) -> re.Pattern:
    """A regex over a relative POSIX path that matches the files `Path(folder).glob(pattern)` gives: `**` is any
    number of folders (none too), `*` and `?` do not cross a '/', `[...]` is a class read as fnmatch (and so
    pathlib) reads it: `[!...]` its complement, a leading `^` a plain character, `]` first in it a member, a
    reversed range matching nothing, and never a '/' (pathlib matches one name at a time)."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    out = []
    for i, part in enumerate(parts):
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        j, comp = 0, ""
        while j < len(part):
            c = part[j]
            end = _class_end(part, j) if c == "[" else -1
            if c == "*":
                comp += "[^/]*"
            elif c == "?":
                comp += "[^/]"
            elif end != -1:
                comp += "(?!/)" + _FNMATCH_BODY.fullmatch(fnmatch.translate(part[j:end + 1]))[1]
                j = end
            else:
                comp += re.escape(c)
            j += 1
        out.append(comp + ("/" if i < len(parts) - 1 else ""))
    return re.compile("".join(out) + r"\Z")


_FNMATCH_BODY = re.compile(r"\(\?s:(.*)\)\\Z", re.S)  # fnmatch.translate's wrapping of the regex it makes


def _class_end(part: str, start: int) -> int:
    """The index of the `]` closing the class opened at `part[start]` ("["), as fnmatch finds it (a `!` and then a
    `]` right after the bracket belong to the class), or -1 when it is not closed (the "[" is then a plain one)."""
    j = start + 1
    if j < len(part) and part[j] == "!":
        j += 1
    if j < len(part) and part[j] == "]":
        j += 1
    return part.find("]", j)


def tree_digest(path: Path, suffixes: tuple[str, ...] | None = None) -> str:
    """Digest of a file, or of a folder's files (relative names and contents), hidden files and caches skipped."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_file():
        return file_digest(path)
    h = hashlib.blake2b(digest_size=16)
    for rel, f in tree_files(path):
        if suffixes and f.suffix not in suffixes:
            continue
        h.update(os.fsencode(rel.as_posix()))
        h.update(file_digest(f).encode())
    return h.hexdigest()


def clear_dir(path: Path, keep: set[str] | None = None) -> None:
    """Remove everything in a folder except the names in `keep`; create the folder if missing."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if keep and child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def pid_exists(pid: int) -> bool:
    """Whether a process with this id exists (run by any user); a zombie counts, as kill 0 sees it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, run by another user
    return True
