"""Review s33/h13: a repository's non-code files (Markdown, CSV) in a folder source of format code, judged by the rules
teacher. A prose or markup document is judged by its fenced code blocks alone (code.parses); each of the three tests of
that failed before it; so did the CSV's `minified` score (a strict xfail until session 41, whose fix moved 10 demo
findings). The others guard what the fixes must keep."""

from __future__ import annotations

from mira_core.teachers.rules.assess import assess

BROKEN_PY = "import requests\n\n\ndef pull(url):\n    resp = requests.get(url\n    return resp.json()\n"
MD_APOSTROPHE = "# Setup\n\nInstall it with `pip install mira`. Don't run it as root.\n"
MD_IF = "# Docs\n\nRead [the guide](guide.md) if you are new.\n"
MD_PY_FENCE = "# Usage\n\nCall it like this:\n\n```python\nimport json\nprint(json.dumps({'a': 1}))\n```\n"
CSV = "date,sku,price\n" + "".join(f"2024-01-{d:02d},A00001,{10 + d / 10:.2f}\n" for d in range(1, 29))


def _parses(text: str):
    return assess("code", text, ["parses"])["parses"]


def test_broken_python_and_shell_still_fail_parses():
    assert _parses(BROKEN_PY).score == 1
    assert _parses("#!/bin/sh\necho 'unterminated\n").score == 2
    assert _parses("#!/bin/sh\nif [ -f x ]; then\n  echo yes\n").score <= 2


def test_markdown_apostrophe_is_not_a_shell_quote():
    assert _parses(MD_APOSTROPHE).score in (None, 5)


def test_markdown_if_is_not_a_shell_block():
    assert _parses(MD_IF).score in (None, 5)


def test_markdown_with_valid_python_example_outscores_broken_python():
    md = _parses(MD_PY_FENCE)
    assert md.score is None or md.score > _parses(BROKEN_PY).score


def test_short_line_csv_is_not_minified():
    # s33/h13: it scored 2 (whitespace < 8 %) under a reason that said 0 % of its characters sat on long lines; so did
    # a file of short assignments (flask/signals.py) and some of torch's generated headers on the demo
    assert assess("code", CSV, ["minified"])["minified"].score == 5
    signals = "".join(f'sig_{i}_done=_signals.signal("sig-{i}-done")\n' for i in range(20))
    assert assess("code", signals, ["minified"])["minified"].score == 5


def test_packed_code_on_long_lines_is_still_minified():
    # lines of some 150 characters (none over 300) and little whitespace: packed, as before
    line = ";".join(f"var_{i}=f(a,b,c)" for i in range(10)) + "\n"
    found = assess("code", line * 10, ["minified"])["minified"]
    assert found.score == 2 and "on lines of" in found.reason, found
    # the same statements one to a line are not
    assert assess("code", line.replace(";", "\n") * 10, ["minified"])["minified"].score == 5


def test_a_prose_documents_broken_fenced_example_is_still_caught():
    md = MD_PY_FENCE.replace("print(json.dumps({'a': 1}))", "print(json.dumps({'a': 1})")
    found = _parses(md)
    assert found.score == 1 and "fenced code block 1 of 1" in found.reason


def test_fenced_blocks_are_those_the_markdown_fence_pattern_finds():
    """`fenced` reads fences line by line (a regex of them took 17 s on 8,000 unclosed openers): the same blocks and
    outside lines as the pattern, on random texts of fence-like lines."""
    import random
    import re

    from mira_core.teachers.rules.code import fenced

    pattern = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)
    rng = random.Random(33)
    atoms = ["```", "````", "~~~", "```py", " ```", "```  ", "x", "a b c.", "", "````x", "`````", "~~~~", "\t~~~"]
    for _ in range(3000):
        text = "\n".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        outside, blocks = fenced(text)
        assert blocks == [m.group(2).removesuffix("\n") for m in pattern.finditer(text)], text
        assert [x for x in outside if x.strip()] == [x for x in pattern.sub("", text).split("\n") if x.strip()], text


def test_minified_reads_a_qa_answer_whose_code_is_blank_lines():
    # (review of session 41's change) the mean line of no non-blank line divided by zero, and the record lost every
    # dimension as a permanent failure
    text = "Question:\nFormat this file.\n\nAnswer:\nHere it is:\n```\n" + "    \n" * 60 + "```\n"
    found = assess("qa", text, ["minified"])["minified"]
    assert found is None or found.score == 5
