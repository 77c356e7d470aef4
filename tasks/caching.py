"""The cache policy of every stage task: a key that sees everything the task's result depends on.

Prefect's default `TASK_SOURCE` hashes only the task's own lines, so an edit to `mira_core` would
be served a stale result. `StageCache` keys on:

- the task's name and its own source,
- a digest of the whole `mira_core` package source (code and prompt templates),
- the content digest of every `Path` argument that is an input (files and folders),
- every other argument by value (params sections as their JSON),

and `submit` refreshes the cache entry instead of reading it when an output argument (`out`,
`out_*`) does not exist on disk, so a deleted output is rebuilt rather than trusted.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE, CachePolicy
from pydantic import BaseModel

import mira_core
from mira_core.config import CacheParams
from mira_core.io import tree_digest

CORE_DIR = Path(mira_core.__file__).parent


def core_digest() -> str:
    """Digest of the mira_core package: every .py file and prompt/template file in it (memoised by mtime)."""
    return tree_digest(CORE_DIR, suffixes=(".py", ".txt", ".html", ".json"))


def is_output(name: str) -> bool:
    """Arguments named `out` or `out_*` are the task's outputs."""
    return name == "out" or name.startswith("out_")


def _value(v: Any) -> Any:
    if isinstance(v, Path):
        return {"path_digest": tree_digest(v)}
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return repr(v)


@dataclass
class StageCache(CachePolicy):
    """Cache key over inputs' content, params, the task's source and the mira_core source."""

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
                    ) -> str | None:
        fn = task_ctx.task.fn
        parts = {
            "task": f"{fn.__module__}.{fn.__qualname__}",
            "task_source": hashlib.blake2b(inspect.getsource(fn).encode(), digest_size=16).hexdigest(),
            "mira_core": core_digest(),
            "inputs": {k: (str(v) if is_output(k) else _value(v)) for k, v in sorted(inputs.items())},
        }
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.blake2b(blob, digest_size=16).hexdigest()


def cached(task, cache: CacheParams, root: Path):
    """The task with mira's cache policy and result storage under `cache.dir`, or with caching off."""
    if not cache.enabled:
        return task.with_options(cache_policy=NO_CACHE, persist_result=False)
    store = (Path(root) / cache.dir).resolve()
    return task.with_options(
        cache_policy=StageCache().configure(key_storage=store / "keys"),
        result_storage=store / "results",
        persist_result=True,
    )


def submit(task, *args, **kwargs):
    """`task.submit(...)`, but re-run (and re-cache) when one of its `out*` paths is missing."""
    missing = [k for k, v in kwargs.items() if is_output(k) and not Path(v).exists()]
    if missing and task.cache_policy is not NO_CACHE:
        task = task.with_options(refresh_cache=True)
    return task.submit(*args, **kwargs)
