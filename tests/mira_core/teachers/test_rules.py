"""Tests of the rules teacher (heuristic signals, not an LLM): every dimension on a good and a bad record,
the Backend contract (judge and score replies through validate_reply), anchor matching, scales, and the
agent case study of a trace that repeats a malformed call after an error."""

from __future__ import annotations

import json

import pytest

from mira_core.ingest.render import render_messages, render_qa
from mira_core.rubric import Anchor
from mira_core.teachers import rules
from mira_core.teachers.base import Doc, Request, validate_reply
from mira_core.teachers.rules import REGISTRY, RulesBackend, assess, dimensions, language, match_dimension, parse_messages

# ---------------------------------------------------------------- records built inline

PROSE = """Data selection decides what a language model reads during mid-training, and it matters more than
most people expect. A corpus that mixes careful documentation with scraped boilerplate teaches the model
both, so the quality of each source has to be judged before tokens are spent on it.

The usual approach starts with simple rules. Documents that are too short or too long are dropped, and so
are pages where most lines are bullet points or where words are unusually long. These rules come from the
Gopher and C4 papers, which showed that cheap filters remove a large share of useless text.

Rules alone are not enough, however. They cannot tell whether an explanation is correct or whether a code
example would run, and they treat every source the same way. That is why this project groups sources and
learns a rubric for each group, with a teacher that names the dimensions that matter.

A good rubric is short and concrete. Each anchor has a name, a description and an example reason taken from
a real judgment, so that people can read it and disagree with it. When the rubric changes, the version
changes with it, and every score that depended on it is computed again.

Finally, the selected records are counted in tokens rather than documents. The budget is spent where the
scores are highest, while each group keeps a minimum share, so that no source disappears from the mix just
because another one scored a little better on average."""

PY_GOOD = '''"""Small helpers for arithmetic on prices."""


def add_prices(first: float, second: float) -> float:
    """Return the sum of two prices, rounded to cents."""
    # Rounding here keeps every caller consistent.
    total = first + second
    return round(total, 2)


def scale_price(price: float, factor: float) -> float:
    """Scale a price by a factor, rounded to cents."""
    # Negative factors make no sense for prices.
    if factor < 0:
        raise ValueError("factor must be non-negative")
    return round(price * factor, 2)


class PriceBook:
    """Prices by product name."""

    def __init__(self) -> None:
        self.prices: dict[str, float] = {}

    def get_price(self, name: str) -> float:
        """The price of a product, 0.0 when unknown."""
        return self.prices.get(name, 0.0)
'''

PY_BAD = '''def a(x, y):
    t = x + y
    return t


def b(x, y):
    q = x * y
    return q


def c(x):
    zz = x - 1
    foo = zz * 2
    tmp = foo + zz
    return tmp
'''


def code_doc(text: str) -> Doc:
    return Doc("r1", "src", "code", text)


def agent_text(messages: list[dict]) -> str:
    return render_messages(messages)


def call(cid: str, code: str | None = None, args: str | None = None) -> dict:
    arguments = args if args is not None else json.dumps({"code": code})
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": cid, "type": "function", "function": {"name": "python", "arguments": arguments}}]}


def result(cid: str, content: str) -> dict:
    return {"role": "tool", "tool_call_id": cid, "content": content}


SYSTEM = {"role": "system", "content": "You are a coding agent. The `python` tool runs code."}
USER = {"role": "user", "content": "What is 6 times 7 squared? Use the tool."}

AGENT_GOOD = agent_text([
    SYSTEM, USER,
    call("call_0", "print((6 * 7) ** 2)"), result("call_0", "1764"),
    {"role": "assistant", "content": "Six times seven is 42, and 42 squared is 1764, as the tool printed."},
])


def score_of(fmt: str, text: str, name: str) -> tuple[int | None, str]:
    f = assess(fmt, text, [name])[name]
    return f.score, f.reason


# ---------------------------------------------------------------- every dimension: a good and a bad record

LONG_FN = "def big(x):\n" + "".join(f"    x = x + {i}\n" for i in range(248)) + "    return x\n"
LICENSE = "".join(f"# {line}\n" for line in ["Copyright (c) 2020 Example Corp.", "Permission is hereby granted, free of charge, to any person obtaining a copy", 'of this software and associated documentation files (the "Software"), to deal', "in the Software without restriction, including without limitation the rights", "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell", "copies of the Software, and to permit persons to whom the Software is", "furnished to do so, subject to the following conditions:", "The above copyright notice and this permission notice shall be included in all", "copies or substantial portions of the Software.", 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.'])  # noqa: E501 - a word list
TESTS_GOOD = """import pytest


def test_add():
    assert 1 + 1 == 2
    assert 2 + 2 == 4


def test_raises():
    with pytest.raises(ZeroDivisionError):
        1 / 0
    assert True
"""
TESTS_BAD = """import pytest


def test_add():
    x = 1 + 1


def test_sub():
    y = 2 - 1


def test_mul():
    z = 2 * 3
"""

# name -> (format, good text, bad text, evidence the bad reason must quote)
CASES: dict[str, tuple[str, str, str, str]] = {
    "parses": ("code", PY_GOOD, "def f(x):\n    return (x + 1\n\n\ny = 2\n", "line 2"),
    "docstring_density": ("code", PY_GOOD, PY_BAD, "0 of 3 functions and classes have docstrings (0 %)"),
    "comment_density": ("code", PY_GOOD, PY_BAD, "0 of 11 non-blank lines hold a comment (0 %)"),
    "function_length": ("code", PY_GOOD, LONG_FN, "big (line 1) with 250 lines"),
    "line_length": ("code", PY_GOOD, "x = 1\ny = 2\nz = '" + "a" * 406 + "'\n", "line 3 is 412 characters long"),
    "autogenerated_markers": ("code", PY_GOOD, "# -*- coding: utf-8 -*-\n# Generated by the protocol buffer "
                              "compiler.  DO NOT EDIT!\nimport sys\n", "line 2 says"),
    "minified": ("code", PY_GOOD, "var a=1;" * 300, "100 % of 2400 characters sit on lines over 300"),
    "license_boilerplate": ("code", PY_GOOD, LICENSE + "import os\n", "license/copyright text (line 1)"),
    "stub_only": ("code", PY_GOOD, "def f(x: int) -> int: ...\n\n\ndef g() -> None:\n    pass\n\n\n"
                  "def h():\n    raise NotImplementedError\n", "3 of 3 functions are stubs (100 %)"),
    "type_hints": ("code", PY_GOOD, PY_BAD, "0 of 8 parameters and return values are annotated (0 %)"),
    "todo_markers": ("code", PY_GOOD, "x = 1\n# TODO: fix this\ny = 2  # FIXME\nz = 3\n", "first TODO on line 2"),
    "identifier_quality": ("code", PY_GOOD, PY_BAD, "cryptic"),
    "duplicate_lines": ("code", PY_GOOD, "values = []\n" + "values.append(compute(1))\n" * 10,
                        "'values.append(compute(1))', appears 10 times"),
    "test_assertions": ("code", TESTS_GOOD, TESTS_BAD, "0 of 3 test functions assert something (0 %)"),
    "word_count": ("text", PROSE, "Hello there, world.", "3 words"),
    "mean_word_length": ("text", PROSE, " ".join(["internationalisationally"] * 30), "mean word length 24.0"),
    "alpha_word_fraction": ("text", PROSE, "Results: " + " ".join(str(i) for i in range(40)),
                            "1 of 41 words hold a letter"),
    "symbol_ratio": ("text", PROSE, " ".join(["# step ..."] * 20), "20 hash and 20 ellipsis symbols for 60 words"),
    "duplicate_line_fraction": ("text", PROSE, "Buy cheap watches today.\n" * 8 + "Contact us.\n",
                                "7 of 9 lines repeat an earlier line"),
    "top_ngram_repetition": ("text", PROSE, "click here now " * 30,
                             "'click here now' occurs 30 times, 100.0% of word characters"),
    "bullet_line_fraction": ("text", PROSE, "".join(f"- item number {i}\n" for i in range(10)),
                             "10 of 10 non-blank lines are bullet items"),
    "stopword_presence": ("text", PROSE, "Cats chase mice. Dogs chase cats. Birds sing songs loudly. Fish swim.",
                          "0 of 8 Gopher stop words present (none)"),
    "terminal_punctuation": ("text", PROSE, "Click here to see our great deals today\n\nSign up for the "
                             "newsletter and save big\n\nFollow us on social media for more",
                             "0 of 3 prose paragraphs"),
    "markup_noise": ("text", PROSE, '<div align="center"><img src="logo.png"></div>\n[![Build](https://img.shields.io'
                     '/badge/build-passing-green)](https://ci.example.com)\nSee https://example.com and '
                     'https://example.org for the docs of this small package.',
                     "3 HTML tags, 1 badges and 2 bare URLs"),
    # UTF-8 read as Windows-1252, the commonest mojibake: the same words, so every word rule passes it
    "mojibake": ("text", PROSE, "The caf\u00c3\u00a9 menu lists cr\u00c3\u00aapes and na\u00c3\u00afve dishes; the chef "
                 "said it\u00e2\u20ac\u2122s the best place in town, and the \u00c3\u00a9clair is the dish "
                 "to try.", "mojibake marks"),
    "answer_completeness": ("qa", render_qa("Write the function `add_prices(first, second)` that adds two prices.",
                                            "def add_prices(first, second):\n    total = first + second\n"
                                            "    total = round(total, 2)\n    return total\n"),
                            render_qa("Write the function `add_prices(first, second)` that adds two prices.",
                                      "def add_prices(first, second):\n    pass\n"),
                            "every function body is a stub"),
    "answer_relevance": ("qa", render_qa("Write the function `add_prices(first, second)` that adds two prices.",
                                         "def add_prices(first, second):\n    return round(first + second, 2)\n"),
                         render_qa("Write the function `add_prices(first, second)` that adds two prices.",
                                   "def mul(x, y):\n    return x * y\n"),
                         "0 of 3 identifiers named in the question are used"),
    "question_clarity": ("qa", render_qa("Write the function `add_prices(first, second)` of the module `shop`. It "
                                         "returns the sum of two prices rounded to cents, and raises ValueError when "
                                         "either price is negative, so callers never see a negative total.",
                                         "def add_prices(first, second):\n    return first + second\n"),
                         render_qa("prices", "def add_prices(first, second):\n    return first + second\n"),
                         "1 word; task not stated; target not named"),
    "tool_call_validity": ("agent", AGENT_GOOD, agent_text([SYSTEM, USER, call("call_0", args='{"code": "1"}{"code": '
                                                           '"2"}'), result("call_0", "1"), {"role": "assistant",
                                                           "content": "The result is 1 and that is all."}]),
                           "call_0: 2 JSON values packed into one arguments field"),
    "error_recovery": ("agent",
                       agent_text([SYSTEM, USER, call("call_0", "print(6 * 7 ** 2"),
                                   result("call_0", "SyntaxError: '(' was never closed"),
                                   call("call_1", "print((6 * 7) ** 2)"), result("call_1", "1764"),
                                   {"role": "assistant", "content": "It is 1764."}]),
                       agent_text([SYSTEM, USER, call("call_0", "print(6 * 7 ** 2"),
                                   result("call_0", "SyntaxError: '(' was never closed"),
                                   call("call_1", "print(6 * 7 ** 2"),
                                   result("call_1", "SyntaxError: '(' was never closed"),
                                   {"role": "assistant", "content": "It did not work."}]),
                       "after the error in call_0 the same call is repeated"),
    "tool_result_usage": ("agent", AGENT_GOOD, agent_text([SYSTEM, USER, call("call_0", "print((6 * 7) ** 2)"),
                                                           result("call_0", "1764"),
                                                           {"role": "assistant", "content": "Done, see above."}]),
                          "reuses values from 0 of 1 informative tool result"),
    "task_completion": ("agent", AGENT_GOOD, agent_text([SYSTEM, USER, call("call_0", "print((6 * 7) ** 2)"),
                                                         result("call_0", "1764")]),
                        "ends with a tool message"),
    "repeated_calls": ("agent", agent_text([SYSTEM, USER, call("call_0", "x = 6 * 7"), result("call_0", "(no output)"),
                                            call("call_1", "print(x ** 2)"), result("call_1", "1764"),
                                            {"role": "assistant", "content": "The answer is 1764 for sure."}]),
                       agent_text([SYSTEM, USER] + [m for i in range(3) for m in (
                           call(f"call_{i}", "print(x ** 2)"), result(f"call_{i}", "NameError: name 'x' is not "
                                                                                    "defined"))]
                                  + [{"role": "assistant", "content": "x is not defined, so I stop."}]),
                       "python '{\"code\": \"print(x ** 2)\"}' is called 3 times"),
    "tool_code_syntax": ("agent", AGENT_GOOD, agent_text([SYSTEM, USER, call("call_0", "def (:"),
                                                          result("call_0", "SyntaxError"),
                                                          {"role": "assistant", "content": "That failed badly."}]),
                         "call_0: SyntaxError line 1"),
    "message_structure": ("agent", AGENT_GOOD, agent_text([SYSTEM, call("call_0", "print(1)"), result("call_9", "1"),
                                                           {"role": "assistant", "content": "It printed one."}]),
                          "tool results for unknown calls: call_9"),
    "response_length": ("chat", agent_text([USER, {"role": "assistant", "content": " ".join(PROSE.split()[:60])}]),
                        agent_text([USER, {"role": "assistant", "content": "ok"}]), "mean 1 words"),
    "refusal_markers": ("chat", agent_text([USER, {"role": "assistant", "content": "It is 1764: 6 times 7 is 42, "
                                                   "squared."}]),
                        agent_text([USER, {"role": "assistant", "content": "As an AI language model, I cannot help "
                                                                             "with arithmetic."}]),
                        "'As an AI language model'"),
}


def test_every_dimension_has_a_case():
    assert set(CASES) == set(REGISTRY), "each registered dimension needs a good/bad case here"


@pytest.mark.parametrize("name", sorted(CASES))
def test_good_scores_above_bad_and_bad_reason_quotes_evidence(name: str):
    fmt, good, bad, evidence = CASES[name]
    g, g_reason = score_of(fmt, good, name)
    b, b_reason = score_of(fmt, bad, name)
    assert g is not None and b is not None, (g_reason, b_reason)
    assert g > b, f"{name}: good {g} ({g_reason}) should beat bad {b} ({b_reason})"
    assert g >= 4, g_reason
    assert b <= 2, b_reason
    assert evidence in b_reason, b_reason
    assert any(ch.isdigit() for ch in g_reason) or "no " in g_reason, g_reason


# ---------------------------------------------------------------- individual rules in more detail

def test_reason_examples_from_the_brief():
    _, reason = score_of("code", "x = 1\ny = 2\nz = '" + "a" * 406 + "'\n", "line_length")
    assert reason.startswith("line 3 is 412 characters long")
    s, reason = score_of("code", PY_BAD.replace("def c(x):\n", 'def c(x):\n    """Doc."""\n'), "docstring_density")
    assert reason.startswith("1 of 3 functions and classes have docstrings (33 %)")
    assert s == 2


def test_language_detection():
    assert language(PY_GOOD) == "python"
    assert language("#include <stdio.h>\n\nint main(void) {\n    return 0;\n}\n") == "c"
    assert language("pip install annotated-doc\n") == "shell"
    assert language("#!/bin/bash\nset -e\nfor f in *.txt; do\n  echo \"$f\"\ndone\n") == "shell"
    assert language("$ python -m venv .venv\n$ source .venv/bin/activate\n") == "shell"
    # dict literals end lines with '{' like C blocks do; parsing as Python settles it
    tables = "import os\n" + "".join(f"T{i} = {{\n    'a': 1,\n    'b': {{\n        'c': 2,\n    }},\n}}\n"
                                      for i in range(5))
    assert language(tables) == "python"


def test_parses_c_and_shell():
    good_c = '#ifndef X_H\n#define X_H\nstatic int f(int a) {\n    return a * (a + 1); /* } */\n}\n#endif\n'
    bad_c = "#ifndef X_H\n#define X_H\nstatic int f(int a) {\n    return a * (a + 1);\n\n#endif\n"
    assert score_of("code", good_c, "parses")[0] == 5
    s, reason = score_of("code", bad_c, "parses")
    assert s <= 2 and "'{' opened on line 3 is never closed" in reason
    assert score_of("code", "#!/bin/sh\nif [ -f x ]; then\n  echo 'yes'\nfi\n", "parses")[0] == 5
    s, reason = score_of("code", "#!/bin/sh\nif [ -f x ]; then\n  echo 'yes\n", "parses")
    assert s <= 2 and "unterminated ' quote on line 3" in reason and "1 'if' but 0 'fi'" in reason


def test_python2_parses_slightly_above_garbage():
    py2, reason = score_of("code", "import sys\nprint 'hello'\n", "parses")
    assert py2 == 2 and "Python 2" in reason and "line 2" in reason


def test_scores_are_graded_not_pass_fail():
    """Between the extremes the rules give intermediate scores."""
    scores = []
    for k in range(0, 6):
        text = "".join(
            f'def f{i}(x):\n' + ('    """Doc."""\n' if i < k else "") + "    return x\n\n\n" for i in range(5))
        scores.append(score_of("code", text, "docstring_density")[0])
    assert scores == sorted(scores) and len(set(scores)) >= 4, scores


def test_test_assertions_not_applicable_outside_tests():
    # imghdr-style detectors named test_* are not tests
    text = "def test_jpeg(h, f):\n    if h[6:10] == b'JFIF':\n        return 'jpeg'\n"
    f = assess("code", text, ["test_assertions"])["test_assertions"]
    assert f.score is None and "test code" in f.reason


def test_test_assertions_counts_aliases_and_helpers():
    text = ("import unittest\n\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        eq = self.assertEqual\n"
            "        eq(1, 1)\n        eq(2, 2)\n\n    def test_b(self):\n        self._check(3)\n")
    s, reason = score_of("code", text, "test_assertions")
    assert s >= 4 and "2 of 2 test functions assert something" in reason


def test_code_dimensions_judge_the_answer_of_a_qa_record():
    text = render_qa("Write the function `a(x, y)`.", PY_BAD)
    f = assess("qa", text, ["docstring_density"])["docstring_density"]
    assert f.score == 1 and f.reason.startswith("answer: 0 of 3")
    prose = render_qa("Why is the sky blue?", "Because air scatters blue light more than red light.")
    f = assess("qa", prose, ["docstring_density"])["docstring_density"]
    assert f.score is None and "not code" in f.reason


def test_qa_answer_with_fenced_examples_in_its_docstring_is_judged_whole():
    answer = 'def f(x):\n    """Double.\n\n    ```python\n    f(2)\n    ```\n    """\n    return 2 * x\n'
    f = assess("qa", render_qa("Write the function `f(x)`.", answer), ["parses"])["parses"]
    assert f.score == 5, f.reason


@pytest.mark.parametrize("opener", ["```python title=\"add.py\"", "``` python", "```python {lint=\"skip\"}"])
def test_qa_answer_fence_with_an_info_string_is_read_as_code(opener):
    answer = f"Here is one:\n\n{opener}\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n```\n\nIt adds them."
    f = assess("qa", render_qa("Write `add(a, b)`.", answer), ["parses"])["parses"]
    # the opener's text after the language kept the fence unread: the whole answer, prose too, was parsed
    assert f.score == 5, f.reason


def test_message_parser_reads_the_rendering_back():
    msgs = parse_messages(AGENT_GOOD)
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool", "assistant"]
    assert msgs[2].calls[0].id == "call_0" and msgs[2].calls[0].name == "python"
    assert json.loads(msgs[2].calls[0].args) == {"code": "print((6 * 7) ** 2)"}
    assert msgs[3].ref == "call_0" and msgs[3].content == "1764"
    multi = agent_text([USER, {"role": "assistant", "content": "Two steps.\n\nFirst this.", "tool_calls": [
        {"id": "a", "function": {"name": "python", "arguments": "{}"}},
        {"id": "b", "function": {"name": "shell", "arguments": '{"cmd": "ls"}'}}]}])
    m = parse_messages(multi)[1]
    assert m.content == "Two steps.\n\nFirst this." and [c.name for c in m.calls] == ["python", "shell"]


@pytest.mark.parametrize("args", ['{"n": ' + "1" * 5000 + "}", "[" * 5000], ids=["5000-digit number", "deep array"])
def test_tool_arguments_past_pythons_json_limits_score_as_invalid_not_a_crash(args):
    text = agent_text([SYSTEM, USER, call("call_0", args=args), result("call_0", "ok"),
                       {"role": "assistant", "content": "Done."}])
    score, reason = score_of("agent", text, "tool_call_validity")
    assert score == 1 and "not readable as JSON" in reason
    assert all(f.score is None or 1 <= f.score <= 5 for f in assess("agent", text).values())  # none raises


def test_agent_dimensions_do_not_apply_to_code():
    f = assess("code", PY_GOOD, ["tool_call_validity"])["tool_call_validity"]
    assert f.score is None and "not code" in f.reason


# ---------------------------------------------------------------- the paper's case study

def test_case_study_repeating_a_malformed_call_scores_below_fixing_it():
    packed = '{"code": "import math"}{"code": "math.sqrt(-1)"}'
    err = "JSONDecodeError: Extra data: line 1 column 25 (char 24)"
    repeats = agent_text([SYSTEM, USER, call("call_0", args=packed), result("call_0", err),
                          call("call_1", args=packed), result("call_1", err),
                          {"role": "assistant", "content": "The tool keeps failing."}])
    fixes = agent_text([SYSTEM, USER, call("call_0", args=packed), result("call_0", err),
                        call("call_1", "import math\nprint(math.sqrt(16))"), result("call_1", "4.0"),
                        {"role": "assistant", "content": "The square root of 16 is 4.0."}])
    for name in ("tool_call_validity", "error_recovery"):
        bad, bad_reason = score_of("agent", repeats, name)
        good, good_reason = score_of("agent", fixes, name)
        assert bad is not None and good is not None
        assert bad < good, (name, bad_reason, good_reason)
    assert score_of("agent", repeats, "tool_call_validity")[0] == 1
    assert score_of("agent", fixes, "tool_call_validity")[0] == 2  # its first call is still malformed
    assert "packed" in score_of("agent", repeats, "tool_call_validity")[1]
    assert score_of("agent", repeats, "error_recovery")[0] <= 2
    assert score_of("agent", fixes, "error_recovery")[0] == 5


# ---------------------------------------------------------------- the backend

def test_dimensions_are_documented():
    dims = dimensions()
    assert len(dims) >= 24
    names = [d["name"] for d in dims]
    assert len(set(names)) == len(names)
    for d in dims:
        assert d["name"] == d["name"].lower() and " " not in d["name"]
        assert d["description"].endswith(".") and len(d["description"]) > 20
        assert d["formats"] and set(d["formats"]) <= {"code", "text", "qa", "chat", "agent"}
    covered = {f for d in dims for f in d["formats"]}
    assert covered == {"code", "text", "qa", "chat", "agent"}


def test_judge_round_trip_through_validate_reply():
    backend = RulesBackend(max_judgments=5)
    req = Request("judge", code_doc(PY_BAD))
    (out,) = backend.run([req])
    assert out.ok and out.calls == 1 and out.prompt_tokens == 0 and out.completion_tokens == 0
    assert validate_reply(out.data, req, (1, 5)) == out.data
    js = out.data["judgments"]
    assert len(js) == 5
    assert all(j["name"] in REGISTRY and j["description"] == REGISTRY[j["name"]].description for j in js)
    rank = list(REGISTRY)
    keys = [(j["score"] == 5, j["score"], rank.index(j["name"])) for j in js]
    assert keys == sorted(keys)
    # the omitted dimensions are no more salient than the last one shown
    everything = [f for f in assess("code", PY_BAD).values() if f.score is not None]
    shown = {j["name"] for j in js}
    assert all((f.score == 5, f.score, rank.index(f.name)) > keys[-1] for f in everything if f.name not in shown)


def test_judge_names_what_a_record_fails_before_what_it_passes():
    # a weak generated-file hint and one long line score 3: failures, however mild, come before every pass
    text = "# generated from a template\n" + PY_GOOD + 'LIMIT = "' + "x" * 140 + '"\n'
    found = {f.name: f.score for f in assess("code", text).values() if f.score is not None}
    assert found["autogenerated_markers"] == 3 and found["line_length"] == 3, found
    (out,) = RulesBackend(max_judgments=20).run([Request("judge", code_doc(text))])
    names = [j["name"] for j in out.data["judgments"]]
    failed = [n for n in REGISTRY if n in found and found[n] < 5]
    failed.sort(key=lambda n: found[n])  # worst first; a stable sort keeps REGISTRY order within a score
    passed = [n for n in REGISTRY if found.get(n) == 5]
    assert {"autogenerated_markers", "line_length"} <= set(failed) and passed
    assert names == failed + passed
    (out,) = RulesBackend(max_judgments=len(failed)).run([Request("judge", code_doc(text))])
    assert [j["name"] for j in out.data["judgments"]] == failed


def test_a_clean_pages_mojibake_pass_is_the_last_thing_its_judgment_names():
    # the cause session 45 found: ranked by distance from the middle, "no mojibake" on an ASCII page was as
    # salient as a defect, and displaced a real anchor in discovery
    (out,) = RulesBackend(max_judgments=20).run([Request("judge", Doc("p", "s", "text", PROSE))])
    js = out.data["judgments"]
    assert js[-1]["name"] == "mojibake" and js[-1]["score"] == 5
    (out,) = RulesBackend(max_judgments=len(js) - 1).run([Request("judge", Doc("p", "s", "text", PROSE))])
    assert "mojibake" not in {j["name"] for j in out.data["judgments"]}


def test_judge_is_deterministic():
    backend = RulesBackend()
    reqs = [Request("judge", Doc("a", "s", "text", PROSE)), Request("judge", Doc("b", "s", "agent", AGENT_GOOD))]
    assert [o.data for o in backend.run(reqs)] == [o.data for o in backend.run(reqs)]


def test_judge_fails_permanently_when_nothing_applies():
    (out,) = RulesBackend().run([Request("judge", Doc("x", "s", "qa", "just some text, not a rendered qa"))])
    assert not out.ok and out.error_kind == "permanent" and "no rules dimension applies" in out.error
    assert out.calls == 1


def anchor(aid: str, name: str) -> Anchor:
    return Anchor(id=aid, name=name, description="d", exemplar_reason="e", support=1)


def test_score_round_trip_with_exact_and_fuzzy_names():
    backend = RulesBackend()
    anchors = (anchor("a00", "Docstring Density"), anchor("a01", "docstring_coverage"), anchor("a02", "type hints"))
    req = Request("score", code_doc(PY_BAD), anchors, "v1")
    (out,) = backend.run([req])
    assert out.ok, out.error
    assert validate_reply({"scores": [{"anchor": k, **v} for k, v in out.data["scores"].items()]}, req, (1, 5)) \
        == out.data
    s = out.data["scores"]
    assert set(s) == {"a00", "a01", "a02"}
    assert s["a00"]["score"] == 1 and "0 of 3 functions" in s["a00"]["rationale"]
    assert s["a01"] == {"score": 1, "rationale": s["a00"]["rationale"] + " (anchor 'docstring_coverage' read as "
                                                                          "docstring_density)"}
    assert s["a02"]["score"] == 1 and "annotated" in s["a02"]["rationale"]


def test_match_dimension():
    assert match_dimension("Line Length") == "line_length"
    assert match_dimension("stopwords") == "stopword_presence"
    assert match_dimension("overall vibes") is None


def test_score_fails_on_an_unknown_anchor_and_names_it():
    req = Request("score", code_doc(PY_GOOD), (anchor("a00", "parses"), anchor("a01", "overall vibes")), "v1")
    (out,) = RulesBackend().run([req])
    assert not out.ok and out.error_kind == "permanent"
    assert "a01" in out.error and "overall vibes" in out.error


def test_not_applicable_gets_the_midpoint_and_says_why():
    req = Request("score", code_doc("#include <stdio.h>\nint f(void);\n"), (anchor("a00", "type_hints"),
                                                                         anchor("a01", "word_count")), "v1")
    (out,) = RulesBackend(scale=(1, 5)).run([req])
    assert out.ok
    th, wc = out.data["scores"]["a00"], out.data["scores"]["a01"]
    assert th["score"] == 3 and th["rationale"].startswith("not applicable:") and "this is c code" in th["rationale"]
    assert wc["score"] == 3 and "applies to text records, not code" in wc["rationale"]
    (out,) = RulesBackend(scale=(0, 10)).run([req])
    assert out.data["scores"]["a00"]["score"] == 5


def test_scale_mapping():
    backend = RulesBackend(scale=(0, 10))
    assert [backend.to_scale(s) for s in range(1, 6)] == [0, 3, 5, 8, 10]
    assert [RulesBackend(scale=(1, 5)).to_scale(s) for s in range(1, 6)] == [1, 2, 3, 4, 5]
    req = Request("score", code_doc(PY_BAD), (anchor("a00", "docstring_density"), anchor("a01", "parses")), "v1")
    (out,) = backend.run([req])
    assert out.data["scores"]["a00"]["score"] == 0 and out.data["scores"]["a01"]["score"] == 10
    (out,) = backend.run([Request("judge", code_doc(PY_BAD))])
    assert out.ok and {j["score"] for j in out.data["judgments"]} <= {0, 3, 5, 8, 10}
    assert validate_reply(out.data, Request("judge", code_doc(PY_BAD)), (0, 10)) == out.data
    with pytest.raises(ValueError):
        RulesBackend(scale=(5, 5))


def test_one_bad_record_does_not_sink_the_batch(monkeypatch):
    def boom(text: str):
        raise RuntimeError("rule exploded")

    dim = REGISTRY["word_count"]
    monkeypatch.setitem(REGISTRY, "word_count", rules.Dimension(dim.name, dim.description, dim.formats,
                                                                dim.applies_when, boom))
    outs = RulesBackend().run([Request("judge", Doc("t", "s", "text", PROSE)), Request("judge", code_doc(PY_GOOD))])
    assert not outs[0].ok and outs[0].error_kind == "permanent" and "rule exploded" in outs[0].error
    assert outs[1].ok


def test_identity_is_rules_not_an_llm():
    backend = RulesBackend()
    assert backend.provider == "rules" and backend.model == "rules-v1"
    assert RulesBackend(model="rules-v2").model == "rules-v2"


def test_large_record_is_judged():
    # its speed is a benchmark's: BENCHMARKS.md section 8 times the rules teacher on the whole demo corpus
    text = (PY_GOOD + "\n") * 120  # about 100,000 characters
    assert len(text) > 90_000
    (out,) = RulesBackend().run([Request("judge", code_doc(text))])
    assert out.ok and out.data["judgments"]


def test_a_last_turn_with_words_beside_an_unanswered_call_still_dangles():
    t = render_messages([{"role": "user", "content": "What is in /tmp? list it please"},
                         {"role": "assistant", "content": "Let me look at the folder for you.", "tool_calls": [
                             {"id": "c1", "function": {"name": "ls", "arguments": '{"path": "/tmp"}'}}]}])
    assert assess("agent", t, ["task_completion"])["task_completion"].score <= 2  # was 5: "an answer of 8 words"


def test_comment_density_counts_no_blank_line_inside_a_block_comment():
    from mira_core.teachers.rules.code_facts import code_lines, comment_lines

    c = ("/* Overview of this module.\n\n   It adds numbers.\n\n   Usage: see add().\n\n*/\n#include <stdio.h>\n"
         "static int add(int a, int b) {\n  int s = a + b;\n  return s;\n}\n")
    assert comment_lines(c) == {1, 3, 5, 7} and len(code_lines(c)) == 9
    spaced = "/*\n" + "\n" * 30 + "*/\n" + "int main(void) {\n  return 0;\n}\n" * 3
    reason = assess("code", spaced, ["comment_density"])["comment_density"].reason
    assert reason.startswith("2 of 11 non-blank lines"), reason  # was "32 of 11 ... (291 %)"


def test_a_method_question_is_checked_like_a_function_question():
    unrelated = ('def unrelated_helper(path):\n    """Read a file."""\n    with open(path) as fh:\n'
                 '        data = fh.read()\n    return data.strip()\n')
    right = ('def parse_header(self, line):\n    """Split a header line."""\n    name, _, value = line.partition(":")\n'
             '    return name.strip(), value.strip()\n')
    function = "Write the function `parse_header(self, line)` of the Python module `mail`.\n\nSplit a header line."
    method = "Write the method `HeaderParser.parse_header(self, line)` of the Python module `mail`.\n\nSplit a header line."
    for dim in ("answer_completeness", "answer_relevance"):
        for answer in (unrelated, right):
            scores = [assess("qa", render_qa(q, answer), [dim])[dim].score for q in (function, method)]
            assert scores[0] == scores[1], (dim, answer[:20], scores)
    assert assess("qa", render_qa(method, unrelated), ["answer_completeness"])["answer_completeness"].score <= 2
    # a qualified call that is no method of the question's (a library function used) asks for nothing to define
    how = "How do I read a JSON file with `json.loads(text)`?\n\nRead a config file."
    use = 'import json\n\ndef read_config(path):\n    """Read it."""\n    return json.loads(open(path).read())\n'
    assert assess("qa", render_qa(how, use), ["answer_completeness"])["answer_completeness"].score >= 4


def test_python_is_parsed_one_thread_at_a_time(monkeypatch):
    # CPython before 3.11.8 (gh-106905) raised "AST constructor recursion depth mismatch" under concurrent parses:
    # a label chunk's record was lost, as a cached permanent failure; the rules teacher and docstats hold a lock
    import ast
    import threading
    import types

    from mira_core import docstats
    from mira_core.teachers.rules import code_facts

    held = []

    def parse(*a, **k):
        held.append(any(getattr(m, "PARSE_LOCK", threading.Lock()).locked() for m in (code_facts, docstats)))
        return ast.parse(*a, **k)

    shim = types.SimpleNamespace(**{k: getattr(ast, k) for k in dir(ast) if not k.startswith("__")})
    shim.parse = parse
    for module in (code_facts, docstats):  # the modules' own `ast`, not pytest's
        monkeypatch.setattr(module, "ast", shim)
    code_facts.py_facts("def lock_test_a(x):\n    return x\n")
    docstats.doc_stats("code", "def lock_test_b(x):\n    return x\n")
    assert held and all(held), held
