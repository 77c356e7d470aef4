"""Ingest one source: stream, render, check, deduplicate, count tokens, write shards and quarantine.

Memory stays bounded by `read_batch` records plus two 64-bit digests per kept record (its id's and its
text's, for duplicate-id and exact duplicate detection: about 140 MB per million records in Python's sets), so a
multi-GB source streams through. Counts balance:
read = kept + quarantined, per source and per reason. A source that keeps no record is flagged
(`empty`) and `empty_source_problem` words it; the flow decides whether that fails the stage.
"""

from __future__ import annotations

import glob as globlib
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from mira_core.config import JSONL_SUFFIXES, IngestParams, SourceSpec
from mira_core.dvc_deps import dvc_stage_deps, listed
from mira_core.errors import ConfigError, InvariantError, RecordError, json_type
from mira_core.ingest import remote
from mira_core.ingest.hf_dataset import is_saved_dataset
from mira_core.ingest.readers import Item, expand, read_source
from mira_core.ingest.render import render
from mira_core.ingest.tokens import token_counter
from mira_core.io import atomic_dir, text_digest, tree_files, write_json
from mira_core.redact import redact_credentials
from mira_core.schema import CORPUS, REJECTED
from mira_core.schema import QuarantineReason as Q
from mira_core.shards import ShardWriter

DETAIL_CHARS = 300
NUL = "\x00"


def _batches(items: Iterator[Item], n: int) -> Iterator[list[Item]]:
    while batch := list(islice(items, n)):
        yield batch


def _digest64(s: str) -> int:
    return int(text_digest(s, 8), 16)


def _native_id(payload: dict, field: str) -> str:
    """A record's native id as text; only strings, integers and UUIDs (a Parquet `uuid` column) are ids (a float or an
    object would name no one record)."""
    if field not in payload:
        raise RecordError(Q.MISSING_FIELD, f"no id field {field!r}")
    value = payload[field]
    if value is None or value == "":  # there, but naming no record: said as it is, as a null text field is
        raise RecordError(Q.MISSING_FIELD, f"id field {field!r} is {'null' if value is None else 'empty'}")
    if isinstance(value, float) and value.is_integer():  # pandas writes an integer column with nulls as float64
        raise RecordError(Q.MISSING_FIELD, f"id field {field!r} is a float ({value!r}), not a string or integer: "
                          "cast the column to an integer or string type")
    if isinstance(value, bool) or not isinstance(value, str | int | uuid.UUID):
        raise RecordError(Q.MISSING_FIELD, f"id field {field!r} is {json_type(value)}, not a string or integer")
    native = str(value)
    if NUL in native:  # never stripped: an id changed behind the user's back could name another record
        raise RecordError(Q.NUL_CHARACTER, f"id field {field!r} holds a NUL character")
    return native


def _check_utf8(s: str, what: str) -> None:
    """A RecordError when `s` cannot be written as UTF-8: a lone surrogate, which only a JSON escape makes (one
    inside a JSON-string messages field of a Parquet source, decoded at rendering, escapes the readers' check)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordError(Q.INVALID_UTF8, f"a lone UTF-16 surrogate (\\u{ord(e.object[e.start]):04x}) in {what} "
                          "cannot be UTF-8") from None


def source_inputs(spec: SourceSpec, i: int, root: Path) -> list[Path | dict]:
    """The files (or the folder) a source reads; a ConfigError names the source when there are none.

    A source on object storage (a URL) gives, instead of Paths, one fingerprint per object (URL, size, ETag,
    mtime; `remote.fingerprint`), so the task's cache key changes when a remote object does.
    """
    if remote.is_url(spec.path):
        return _remote_inputs(spec, i)
    if spec.resolved_reader() == "folder":
        folder = root / spec.path
        if not folder.is_dir():
            # a file given with no reader, whose suffix is not JSONL or Parquet, resolves to `folder` too
            raise ConfigError(f"sources[{i}].path = {spec.path!r} ({spec.name}): " + (
                "a file, which the folder reader (its default for that suffix) does not read: give its folder, "
                "or a JSONL or Parquet file" if folder.is_file() else "no such folder"))
        _refuse_saved_dataset(spec, folder, f"sources[{i}]")
        return [folder]
    if spec.resolved_reader() == "hf_dataset":  # read as written, as the folder reader's path (readers.read_source):
        folder = root / spec.path  # expanded as a pattern, "ds [1]" matched nothing and "ds [[]1]" named no folder
        if not folder.is_dir():
            raise ConfigError(f"sources[{i}].path = {spec.path!r} ({spec.name}): " + (
                "a file: the hf_dataset reader reads a save_to_disk folder or a folder of Parquet shards"
                if folder.is_file() else "no such folder"))
        return [folder]
    files = expand(spec.path, root)
    missing = [f for f in files if not f.exists()]
    if not files or missing:
        where = f"sources[{i}].path = {spec.path!r} ({spec.name})"
        if missing and missing[0].is_symlink():  # a glob's match, or the path itself (a file not fetched)
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ConfigError(f"{where}: {missing[0]} is a link to a file that does not exist{more} (a git-annex "
                              "or DVC file not fetched?)")
        raise ConfigError(f"{where}: no such file{literal_hint(spec.path, root)}")
    if folders := [f for f in files if f.is_dir()]:
        raise ConfigError(f"sources[{i}].path = {spec.path!r} ({spec.name}): {folders[0]} is a folder, not a "
                          f"{spec.resolved_reader()} file (reader: folder or hf_dataset reads a folder)")
    if mixed := mixed_files([f.name for f in files]):
        raise ConfigError(f"sources[{i}].path = {spec.path!r} ({spec.name}): {mixed}")
    return files


def _finite(v: object) -> object:
    """`v` with every float that is not finite made None: a Parquet float column's NaN or inf was written into meta as
    a bare `NaN`/`Infinity`, which the schema's "JSON object" is not (a JavaScript or serde reader refuses it)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def literal_hint(path: str, root: Path) -> str:
    """Where a path holding `*`, `?` or `[` matched nothing but names a file or folder as written ("corpus [v2]/"),
    why it was not found and how to write it; else "". Such a path is a glob, and its `[v2]` a class of characters."""
    if not any(ch in path for ch in "*?[") or not (root / Path(path).expanduser()).exists():
        return ""
    return (f" matches it as a glob (`*`, `?` and `[` make a path one), though one is there as written: to name "
            f"it, write {globlib.escape(path)!r}")


def _named_reader(name: str) -> str | None:
    """The reader a file's name says (jsonl or parquet), or None when it says neither."""
    low = name.lower()
    return "jsonl" if low.endswith(JSONL_SUFFIXES) else "parquet" if low.endswith(".parquet") else None


def mixed_files(names: list[str]) -> str | None:
    """Why a glob's matches cannot be one source, or None: some are named JSON Lines and some Parquet. One reader
    reads a source's every file, so the other kind's would be read as what they are not (a Parquet file's rows as
    a few lines of `nul_character`), their records lost under a reason that says nothing of it."""
    first: dict[str, str] = {}
    for n in names:
        if (kind := _named_reader(n)) is not None:
            first.setdefault(kind, n)
    if len(first) < 2:
        return None
    return (f"it matches JSON Lines files ({first['jsonl']}) and Parquet files ({first['parquet']}), and one reader "
            "reads every file of a source: narrow the glob to one kind (*.jsonl, *.parquet), or make each kind a "
            "source of its own")


def _refuse_saved_dataset(spec: SourceSpec, folder: Path, where: str) -> None:
    """A ConfigError for a dataset folder with no reader set (a `save_to_disk` folder, or one holding nothing but
    Parquet files, or JSON Lines shards): read as files, its JSON metadata would be the records and its data
    quarantined as text that is not UTF-8, or each shard of many records would be one record. A folder with other
    files too (a repository with a Parquet fixture) is read as files, as asked. Plain `.json` files are read as
    files: a folder of them is as often configuration as records."""
    if spec.reader is not None:
        return
    if is_saved_dataset(folder) or (folder.is_dir() and _only_suffixes(folder, (".parquet",))):
        what = "a dataset saved with save_to_disk" if is_saved_dataset(folder) else "a folder of Parquet files"
        raise ConfigError(f"{where}.path = {spec.path!r} ({spec.name}): {what}; set {where}.reader: hf_dataset to "
                          "read their rows, or reader: folder to read each file as one text record")
    if folder.is_dir() and _only_suffixes(folder, JSON_LINES_SHARDS):
        raise ConfigError(f"{where}.path = {spec.path!r} ({spec.name}): a folder of JSON Lines files, which the folder "
                          f"reader would read as one record per file; name them with a glob, one record per line "
                          f"(path: {spec.path.rstrip('/')}/**/*.jsonl, say), or set {where}.reader: folder to read "
                          "each file as one record")


# JSON Lines suffixes that name shards of records, not one document (`.json` alone is as often a config file)
JSON_LINES_SHARDS = tuple(s for s in JSONL_SUFFIXES if s != ".json")


def _only_suffixes(folder: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the folder's visible files all end with one of `suffixes` (any case), and there is one; stops at
    the first other file."""
    files = tree_files(folder)
    return bool(files) and all(f.name.lower().endswith(suffixes) for _, f in files)


def untracked_by_dvc(inputs: dict[str, list[Path | dict]], root: Path) -> list[str]:
    """Warnings for the local source files that dvc.yaml's ingest stage does not list under `deps` (none when the
    project has no dvc.yaml or no ingest stage in it). `mira init` writes the sources' paths there, but an edit of
    a source's path in params.yaml is not written back, and then `dvc repro` would never see that file change."""
    deps = dvc_stage_deps(root, "ingest")
    if deps is None:
        return []  # no dvc.yaml, no ingest stage, or one DVC would not read either
    dvc_yaml = root / "dvc.yaml"
    out = []
    for name, files in inputs.items():
        loose = [f for f in files if isinstance(f, Path) and not listed(f, deps)]
        if loose:
            more = f" and {len(loose) - 1} more" if len(loose) > 1 else ""
            out.append(f"source {name!r} reads {loose[0]}{more}, which {dvc_yaml}'s ingest stage does not list under "
                       "deps: `dvc repro` will not re-run ingest when it changes. Add the path there.")
    return out


def _remote_inputs(spec: SourceSpec, i: int) -> list[dict]:
    """The fingerprints of the objects a URL source reads, checked before any work (credentials included).

    Credentials written into the URL (`https://user:pass@host`, `?token=...`) are kept out of the fingerprints
    (task parameters, which Prefect records) and the messages: the object is the same whatever the password."""
    try:
        return [f | {"url": redact_credentials(f["url"])} for f in _remote_fingerprints(spec, i)]
    except ConfigError as e:
        raise ConfigError(redact_credentials(str(e))) from None


def _remote_fingerprints(spec: SourceSpec, i: int) -> list[dict]:
    key = f"sources[{i}].path = {spec.path!r} ({spec.name})"
    try:
        if spec.resolved_reader() in ("folder", "hf_dataset"):  # a prefix: every object under it
            found = remote.tree_fingerprints(spec.path)
            if not found:
                raise ConfigError(f"{key}: no object under this prefix")
            return found
        found = remote.objects(spec.path)
        if not found:
            raise ConfigError(f"{key}: no object matches")
        if mixed := mixed_files([PurePosixPath(urlsplit(u).path).name for u, _ in found]):
            raise ConfigError(f"{key}: {mixed}")
        return [remote.fingerprint(u, meta) for u, meta in found]
    except ConfigError as e:
        raise ConfigError(str(e) if str(e).startswith(key) else f"{key}: {e}") from None
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: no such object or bucket ({e})") from None
    except Exception as e:  # no credentials, access denied, no endpoint: name the source, not a traceback
        raise ConfigError(f"{key}: cannot read it: {type(e).__name__}: {e} (credentials and the endpoint come from "
                          "the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL ...)") from None


def totals(reports: dict[str, dict]) -> dict:
    """Corpus-wide sums of the per-source counts."""
    keys = ("read", "kept", "quarantined", "truncated", "nul_stripped", "n_tokens", "n_chars", "shards")
    out = {k: sum(r[k] for r in reports.values()) for k in keys}
    reasons: dict[str, int] = {}
    for r in reports.values():
        for k, v in r["by_reason"].items():
            reasons[k] = reasons.get(k, 0) + v
    out["by_reason"] = dict(sorted(reasons.items()))
    return out


def empty_source_problem(spec: SourceSpec, report: dict, quarantine: str) -> str | None:
    """Why `spec` kept no record, naming the source and its path; None when it kept some.

    `quarantine` is where its quarantined records are, for the user to look.
    """
    if report["kept"]:
        return None
    if report["read"] == 0:
        why = "it holds no record (an empty file, or a folder with no file matching `glob`)"
    else:
        reasons = ", ".join(f"{k} {v}" for k, v in report["by_reason"].items())
        why = f"all {report['read']} records read were quarantined ({reasons}; see {quarantine})"
    by_suffix = spec.model_copy(update={"reader": None}).resolved_reader()
    if spec.reader is not None and by_suffix not in (spec.reader, "folder"):
        why += f"; the source sets `reader: {spec.reader}` on a path whose name says {by_suffix}: is that right?"
    return f"source {spec.name!r} (path {redact_credentials(spec.path)!r}) kept no record: {why}"


def ingest_source(spec: SourceSpec, p: IngestParams, root: Path, out: Path, out_quarantine: Path) -> dict:
    """Ingest `spec` into `out/part-*.parquet` (kept) and `out_quarantine/part-*.parquet`; return its counts.

    Both folders are replaced whole, and only when the source is complete.
    """
    reader = spec.resolved_reader()
    if reader == "folder" and not remote.is_url(spec.path):
        _refuse_saved_dataset(spec, root / spec.path, f"source {spec.name!r}")
    text_field = "text" if reader == "folder" else spec.text_field
    max_chars = spec.max_chars or p.max_chars
    counter = token_counter(p.tokenizer, root)
    reasons: Counter[str] = Counter()
    seen_ids: set[int] = set()
    seen_text: set[int] = set()
    repeats: Counter[int] = Counter()  # only used when dedup_exact is off
    read = truncated = nul_stripped = n_tokens = n_chars = 0

    with atomic_dir(out) as tmp_out, atomic_dir(out_quarantine) as tmp_q:
        kept = ShardWriter(tmp_out, CORPUS, p.shard_max_records, p.shard_max_bytes)
        rejected = ShardWriter(tmp_q, REJECTED, 10_000)

        def reject(loc: str, err: RecordError) -> None:
            reasons[err.reason] += 1
            rejected.add({"source": spec.name, "locator": loc, "reason": str(err.reason),
                          "detail": err.detail[:DETAIL_CHARS]})

        items = read_source(reader, spec.path, root, spec.glob, p.read_batch)
        for batch in _batches(items, p.read_batch):
            ready: list[tuple] = []  # (locator, text, its digest, meta as JSON, native id or None, NULs stripped, truncated)
            for item in batch:
                read += 1
                if item.error is not None:
                    reject(item.locator, item.error)
                    continue
                stripped = is_truncated = False
                try:
                    text, meta = render(spec.format, item.payload, text_field, spec.question_field,
                                        spec.answer_field, spec.messages_field, spec.context_field)
                    if NUL in text:  # breaks C-string consumers (teachers, tokenizers, terminals) downstream
                        nuls = text.count(NUL)
                        if p.nul == "quarantine":
                            raise RecordError(Q.NUL_CHARACTER, f"{nuls} NUL character(s) in the rendered text, "
                                              f"the first at character {text.index(NUL)}")
                        text = text.replace(NUL, "")
                        meta["mira_nul_stripped"] = nuls
                        stripped = True
                    if len(text.strip()) < p.min_chars:
                        raise RecordError(Q.EMPTY_TEXT, f"{len(text.strip())} characters after stripping, "
                                          f"under ingest.min_chars = {p.min_chars}")
                    native = item.native_id
                    if native is None and spec.id_field:
                        native = _native_id(item.payload, spec.id_field)
                        meta.pop(spec.id_field, None)
                    # Cut before the digests: two records equal in their first max_chars characters are kept
                    # as the same text, so they must be exact duplicates (and get one content id), not both kept.
                    if len(text) > max_chars:
                        if p.on_too_long == "reject":
                            raise RecordError(Q.TOO_LONG, f"{len(text)} characters > limit {max_chars}")
                        meta["mira_truncated_from_chars"] = len(text)
                        text = text[:max_chars]
                        is_truncated = True
                        if len(text.strip()) < p.min_chars:  # what is kept is the cut: whitespace up front
                            raise RecordError(Q.EMPTY_TEXT, f"{len(text.strip())} characters after stripping, "
                                              f"once cut to {max_chars}, under ingest.min_chars = {p.min_chars}")
                    # where the record was read; a record's own `locator` field is its data and stays as it is, so
                    # ours goes beside it (before, setdefault dropped ours without a word)
                    if meta.get("locator", item.locator) == item.locator:
                        meta["locator"] = item.locator
                    else:
                        meta["mira_locator"] = item.locator
                    meta_json = json.dumps(_finite(meta), ensure_ascii=False, default=str, allow_nan=False)
                    _check_utf8(text, "the rendered text")
                    _check_utf8(meta_json, "meta")
                except RecordError as err:
                    reject(item.locator, err)
                    continue
                except RecursionError:  # json.loads reads ~990 levels, Python's own walk of them stops sooner
                    reject(item.locator, RecordError(Q.INVALID_JSON, "nested too deep to read (hundreds of levels "
                                                     "of lists or objects)"))
                    continue
                ready.append((item.locator, text, _digest64(text), meta_json, native, stripped, is_truncated))
            # The tokens are counted before a record's id and text are taken: one that holds no token is not kept,
            # so it must not make a later record with its id (or its text) a duplicate of nothing. A text is
            # counted once per batch, and not at all where it would be dropped as a copy of a kept one.
            to_count: dict[int, str] = {}
            for _, text, key, *_rest in ready:
                if key not in to_count and not (p.dedup_exact and key in seen_text):
                    to_count[key] = text
            n_of = dict(zip(to_count, counter.count(list(to_count.values())), strict=True))
            for locator, text, text_key, meta_json, native, stripped, is_truncated in ready:
                try:
                    if text_key in seen_text:
                        if p.dedup_exact:
                            # With content ids the kept copy's id is this text's digest, so it can be named for
                            # free; a native id would have to be stored per record, and is not.
                            raise RecordError(Q.DUPLICATE_CONTENT, "same text as an earlier record of this source"
                                              + (f", {spec.name}/{text_digest(text)}" if native is None else ""))
                        repeats[text_key] += 1
                    nt = n_of[text_key]
                    if nt == 0:
                        # text that str.strip keeps but the tokenizer reads as nothing (zero-width spaces, control
                        # characters, a lone combining mark): kept, it cost 0 of any budget, so every selection
                        # kept it
                        raise RecordError(Q.EMPTY_TEXT, f"{len(text)} characters, none of them a token of the "
                                          "target tokenizer (ingest.tokenizer)")
                    if native is None:  # a content id; a kept repeat gets its occurrence number
                        native = text_digest(text) + (f"-{repeats[text_key]}" if repeats[text_key] else "")
                    record_id = f"{spec.name}/{native}"
                    id_key = _digest64(record_id)
                    if id_key in seen_ids:
                        raise RecordError(Q.DUPLICATE_ID, f"{record_id!r} was seen earlier in this source")
                except RecordError as err:
                    reject(locator, err)
                    continue
                seen_ids.add(id_key)
                seen_text.add(text_key)
                nul_stripped += stripped
                truncated += is_truncated
                kept.add(
                    {"record_id": record_id, "source": spec.name, "format": spec.format, "text": text,
                     "n_tokens": nt, "n_chars": len(text), "meta": meta_json},
                    nbytes=len(text.encode("utf-8")),
                )
                n_tokens += nt
                n_chars += len(text)
        shards = kept.close()
        rejected.close()
        report = {
            "read": read,
            "kept": kept.rows,
            "quarantined": rejected.rows,
            "by_reason": dict(sorted(reasons.items())),
            "truncated": truncated,
            "nul_stripped": nul_stripped,
            "empty": kept.rows == 0,
            "n_tokens": n_tokens,
            "n_chars": n_chars,
            "shards": len(shards),
            "format": spec.format,
        }
        if report["read"] != report["kept"] + report["quarantined"]:  # a bug, not bad input
            raise InvariantError(f"{spec.name}: counts do not balance: {report}")
        write_json(report, tmp_out / "_SUCCESS.json")
    return report
