"""Session 33: what the last session's note left, each test failing before its fix landed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mira_core.test_review_repo_folder_s32 import _ingest


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_file_of_a_folder_source_is_named_by_its_encoding_not_called_a_binary(tmp_path, encoding, name):
    """Its byte-order mark says what it is, as a JSON Lines file's does: "a binary file" sent the user looking
    for an object file in a folder of text."""
    repo = tmp_path / "repo"
    repo.mkdir()
    mark = "\ufeff" if encoding == "utf-16-be" else ""  # Python writes the mark itself for utf-16 and utf-32
    (repo / "notes.txt").write_bytes((mark + "Windows wrote this file.\n").encode(encoding))
    (repo / "main.py").write_text("x = 1\n")
    counts, kept, quarantined = _ingest(tmp_path, repo)
    assert counts["read"] == counts["kept"] + counts["quarantined"] == 2
    assert kept["record_id"].to_list() == ["repo/main.py"]
    assert quarantined["reason"].to_list() == ["invalid_utf8"]
    assert f"the file is {name}" in quarantined["detail"][0] and "iconv" in quarantined["detail"][0]


def test_summary_says_when_outputs_were_made_by_another_version_of_mira(tmp_path):
    """After an upgrade the stages refuse the old shards and rubrics, but `mira summary` showed their figures
    without a word. It now names them; a project of this version's outputs gets no such line."""
    from flows.summary import summary_lines
    from mira_core.config import TeacherParams
    from mira_core.docstats import VERSION as STATS_VERSION
    from mira_core.rubric import Anchor, Rubric, save_rubric
    from mira_core.teachers import teacher_prompt_version
    from tests.flows.test_cli import SOURCE, _project

    _project(tmp_path, SOURCE)
    shard = tmp_path / "data" / "embeddings" / "a" / "part-0.json"
    shard.parent.mkdir(parents=True)
    rubrics = tmp_path / "data" / "rubrics"
    anchor = Anchor(id="a00", name="parses", description="d", exemplar_reason="r", support=1)
    now = teacher_prompt_version(TeacherParams(provider="rules"))
    for stats, prompt, said in ((STATS_VERSION, now, False), ("docstats/6", now, True), (STATS_VERSION, "rules@old", True)):
        shard.write_text(json.dumps({"stamp": {"encoder": {"embed": "embed/x", "stats": stats}}}))
        save_rubric(Rubric(group="g0", teacher="rules/rules-v1", prompt_version=prompt, sources=["a"], anchors=[anchor]),
                    rubrics / "g0.json")
        lines = summary_lines(tmp_path)
        upgraded = [x for x in lines if x.startswith("upgraded")]
        assert bool(upgraded) is said, lines
        if stats != STATS_VERSION:
            assert "data/embeddings/a/part-0.parquet" in upgraded[0] and "docstats/6" in upgraded[0]
        if prompt != now:
            assert "rubric g0 was discovered by teacher version rules@old" in upgraded[0]


def test_planted_eval_refuses_a_truth_that_puts_a_record_in_another_source():
    """The per-source shares and the perfect selector's budget per source are the truth's: a truth with the second
    record in source "b" was measured against a split of the budget the selection never made, without a word."""
    import polars as pl

    from mira_core.errors import ConfigError
    from mira_core.planted import evaluate
    from tests.mira_core.test_review_planted_eval_s29 import MANIFEST, TRUTH

    assert evaluate(TRUTH, {"mira": MANIFEST}, 0.5)["methods"]["mira"]["tokens"] == 400
    wrong = TRUTH.with_columns(source=pl.Series(["a", "b"]))
    with pytest.raises(ConfigError, match=r"source disagrees with the manifest of mira for 1 record\(s\), e.g. a/2 "
                                          r"\('b' in the truth, 'a' in the manifest\)"):
        evaluate(wrong, {"mira": MANIFEST}, 0.5)


def test_the_statistics_and_the_rules_end_a_sentence_at_the_same_full_stops_of_other_scripts():
    """docstats' line ends left out the Armenian and Ethiopic full stops (։ ።) that the rules teacher's paragraph ends
    count, and session 32's note said both counted them: one list now, `unspaced.FULL_STOPS`."""
    from mira_core.docstats import NAMES, doc_stats
    from mira_core.teachers.rules.prose import _TERMINAL
    from mira_core.unspaced import FULL_STOPS

    i = NAMES.index("terminal_punct_line_frac")
    for stop in FULL_STOPS:
        assert _TERMINAL.search(f"a sentence{stop}"), stop
        assert doc_stats("text", f"a line that ends{stop}\nanother line that ends{stop}")[i] == 1.0, stop
    assert doc_stats("text", "a line that ends\nanother line that ends")[i] == 0.0


HERMES = [{"from": "system", "value": "You may call tools. <tools>[{\"name\": \"get_weather\"}]</tools>"},
          {"from": "human", "value": "What is the weather in Paris?"},
          {"from": "gpt", "value": "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                                   "{\"city\": \"Paris\"}}\n</tool_call>"},
          {"from": "tool", "value": "<tool_response>\n{\"temp\": 12}\n</tool_response>"},
          {"from": "gpt", "value": "It is 12 degrees."}]


def test_hermes_tool_calls_in_the_assistants_text_are_read_as_its_tool_calls():
    """NousResearch's function-calling sets and Qwen's chat template write a call in the assistant's text. Read as
    text, the statistics saw no tool call (`tool_calls_log` 0, every call "valid"), and a broken one passed."""
    from mira_core.docstats import NAMES, doc_stats
    from mira_core.ingest.render import render_messages

    text = render_messages(HERMES)
    assert "[assistant]\nLet me check.\n[tool_call] get_weather\n{\"city\": \"Paris\"}\n\n[tool]" in text
    assert "<tool_call>" not in text
    broken = [*HERMES[:2], {"from": "gpt", "value": "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                                                     "{\"city\": \"Par\n</tool_call>"}, *HERMES[3:]]
    stats = doc_stats("agent", render_messages(broken))
    assert stats[NAMES.index("tool_calls_log")] > 0 and stats[NAMES.index("tool_args_json_frac")] == 0.0
    # a block that names no function, and an OpenAI message, are read as before
    plain = [{"role": "assistant", "content": "Wrap it in <tool_call>like this</tool_call>."}]
    assert render_messages(plain) == "[assistant]\nWrap it in <tool_call>like this</tool_call>."


def test_init_calls_a_hermes_trace_agent(tmp_path):
    from mira_core.init_project import guess_format
    from tests.conftest import write_jsonl

    only_calls = [HERMES[1], HERMES[2]]  # no tool turn: the call in the text is the only sign
    write_jsonl(tmp_path / "t.jsonl", [{"conversations": only_calls}] * 3)
    assert guess_format(str(tmp_path / "t.jsonl")).format == "agent"


def test_a_project_in_a_folder_whose_name_is_not_utf8_finds_its_git_top_level(tmp_path):
    """git prints the top level's name as the file system holds it: a Latin-1 folder name failed to decode (a
    UnicodeDecodeError traceback from `mira compare`), where the path was right there to use."""
    import os
    import subprocess

    from flows.revisions import _top

    folder = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.mkdir(folder)
    subprocess.run(["git", "init", "-q", folder], check=True)
    (Path(folder) / "sub").mkdir()
    top, rel = _top(Path(folder) / "sub")
    assert top == Path(folder).resolve() and rel == "sub"


def test_single_rubric_scores_do_not_move_with_the_line_order(tmp_path):
    """The ridge fit read its rows in the join's order, which followed the label files' and shards' order: the same
    project with its lines reversed scored records differently in the last bits (4.4e-16, review s33)."""
    import numpy as np
    import polars as pl

    from tests.mira_core.test_review_baselines_s33 import _rubric_project

    x = np.random.default_rng(3).normal(size=(300, 24))
    quality = [int(v) for v in np.clip(np.round(3 + 1.5 * x[:, 0]), 1, 5)]
    forward = _rubric_project(tmp_path / "a", {"a00": quality, "a01": quality[::-1]}, x)
    root = tmp_path / "b"
    _rubric_project(root, {"a00": quality, "a01": quality[::-1]}, x)
    for f in (root / "corpus/s/part-0.parquet", root / "emb/s/part-0.parquet", root / "labels/g.parquet"):
        pl.read_parquet(f).reverse().write_parquet(f)
    from mira_core.manifests import baseline_scores, corpus_index

    index = corpus_index(root / "corpus", {"s": "g"}, [])
    backward = baseline_scores("single_rubric", index, {"budget": 0.5, "held_out_sources": []}, root / "corpus",
                               root / "labels", root / "emb")
    assert index["record_id"].to_list() == [f"s/{i:02d}" for i in range(len(x))][::-1]  # listed backwards
    assert np.array_equal(backward[::-1], forward)


def test_prose_that_names_the_tool_call_tag_is_not_a_call():
    """An unclosed `<tool_call>` in prose, with a quoted "name" further on, was read as a broken call (review s33)."""
    from mira_core.ingest.render import render_messages

    prose = ('To call a tool, open a <tool_call> tag and write JSON such as {"name": "get_weather"}; the server '
             'answers in a tool message.')
    assert render_messages([{"role": "assistant", "content": prose}]) == "[assistant]\n" + prose


def test_a_uuid_id_column_names_its_records_and_a_float_id_says_to_cast(tmp_path):
    """A Parquet `uuid` id column was refused for every record ("is a UUID, not a string or integer"); an integer id
    column that pandas wrote as float64 for its nulls was "a number, not a string or integer" (review s33)."""
    import uuid

    from mira_core.errors import RecordError
    from mira_core.ingest.source import _native_id

    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert _native_id({"id": u}, "id") == "12345678-1234-5678-1234-567812345678"
    with pytest.raises(RecordError, match=r"id field 'id' is a float \(3\.0\).*cast the column"):
        _native_id({"id": 3.0}, "id")
    with pytest.raises(RecordError, match="is a number, not a string or integer"):
        _native_id({"id": 3.5}, "id")


def test_init_takes_a_uuid_column_as_the_record_id():
    """Ingest reads a UUID id (a Parquet uuid column) since this session; init did not propose it (review s33)."""
    import uuid

    from mira_core.init_project import _guess_id

    rows = [{"id": uuid.UUID(int=i), "text": "x"} for i in range(5)]
    field, why = _guess_id(rows, "s")
    assert field == "id" and "UUID" in why
