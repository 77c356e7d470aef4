"""Prefect task caching: a second run is served from cache; an edit to mira_core or to the params is not, nor a hit
whose outputs on disk are no longer the ones its run wrote (another run's, or edited by hand)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import polars as pl
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


# A cache hit is served only while the outputs on disk are the ones its run wrote.

def _long_sources(root):
    """Two sources of 6 records each, longer than 50 characters (so max_chars=50 truncates every one)."""
    write_jsonl(root / "a.jsonl", [{"text": f"alpha {i} " + "x" * 80} for i in range(6)])
    write_jsonl(root / "b.jsonl", [{"text": f"beta {i} " + "y" * 80} for i in range(6)])
    return (SourceSpec(name="a", path="a.jsonl", format="text"), SourceSpec(name="b", path="b.jsonl", format="text"))


def _corpus(root, name):
    """Every shard of a source's corpus: {file name: bytes}."""
    return {f.name: f.read_bytes() for f in sorted((root / "data" / "corpus" / name).glob("part-*.parquet"))}


SHARDED = IngestParams(shard_max_records=2)  # 3 shards per source


def test_params_a_then_b_then_a_rebuilds_a_outputs(project, prefect_harness):
    root, _, _ = project
    sources = _long_sources(root)
    first = _run(root, sources, SHARDED)
    assert _states(root) == {"Completed": 2}
    corpus_a = _corpus(root, "a")
    assert first["total"]["truncated"] == 0

    short = _run(root, sources, SHARDED.model_copy(update={"max_chars": 50}))
    assert _states(root) == {"Completed": 2}
    assert short["total"]["truncated"] == 12 and _corpus(root, "a") != corpus_a

    # A's key is cached, but the disk holds B's outputs: the task runs again, and metrics and disk both say A
    again = _run(root, sources, SHARDED)
    assert _states(root) == {"Completed": 2}
    assert again == first and again["total"]["truncated"] == 0
    assert _corpus(root, "a") == corpus_a
    assert pl.read_parquet(root / "data" / "corpus" / "a" / "part-*.parquet")["n_chars"].min() > 50

    # and now that A's outputs are back, A is a hit again
    assert _run(root, sources, SHARDED) == first
    assert _states(root) == {"Cached": 2}


def test_a_shard_deleted_edited_or_added_by_hand_reruns_its_task(project, prefect_harness):
    root, _, _ = project
    sources = _long_sources(root)
    _run(root, sources, SHARDED)
    good_a, good_b = _corpus(root, "a"), _corpus(root, "b")
    assert len(good_a) == 3

    (root / "data" / "corpus" / "a" / "part-00001.parquet").unlink()  # the folder is still there
    _run(root, sources, SHARDED)
    assert _states(root) == {"Cached": 1, "Completed": 1}
    assert _corpus(root, "a") == good_a and _corpus(root, "b") == good_b

    shard = root / "data" / "corpus" / "b" / "part-00000.parquet"
    shard.write_bytes(_corpus(root, "b")["part-00002.parquet"])  # another valid shard's bytes in its place
    _run(root, sources, SHARDED)
    assert _states(root) == {"Cached": 1, "Completed": 1}
    assert _corpus(root, "b") == good_b

    (root / "data" / "corpus" / "a" / "part-00009.parquet").write_bytes(good_a["part-00000.parquet"])  # a stray shard
    _run(root, sources, SHARDED)
    assert _states(root) == {"Cached": 1, "Completed": 1}
    assert _corpus(root, "a") == good_a

    (root / "data" / "corpus" / "a" / ".notes").write_text("a dot-file is not part of an output")
    _run(root, sources, SHARDED)
    assert _states(root) == {"Cached": 2}


def test_an_unchanged_rerun_is_a_hit_that_reads_no_output(project, prefect_harness, monkeypatch):
    root, _, _ = project
    sources = _long_sources(root)
    first = _run(root, sources, SHARDED)
    digested = []
    real = caching.tree_digest
    monkeypatch.setattr(caching, "tree_digest", lambda p, *a, **k: digested.append(Path(p)) or real(p, *a, **k))
    assert _run(root, sources, SHARDED) == first
    assert _states(root) == {"Cached": 2}
    data = root / "data"
    assert not [p for p in digested if p.is_relative_to(data)]  # the stat fingerprints matched: no output was read


def test_same_bytes_in_new_files_is_still_a_hit(project, prefect_harness):
    root, _, _ = project
    sources = _long_sources(root)
    first = _run(root, sources, SHARDED)
    corpus = root / "data" / "corpus" / "a"
    good = _corpus(root, "a")
    copy = root / "corpus-copy"
    shutil.copytree(corpus, copy)  # new inodes and ctimes (as a `dvc checkout` or a restore from a backup)
    shutil.rmtree(corpus)
    copy.rename(corpus)
    assert _run(root, sources, SHARDED) == first
    assert _states(root) == {"Cached": 2}
    assert _corpus(root, "a") == good
    # the new stat fingerprint was recorded, so the next hit reads no byte either
    recorded = [json.loads(f.read_text()) for f in (root / ".cache" / "outputs").glob("*.json")]
    assert caching.stat_fingerprint(corpus) in [r["out"]["stat"] for r in recorded]


def test_a_cache_entry_without_output_fingerprints_is_not_trusted(project, prefect_harness):
    root, _, sources = project
    _run(root, sources)
    shutil.rmtree(root / ".cache" / "outputs")  # as a cache written before fingerprints were recorded
    _run(root, sources)
    assert _states(root) == {"Completed": 2}
    _run(root, sources)
    assert _states(root) == {"Cached": 2}


def test_stat_fingerprint_sees_names_sizes_and_new_files_but_not_dot_files(tmp_path):
    out = tmp_path / "out"
    assert caching.stat_fingerprint(out) == caching.MISSING
    out.mkdir()
    (out / "part-0.bin").write_bytes(b"x")
    fp = caching.stat_fingerprint(out)
    (out / ".hidden").write_text("skipped, as tree_digest skips it")
    (out / "__pycache__").mkdir()
    (out / "__pycache__" / "m.pyc").write_bytes(b"")
    assert caching.stat_fingerprint(out) == fp
    (out / "part-1.bin").write_bytes(b"y")
    assert caching.stat_fingerprint(out) != fp
    f = tmp_path / "file.bin"
    f.write_bytes(b"abc")
    fp, st = caching.stat_fingerprint(f), os.stat(f)
    time.sleep(0.05)  # past the kernel's timestamp tick
    f.write_bytes(b"abd")  # edited in place to the same size, its mtime then set back (as `touch -r` would)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_mtime_ns == st.st_mtime_ns
    assert caching.stat_fingerprint(f) != fp  # the ctime, which no one can set back, tells


def test_a_helper_beside_the_task_keys_its_cache(tmp_path):
    # ablation_params beside select_ablation says what an ablation means: an edit to it must not serve old manifests
    import importlib.util
    import types

    def key_of(helper_body: str) -> str:
        module = tmp_path / "tasks_mod.py"  # one module, edited
        module.write_text(f"def helper():\n    return {helper_body}\n\n\ndef the_task(x):\n    return helper() + x\n")
        spec = importlib.util.spec_from_file_location(module.stem, module)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ctx = types.SimpleNamespace(task=types.SimpleNamespace(fn=mod.the_task))
        return caching.StageCache().compute_key(ctx, {"x": 1}, {})

    assert key_of("0.0") != key_of("0.25")  # the task's own lines are the same in both


def test_an_upgraded_library_is_a_new_cache_key(tmp_path, monkeypatch):
    # every task runs torch, polars, numpy ...: an upgrade must not serve results the old versions computed
    import types

    from mira_core.io import library_versions

    def the_task(x):
        return x

    ctx = types.SimpleNamespace(task=types.SimpleNamespace(fn=the_task))
    before = caching.StageCache().compute_key(ctx, {"x": 1}, {})
    assert caching.StageCache().compute_key(ctx, {"x": 1}, {}) == before
    monkeypatch.setattr(caching, "library_versions", lambda: {**library_versions(), "polars": "9.9.9"})
    assert caching.StageCache().compute_key(ctx, {"x": 1}, {}) != before
