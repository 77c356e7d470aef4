"""Sources on object storage (mira_core/ingest/remote.py), against a real S3-compatible server on 127.0.0.1.

The `s3` fixture starts moto's standalone server (ThreadedMotoServer) on a free port, makes a bucket with boto3
and points the environment at it (fake credentials and AWS_ENDPOINT_URL: mira reads nothing else). Every
reader over s3:// URLs gives the records, counts and ids the same files give locally.
"""

from __future__ import annotations

import gzip
import re
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.readers import read_source
from mira_core.ingest.source import ingest_source, source_inputs
from tests.conftest import write_corrupt_parquet, write_jsonl

BUCKET = "mira-test"


@dataclass
class S3:
    client: object
    bucket: str
    endpoint: str

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def upload(self, local: Path, key: str) -> str:
        """Upload a file, or every file under a folder (keys below `key`); the s3:// URL of `key`."""
        files = [local] if local.is_file() else sorted(f for f in local.rglob("*") if f.is_file())
        for f in files:
            k = key if f == local else f"{key}/{f.relative_to(local).as_posix()}"
            self.client.put_object(Bucket=self.bucket, Key=k, Body=f.read_bytes())
        return self.url(key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(monkeypatch, tmp_path_factory):
    """moto's S3 server on 127.0.0.1, a bucket in it, and the environment's credentials and endpoint set for it."""
    server_mod = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    import boto3
    import s3fs

    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    nowhere = tmp_path_factory.mktemp("aws") / "none"  # no ~/.aws file of this machine is read
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint, "AWS_CONFIG_FILE": str(nowhere), "AWS_SHARED_CREDENTIALS_FILE": str(nowhere)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(k, raising=False)
    s3fs.S3FileSystem.clear_instance_cache()  # an instance made for another server's endpoint is not reused
    # moto's in-process backend outlives a server: start from an empty store
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield S3(client, BUCKET, endpoint)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


ROWS = [{"id": f"r{i}", "text": f"record {i}: " + "word " * (1 + i % 9)} for i in range(40)]
BAD_LINES = [b"{oops\n", b'"a string"\n', b'{"id": "x", "text": "\xc3("}\n', b"\n"]


def _ingest(root: Path, spec: SourceSpec, tag: str) -> tuple[dict, pl.DataFrame, pl.DataFrame | None]:
    out, q = root / tag / "corpus", root / tag / "q"
    report = ingest_source(spec, IngestParams(read_batch=7), root, out, q)
    kept = pl.read_parquet(out / "part-*.parquet")
    rejected = pl.read_parquet(q / "part-*.parquet") if report["quarantined"] else None
    return report, kept, rejected


def _same(local: tuple, remote: tuple, local_prefix: str, url_prefix: str) -> None:
    """The same counts, ids, texts and quarantine reasons; locators differ only by the URL in front."""
    (lr, lk, lq), (rr, rk, rq) = local, remote
    assert lr == rr
    assert lk["record_id"].to_list() == rk["record_id"].to_list()
    assert lk["text"].to_list() == rk["text"].to_list() and lk["n_tokens"].to_list() == rk["n_tokens"].to_list()
    if lq is not None:
        assert lq["reason"].to_list() == rq["reason"].to_list()
        assert [loc.replace(local_prefix, url_prefix, 1) for loc in lq["locator"]] == rq["locator"].to_list()


@pytest.mark.parametrize("name", ["s.jsonl", "s.jsonl.gz", "s.jsonl.zst"])
def test_a_jsonl_object_reads_like_the_local_file(s3, tmp_path, name):
    write_jsonl(tmp_path / name, ROWS, raw_lines=BAD_LINES)
    url = s3.upload(tmp_path / name, f"data/{name}")
    local = _ingest(tmp_path, SourceSpec(name="s", path=name, format="text", id_field="id"), "local")
    remote = _ingest(tmp_path, SourceSpec(name="s", path=url, format="text", id_field="id"), "remote")
    assert local[0]["read"] == 43 == local[0]["kept"] + local[0]["quarantined"] and local[0]["kept"] == 40
    _same(local, remote, name, url)
    assert remote[1]["meta"].str.contains(f'"locator": "{url}:1"').any()  # the URL + :line


def test_a_parquet_object_reads_batch_by_batch_like_the_local_file(s3, tmp_path):
    table = pa.Table.from_pylist(ROWS * 2)  # the repeats are duplicates: quarantined the same way
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=16)
    url = s3.upload(tmp_path / "p.parquet", "data/p.parquet")
    items = list(read_source("parquet", url, tmp_path, batch_size=5))
    assert [i.payload for i in items] == ROWS * 2
    assert items[0].locator == f"{url}#0" and items[-1].locator == f"{url}#79"
    spec = dict(name="p", format="text")  # no id field: content ids, so the repeats are duplicate content
    local = _ingest(tmp_path, SourceSpec(path="p.parquet", **spec), "local")
    remote = _ingest(tmp_path, SourceSpec(path=url, **spec), "remote")
    assert local[0]["kept"] == 40 and local[0]["by_reason"] == {"duplicate_content": 40}
    _same(local, remote, "p.parquet", url)


def test_a_glob_of_objects_reads_like_the_same_local_glob(s3, tmp_path):
    for k in range(3):
        write_jsonl(tmp_path / "shards" / f"part-{k}.jsonl.gz", ROWS[k * 10:(k + 1) * 10])
        s3.upload(tmp_path / "shards" / f"part-{k}.jsonl.gz", f"shards/part-{k}.jsonl.gz")
    write_jsonl(tmp_path / "shards" / "deep" / "part-9.jsonl.gz", ROWS[30:])
    s3.upload(tmp_path / "shards" / "deep" / "part-9.jsonl.gz", "shards/deep/part-9.jsonl.gz")
    s3.client.put_object(Bucket=s3.bucket, Key="shards/README.md", Body=b"not a shard")
    one = _ingest(tmp_path, SourceSpec(name="g", path=s3.url("shards/*.jsonl.gz"), format="text", id_field="id"), "a")
    assert one[0]["read"] == 30 and one[1]["record_id"].to_list() == [f"g/r{i}" for i in range(30)]
    _same(_ingest(tmp_path, SourceSpec(name="g", path="shards/**/*.jsonl.gz", format="text", id_field="id"), "b"),
          _ingest(tmp_path, SourceSpec(name="g", path=s3.url("shards/**/*.jsonl.gz"), format="text",
                                       id_field="id"), "c"), "shards", s3.url("shards"))
    inputs = source_inputs(SourceSpec(name="g", path=s3.url("shards/*.jsonl.gz"), format="text"), 0, tmp_path)
    assert [i["url"] for i in inputs] == [s3.url(f"shards/part-{k}.jsonl.gz") for k in range(3)]
    assert all(i["etag"] and i["size"] and i["mtime"] for i in inputs)  # from the listing: no request per object


def test_folder_and_hf_dataset_prefixes_read_like_the_local_folders(s3, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    (tmp_path / "notes" / "sub").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "notes" / ("sub" if i % 2 else "") / f"n{i}.md").write_text(f"# note {i}\n\nbody {i}\n")
    (tmp_path / "notes" / "bad.md").write_bytes(b"\xc3(")
    qa = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(25)]
    datasets.Dataset.from_list(qa).save_to_disk(str(tmp_path / "qa"), num_shards=2)
    (tmp_path / "shards" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(qa[:10]), tmp_path / "shards" / "data" / "train-0.parquet")
    pq.write_table(pa.Table.from_pylist(qa[10:]), tmp_path / "shards" / "data" / "train-1.parquet")
    for name in ("notes", "qa", "shards"):
        s3.upload(tmp_path / name, f"sets/{name}")
    cases = [("notes", "folder", "text", {"glob": "**/*.md"}), ("qa", "hf_dataset", "qa", {}),
             ("shards", "hf_dataset", "qa", {})]
    for name, reader, fmt, extra in cases:
        local = _ingest(tmp_path, SourceSpec(name=name, path=name, reader=reader, format=fmt, **extra), f"l-{name}")
        url = s3.url(f"sets/{name}")
        remote = _ingest(tmp_path, SourceSpec(name=name, path=url, reader=reader, format=fmt, **extra), f"r-{name}")
        _same(local, remote, name, url)
        assert remote[0]["read"] == (6 if name == "notes" else 25), name
    assert _ingest(tmp_path, SourceSpec(name="notes", path=s3.url("sets/notes"), reader="folder", format="text"),
                   "ids")[1]["record_id"].to_list()[:2] == ["notes/n0.md", "notes/n2.md"]  # relative paths


def test_a_missing_object_bucket_or_prefix_is_a_config_error_naming_the_source(s3, tmp_path):
    write_jsonl(tmp_path / "s.jsonl", ROWS)
    s3.upload(tmp_path / "s.jsonl", "data/s.jsonl")
    cases = [("s3://mira-test/data/nope.jsonl", None), ("s3://no-such-bucket-here/s.jsonl", None),
             ("s3://mira-test/data/*.parquet", None), ("s3://mira-test/nothing", "folder"),
             ("s3://mira-test/nothing", "hf_dataset")]
    specs = [SourceSpec(name="ok", path=s3.url("data/s.jsonl"), format="text")]
    specs += [SourceSpec(name=f"s{i}", path=url, reader=reader, format="text") for i, (url, reader) in enumerate(cases)]
    assert source_inputs(specs[0], 0, tmp_path)[0]["size"] == (tmp_path / "s.jsonl").stat().st_size
    for i, spec in enumerate(specs[1:], 1):
        with pytest.raises(ConfigError, match=rf"sources\[{i}\]\.path = {re.escape(repr(spec.path))} .*: no "):
            source_inputs(spec, i, tmp_path)
    with pytest.raises(ConfigError, match="s3://mira-test/data/nope.jsonl: file not found"):
        list(read_source("jsonl", "s3://mira-test/data/nope.jsonl", tmp_path))
    with pytest.raises(ConfigError, match="s3://mira-test/data/nope.parquet: file not found"):
        list(read_source("parquet", "s3://mira-test/data/nope.parquet", tmp_path))


def test_an_unreachable_endpoint_is_a_config_error_naming_the_source(s3, tmp_path, monkeypatch):
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    spec = SourceSpec(name="s", path=s3.url("data/s.jsonl"), format="text")
    with pytest.raises(ConfigError, match=r"sources\[3\]\.path = .*cannot read it: .*AWS_ENDPOINT_URL"):
        source_inputs(spec, 3, tmp_path)


def test_the_inputs_of_a_remote_source_change_with_the_object(s3, tmp_path):
    """They key ingest's task cache: a rewritten object must not be served the old result."""
    write_jsonl(tmp_path / "s.jsonl", ROWS)
    url = s3.upload(tmp_path / "s.jsonl", "data/s.jsonl")
    spec = SourceSpec(name="s", path=url, format="text")
    before = source_inputs(spec, 0, tmp_path)
    assert before == source_inputs(spec, 0, tmp_path) and before[0]["etag"]
    s3.client.put_object(Bucket=s3.bucket, Key="data/s.jsonl", Body=gzip.decompress(gzip.compress(b'{"text": "x"}\n')))
    assert source_inputs(spec, 0, tmp_path) != before
    folder = SourceSpec(name="f", path=s3.url("data"), reader="folder", format="text")
    assert [i["url"] for i in source_inputs(folder, 0, tmp_path)] == [url]


def test_records_stream_from_a_large_object(s3, tmp_path, monkeypatch):
    """The first records arrive with most of a large object unread: memory holds a batch, not the object."""
    from mira_core.ingest import remote

    rows = [{"text": f"line {i} " + "x" * 200} for i in range(60_000)]
    url = s3.upload(write_jsonl(tmp_path / "big.jsonl", rows), "big/big.jsonl")
    size = (tmp_path / "big.jsonl").stat().st_size
    opened, real = [], remote.open_binary

    def spy(u):
        opened.append(real(u))
        return opened[-1]

    monkeypatch.setattr(remote, "open_binary", spy)
    stream = read_source("jsonl", url, tmp_path)
    first = [next(stream) for _ in range(3)]
    assert [i.payload for i in first] == rows[:3] and first[0].locator == f"{url}:1"
    raw = opened[0].raw  # the fsspec file under the buffered reader
    held = len(getattr(raw.cache, "cache", b"") or b"")
    assert size > 12_000_000 and raw.loc <= remote.BUFFER and held <= remote.BUFFER + remote.BLOCK
    stream.close()
    assert opened[0].closed


def test_mira_init_guesses_remote_sources_and_keeps_their_urls(s3, tmp_path):
    """guess_format reads the first objects; the URL is kept as written and is ingest's (external) DVC dep."""
    import yaml

    from mira_core.init_project import SourceArg, guess_format, render_dvc, source_dep, source_spec

    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    qa = [{"prompt": f"What is {i} + 1?", "response": str(i + 1)} for i in range(10)]
    datasets.Dataset.from_list(qa).save_to_disk(str(tmp_path / "qa"))
    s3.upload(tmp_path / "qa", "qa")
    pq.write_table(pa.Table.from_pylist([{"content": "def f(x):\n    return x\n", "path": "a.py"}] * 3),
                   tmp_path / "c.parquet")
    s3.upload(tmp_path / "c.parquet", "code/c.parquet")
    write_jsonl(tmp_path / "d.jsonl.gz", ROWS)
    s3.upload(tmp_path / "d.jsonl.gz", "docs/part-0.jsonl.gz")
    s3.client.put_object(Bucket=s3.bucket, Key="notes/a.md", Body=b"# A note\n\nSome prose here.\n")

    qa_g = guess_format(s3.url("qa"))
    assert (qa_g.reader, qa_g.format, qa_g.fields) == ("hf_dataset", "qa",
                                                       {"question_field": "prompt", "answer_field": "response"})
    code_g = guess_format(s3.url("code/c.parquet"))
    assert (code_g.reader, code_g.format, code_g.fields) == ("parquet", "code", {"text_field": "content"})
    docs_g = guess_format(s3.url("docs/*.jsonl.gz"))
    assert (docs_g.reader, docs_g.format) == ("jsonl", "text")
    notes_g = guess_format(s3.url("notes/"))
    assert (notes_g.reader, notes_g.format, notes_g.fields) == ("folder", "text", {"glob": "**/*.md"})
    with pytest.raises(ConfigError, match="s3://mira-test/none.jsonl: not found"):
        guess_format(s3.url("none.jsonl"))
    with pytest.raises(ConfigError, match=r"s3://mira-test/docs/\*\.parquet: no object matches"):
        guess_format(s3.url("docs/*.parquet"))

    spec = source_spec(SourceArg("docs", s3.url("docs/*.jsonl.gz")), tmp_path / "proj", docs_g)
    assert spec.path == "s3://mira-test/docs/*.jsonl.gz"
    assert source_dep(spec.path) == "s3://mira-test/docs" and source_dep("s3://b/k.jsonl") == "s3://b/k.jsonl"
    with pytest.raises(ConfigError, match="wildcard in the bucket"):
        source_dep("s3://b*/k.jsonl")
    other = SourceSpec(name="web", path="hf://datasets/x/y/*.parquet", reader="parquet", format="text")
    text = render_dvc([spec, SourceSpec(name="local", path="/data/l.jsonl", format="text"), other])
    assert yaml.safe_load(text)["stages"]["ingest"]["deps"][:2] == ["s3://mira-test/docs", "/data/l.jsonl"]
    assert "Not deps (DVC has no plugin installed for their protocol): hf://datasets/x/y/*.parquet" in text


def test_a_corrupt_row_group_in_an_object_stops_the_read_and_says_what_to_do(s3, tmp_path):
    """Remotely a corrupt row group cannot be told from a storage error (both arrive as a plain OSError), so the
    read fails, caching nothing, and names the row it stopped after and the way out if it repeats there."""
    from mira_core.errors import MiraError

    path = tmp_path / "c.parquet"
    write_corrupt_parquet(path)
    url = s3.upload(path, "data/c.parquet")
    with pytest.raises(MiraError, match=r"(?s)reading stopped after .*c\.parquet#199: .*the object itself is corrupt"):
        list(read_source("parquet", url, tmp_path, batch_size=50))
