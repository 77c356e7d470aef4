"""The cache policy of every stage task: a key that sees everything the task's result depends on,
and a hit that is served only while the outputs on disk are the ones the cached run wrote.

Prefect's default `TASK_SOURCE` hashes only the task's own lines, so an edit to `mira_core` would
be served a stale result. `StageCache` keys on:

- the task's name and its module's source (the helpers beside it too),
- a digest of the whole `mira_core` package source (code and prompt templates),
- the path and content digest of every `Path` argument that is an input (files and folders),
- every other argument by value (params sections as their JSON).

An output argument (`out`, `out_*`) enters the key only as its path, so a key alone cannot tell
whether the files there are still the ones its run wrote: with params A, then B, then A again, the
third run's key is A's, but the disk holds B's outputs. So when a run commits, a fingerprint of each
of its outputs is recorded next to the result (`<cache dir>/outputs/<key>.json`), and a cache hit is
served only if every output on disk still matches it:

- first a stat fingerprint (each file's relative name, size, mtime, ctime and inode, dot-files
  skipped as `tree_digest` skips them): a listing and a `stat` per file, no file read;
- if that differs, the content digest (`tree_digest`, which reads every byte): equal content
  (a copy, a `dvc checkout`, a `touch`) is still a hit, and the new stat fingerprint is recorded;
- otherwise (an output missing, a shard deleted, added or edited, another run's outputs in its
  place, or no fingerprint recorded at all) the cached record is dropped, so the task runs again
  and its fresh result and fingerprints replace the old ones.

A record whose result does not read back (Prefect writes it in place, so a kill or a full disk mid-write
truncates it) is dropped the same way, rather than served as a decoding error on every later run.

So a hit costs a listing and a stat per output file (about 20 us a file), whatever the files' size, and a read of
its result record; the content digest is taken once, when a run commits (`file_digest` memoises it by path, size,
mtime, ctime and inode, so a later stage in the same process that reads those files as inputs gets it for free),
and on a hit only when a stat differs.

`submit` also refreshes the cache entry up front when an output does not exist at all (the check
above would catch it too).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE, CachePolicy
from pydantic import BaseModel

import mira_core
from mira_core.config import CacheParams
from mira_core.io import library_versions, tree_digest, tree_files, write_json

CORE_DIR = Path(mira_core.__file__).parent
MISSING = "missing"


def core_digest() -> str:
    """Digest of the mira_core package: every .py file and prompt/template file in it (memoised by mtime)."""
    return tree_digest(CORE_DIR, suffixes=(".py", ".txt", ".html", ".json"))


def is_output(name: str) -> bool:
    """Arguments named `out` or `out_*` are the task's outputs."""
    return name == "out" or name.startswith("out_")


def _value(v: Any) -> Any:
    if isinstance(v, Path):
        # its name as well as its bytes: a file renamed in a glob source's folder keeps its digest, but ingest writes
        # the name into each record's locator (and a quarantined record's), which a hit would serve stale
        return {"path": str(v), "path_digest": tree_digest(v)}
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return repr(v)


def stat_fingerprint(path: Path) -> str:
    """Digest of an output's files' relative names, sizes, mtimes, ctimes and inodes; "missing" if it is not there.

    It reads no file: a listing and a stat per file. The files are those `tree_digest` hashes (dot-files and
    `__pycache__` skipped), so an equal stat fingerprint stands for an equal content digest. mira writes every
    output atomically (a new inode renamed into place), and a rename or write sets the ctime, which no `touch`
    can set back.
    """
    path = Path(path)
    if not path.exists():
        return MISSING
    files = [("", path)] if path.is_file() else [(rel.as_posix(), f) for rel, f in tree_files(path)]
    h = hashlib.blake2b(digest_size=16)
    for rel, f in files:
        st = os.stat(f)
        h.update(os.fsencode(rel) + f"\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
    return h.hexdigest()


def fingerprint(path: Path) -> dict[str, str]:
    """What is recorded of an output when its run commits: the stat fingerprint and the content digest."""
    return {"stat": stat_fingerprint(path), "content": tree_digest(path)}


def _outputs(inputs: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(inputs.items()) if is_output(k) and v is not None}


@dataclass
class StageCache(CachePolicy):
    """Cache key over inputs' content, params, the task module's source and the mira_core source; a hit only while the
    outputs on disk match the fingerprints recorded in `outputs_dir` when the cached run committed."""

    outputs_dir: Path | None = None

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
                    ) -> str | None:
        fn = task_ctx.task.fn
        parts = {
            "task": f"{fn.__module__}.{fn.__qualname__}",
            # the task's whole module, not its own lines only: a helper beside it (ablation_params beside
            # select_ablation) changes what the task computes
            "task_source": tree_digest(Path(inspect.getsourcefile(fn))),
            "mira_core": core_digest(),
            "libraries": library_versions(),  # an upgraded torch or polars must not serve the old one's results
            "inputs": {k: (str(v) if is_output(k) else _value(v)) for k, v in sorted(inputs.items())},
        }
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        key = hashlib.blake2b(blob, digest_size=16).hexdigest()
        if self.outputs_dir is None or not task_ctx.result_store.exists(key):
            return key  # nothing cached under this key: the task runs anyway
        if self.outputs_valid(key, _outputs(inputs)) and _readable(task_ctx.result_store, key):
            return key
        # The record under this key was written by a run whose outputs are no longer on disk, or cannot be read: drop
        # it, so the transaction finds nothing, the task runs, and its commit writes a fresh record and fingerprints.
        if isinstance(self.key_storage, str | Path):
            Path(self.key_storage, key).unlink(missing_ok=True)
        if task_ctx.result_store.exists(key):
            return None  # the record could not be dropped: run uncached rather than serve it
        return key

    def outputs_valid(self, key: str, outputs: dict[str, str]) -> bool:
        """Whether each output on disk is the one recorded for `key` (the stat fingerprint refreshed where only it
        changed)."""
        try:
            recorded = json.loads((self.outputs_dir / f"{key}.json").read_text())
        except (OSError, ValueError):
            return False  # no fingerprints: a cache entry written before they were recorded
        if not isinstance(recorded, dict) or set(recorded) != set(outputs) \
                or not all(isinstance(r, dict) for r in recorded.values()):
            return False
        refreshed = False
        for name, path in outputs.items():
            rec = recorded[name]
            stat = stat_fingerprint(Path(path))
            if stat == rec.get("stat"):
                continue
            if stat == MISSING or tree_digest(Path(path)) != rec.get("content"):
                return False
            rec["stat"] = stat  # same bytes, new files (a copy, a checkout): remember the new stat fingerprint
            refreshed = True
        if refreshed:
            write_json(recorded, self.outputs_dir / f"{key}.json")
        return True


def _readable(store, key: str) -> bool:
    """Whether the result record under `key` reads back. Prefect writes a result in place (open, write), so a kill or a
    full disk mid-write leaves it truncated beside a whole metadata file: served, every later run of the task failed
    on Prefect's decoding error until the cache folder was deleted. This reads the record on every hit (a small
    file: a task's returned dict); Prefect's store may serve the transaction's own read from its memory cache."""
    try:
        store.read(key)
    except Exception:  # whatever a damaged record raises (base64, pickle, JSON, a missing file): it is no hit
        return False
    return True


def record_outputs(outputs_dir: Path, txn) -> None:
    """On-commit hook: record the fingerprint of each output the task run just wrote, under its cache key."""
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    if not txn.key or ctx is None:
        return  # no key or no parameters to read: nothing recorded, so the next run re-runs rather than trusts
    outputs = _outputs(ctx.parameters or {})
    write_json({name: fingerprint(Path(path)) for name, path in outputs.items()}, Path(outputs_dir) / f"{txn.key}.json")


def cached(task, cache: CacheParams, root: Path):
    """The task with mira's cache policy and result storage under `cache.dir`, or with caching off."""
    if not cache.enabled:
        return task.with_options(cache_policy=NO_CACHE, persist_result=False)
    # ~ expanded, as embed.cache_dir and the other path knobs are: `dir: ~/.cache/...` made a folder named '~' here
    store = (Path(root) / Path(cache.dir).expanduser()).resolve()
    out = task.with_options(
        cache_policy=StageCache(outputs_dir=store / "outputs").configure(key_storage=store / "keys"),
        result_storage=store / "results",
        persist_result=True,
    )
    hook = functools.partial(record_outputs, store / "outputs")
    hook.log_on_run = False  # Prefect would log every commit hook at INFO
    out.on_commit(hook)
    return out


def submit(task, *args, **kwargs):
    """`task.submit(...)`, but re-run (and re-cache) when one of its `out*` paths is missing."""
    missing = [k for k, v in kwargs.items() if is_output(k) and not Path(v).exists()]
    if missing and task.cache_policy is not NO_CACHE:
        task = task.with_options(refresh_cache=True)
    return task.submit(*args, **kwargs)
