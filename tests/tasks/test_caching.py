"""Prefect task caching: a second run is served from cache; an edit to mira_core or to the params is not."""

from __future__ import annotations

import json
import shutil

import pytest

import tasks.caching as caching
from flows.ingest import ingest_flow
from mira_core.config import CacheParams, IngestParams, RunnerParams, SourceSpec
from tests.conftest import write_jsonl


def _states(root):
    return json.loads((root / ".mira" / "runs" / "ingest.json").read_text())["tasks"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with two sources and a private copy of mira_core whose digest keys the cache."""
    core = tmp_path / "core_copy"
    shutil.copytree(caching.CORE_DIR, core, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(caching, "CORE_DIR", core)
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"alpha {i}"} for i in range(5)])
    write_jsonl(tmp_path / "b.jsonl", [{"text": f"beta {i}"} for i in range(5)])
    sources = (SourceSpec(name="a", path="a.jsonl", format="text"), SourceSpec(name="b", path="b.jsonl", format="text"))
    return tmp_path, core, sources


def _run(root, sources, p=None):
    return ingest_flow(sources, p or IngestParams(), RunnerParams(), CacheParams(dir=".cache"), str(root))


def test_cache_hits_and_every_kind_of_invalidation(project, prefect_harness):
    root, core, sources = project
    first = _run(root, sources)
    assert _states(root) == {"Completed": 2}
    assert _run(root, sources) == first
    assert _states(root) == {"Cached": 2}

    # an edit inside a mira_core function invalidates every task of the stage
    render = core / "ingest" / "render.py"
    text = render.read_text()
    anchor = '    """The canonical QA rendering."""\n'
    assert anchor in text
    render.write_text(text.replace(anchor, anchor + "    question = question  # edited\n"))
    _run(root, sources)
    assert _states(root) == {"Completed": 2}
    _run(root, sources)
    assert _states(root) == {"Cached": 2}

    # the stage's params section is part of the key
    _run(root, sources, IngestParams(max_chars=50))
    assert _states(root) == {"Completed": 2}

    # an input file's content is part of the key: only that source re-runs
    write_jsonl(root / "b.jsonl", [{"text": f"beta {i}"} for i in range(6)])
    metrics = _run(root, sources, IngestParams(max_chars=50))
    assert _states(root) == {"Cached": 1, "Completed": 1}
    assert metrics["sources"]["b"]["kept"] == 6

    # a deleted output is rebuilt, not trusted
    shutil.rmtree(root / "data" / "corpus" / "a")
    _run(root, sources, IngestParams(max_chars=50))
    assert _states(root) == {"Cached": 1, "Completed": 1}
    assert (root / "data" / "corpus" / "a" / "part-00000.parquet").exists()


def test_cache_can_be_switched_off(project, prefect_harness):
    root, _, sources = project
    for _ in range(2):
        ingest_flow(sources, IngestParams(), RunnerParams(), CacheParams(enabled=False), str(root))
        assert _states(root) == {"Completed": 2}
