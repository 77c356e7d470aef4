"""Review of reading a user's own corpus (session 30): a regression test for each bug found, each failing without its fix.

Tested here: a chat record whose role or ShareGPT speaker is a list or an object, whose tool_calls is no list beside
an older function_call, or whose tool call arguments hold bytes, is quarantined (`invalid_messages`) rather than
stopping ingest with a TypeError; `mira init` guesses a chat source whose later record holds a number for its
messages; an hf_dataset prefix on object storage reads a shard named TRAIN.PARQUET beside the others, as a local
folder does; `mira init` run from a working folder whose name holds a bracket ("w[2]") writes JSONL paths that ingest
finds; a folder source whose name holds a bracket ("corpus [v2]") is taken, and DVC tracks that folder.
"""

from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import RecordError
from mira_core.ingest.hf_dataset import read_remote_hf_dataset
from mira_core.ingest.render import render_messages
from mira_core.ingest.source import ingest_source, source_inputs
from mira_core.init_project import create_project, guess_format, parse_source
from tests.conftest import write_jsonl

CHAT = {"messages": [{"role": "user", "content": "What is a list?"}, {"role": "assistant", "content": "A sequence."}]}


def test_a_chat_record_whose_role_or_speaker_is_a_list_is_quarantined_not_a_crash(tmp_path):
    # `role not in ROLES` hashed the role: a list or an object stopped the whole ingest with "unhashable type"
    bad = [{"messages": [{"role": ["user"], "content": "hi"}]}, {"messages": [{"from": {"h": 1}, "value": "hi"}]}]
    write_jsonl(tmp_path / "c.jsonl", [CHAT, *bad])
    spec = SourceSpec(name="c", path="c.jsonl", format="chat")
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus", tmp_path / "q")
    assert (report["read"], report["kept"], report["by_reason"]) == (3, 1, {"invalid_messages": 2})


@pytest.mark.parametrize(("message", "said"), [
    ({"role": "assistant", "tool_calls": 5, "function_call": {"name": "f"}}, "tool_calls is not a list"),
    ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"blob": b"\x00x"}}}]},
     "arguments are not JSON-writable"),
])
def test_odd_tool_calls_are_quarantined_not_a_crash(message, said):
    # `[*5, ...]` and json.dumps of a Parquet binary field raised TypeError out of ingest
    with pytest.raises(RecordError, match=said):
        render_messages([message])


def test_init_guesses_chat_when_a_later_record_holds_a_number_for_its_messages(tmp_path):
    # the tool-call count iterated each record's messages: an int raised "'int' object is not iterable"
    write_jsonl(tmp_path / "c.jsonl", [CHAT, {"messages": 3}])
    guess = guess_format(str(tmp_path / "c.jsonl"))
    assert (guess.reader, guess.format) == ("jsonl", "chat")


def test_a_remote_hf_dataset_reads_parquet_shards_named_in_capitals():
    # the prefix was globbed for "**/*.parquet", which matches case: TEST.PARQUET was left out without a word,
    # while a local folder (and mira init, which sent the prefix here) reads it
    import fsspec

    fs = fsspec.filesystem("memory")
    base = f"/s30-{uuid.uuid4().hex}"
    for name, texts in (("data/TEST.PARQUET", ["c"]), ("train.parquet", ["a", "b"])):
        buf = io.BytesIO()
        pq.write_table(pa.table({"text": texts}), buf)
        fs.pipe(f"{base}/{name}", buf.getvalue())
    try:
        url = f"memory://{base.lstrip('/')}"
        assert [i.payload["text"] for i in read_remote_hf_dataset(url, url)] == ["c", "a", "b"]
    finally:
        fs.rm(base, recursive=True)


@pytest.mark.parametrize("source", ["data/a.jsonl", "data/*.jsonl"])
def test_init_from_a_working_folder_whose_name_holds_a_bracket_writes_a_path_ingest_finds(tmp_path, monkeypatch,
                                                                                          source):
    # The guess read the file, but params.yaml got the absolute path unescaped ('.../w[2]/data/a.jsonl'), which
    # ingest globs: "no such file", on the first run of a project mira init had just made.
    work = tmp_path / "w[2]"
    write_jsonl(work / "data" / "a.jsonl", [{"text": "A plain sentence of prose about lists."}])
    monkeypatch.chdir(work)
    made = create_project(tmp_path / "proj", [parse_source(f"s={source}")], scm=False)
    spec = made.sources[0]
    assert source_inputs(spec, 0, made.root) == [work / "data" / "a.jsonl"]
    deps = yaml.safe_load((made.root / "dvc.yaml").read_text())["stages"]["ingest"]["deps"]
    assert deps == [str(work / "data" / ("a.jsonl" if "*" not in source else ""))]


def test_init_takes_a_folder_whose_name_holds_a_bracket_and_dvc_tracks_that_folder(tmp_path, monkeypatch):
    # Written as it is, "corpus [v2]" was refused as a glob matching nothing ("write 'corpus [[]v2]'"); written so,
    # as a glob matching no file (a glob matches files). The folder reader reads its path as written, and the dep
    # of a folder under 'w[2]' was '.../w2/docs', a path that does not exist.
    work = tmp_path / "w[2]"
    (work / "proj" / "corpus [v2]").mkdir(parents=True)
    (work / "proj" / "corpus [v2]" / "a.md").write_text("# Notes\n\nSome prose about lists.\n")
    (work / "docs").mkdir()
    (work / "docs" / "b.md").write_text("# More\n\nProse again.\n")
    monkeypatch.chdir(work)
    made = create_project(work / "proj", [parse_source("c=proj/corpus [v2]"), parse_source("d=docs")], scm=False)
    assert [(s.path, s.reader, s.format) for s in made.sources] == [
        ("corpus [v2]", "folder", "text"), (f"{work}/docs", "folder", "text")]
    deps = yaml.safe_load((made.root / "dvc.yaml").read_text())["stages"]["ingest"]["deps"]
    assert deps == ["corpus [v2]", f"{work}/docs"]
    report = ingest_source(made.sources[0], IngestParams(), made.root, tmp_path / "corpus", tmp_path / "q")
    assert (report["read"], report["kept"]) == (1, 1)


def test_an_hf_dataset_folder_whose_name_holds_a_bracket_is_ingested(tmp_path):
    # the hf_dataset reader reads its path as written, but source_inputs expanded it as a pattern: "ds [1]" matched
    # nothing ("write 'ds [[]1]'"), and written so, it named no folder the reader could open
    (tmp_path / "ds [1]").mkdir()
    pq.write_table(pa.table({"text": ["one record", "another"]}), tmp_path / "ds [1]" / "train.parquet")
    spec = SourceSpec(name="d", path="ds [1]", reader="hf_dataset", format="text")
    assert source_inputs(spec, 0, tmp_path) == [tmp_path / "ds [1]"]
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus", tmp_path / "q")
    assert (report["read"], report["kept"]) == (2, 2)
    with pytest.raises(Exception, match="no such folder"):
        source_inputs(SourceSpec(name="d", path="nowhere", reader="hf_dataset", format="text"), 0, tmp_path)


def test_a_sharegpt_function_call_turn_is_a_tool_call_the_statistics_judge():
    # glaive / ToolACE style: {"from": "function_call", "value": "{\"name\": ..., \"arguments\": ...}"} was plain
    # assistant text, so the tool-call statistics never saw it and a broken call counted as valid
    import json

    from mira_core.docstats import INDEX, doc_stats

    def stats(value):
        text = render_messages([{"from": "human", "value": "Weather in Paris?"}, {"from": "function_call", "value": value},
                                {"from": "observation", "value": "sunny"}, {"from": "gpt", "value": "It is sunny."}])
        v = doc_stats("agent", text)
        return text, v[INDEX["tool_calls_log"]] > 0, v[INDEX["tool_args_json_frac"]]

    text, called, valid = stats(json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}}))
    assert "[tool_call] get_weather\n{\"city\": \"Paris\"}" in text and called and valid == 1.0
    text, called, valid = stats('{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}')  # a string
    assert "[tool_call] get_weather\n{\"city\": \"Paris\"}" in text and called and valid == 1.0
    _, called, valid = stats('{"name": "get_weather", "arguments": {"city": ')  # broken: an invalid call now
    assert called and valid == 0.0
    text, called, _ = stats("I will look it up.")  # no call in it: the assistant's text, as before
    assert "[assistant]\nI will look it up." in text and not called
