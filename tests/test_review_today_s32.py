"""Regressions found in a second reading of session 32's fixes (review s32, today's changes).

- A code fence's info string (```python title=x) made the end of an inline ``` span, followed by text, read as a
  fence opening: its "body" ran to the real fence's opening, and the real code was lost (rules teacher and docstats).
- An Anthropic turn's non-text part after a tool_use block was named by its index once the tool blocks were taken
  out (content[0] for content[1]), and a non-text part inside a tool_result by the index of the tool_result's.
- Han and kana characters are words only in text mostly made of them: the benchmark index split a Chinese item into
  characters, and an English page quoting it verbatim (its quote read as runs) shared no n-gram with it.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mira_core.decontaminate import best_match, build_index
from mira_core.dedup import TokenHasher, ngram_hashes, words
from mira_core.docstats import _looks_like_code
from mira_core.errors import RecordError
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams
from mira_core.ingest.render import render_messages
from mira_core.teachers.rules.qa import answer_code

CODE = "def f(x):\n    return x + 1\n"
INLINE_THEN_FENCE = f"Wrap a name in ```backticks``` to quote it.\nFor example:\n\n```python\n{CODE}```\n"


def test_an_inline_triple_backtick_span_does_not_hide_the_fence_below() -> None:
    assert answer_code(f"Question:\nHow do I quote a name?\n\nAnswer:\n{INLINE_THEN_FENCE}") == CODE
    assert _looks_like_code(INLINE_THEN_FENCE) == CODE


def test_a_fence_with_an_info_string_at_a_line_start_still_opens() -> None:
    answer = f'Like this:\n\n```python title="add.py"\n{CODE}```'
    assert answer_code(f"Question:\nHow?\n\nAnswer:\n{answer}") == CODE
    assert _looks_like_code(answer) == CODE


CLAUSES = ["今天天气很好", "我们去公园散步", "看见许多花朵", "孩子们在草地上玩耍", "老人在树下下棋", "湖面上有小船",
           "鸟儿在枝头歌唱", "阳光照在水面", "风吹过柳树", "远处传来钟声", "一只猫睡在长椅上", "卖冰淇淋的人笑了",
           "我们买了两个", "天色渐渐暗了", "大家都回家了", "明天还要再来"]
ITEM = "，".join(CLAUSES) + "。"


def _match(tmp_path, record: str) -> tuple[int, int] | None:
    bench = tmp_path / "zh.jsonl"
    bench.write_text(json.dumps({"id": "q1", "question": ITEM}, ensure_ascii=False) + "\n", encoding="utf-8")
    p = DecontaminateParams(benchmarks=[BenchmarkSpec(name="zh", path=str(bench), fields=["question"], id_field="id")])
    index = build_index(p)
    grams = ngram_hashes(TokenHasher()(words(record)), p.ngram)
    return best_match(grams, index)


def test_an_english_page_quoting_a_chinese_item_verbatim_matches_it(tmp_path) -> None:
    record = ("This page collects reading exercises for learners of Chinese. Translate the following passage into "
              "English and explain the grammar of each clause in your own words, then compare it with the model "
              f"answer given at the end of the chapter:\n\n{ITEM}\n\nWrite your translation below.")
    match = _match(tmp_path, record)
    assert match is not None and match[0] == 0 and match[1] >= 1


def test_a_chinese_page_quoting_it_still_matches(tmp_path) -> None:
    match = _match(tmp_path, "下面是一段练习。" + ITEM + "请翻译。")
    assert match is not None and match[1] > 50  # split into characters: one 13-gram per character, nearly


def test_an_ascii_item_is_indexed_as_before(tmp_path) -> None:
    bench = tmp_path / "en.jsonl"
    item = " ".join(f"word{i}" for i in range(20))
    bench.write_text(json.dumps({"question": item}) + "\n", encoding="utf-8")
    p = DecontaminateParams(benchmarks=[BenchmarkSpec(name="en", path=str(bench), fields=["question"])])
    assert np.array_equal(build_index(p).grams, np.unique(ngram_hashes(TokenHasher()(words(item)), p.ngram)))


@pytest.mark.parametrize(("messages", "where"), [
    ([{"role": "user", "content": "hi"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}},
                                        {"type": "thinking", "thinking": "hmm"}]}],
     "messages[1].content[1] is a 'thinking' block"),
    ([{"role": "user", "content": [{"type": "text", "text": "here"},
                                   {"type": "tool_result", "tool_use_id": "t", "content": [
                                       {"type": "text", "text": "a"}, {"type": "image", "source": {}}]}]}],
     "messages[0].content[1].content[1] is a 'image' block"),
])
def test_an_anthropic_part_that_is_not_text_is_named_where_it_is(messages, where) -> None:
    with pytest.raises(RecordError, match=re.escape(where)):
        render_messages(messages)


def test_an_anthropic_tool_result_of_text_parts_is_read_as_before() -> None:
    text = render_messages([{"role": "user", "content": "ls"},
                            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "sh", "input": {}}]},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                                          "content": [{"type": "text", "text": "a"}, "b"]}]}])
    assert text.endswith("[tool id=t]\na\nb")
