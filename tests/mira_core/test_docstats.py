"""Tests of the document statistics: each statistic moves the way its definition says, on records built here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mira_core.docstats import INDEX, MAX_CHARS, MAX_PARSE_CHARS, NAMES, doc_stats, doc_stats_matrix
from mira_core.ingest.render import render_messages, render_qa

GOOD_PY = "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n\n\nclass Box:\n    pass\n"


def stat(fmt: str, text: str, name: str) -> float:
    return float(doc_stats(fmt, text)[INDEX[name]])


def test_every_statistic_is_finite_for_every_format_and_edge_case():
    cases = [("code", ""), ("text", "\n\n\n"), ("qa", "not in qa form"), ("agent", "no messages here"),
             ("chat", "x" * 200_000), ("code", "(((((((("), ("text", "日本語のテキスト。")]
    m = doc_stats_matrix([f for f, _ in cases], [t for _, t in cases])
    assert m.shape == (len(cases), len(NAMES)) and m.dtype == np.float32
    assert np.isfinite(m).all()


def test_python_parse_and_where_it_breaks():
    assert stat("code", GOOD_PY, "py_parses") == 1.0 and stat("code", GOOD_PY, "py_checked") == 1.0
    broken = GOOD_PY.replace("return a + b", "return (a + b")
    assert stat("code", broken, "py_parses") == 0.0
    assert 0 < stat("code", broken, "py_error_at") < 1.0
    assert stat("text", GOOD_PY, "py_checked") == 0.0  # prose is not parsed as Python
    assert stat("code", broken, "bracket_imbalance") > stat("code", GOOD_PY, "bracket_imbalance")


def test_code_longer_than_the_statistics_cut_is_parsed_whole():
    # One valid module of ~150,000 characters: cut at MAX_CHARS it would end mid-statement and read as broken.
    long_py = "".join(f"def f{i}(a, b):\n    return (a + b) * {i}\n\n\n" for i in range(5_000))
    assert len(long_py) > MAX_CHARS
    assert stat("code", long_py, "py_parses") == 1.0 and stat("code", long_py, "bracket_imbalance") == 0.0
    assert stat("code", long_py + "def broken(:\n", "py_parses") == 0.0
    assert stat("code", long_py + "x = (\n", "bracket_imbalance") > 0.0
    answer = "```python\n" + long_py + "```"
    assert stat("qa", render_qa("How do I add?", answer), "py_parses") == 1.0  # an answer's code too
    too_long = "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1)
    assert stat("code", too_long, "py_checked") == 0.0  # past the parse cap: not checked, not "broken"


def test_lines_end_at_a_lone_carriage_return_as_python_counts_them():
    code = GOOD_PY + "".join(f"x{i} = {i}\n" for i in range(40))  # 2 definitions in 48 lines
    crlf, cr = code.replace("\n", "\r\n"), code.replace("\n", "\r")
    assert stat("code", cr, "py_defs_per_line") == stat("code", code, "py_defs_per_line") < 1.0
    assert stat("code", crlf, "py_defs_per_line") == stat("code", code, "py_defs_per_line")
    broken = GOOD_PY.replace("return a + b", "return (a + b").replace("\n", "\r")
    assert 0 < stat("code", broken, "py_error_at") < 1.0


@pytest.mark.parametrize("args", ['{"n": ' + "1" * 5_000 + "}", "[" * 5_000, '{"a": ' + "[" * 5_000 + "}"],
                         ids=["5000-digit number", "deep array", "deep object"])
def test_tool_arguments_past_pythons_json_limits_are_invalid_not_a_crash(args):
    msgs = [{"role": "user", "content": "add"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "python", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}, {"role": "assistant", "content": "done"}]
    assert stat("agent", render_messages(msgs), "tool_args_json_frac") == 0.0


def test_the_statistics_never_load_the_teachers():
    # The statistics must stay teacher-independent: importing them loads no module of mira_core.teachers,
    # directly or through another module.
    code = ("import sys, mira_core.docstats; "
            "print(sorted(m for m in sys.modules if m.startswith('mira_core.teachers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_minified_and_numeric_dumps_show_in_line_statistics():
    minified = ";".join(f"var a{i}=function(x){{return x*{i}}}" for i in range(200))
    assert stat("code", minified, "huge_line_char_frac") > 0.9
    assert stat("code", GOOD_PY, "huge_line_char_frac") == 0.0
    table = "\n".join(", ".join(str(i * j) for j in range(12)) for i in range(50))
    assert stat("code", table, "numeric_line_frac") > 0.9 > stat("code", GOOD_PY, "numeric_line_frac")


def test_repetition_and_compression():
    spam = "Buy cheap watches now at our shop!\n" * 40
    prose = ("The parser reads one record at a time. Each field is checked against the schema, and a record "
             "that fails is quarantined with its line number. Counts are kept for the report.")
    assert stat("text", spam, "dup_line_frac") > 0.9 and stat("text", prose, "dup_line_frac") == 0.0
    assert stat("text", spam, "dup_5gram_char_frac") > 0.8 > stat("text", prose, "dup_5gram_char_frac")
    assert stat("text", spam, "compression_ratio") < stat("text", prose, "compression_ratio")
    assert stat("text", "# generated by protoc. DO NOT EDIT\nx = 1", "generated_marker") == 1.0


def test_qa_overlap_and_echo():
    q = "How do I reverse a list in Python?"
    good = render_qa(q, "Use slicing:\n\n```python\nitems[::-1]\n```\nor call `items.reverse()` in place.")
    echo = render_qa(q, q)
    assert stat("qa", echo, "qa_answer_echo") == 1.0 and stat("qa", good, "qa_answer_echo") == 0.0
    assert stat("qa", echo, "qa_word_overlap") == 1.0 > stat("qa", good, "qa_word_overlap")
    assert stat("qa", good, "qa_answer_has_code") == 1.0 and stat("qa", good, "py_parses") == 1.0
    assert stat("qa", good, "qa_form") == 1.0 and stat("qa", "plain text", "qa_form") == 0.0


@pytest.mark.parametrize("opener", ["```python", "```python title=\"rev.py\"", "``` python"])
def test_a_qa_fence_with_an_info_string_is_the_answers_code(opener):
    # the info string past the language kept the fence unread: the prose around it was parsed as code
    answer = f"Use slicing:\n\n{opener}\nitems = [1, 2]\nback = items[::-1]\n```\nor call `items.reverse()` in place."
    text = render_qa("How do I reverse a list in Python?", answer)
    assert stat("qa", text, "qa_answer_has_code") == 1.0 and stat("qa", text, "py_parses") == 1.0


def test_qa_question_recall_tells_a_long_relevant_answer_from_an_unrelated_one():
    q = "Write `parse_header(line)`: split an HTTP header line into its name and value."
    body = "\n".join(f"    # step {i}: keep going" for i in range(40))
    relevant = render_qa(q, f"def parse_header(line):\n{body}\n    name, value = line.split(':', 1)\n"
                            "    return name.strip(), value.strip()\n")
    unrelated = render_qa(q, "def mean(xs):\n    return sum(xs) / len(xs)\n")
    # The long relevant answer's Jaccard is low (its own words swamp the union); its recall is not.
    assert stat("qa", relevant, "qa_word_overlap") < 0.3
    assert stat("qa", relevant, "qa_question_term_recall") > 0.5 > stat("qa", unrelated, "qa_question_term_recall")
    assert stat("qa", relevant, "qa_question_code") == 1.0 == stat("qa", unrelated, "qa_question_code")
    assert stat("qa", relevant, "qa_question_code_recall") == 1.0 and stat("qa", unrelated, "qa_question_code_recall") == 0.0
    plain = render_qa("How do I reverse a list?", "Call reverse on the list.")
    assert stat("qa", plain, "qa_question_code") == 0.0 == stat("qa", plain, "qa_question_code_recall")
    assert stat("qa", plain, "qa_question_term_recall") == 1.0  # reverse, list: both in the answer


def _trace(args: str, repeat: int = 1, final: str = "The answer is 4.") -> str:
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    for i in range(repeat):
        msgs.append({"role": "assistant", "content": "",
                     "tool_calls": [{"id": f"c{i}", "function": {"name": "calc", "arguments": args}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "content": "4"})
    msgs.append({"role": "assistant", "content": final})
    return render_messages(msgs)


def test_tool_call_json_loops_and_final_answer():
    good = _trace(json.dumps({"expr": "2+2"}))
    assert stat("agent", good, "tool_args_json_frac") == 1.0 and stat("agent", good, "final_assistant_text") == 1.0
    assert stat("agent", _trace('{"expr": "2+2"'), "tool_args_json_frac") == 0.0
    loop = _trace(json.dumps({"expr": "2+2"}), repeat=6)
    assert stat("agent", loop, "tool_repeat_frac") == pytest.approx(5 / 6)
    assert stat("agent", good, "tool_repeat_frac") == 0.0
    assert stat("agent", _trace("{}", final=""), "final_assistant_text") == 0.0


def test_format_is_one_hot():
    v = doc_stats("qa", "x")
    assert [n for n in NAMES if n.startswith("format_") and v[INDEX[n]] == 1.0] == ["format_qa"]


def test_upper_frac_is_a_share_of_the_letters_even_beside_upper_case_symbols():
    # circled letters and Roman numerals are `isupper` but not `isalpha`: counted over the letters they passed 1
    assert stat("text", "ⒶⒷⒸⒹⒺ abc", "upper_frac") == 0.0
    assert stat("text", "Ⅻ ⓐ AbC", "upper_frac") == pytest.approx(2 / 3)
    symbols = "".join(chr(i) for i in range(0x2160, 0x2170)) + "".join(chr(i) for i in range(0x24B6, 0x24D0))
    assert 0.0 <= stat("text", symbols + " word", "upper_frac") <= 1.0


def test_the_top_2gram_share_counts_each_character_once():
    # "na na na na": the bigram (na, na) occurs 3 times over 4 words; counted per occurrence it covered 12 of the 8
    # word characters (a share of 1.5), as datatrove's product does. The share is of the characters it covers.
    assert stat("text", "na na na na", "top_2gram_char_frac") == pytest.approx(1.0)
    assert stat("text", "buy now buy now and then", "top_2gram_char_frac") == pytest.approx(12 / 19)
    assert stat("text", "alpha beta gamma delta", "top_2gram_char_frac") == pytest.approx(9 / 19)
    spam = "Buy cheap watches now at our shop!\n" * 40
    assert 0.0 <= stat("text", spam, "top_2gram_char_frac") <= 1.0


@pytest.mark.parametrize("final", ["The answer is 4.", ""])
def test_a_trace_longer_than_the_cut_is_judged_by_its_own_last_message(final):
    # the statistics read the first MAX_CHARS characters, so a long trace's answer, past them, read as none (and a
    # trace cut inside a tool result as ending in one)
    padding = "x = 1\n" * (MAX_CHARS // 6 + 10)  # one tool result longer than the cut
    msgs = [{"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "run", "arguments": json.dumps({"code": "2+2"})}}]},
            {"role": "tool", "content": padding + "done [assistant]"},  # a head inside a line is no message
            {"role": "assistant", "content": final}]
    text = render_messages(msgs)
    assert len(text) > MAX_CHARS
    assert stat("agent", text, "final_assistant_text") == float(bool(final))
    # a trace that ends in a tool result past the cut ends in no answer, however its cut text ends
    assert stat("agent", render_messages(msgs[:3]), "final_assistant_text") == 0.0


def test_a_qa_record_whose_question_is_longer_than_the_cut_is_still_qa():
    question = "How does `json.loads` parse this? " + "data " * (MAX_CHARS // 5)
    text = render_qa(question, "Call json.loads on the string; it returns the parsed object.")
    assert len(text) > MAX_CHARS
    assert stat("qa", text, "qa_form") == 1.0
    assert stat("qa", text, "qa_question_code_recall") == 1.0  # the answer names json.loads, as the question asks


def test_identifier_statistics_tell_cryptic_names_from_descriptive_ones():
    cryptic = "def f(a, b):\n    c = a * b\n    d = c + a\n    return d\n"
    named = "def total_price(unit_price, quantity):\n    subtotal = unit_price * quantity\n    return subtotal\n"
    assert stat("code", cryptic, "ident_short_frac") > stat("code", named, "ident_short_frac")
    assert stat("code", cryptic, "ident_mean_len") < stat("code", named, "ident_mean_len")
    # def, f, a, b, c, d, return: 5 of 7 distinct names have one or two characters; mean length 14 / 7
    assert stat("code", cryptic, "ident_short_frac") == pytest.approx(5 / 7)
    assert stat("code", cryptic, "ident_mean_len") == pytest.approx(14 / 7 / 10)
    assert stat("text", named, "ident_mean_len") == 0.0  # prose is not read for names


def test_identifier_statistics_skip_strings_and_comments_but_read_c_preprocessor_lines():
    code = "def f(a, b):\n    return a + b\n"
    wordy = ("# a comment full of extraordinarily descriptive words\n" + code
             + "s = 'another literal_with_long_words'\n/* block comment_words */\n// line comment_words\n")
    assert stat("code", wordy, "ident_mean_len") == stat("code", code + "s = ''\n", "ident_mean_len")
    c = "#include <stdio.h>\n#define BUFFER_CAPACITY 4096\nint read_all(void);\n"
    assert stat("code", c, "ident_mean_len") > stat("code", "#include <stdio.h>\nint read_all(void);\n",
                                                     "ident_mean_len")
    # an unclosed comment or string runs to the end (a one-line string to the end of its line): no name in it
    assert stat("code", "/* " * 20_000 + "x", "ident_mean_len") == 0.0
    assert stat("code", "x = 1\n\"\"\"never closed " + "words " * 1000, "ident_short_frac") == 1.0
    assert stat("code", "x = 1\n" + '"\\' * 20_000, "ident_short_frac") == 1.0  # one line of escapes: one string
    assert stat("code", "x = 'no closing quote on this line\nlong_name = 2\n", "ident_short_frac") == 0.5
    # a name holding a non-ASCII letter is left out whole, not read as its ASCII head ("gr")
    assert stat("code", "größe = 1\nab = 2\nlong_name = 3\n", "ident_short_frac") == 0.5


def test_identifier_statistics_of_a_qa_answers_code():
    answer = "```python\ndef f(a, b):\n    return a + b\n```"
    assert stat("qa", render_qa("How do I add two numbers?", answer), "ident_short_frac") > 0.5
    assert stat("qa", render_qa("How do I add two numbers?", "Use the plus operator."), "ident_short_frac") == 0.0


def test_docstring_coverage_counts_functions_methods_and_classes_with_a_docstring():
    # GOOD_PY: add has a docstring, Box does not; no module docstring
    assert stat("code", GOOD_PY, "py_doc_frac") == 0.5
    assert stat("code", GOOD_PY, "py_module_doc") == 0.0
    documented = ('"""A module."""\n\nclass Box:\n    """A box."""\n\n    def size(self):\n        """Its size."""\n'
                  "        return 1\n\n    async def _fill(self):\n        x = 'not a docstring'\n        return x\n")
    assert stat("code", documented, "py_doc_frac") == pytest.approx(2 / 3)  # the private method counts, undocumented
    assert stat("code", documented, "py_module_doc") == 1.0
    # nothing defined, or no Python: 0, beside py_defs_per_line 0 / py_parses 0
    assert stat("code", '"""Only a docstring."""\nx = 1\n', "py_doc_frac") == 0.0
    assert stat("code", "def f(:\n    '''broken'''\n", "py_doc_frac") == 0.0
    # a QA answer's code is read too
    answer = "```python\ndef f(a, b):\n    \"\"\"Add them.\"\"\"\n    return a + b\n```"
    assert stat("qa", render_qa("How do I add two numbers?", answer), "py_doc_frac") == 1.0
