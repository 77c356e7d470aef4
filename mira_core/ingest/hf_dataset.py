"""The `hf_dataset` reader: a Hugging Face dataset on disk, streamed one record batch at a time.

Two layouts are read, without the `datasets` package:

- a folder written by `Dataset.save_to_disk`: `state.json` lists the Arrow files (IPC streams,
  `data-00000-of-00001.arrow` ...) in order, beside `dataset_info.json`; a `DatasetDict` folder
  (`dataset_dict.json`) is read split after split, in the order that file lists them;
- a folder of the dataset's Parquet shards, as the Hub stores them (`data/train-00000-of-00002.parquet`
  ...): every `*.parquet` under it, by sorted relative path.

Arrow files are memory-mapped and read one record batch at a time, so memory holds one batch of
Python objects. Locators are `<path>/<file>#<row>`, the row counted within the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mira_core.errors import ConfigError, RecordError
from mira_core.ingest.readers import Item, batch_items, read_parquet
from mira_core.io import is_hidden, tree_files
from mira_core.schema import QuarantineReason as Q

STATE = "state.json"
DICT = "dataset_dict.json"


def is_saved_dataset(path: Path) -> bool:
    """Whether `path` is a folder written by `save_to_disk` (a Dataset or a DatasetDict)."""
    return path.is_dir() and ((path / STATE).is_file() or (path / DICT).is_file())


def parquet_shards(path: Path) -> list[Path]:
    """The Parquet files under `path`, by sorted relative path; hidden ones (.cache/, a crashed write's .x.tmp) are
    skipped, as the folder reader and the ingest cache key skip them (`io.is_hidden`). Links to folders are followed
    and the suffix is matched in any case, as the cache key (`io.tree_files`) and the check that sends a folder of
    Parquet files here (`source._only_suffixes`) do: pathlib's `rglob` does neither, and the shards it passed over
    were lost without a word."""
    return sorted((f for rel, f in tree_files(path) if rel.name.lower().endswith(".parquet")),
                  key=lambda f: f.relative_to(path).as_posix())


def arrow_files(path: Path, label: str) -> list[Path]:
    """The Arrow files of a saved dataset, in the order its state.json (or dataset_dict.json's splits) lists them."""
    if (path / DICT).is_file() and not (path / STATE).is_file():
        try:
            splits = json.loads((path / DICT).read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{label}/{DICT}: not a readable dataset_dict.json ({e})") from None
        files: list[Path] = []
        for split in splits:
            files += arrow_files(path / split, f"{label}/{split}")
        return files
    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        names = [d["filename"] for d in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{label}/{STATE}: not a readable save_to_disk state file ({e})") from None
    return [path / n for n in names]


# The end of an IPC stream as pyarrow's writer (save_to_disk's) closes one: a continuation marker and a message of
# length 0 (before Arrow 0.15, four zero bytes alone). A stream cut where a batch ends read as whole (its batches,
# then nothing), so a save_to_disk file cut short lost its remaining rows in silence.
STREAM_END = b"\xff\xff\xff\xff\x00\x00\x00\x00"
LEGACY_END = b"\x00\x00\x00\x00"
CUT_STREAM = ("the Arrow stream ends without its end-of-stream marker: the file was cut short (a copy or a write "
              "that did not finish), so its remaining rows are missing")


def _stream_tail(f) -> bytes:
    """The last bytes of a seekable binary file, where an IPC stream's end marker is; its position given back."""
    at = f.tell()
    f.seek(max(0, f.seek(0, 2) - len(STREAM_END)))
    tail = f.read()
    f.seek(at)
    return tail


def _stream_batches(reader, tail: bytes):
    """The reader's batches, then a ValueError when the stream's last bytes are not its end marker."""
    yield from reader
    if tail != STREAM_END and not tail.endswith(LEGACY_END):
        raise ValueError(CUT_STREAM)


def _arrow_batches(f: Path):
    """The record batches of one Arrow file: the IPC stream save_to_disk writes, or the IPC file format."""
    import pyarrow as pa

    source = pa.memory_map(str(f))
    try:
        reader = pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source = pa.memory_map(str(f))
        file_reader = pa.ipc.open_file(source)
        return (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
    with open(f, "rb") as raw:
        return _stream_batches(reader, _stream_tail(raw))


def read_arrow(f: Path, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """One Item per row of an Arrow file, a batch at a time (at most `batch_size` rows turned into Python at once)."""
    if not f.is_file():
        raise ConfigError(f"{label}: file not found (listed in the dataset's {STATE})")
    row = 0
    try:
        for batch in _arrow_batches(f):
            for start in range(0, batch.num_rows, batch_size):
                for item in batch_items(batch.slice(start, batch_size), label, row):
                    yield item
                    row += 1
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid/ArrowIOError subclass these
        yield Item(f"{label}#{row}", None, RecordError(Q.UNREADABLE, f"not a readable Arrow file from here on: {e}"))


def read_hf_dataset(path: Path, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """All Items of a saved dataset or a folder of Parquet shards; `label` is the path as the user wrote it."""
    if not path.is_dir():
        raise ConfigError(f"{label}: not a folder (the hf_dataset reader needs a save_to_disk folder or a folder "
                          "of Parquet shards)")
    if is_saved_dataset(path):
        for f in arrow_files(path, label):
            yield from read_arrow(f, f"{label}/{f.relative_to(path).as_posix()}", batch_size)
        return
    shards = parquet_shards(path)
    if not shards:
        raise ConfigError(f"{label}: neither a save_to_disk folder ({STATE} or {DICT}) nor a folder of *.parquet "
                          "shards")
    for f in shards:
        yield from read_parquet(f, f"{label}/{f.relative_to(path).as_posix()}", batch_size)


def _remote_arrow_files(url: str, label: str) -> list[str]:
    """`arrow_files` over object storage: the Arrow objects of a saved dataset at the prefix `url`, in order."""
    from mira_core.ingest import remote

    if remote.is_file(remote.join(url, DICT)) and not remote.is_file(remote.join(url, STATE)):
        try:
            splits = json.loads(remote.read_text(remote.join(url, DICT)))["splits"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{label}/{DICT}: not a readable dataset_dict.json ({e})") from None
        return [f for split in splits for f in _remote_arrow_files(remote.join(url, split), f"{label}/{split}")]
    try:
        state = json.loads(remote.read_text(remote.join(url, STATE)))
        names = [d["filename"] for d in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{label}/{STATE}: not a readable save_to_disk state file ({e})") from None
    return [remote.join(url, n) for n in names]


def read_remote_arrow(url: str, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """`read_arrow` over a remote object: the IPC stream read batch after batch through a seekable fsspec file."""
    import pyarrow as pa

    from mira_core.ingest import remote

    try:
        f = remote.open_seekable(url)
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found (listed in the dataset's {STATE})") from None
    row = 0
    with f:
        try:
            try:
                reader = pa.ipc.open_stream(f)
                batches = _stream_batches(reader, _stream_tail(f))  # the reader reads on from where it was
            except pa.ArrowInvalid:
                f.seek(0)
                file_reader = pa.ipc.open_file(f)
                batches = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
            for batch in batches:
                for start in range(0, batch.num_rows, batch_size):
                    for item in batch_items(batch.slice(start, batch_size), label, row):
                        yield item
                        row += 1
        except (OSError, ValueError) as e:
            yield Item(f"{label}#{row}", None,
                       RecordError(Q.UNREADABLE, f"not a readable Arrow file from here on: {e}"))


def is_remote_saved_dataset(url: str) -> bool:
    """`is_saved_dataset` for an object-storage prefix."""
    from mira_core.ingest import remote

    return remote.is_file(remote.join(url, STATE)) or remote.is_file(remote.join(url, DICT))


def read_remote_hf_dataset(url: str, label: str, batch_size: int = 1024) -> Iterator[Item]:
    """`read_hf_dataset` over an object-storage prefix (`s3://bucket/datasets/qa`); locators are `<url>/<file>#<row>`."""
    from mira_core.ingest import remote

    if not remote.is_dir(url):
        raise ConfigError(f"{label}: no object under this prefix (the hf_dataset reader needs a save_to_disk folder "
                          "or a folder of Parquet shards)")
    if is_remote_saved_dataset(url):
        base = url.rstrip("/") + "/"
        for f in _remote_arrow_files(url, label):
            yield from read_remote_arrow(f, f"{label}/{f.removeprefix(base)}", batch_size)
        return
    # the suffix in any case, as `parquet_shards` matches it locally (and `_reader_of` when it sends a prefix here):
    # a glob for "*.parquet" matches case, and passed over a TRAIN.PARQUET beside the other shards without a word
    shards = [(rel, full) for rel, full in remote.find(url) if rel.lower().endswith(".parquet") and not is_hidden(rel)]
    if not shards:
        raise ConfigError(f"{label}: neither a save_to_disk folder ({STATE} or {DICT}) nor a folder of *.parquet "
                          "shards")
    for rel, full in shards:
        yield from read_parquet(full, f"{label}/{rel}", batch_size)
