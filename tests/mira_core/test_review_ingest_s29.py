"""Review of ingest and `mira init` (session 29): a regression test for each bug found, each failing without its fix.

Tested here: a glob matching both JSON Lines and Parquet files is refused by ingest (`source_inputs`) and by
`mira init` (`guess_format`), naming one file of each kind; `mira init` reads a repository holding a Parquet
test fixture among its code as a folder of files, while a Hub clone (a README beside the shards) stays
`hf_dataset`; a path that names a file as written but is a glob matching nothing ("corpus [v2]/a.jsonl") says
so and how to write it, in ingest and in `mira init`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mira_core.config import SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import source_inputs
from mira_core.init_project import guess_format
from tests.conftest import write_jsonl

PROSE = [{"text": f"A plain sentence about topic number {i}, written as prose."} for i in range(3)]


def test_a_glob_matching_jsonl_and_parquet_files_is_refused_naming_both(tmp_path):
    # The jsonl reader read the Parquet file's bytes as lines: its 50 rows were lost as two `nul_character`
    # records ("a file padded with zeros when a writer crashed"), and mira init guessed from the first file alone.
    write_jsonl(tmp_path / "data" / "a.jsonl", PROSE)
    pq.write_table(pa.table({"text": [f"parquet row {i}" for i in range(50)]}), tmp_path / "data" / "b.parquet")
    spec = SourceSpec(name="m", path="data/*", reader="jsonl", format="text")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path = 'data/\*' \(m\): it matches JSON Lines files "
                                          r"\(a\.jsonl\) and Parquet files \(b\.parquet\)"):
        source_inputs(spec, 0, tmp_path)
    with pytest.raises(ConfigError, match=r"data/\*: it matches JSON Lines files \(a\.jsonl\) and Parquet files"):
        guess_format(str(tmp_path / "data" / "*"))
    # one kind under the glob is read as before
    assert source_inputs(spec.model_copy(update={"path": "data/*.jsonl"}), 0, tmp_path) == [tmp_path / "data" / "a.jsonl"]


def test_init_reads_a_repository_with_a_parquet_fixture_as_a_folder_of_files(tmp_path):
    # Any *.parquet under a folder made it a Hugging Face dataset: the fixture's rows became the source and the
    # code was never read, even with :code given (no way to name the folder reader in mira init).
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    for i in range(4):
        (repo / "src" / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    (repo / "tests").mkdir()
    pq.write_table(pa.table({"text": ["fixture row one", "fixture row two"]}), repo / "tests" / "data.parquet")
    g = guess_format(repo)
    assert (g.reader, g.format) == ("folder", "code"), g
    assert guess_format(repo, "code").reader == "folder"
    # a Hub clone: a README beside its shards is still a dataset
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    (hub / "README.md").write_text("# dataset card\n")
    pq.write_table(pa.Table.from_pylist(PROSE), hub / "data" / "train-00000-of-00001.parquet")
    g = guess_format(hub)
    assert (g.reader, g.format) == ("hf_dataset", "text"), g


def test_a_path_whose_folder_name_holds_a_bracket_says_how_to_name_it(tmp_path, monkeypatch):
    # "corpus [v2]/a.jsonl" is a glob ([v2] a class of characters) matching nothing: "no such file" was said of a
    # file that is there, with no word of why or how to write it.
    write_jsonl(tmp_path / "corpus [v2]" / "a.jsonl", PROSE)
    spec = SourceSpec(name="s", path="corpus [v2]/a.jsonl", format="text")
    with pytest.raises(ConfigError, match=r"no such file matches it as a glob .* write 'corpus \[\[\]v2\]/a\.jsonl'"):
        source_inputs(spec, 0, tmp_path)
    escaped = spec.model_copy(update={"path": "corpus [[]v2]/a.jsonl"})
    assert source_inputs(escaped, 0, tmp_path) == [tmp_path / "corpus [v2]" / "a.jsonl"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^corpus \[v2\]/a\.jsonl: no file matches it as a glob .* write "
                                          r"'corpus \[\[\]v2\]/a\.jsonl'"):
        guess_format("corpus [v2]/a.jsonl")
    assert guess_format("corpus [[]v2]/a.jsonl").reader == "jsonl"


def test_the_escaped_path_that_message_advises_is_tracked_by_dvc_as_the_file_itself():
    """source_dep took any `[` for a wildcard: the escaped 'corpus [[]v2]/a.jsonl' gave the dep '.', the whole
    project, which check_sources_apart refuses inside a project (it holds the stages' outputs)."""
    from mira_core.init_project import source_dep

    assert source_dep("corpus [[]v2]/a.jsonl") == "corpus [v2]/a.jsonl"
    assert source_dep("corpus [[]v2]/*.jsonl") == "corpus [v2]"
    assert source_dep("a/[*]b/*.jsonl") == "a/*b"  # an escaped star is a name's star
    assert source_dep("corpus [v2]/a.jsonl") == "."  # a class of two characters is still a wildcard


def test_meta_is_strict_json_when_a_parquet_float_column_holds_nan_or_inf(tmp_path):
    """json.dumps wrote a NaN or inf of a Parquet column into meta as a bare NaN / Infinity: not the JSON object the
    schema promises, and refused by strict readers. They are null now; finite floats are kept as they are."""
    import json

    import polars as pl

    from mira_core.config import IngestParams
    from mira_core.ingest.source import ingest_source

    rows = {"text": [f"a plain record of prose, number {i}" for i in range(4)],
            "score": [0.5, float("nan"), float("inf"), -float("inf")]}
    pq.write_table(pa.table(rows), tmp_path / "d.parquet")
    spec = SourceSpec(name="s", path="d.parquet", format="text")
    ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus" / "s", tmp_path / "q" / "s")
    metas = pl.read_parquet(sorted((tmp_path / "corpus" / "s").glob("part-*.parquet")), glob=False)["meta"]

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    scores = [json.loads(m, parse_constant=refuse)["score"] for m in metas]
    assert scores == [0.5, None, None, None]
