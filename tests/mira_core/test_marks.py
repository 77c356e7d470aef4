"""`marks_in_order`: long runs of combining marks in canonical order, so that parsing is linear; the same parse."""

from __future__ import annotations

import ast
import random
import unicodedata

from mira_core.docstats import INDEX, doc_stats
from mira_core.marks import LONG_RUN, marks_in_order
from mira_core.teachers.rules.code_facts import py_facts

# marks of several combining classes (230 above, 220 below, 202 attached below, 1 overlay), a spacing mark of
# class 0 (Devanagari visarga), and one that decomposes (U+0344 -> U+0308 U+0301)
MARKS = "\u0301\u0300\u0316\u0327\u0334\u0903\u0344\u20d2"


def _parse(text: str):
    try:
        return ast.dump(ast.parse(text))
    except SyntaxError as e:
        return ("SyntaxError", e.lineno)


def _texts(n: int, seed: int):
    rng = random.Random(seed)
    pieces = ["a", "x", " = ", "1", "\n", "'", '"', "(", ")", "def f():\n    ", "# ", "é", " "]
    for _ in range(n):
        out = []
        for _ in range(rng.randrange(1, 8)):
            out.append(rng.choice(pieces))
            if rng.random() < 0.5:
                out.append("".join(rng.choice(MARKS) for _ in range(rng.choice([1, 5, LONG_RUN, 3 * LONG_RUN]))))
        yield "".join(out)


def test_the_text_is_canonically_equivalent_and_parses_the_same():
    for text in _texts(400, seed=32):
        ordered = marks_in_order(text)
        assert unicodedata.normalize("NFD", ordered) == unicodedata.normalize("NFD", text), repr(text)
        assert _parse(ordered) == _parse(text), repr(text)


def test_a_long_run_reaches_the_parser_in_canonical_order():
    # a structural check of what makes the parse linear: no mark of a higher class before a lower one in a stretch
    text = "a" + "\u0301\u0316" * (4 * LONG_RUN) + " = 1\n"
    classes = [unicodedata.combining(c) for c in marks_in_order(text)[1:-5]]
    assert classes == sorted(classes) and classes != [unicodedata.combining(c) for c in text[1:-5]]


def test_ordinary_text_is_returned_as_it_is():
    text = "def café(x):\n    return x  # e\u0301\n"
    assert marks_in_order(text) is text


def test_the_statistics_and_the_teacher_parse_a_zalgo_identifier():
    text = "a" + "\u0301\u0316" * 2000 + " = 1\nprint(a)\n"
    assert doc_stats("code", text)[INDEX["py_parses"]] == 1.0 and py_facts(text).ok


def test_a_mark_of_class_0_that_decomposes_into_non_starters_is_decomposed():
    # U+0F73 has class 0 but NFD U+0F71 U+0F72 (classes 129, 130): left whole, every later mark sorted past it in
    # the parser's NFKC, quadratic again (1.9 s at 8,000 pairs)
    text = "x" + "\u0f73\u0334" * (2 * LONG_RUN) + " = 1\n"
    ordered = marks_in_order(text)
    assert "\u0f73" not in ordered
    assert unicodedata.normalize("NFD", ordered) == unicodedata.normalize("NFD", text)
    classes = [unicodedata.combining(c) for c in ordered[1:-5]]
    assert classes == sorted(classes) and _parse(ordered) == _parse(unicodedata.normalize("NFKC", text))
