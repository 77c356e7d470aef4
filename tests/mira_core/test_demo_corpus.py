"""Tests of the embedded demo corpus: eight real sources, several file formats, deterministic, ingestible."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from mira_core.config import DemoCorpusParams, IngestParams, parse_params
from mira_core.demo_corpus import build_demo_corpus
from mira_core.ingest.source import ingest_source


def _digest_tree(root):
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def test_demo_corpus_is_real_varied_and_deterministic(tmp_path):
    p = DemoCorpusParams(max_records_per_source=12)
    counts = build_demo_corpus(tmp_path / "a", p)
    assert set(counts) == {"stdlib_code", "site_packages_code", "test_files", "docs", "c_headers", "shell_scripts",
                           "docstring_qa", "doctest_traces"}
    assert all(0 < n <= 12 for n in counts.values()), counts
    build_demo_corpus(tmp_path / "b", p)
    assert _digest_tree(tmp_path / "a") == _digest_tree(tmp_path / "b")

    kinds = {f.name for f in (tmp_path / "a").iterdir()}
    assert {"stdlib_code.jsonl.zst", "site_packages_code.parquet", "test_files.jsonl.gz", "docs.jsonl",
            "c_headers", "shell_scripts", "docstring_qa.parquet", "doctest_traces.jsonl"} == kinds
    qa = pl.read_parquet(tmp_path / "a" / "docstring_qa.parquet")
    assert all(q.startswith(("Write the function `", "Write the method `")) for q in qa["question"])
    assert all(a.lstrip().startswith(("def ", "async def ")) for a in qa["answer"])


def test_demo_corpus_ingests_with_the_repo_source_list(tmp_path):
    import yaml

    from tests.conftest import REPO

    counts = build_demo_corpus(tmp_path / "data" / "raw", DemoCorpusParams(max_records_per_source=6))
    params = parse_params(yaml.safe_load((REPO / "params.yaml").read_text()))
    for spec in params.sources:
        r = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "c" / spec.name, tmp_path / "q" / spec.name)
        assert r["read"] == r["kept"] + r["quarantined"] and r["kept"] > 0, (spec.name, r)
        assert r["read"] == counts[spec.name], (spec.name, r, counts)  # every record the demo wrote is read
        shard = pl.read_parquet(tmp_path / "c" / spec.name / "part-00000.parquet")
        if spec.format == "agent":
            assert "[tool_call id=call_0] python" in shard["text"][0]


def test_folder_sources_hold_no_file_the_folder_reader_skips():
    """fastapi ships shell blocks under .agents/skills/: the folder reader skips hidden folders as tooling, so
    the demo must not count them as records (the demo's count and ingest's read would differ)."""
    from mira_core.demo_corpus import _visible

    files = [(".agents/skills/a.sh", "x"), ("pkg/.hidden.sh", "x"), ("pkg/__pycache__/b.sh", "x"), ("pkg/ok.sh", "y")]
    assert _visible(files) == [("pkg/ok.sh", "y")]


def test_a_form_feed_between_functions_does_not_shift_the_qa_answers(tmp_path):
    # str.splitlines also breaks at a form feed, which ast does not count: each later answer was sliced one line
    # early and lost its last line(s), and still parsed
    from mira_core.demo_corpus import FileRef, qa_records

    funcs = [f'def f{i}(x):\n    """Double x, {i}."""\n    y = x + {i}\n    return y * 2\n' for i in range(3)]
    mod = tmp_path / "ff.py"
    mod.write_text("\n\x0c\n".join(funcs), encoding="utf-8")
    answers = {r["id"]: r["answer"] for r in qa_records([FileRef(mod, "stdlib/ff.py")],
                                                       DemoCorpusParams(min_file_bytes=0))}
    assert answers == {f"stdlib/ff.py::f{i}": funcs[i] for i in range(3)}


def test_the_demo_stage_refuses_to_empty_a_data_raw_holding_files_it_does_not_write(tmp_path):
    """A project's own params.yaml that leaves demo_corpus out, with its sources in data/raw: `mira run` came to the
    demo stage (enabled by default then) and emptied data/raw, the user's own data. Now the section is off unless
    named, and the stage refuses a data/raw with files of another origin, and keeps them."""
    from flows.demo_corpus import demo_corpus_flow
    from mira_core.demo_corpus import DEMO_FILES, foreign_files
    from mira_core.errors import ConfigError

    assert parse_params({"sources": [{"name": "a", "path": "data/raw/a.jsonl", "format": "text"}]}
                        ).demo_corpus.enabled is False
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "mine.jsonl").write_text('{"text": "my own record"}\n')
    (raw / DEMO_FILES[0]).write_bytes(b"")
    (raw / ".tmp-half").write_bytes(b"")
    assert foreign_files(raw) == ["mine.jsonl"]
    with pytest.raises(ConfigError, match=r"mine\.jsonl.*demo_corpus\.enabled: false"):
        demo_corpus_flow.fn(DemoCorpusParams(enabled=True), str(tmp_path))
    assert (raw / "mine.jsonl").read_text() == '{"text": "my own record"}\n'
