"""Tests of ingesting one source end to end: shards, token counts, ids, every quarantine reason, balance."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source
from mira_core.io import text_digest
from mira_core.schema import CORPUS, REJECTED, check
from tests.conftest import write_jsonl


def _ingest(tmp_path, spec: SourceSpec, **params):
    p = IngestParams(**params)
    report = ingest_source(spec, p, tmp_path, tmp_path / "corpus" / spec.name, tmp_path / "q" / spec.name)
    kept = pl.read_parquet(tmp_path / "corpus" / spec.name / "part-*.parquet") if report["kept"] else None
    rejected = pl.read_parquet(tmp_path / "q" / spec.name / "part-*.parquet") if report["quarantined"] else None
    return report, kept, rejected


def test_every_quarantine_reason_is_counted_and_counts_balance(tmp_path):
    rows = [
        {"id": "1", "text": "good record"},
        {"id": "2", "text": "   "},                          # empty_text
        {"id": "3"},                                          # missing_field
        {"id": "1", "text": "another text, same id"},         # duplicate_id
        {"id": "4", "text": "good record"},                   # duplicate_content
        {"id": "5", "text": "x" * 50},                        # too_long (reject)
        {"text": "no id here"},                               # missing_field (the id)
    ]
    write_jsonl(tmp_path / "s.jsonl", rows, raw_lines=[b"{oops\n", b'"a string"\n', b'{"id": "6", "text": "\xc3("}\n'])
    spec = SourceSpec(name="s", path="s.jsonl", format="text", id_field="id")
    report, kept, rejected = _ingest(tmp_path, spec, max_chars=40, on_too_long="reject")

    assert report["by_reason"] == {"duplicate_content": 1, "duplicate_id": 1, "empty_text": 1, "invalid_json": 1,
                                   "invalid_utf8": 1, "missing_field": 2, "not_an_object": 1, "too_long": 1}
    assert report["read"] == 10 == report["kept"] + report["quarantined"]
    assert kept["record_id"].to_list() == ["s/1"]
    check(kept.schema, CORPUS, "kept", exact=True)
    check(rejected.schema, REJECTED, "rejected", exact=True)
    by_reason = dict(zip(rejected["reason"], rejected["locator"], strict=False))
    assert by_reason["invalid_json"] == "s.jsonl:8" and by_reason["duplicate_id"] == "s.jsonl:4"


def test_a_record_under_min_chars_is_told_the_limit(tmp_path):
    # reason empty_text covers "too short" too: the detail said only "12 characters after stripping"
    write_jsonl(tmp_path / "s.jsonl", [{"text": "short record"}, {"text": "a record long enough to keep"}])
    report, _, rejected = _ingest(tmp_path, SourceSpec(name="s", path="s.jsonl", format="text"), min_chars=20)
    assert report["by_reason"] == {"empty_text": 1} and report["kept"] == 1
    assert rejected["detail"][0] == "12 characters after stripping, under ingest.min_chars = 20"


def test_truncate_keeps_the_record_and_says_so(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"text": "abcdefghij" * 10}])
    spec = SourceSpec(name="s", path="s.jsonl", format="text")
    report, kept, _ = _ingest(tmp_path, spec, max_chars=25, on_too_long="truncate")
    assert report["truncated"] == 1 and report["quarantined"] == 0
    assert kept["n_chars"][0] == 25
    assert '"mira_truncated_from_chars": 100' in kept["meta"][0]


def test_ids_are_stable_and_not_row_positions(tmp_path):
    rows = [{"text": f"record number {i}"} for i in range(5)]
    write_jsonl(tmp_path / "a.jsonl", rows)
    write_jsonl(tmp_path / "b.jsonl", rows[::-1])
    _, a, _ = _ingest(tmp_path, SourceSpec(name="s", path="a.jsonl", format="text"))
    _, b, _ = _ingest(tmp_path, SourceSpec(name="s", path="b.jsonl", format="text"))
    assert set(a["record_id"]) == set(b["record_id"])
    assert dict(zip(a["text"], a["record_id"], strict=True)) == dict(zip(b["text"], b["record_id"], strict=True))
    assert all(r.startswith("s/") and len(r) == 2 + 16 for r in a["record_id"])


def test_duplicates_kept_when_dedup_is_off_get_distinct_ids(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "same"}] * 3)
    report, kept, _ = _ingest(tmp_path, SourceSpec(name="s", path="a.jsonl", format="text"), dedup_exact=False)
    assert report["kept"] == 3 and kept["record_id"].n_unique() == 3


def test_token_counts_come_from_the_tokenizer(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "hello world"}, {"text": "def f(x):\n    return x"}])
    _, kept, _ = _ingest(tmp_path, SourceSpec(name="s", path="a.jsonl", format="code"))
    from mira_core.ingest.tokens import token_counter

    assert kept["n_tokens"].to_list() == token_counter("minilm").count(kept["text"].to_list())
    assert kept["n_tokens"][0] == 2  # "hello", "world": no [CLS]/[SEP]


def test_shards_are_bounded_by_records_and_bytes(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"{i:04d} " + "y" * 100} for i in range(23)])
    spec = SourceSpec(name="s", path="a.jsonl", format="text")
    report, kept, _ = _ingest(tmp_path, spec, shard_max_records=5)
    assert report["shards"] == 5 and kept.height == 23
    report, _, _ = _ingest(tmp_path, spec, shard_max_records=1000, shard_max_bytes=1000)
    assert report["shards"] == 3  # 105 bytes each: 9 fit in 1000 bytes, a tenth starts the next shard
    heights = [pl.read_parquet(f).height for f in sorted((tmp_path / "corpus" / "s").glob("part-*.parquet"))]
    assert heights == [9, 9, 5]


def test_the_byte_bound_counts_utf8_bytes_and_is_never_passed(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"{i}日本語のテキスト"} for i in range(6)])  # 1 + 24 bytes, 9 chars
    spec = SourceSpec(name="s", path="a.jsonl", format="text")
    _ingest(tmp_path, spec, shard_max_bytes=60)
    for f in (tmp_path / "corpus" / "s").glob("part-*.parquet"):
        assert sum(len(t.encode()) for t in pl.read_parquet(f)["text"]) <= 60
    _ingest(tmp_path, spec, shard_max_bytes=10)  # a record longer than the bound is a shard alone
    assert len(list((tmp_path / "corpus" / "s").glob("part-*.parquet"))) == 6


def test_a_record_whose_cut_is_blank_is_quarantined_as_empty(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"text": " " * 30 + "content after the cut"}, {"text": "kept " * 10}])
    spec = SourceSpec(name="s", path="s.jsonl", format="text")
    report, kept, rejected = _ingest(tmp_path, spec, max_chars=20, on_too_long="truncate")
    assert report["by_reason"] == {"empty_text": 1} and report["kept"] == 1 == report["truncated"]
    assert rejected["locator"].to_list() == ["s.jsonl:1"]


def test_a_file_reader_on_a_folder_is_a_config_error_naming_the_source(tmp_path):
    from mira_core.errors import ConfigError
    from mira_core.ingest.source import source_inputs

    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path = 'd\.jsonl' \(s\): .* is a folder, not a jsonl"):
        source_inputs(SourceSpec(name="s", path="d.jsonl", format="text"), 0, tmp_path)


def test_folder_source_uses_paths_as_ids(tmp_path):
    (tmp_path / "hdr" / "sub").mkdir(parents=True)
    (tmp_path / "hdr" / "sub" / "a.h").write_text("#define A 1\n")
    (tmp_path / "hdr" / "b.h").write_text("#define B 2\n")
    spec = SourceSpec(name="h", path="hdr", reader="folder", format="code", glob="**/*.h")
    report, kept, _ = _ingest(tmp_path, spec)
    assert sorted(kept["record_id"]) == ["h/b.h", "h/sub/a.h"] and report["kept"] == 2


@pytest.mark.parametrize("fmt_payload", [
    ("qa", {"question": "Why?", "answer": "Because."}),
    ("agent", {"messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": "done"}]}),
])
def test_structured_formats_render(tmp_path, fmt_payload):
    fmt, payload = fmt_payload
    write_jsonl(tmp_path / "a.jsonl", [payload])
    _, kept, _ = _ingest(tmp_path, SourceSpec(name="s", path="a.jsonl", format=fmt))
    assert kept["format"][0] == fmt and ("Answer:" in kept["text"][0] or "[assistant]" in kept["text"][0])


def test_a_failed_ingest_leaves_no_half_output(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"r{i}"} for i in range(20)])
    spec = SourceSpec(name="s", path="a.jsonl", format="text")
    _ingest(tmp_path, spec)
    before = sorted(p.name for p in (tmp_path / "corpus" / "s").iterdir())

    import mira_core.ingest.source as source

    def boom(*a, **k):
        raise RuntimeError("crash mid-way")

    monkeypatch.setattr(source, "render", boom)
    with pytest.raises(RuntimeError):
        _ingest(tmp_path, spec)
    assert sorted(p.name for p in (tmp_path / "corpus" / "s").iterdir()) == before  # the old output is intact
    assert not [p for p in (tmp_path / "corpus").iterdir() if p.name.startswith(".")]  # no temp dir left


def test_a_lone_surrogate_in_json_string_messages_is_quarantined(tmp_path):
    """Parquet chat sources hold messages as a JSON string, decoded at rendering, past the readers' surrogate check:
    a lone surrogate there crashed the whole source in the tokenizer; now only its record is quarantined."""
    good = [json.dumps([{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "answer"}])
            for i in range(3)]
    bad = '[{"role": "user", "content": "half a pair \\ud83d here"}]'
    pl.DataFrame({"messages": [good[0], bad, good[1], good[2]]}).write_parquet(tmp_path / "chat.parquet")
    spec = SourceSpec(name="c", path="chat.parquet", format="chat")
    report, kept, rejected = _ingest(tmp_path, spec)
    assert report["read"] == 4 == report["kept"] + report["quarantined"] and report["kept"] == 3
    assert report["by_reason"] == {"invalid_utf8": 1}
    assert rejected.row(0, named=True) | {"detail": ""} == {"source": "c", "locator": "chat.parquet#1",
                                                           "reason": "invalid_utf8", "detail": ""}
    assert "\\ud83d" in rejected["detail"][0]
    assert sorted(kept["text"]) == sorted(f"[user]\nquestion {i}\n\n[assistant]\nanswer" for i in range(3))


def test_records_equal_up_to_max_chars_are_exact_duplicates_once_truncated(tmp_path):
    """The duplicate key and the content id are of the text kept, so two records cut to the same text are one."""
    head = "the same first forty characters, exactly"
    write_jsonl(tmp_path / "a.jsonl", [{"text": head + " then one ending"}, {"text": head + " and another"},
                                       {"text": "short and untouched"}])
    spec = SourceSpec(name="s", path="a.jsonl", format="text")
    report, kept, rejected = _ingest(tmp_path, spec, max_chars=len(head), on_too_long="truncate")
    assert report["kept"] == 2 and report["by_reason"] == {"duplicate_content": 1} and report["truncated"] == 1
    assert rejected["locator"].to_list() == ["a.jsonl:2"]
    assert kept["record_id"].to_list() == [f"s/{text_digest(head)}", f"s/{text_digest('short and untouched')}"]
    report, kept, _ = _ingest(tmp_path, spec, max_chars=len(head), on_too_long="truncate", dedup_exact=False)
    assert report["kept"] == 3 and kept["record_id"].n_unique() == 3  # kept repeats still get distinct ids
    assert kept["record_id"][1] == f"s/{text_digest(head)}-1"


def test_a_source_file_dvc_yaml_does_not_track_is_named(tmp_path):
    """A source path edited in params.yaml but not in dvc.yaml's ingest deps: `dvc repro` would never see that
    file change, so ingest warns, naming the source and the file; a path under a listed folder is tracked."""
    from mira_core.ingest.source import source_inputs, untracked_by_dvc

    for rel in ("data/raw/a.jsonl", "elsewhere/b.jsonl", "listed.jsonl"):
        write_jsonl(tmp_path / rel, [{"text": "x"}])
    specs = [SourceSpec(name="a", path="data/raw/a.jsonl", format="text"),
             SourceSpec(name="b", path="elsewhere/*.jsonl", format="text"),
             SourceSpec(name="c", path="listed.jsonl", format="text")]
    inputs = {s.name: source_inputs(s, i, tmp_path) for i, s in enumerate(specs)}
    assert untracked_by_dvc(inputs, tmp_path) == []  # no dvc.yaml: nothing to say
    (tmp_path / "dvc.yaml").write_text("stages:\n  ingest:\n    cmd: mira stage ingest\n"
                                       "    deps: [data/raw, listed.jsonl, flows/ingest.py]\n")
    warnings = untracked_by_dvc(inputs, tmp_path)
    assert len(warnings) == 1 and warnings[0].startswith(f"source 'b' reads {tmp_path / 'elsewhere' / 'b.jsonl'}, "
                                                          f"which {tmp_path / 'dvc.yaml'}'s ingest stage does not list")
    # a link under a listed folder is under it for DVC too, wherever it points
    (tmp_path / "data" / "raw" / "link.jsonl").symlink_to(tmp_path / "elsewhere" / "b.jsonl")
    linked = {"l": source_inputs(SourceSpec(name="l", path="data/raw/link.jsonl", format="text"), 0, tmp_path)}
    assert untracked_by_dvc(linked, tmp_path) == []
    # deps are relative to the stage's wdir; a dvc.yaml of another shape is DVC's to report, not a crash here
    (tmp_path / "dvc.yaml").write_text("stages:\n  ingest:\n    cmd: c\n    wdir: data\n    deps: [raw]\n")
    assert [w.split(" reads")[0] for w in untracked_by_dvc(inputs, tmp_path)] == ["source 'b'", "source 'c'"]
    for odd in ("stages:\n", "- a\n", "stages:\n  ingest:\n    deps: data/raw\n", "stages: [1]\n", ": : :\n"):
        (tmp_path / "dvc.yaml").write_text(odd)
        assert untracked_by_dvc(inputs, tmp_path) == [], odd


def test_a_folder_of_json_lines_shards_with_no_reader_is_refused_naming_a_glob(tmp_path):
    from mira_core.errors import ConfigError
    from mira_core.ingest.source import source_inputs

    for i in range(2):
        write_jsonl(tmp_path / "web" / f"part-{i}.jsonl", [{"text": f"record {i}.{j}"} for j in range(50)])
    spec = SourceSpec(name="web", path="web", format="text")
    with pytest.raises(ConfigError, match=r"web.*a folder of JSON Lines files.*path: web/\*\*/\*\.jsonl"):
        source_inputs(spec, 0, tmp_path)
    with pytest.raises(ConfigError, match="a folder of JSON Lines files"):
        _ingest(tmp_path, spec)
    report, kept, _ = _ingest(tmp_path, SourceSpec(name="web", path="web/**/*.jsonl", format="text"))
    assert report["kept"] == 100
    # a reader set says the user means it: each file one record
    assert _ingest(tmp_path, SourceSpec(name="web", path="web", reader="folder", format="text"))[0]["kept"] == 2


def test_a_file_given_where_the_folder_reader_applies_is_named_a_file(tmp_path):
    from mira_core.errors import ConfigError
    from mira_core.ingest.source import source_inputs

    (tmp_path / "notes.md").write_text("# notes\n")
    with pytest.raises(ConfigError, match=r"'notes\.md' \(s\): a file, which the folder reader"):
        source_inputs(SourceSpec(name="s", path="notes.md", format="text"), 0, tmp_path)


def test_alpaca_records_render_their_input_after_the_instruction(tmp_path):
    # two reviews with the same instruction and answer: without their input they rendered alike (a duplicate), and
    # "Summarize the text." went to the teacher without the text
    rows = [{"instruction": "Classify the review.", "input": "Great phone, long battery.", "output": "positive"},
            {"instruction": "Classify the review.", "input": "Lovely screen and fast.", "output": "positive"},
            {"instruction": "Name a colour.", "input": "", "output": "blue"},
            {"instruction": "Name a shape.", "output": "circle"}]
    write_jsonl(tmp_path / "alpaca.jsonl", rows)
    spec = SourceSpec(name="a", path="alpaca.jsonl", format="qa", question_field="instruction", answer_field="output",
                      context_field="input")
    report, kept, _ = _ingest(tmp_path, spec)
    assert report["kept"] == 4 and report["quarantined"] == 0
    texts = kept["text"].to_list()
    assert texts[0] == "Question:\nClassify the review.\n\nGreat phone, long battery.\n\nAnswer:\npositive"
    assert texts[2] == "Question:\nName a colour.\n\nAnswer:\nblue"  # an empty input adds nothing
    assert all("input" not in json.loads(m) for m in kept["meta"].to_list()[:2])  # in the text, not in meta
    write_jsonl(tmp_path / "bad.jsonl", [{"instruction": "x", "input": ["not", "text"], "output": "y"}])
    report, _, rejected = _ingest(tmp_path, spec.model_copy(update={"path": "bad.jsonl"}))
    assert report["quarantined"] == 1 and "input" in rejected["detail"][0]


def test_a_folder_source_reads_through_links_and_counts_a_link_to_nothing(tmp_path):
    (tmp_path / "real").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "real" / name).write_text(f"linked record {name}")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "local.txt").write_text("a local record")
    (tmp_path / "c" / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "c" / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    report, kept, rejected = _ingest(tmp_path, SourceSpec(name="c", path="c", reader="folder", format="text"))
    assert report["read"] == 4 and report["kept"] == 3 and report["by_reason"] == {"unreadable": 1}
    assert sorted(kept["record_id"].str.replace("^c/", "").to_list()) == ["linked/a.txt", "linked/b.txt", "local.txt"]
    assert rejected["locator"].to_list() == ["c/dangling.txt"]


def test_a_records_own_locator_field_stays_and_ours_goes_beside_it(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"text": "first record here", "locator": "s3://bucket/x#7"},
                                       {"text": "second record here"},
                                       {"text": "third record here", "locator": "s.jsonl:3"}])
    spec = SourceSpec(name="s", path="s.jsonl", format="text")
    _, kept, _ = _ingest(tmp_path, spec)
    metas = {t: json.loads(m) for t, m in zip(kept["text"], kept["meta"], strict=True)}
    # before, the record's field won and where we read it was dropped without a word
    assert metas["first record here"] == {"locator": "s3://bucket/x#7", "mira_locator": "s.jsonl:1"}
    assert metas["second record here"] == {"locator": "s.jsonl:2"}
    assert metas["third record here"] == {"locator": "s.jsonl:3"}  # the same value: nothing to keep twice
