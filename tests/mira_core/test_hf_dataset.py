"""The hf_dataset reader: save_to_disk folders (Dataset, DatasetDict, several shards) and folders of Parquet shards."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.hf_dataset import is_saved_dataset, read_hf_dataset
from mira_core.ingest.readers import read_source
from mira_core.ingest.source import ingest_source

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()

ROWS = [{"question": f"What is {i} + 1?", "answer": str(i + 1), "id": i} for i in range(25)]


def _saved(path, rows=ROWS, num_shards=1):
    datasets.Dataset.from_list(rows).save_to_disk(str(path), num_shards=num_shards)
    return path


def test_a_saved_dataset_reads_row_by_row_in_order_with_locators(tmp_path):
    _saved(tmp_path / "ds")
    assert is_saved_dataset(tmp_path / "ds")
    items = list(read_source("hf_dataset", "ds", tmp_path, batch_size=4))  # batches smaller than the Arrow batch
    assert [i.payload for i in items] == ROWS
    assert items[0].locator == "ds/data-00000-of-00001.arrow#0" and items[-1].locator.endswith("#24")


def test_several_shards_read_in_the_order_state_json_lists_them(tmp_path):
    _saved(tmp_path / "ds", num_shards=3)
    items = list(read_hf_dataset(tmp_path / "ds", "ds", batch_size=7))
    assert [i.payload["id"] for i in items] == list(range(25))
    assert {i.locator.split("#")[0] for i in items} == {f"ds/data-0000{k}-of-00003.arrow" for k in range(3)}


def test_a_dataset_dict_reads_split_after_split(tmp_path):
    train = datasets.Dataset.from_list(ROWS[:10])
    test = datasets.Dataset.from_list(ROWS[10:])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    items = list(read_hf_dataset(tmp_path / "dd", "dd"))
    assert [i.payload["id"] for i in items] == list(range(25))
    assert items[0].locator.startswith("dd/train/") and items[-1].locator.startswith("dd/test/")


def test_a_folder_of_parquet_shards(tmp_path):
    for k in range(2):  # the Hub's layout: data/<split>-0000k-of-00002.parquet
        (tmp_path / "hub" / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(ROWS[k * 12:(k + 1) * 12 + k]),
                       tmp_path / "hub" / "data" / f"train-0000{k}-of-00002.parquet")
    (tmp_path / "hub" / "README.md").write_text("# a dataset card, not a record\n")
    items = list(read_source("hf_dataset", "hub", tmp_path, batch_size=5))
    assert [i.payload["id"] for i in items] == list(range(25))
    assert items[0].locator == "hub/data/train-00000-of-00002.parquet#0"


def test_hidden_parquet_files_are_not_read(tmp_path):
    # the ingest cache key skips hidden paths (io.is_hidden): a reader that read them served a stale cache
    for sub, rows in (("data", ROWS[:3]), (".cache", ROWS[3:5]), ("data/.x.tmp", ROWS[5:6])):
        (tmp_path / "hub" / sub).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hub" / sub / "part.parquet")
    assert [i.payload["id"] for i in read_source("hf_dataset", "hub", tmp_path)] == [0, 1, 2]


def test_a_folder_that_is_no_dataset_and_a_missing_one_fail_naming_the_path(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match="plain: neither a save_to_disk folder"):
        list(read_source("hf_dataset", "plain", tmp_path))
    with pytest.raises(ConfigError, match="nowhere: not a folder"):
        list(read_source("hf_dataset", "nowhere", tmp_path))


def test_a_corrupt_arrow_file_is_an_unreadable_record(tmp_path):
    _saved(tmp_path / "ds")
    arrow = tmp_path / "ds" / "data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[:200])
    items = list(read_hf_dataset(tmp_path / "ds", "ds"))
    assert items and items[-1].error is not None and items[-1].error.reason == "unreadable"


def test_ingest_reads_a_saved_dataset_and_counts_balance(tmp_path):
    rows = [*ROWS, ROWS[0] | {"id": 99}, {"question": "no answer", "answer": None, "id": 100}]
    _saved(tmp_path / "ds", rows)
    spec = SourceSpec(name="qa", path="ds", reader="hf_dataset", format="qa", id_field="id")
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus" / "qa", tmp_path / "q" / "qa")
    assert report["read"] == 27 == report["kept"] + report["quarantined"]
    assert report["kept"] == 25 and report["by_reason"] == {"duplicate_content": 1, "missing_field": 1}


def test_a_saved_dataset_with_no_reader_set_is_an_error_not_a_folder_of_records(tmp_path):
    """Read as a folder, its dataset_info.json and state.json were kept as two text records and the data never read."""
    from mira_core.ingest.source import source_inputs

    _saved(tmp_path / "saved", [{"text": f"row {i}"} for i in range(5)])
    spec = SourceSpec(name="s", path="saved", format="text")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path = 'saved' \(s\): a dataset saved with save_to_disk; "
                                          r"set sources\[0\]\.reader: hf_dataset"):
        source_inputs(spec, 0, tmp_path)
    with pytest.raises(ConfigError, match="set source 's'.reader: hf_dataset"):
        ingest_source(spec, IngestParams(), tmp_path, tmp_path / "out", tmp_path / "q")
    ok = ingest_source(spec.model_copy(update={"reader": "hf_dataset"}), IngestParams(), tmp_path, tmp_path / "out",
                       tmp_path / "q")
    assert ok["kept"] == 5
    (tmp_path / "shards").mkdir()
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "shards" / "train-0.parquet")
    with pytest.raises(ConfigError, match=r"\(t\): a folder of Parquet files; set sources\[0\]\.reader: hf_dataset"):
        source_inputs(SourceSpec(name="t", path="shards", format="text"), 0, tmp_path)
    (tmp_path / "shards" / "README.md").write_text("a repository with a Parquet fixture is a folder of files")
    assert source_inputs(SourceSpec(name="t", path="shards", format="text"), 0, tmp_path) == [tmp_path / "shards"]


def test_every_json_lines_suffix_names_the_jsonl_reader():
    for name in ("a.jsonl", "a.json", "a.ndjson", "a.jsonl.gz", "a.json.zst", "a.ndjson.gz", "a.NDJSON.ZST"):
        assert SourceSpec(name="s", path=name, format="text").resolved_reader() == "jsonl", name
