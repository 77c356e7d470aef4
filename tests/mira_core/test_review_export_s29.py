"""Review of near-duplicate removal, decontamination and the Megatron export (mira_core/dedup.py,
decontaminate.py, megatron.py): edge cases that failed before their fix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from mira_core.decontaminate import build_index, run_decontaminate
from mira_core.dedup import run_dedup
from mira_core.errors import ConfigError
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams, DedupParams
from tests.mira_core.test_dedup import write_corpus

ITEM = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"  # 15 words: 3 13-grams

# --- corpus shards read as names -------------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_dedup_and_decontaminate_read_a_corpus_under_a_folder_whose_name_holds_brackets(tmp_path: Path,
                                                                                          enabled: bool) -> None:
    """polars reads a path as a glob pattern by default: in a project under "runs [2]" (a class matching "runs 2")
    dedup's and decontaminate's reads of the corpus shards found no file and both stages failed with polars'
    "expanded paths were empty", enabled or not (the disabled path still counts the records)."""
    root = tmp_path / "runs [2]"
    lay = write_corpus(root, {"web": [("a", ITEM), ("b", ITEM + " pi")], "code": [("c", "other words here")]})
    dedup = run_dedup(lay.corpus, DedupParams(enabled=enabled), root / "dedup")
    assert dedup["total"]["records_in"] == 3 and dedup["total"]["records_dropped"] == (1 if enabled else 0)
    (root / "bench.jsonl").write_text(json.dumps({"q": ITEM}) + "\n")
    p = DecontaminateParams(enabled=enabled, benchmarks=[BenchmarkSpec(name="b", path="bench.jsonl", fields=["q"])])
    decon = run_decontaminate(lay.corpus, p, root, root / "decontaminate")
    assert decon["total"]["records_in"] == 3 and decon["total"]["records_dropped"] == (2 if enabled else 0)


# --- benchmark files ---------------------------------------------------------------------------------------------


def test_a_benchmark_named_gz_in_capitals_is_read_as_gzip(tmp_path: Path) -> None:
    """Ingest reads a source named *.jsonl.GZ as gzip (the suffix in any case); a benchmark so named was read as
    plain text and refused as "not valid UTF-8 (byte 1)" at line 1."""
    path = tmp_path / "bench.jsonl.GZ"
    path.write_bytes(gzip.compress((json.dumps({"q": ITEM}) + "\n").encode()))
    index = build_index(DecontaminateParams(benchmarks=[BenchmarkSpec(name="b", path=str(path), fields=["q"])]))
    assert index.summary.row(0, named=True) | {"records_dropped": 0} == {
        "benchmark": "b", "items": 1, "items_unmatchable": 0, "ngrams": 3, "records_dropped": 0}


def test_an_empty_benchmark_file_or_a_folder_is_named_as_what_it_is(tmp_path: Path) -> None:
    """A benchmark file with no item (empty, or blank lines only) was refused as having "no item with any of the
    fields ['q']", which sends the user to check field names; a path naming a folder was said not to exist."""
    (tmp_path / "empty.jsonl").write_text("\n \n")
    (tmp_path / "folder.jsonl").mkdir()

    def index(path: str) -> None:
        build_index(DecontaminateParams(benchmarks=[BenchmarkSpec(name="b", path=path, fields=["q"])]), root=tmp_path)

    with pytest.raises(ConfigError, match=r"benchmark 'b': empty\.jsonl holds no item"):
        index("empty.jsonl")
    with pytest.raises(ConfigError, match=r"folder\.jsonl is a folder, not a JSONL file"):
        index("folder.jsonl")


# --- the Megatron export -----------------------------------------------------------------------------------------


def test_an_eod_id_outside_the_vocabulary_is_refused_not_written(tmp_path: Path) -> None:
    """An explicit eod_id was written as given: 40000 with MiniLM's 30,522 entries fits the uint16 shards, so every
    document ended in an id the trainer's embedding table has no row for; -1 was refused as "token id 7592 does
    not fit", naming an ordinary id of the text rather than the one at fault."""
    from mira_core.megatron import write_indexed_dataset

    for bad in (40000, -1):
        with pytest.raises(ConfigError, match=rf"eod_id {bad} is no token of the tokenizer minilm \(30522 entries\)"):
            write_indexed_dataset(["hello world"], "minilm", tmp_path / "d", eod_id=bad)
        assert list(tmp_path.iterdir()) == []
    assert write_indexed_dataset(["hello world"], "minilm", tmp_path / "d", eod_id=102)["eod_id"] == 102
