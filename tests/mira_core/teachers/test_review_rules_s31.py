"""Rules teacher review, round 31: a record with Windows line ends (CRLF) is judged as its LF twin (a qa answer's fenced
Python block was missed and the whole answer failed to parse; a Markdown page's paragraphs were not found), and
seeded random records check the invariants: every reply validates with its scores on the scale, and a record's reply
depends neither on the other records of the batch nor on their order."""

from __future__ import annotations

import random

import pytest

from mira_core.ingest.render import render_messages, render_qa
from mira_core.rubric import Anchor
from mira_core.teachers.base import Doc, Request
from mira_core.teachers.rules import FORMATS, REGISTRY, RulesBackend, assess

PIECES = ["def f(x):\n    \"\"\"Add one.\"\"\"\n    return x + 1\n", "class A:\n    pass\n", "print 'hi'\n",
          "#include <stdio.h>\nint main() {\n  return 0;\n}\n", "if [ -z \"$x\" ]; then\n  echo hi\nfi\n",
          "# TODO: fix this\n", "# A heading\n", "Title\n=====\n", "```python\n", "```\n", "\n\n", "\n", "\t", " ",
          "The quick brown fox jumps over the lazy dog. ", "words without an end ", "- a bullet item\n", "...",
          "Copyright 2020. Licensed under MIT\n", "DO NOT EDIT\n", "x" * 120, "{", "}", "(", ")", "'", '"', "é", "😀"]
ANCHORS = tuple(Anchor(id=f"a{i:02d}", name=name, description="d", exemplar_reason="r", support=1)
                for i, name in enumerate(REGISTRY))


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(n))


def random_doc(rng: random.Random, i: int) -> Doc:
    fmt = rng.choice(FORMATS)
    if fmt == "qa":
        text = render_qa(random_text(rng, rng.randint(1, 6)).strip() or "Why?", random_text(rng, 12).strip() or "So.")
    elif fmt in ("chat", "agent"):
        calls = [{"id": "c1", "function": {"name": "python", "arguments": {"code": random_text(rng, 3)}}}]
        text = render_messages([{"role": "user", "content": random_text(rng, 4)},
                                {"role": "assistant", "content": random_text(rng, 3), "tool_calls": calls},
                                {"role": "tool", "tool_call_id": "c1", "content": random_text(rng, 2)},
                                {"role": "assistant", "content": random_text(rng, 5)}][: rng.randint(2, 4)])
    else:
        text = random_text(rng, rng.randint(0, 30))
    return Doc(f"r{i}", "src", fmt, text)


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


# ---------------------------------------------------------------- Windows line ends

def test_a_crlf_qa_answer_with_a_fenced_python_block_is_judged_as_its_lf_twin():
    question = "Write a function `add(a, b)` that returns the sum of two numbers."
    answer = ("Here is one:\n\n```python\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n    total = a + b\n    return total\n```"
              "\n\nIt adds them.")
    lf, windows = assess("qa", render_qa(question, answer)), assess("qa", render_qa(question, crlf(answer)))
    # the fence's \r kept it from being found: the whole answer, prose included, was parsed as Python
    assert windows["parses"].score == lf["parses"].score == 5
    assert windows["answer_completeness"].score == lf["answer_completeness"].score == 5


def test_a_crlf_markdown_page_has_its_paragraphs_found():
    page = ("# Tide pools\n\nTide pools hold small animals that live between the tides.\n\n"
            "They are left behind when the sea goes out, twice a day.\n")
    lf, windows = assess("text", page), assess("text", crlf(page))
    # "\n\r\n" split no paragraph: the page was one block under its heading, so no prose was found
    assert windows["terminal_punctuation"].score == lf["terminal_punctuation"].score == 5


def test_crlf_line_ends_never_change_a_finding():
    rng = random.Random(31)
    for i in range(300):
        doc = random_doc(rng, i)
        lf, windows = assess(doc.format, doc.text), assess(doc.format, crlf(doc.text))
        assert {k: f.score for k, f in windows.items()} == {k: f.score for k, f in lf.items()}, doc.text


# ---------------------------------------------------------------- invariants over random records

@pytest.mark.parametrize("scale", [(1, 5), (0, 10), (1, 3), (-2, 2)])
def test_replies_validate_on_the_scale_and_do_not_depend_on_the_batch(scale):
    rng = random.Random(100 * scale[0] + scale[1])
    docs = [random_doc(rng, i) for i in range(60)]
    backend = RulesBackend(scale=scale)
    for kind in ("judge", "score"):
        requests = [Request(kind, d, ANCHORS if kind == "score" else (), "v1") for d in docs]
        forward = backend.run(requests)
        shuffled = list(range(len(requests)))
        rng.shuffle(shuffled)
        again = dict(zip(shuffled, backend.run([requests[i] for i in shuffled]), strict=True))
        alone = [backend.run([r])[0] for r in requests[:10]]
        for i, (doc, out) in enumerate(zip(docs, forward, strict=True)):
            assert out.ok or "no rules dimension applies" in out.error, (doc.text, out.error)
            assert (again[i].ok, again[i].data, again[i].error) == (out.ok, out.data, out.error)
            if i < 10:
                assert (alone[i].ok, alone[i].data) == (out.ok, out.data)
            if out.ok:
                scores = ([j["score"] for j in out.data["judgments"]] if kind == "judge"
                          else [s["score"] for s in out.data["scores"].values()])
                assert all(scale[0] <= s <= scale[1] and isinstance(s, int) for s in scores)
