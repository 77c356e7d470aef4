"""The rules teacher's C patterns (`CPattern`): the plain regexes' matches, without their quadratic time.

Each pattern is checked against the plain `re` pattern it stands for, on random texts drawn from the
characters that matter (comment and string delimiters, escapes, newlines), and on the record that was
slow: many '/*' with no '*/' after them.
"""

from __future__ import annotations

import random
import re

import pytest

from mira_core.teachers.rules import code
from mira_core.teachers.rules.code_facts import (
    _C_REGEX,
    _C_RUST_LABEL,
    _C_SPANS,
    _COMMENT_SPANS,
    CPattern,
    comment_lines,
    stripped,
)

# the plain patterns, as they were before CPattern
PLAIN = [
    (_C_SPANS, re.compile(r'`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|(?<=[<&])\'[A-Za-z_]\w*\b(?!\')|'
                          r'(?<=, )\'[A-Za-z_]\w*(?=>)|' + _C_RUST_LABEL + r'\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*|'
                          + _C_REGEX, re.S)),
    (_COMMENT_SPANS["c"], re.compile(r'(?<!\')`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S)),
    (code._BLOCKS["c"], re.compile(r"/\*.*?\*/|(?:^[ \t]*//[^\n]*\n?)+", re.S | re.M)),
]


def _texts(n: int, seed: int):
    rng = random.Random(seed)
    pieces = ["/*", "*/", "/", "*", "//", '"', "'", "\\", "\n", " ", "\t", "a", "x = 1;", "/*/", "'a", "0x0'F", "`",
              "<", "&", ", ", ">", "\\`", "'`'", "(", "= ", "return ", "[", "]", "/g", "'outer: loop {", "break 'outer;",
              "continue ", "': {"]
    for _ in range(n):
        yield "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))


@pytest.mark.parametrize("which", range(len(PLAIN)))
def test_c_pattern_matches_the_plain_regex(which):
    ours, plain = PLAIN[which]
    for text in _texts(3000, seed=which):
        got = [(m.start(), m.end()) for m in ours.finditer(text)]
        want = [(m.start(), m.end()) for m in plain.finditer(text)]
        assert got == want, repr(text)
        assert ours.sub(lambda m: "<" + m.group().upper() + ">", text) == plain.sub(
            lambda m: "<" + m.group().upper() + ">", text), repr(text)


def test_many_unterminated_block_comments():
    # the record that took quadratic time: every '/*' is left as code, every line is a comment line
    text = "int f(void) {\n" + "x = 1; /* a\n" * 3000 + "}\n"
    stripped.cache_clear()
    assert stripped(text).count("/*") == 3000
    assert len(comment_lines(text)) == 0
    assert code.parses(text)[0] == 2  # one problem: the unterminated comment


def test_many_unclosed_backticks_and_comments_match_as_the_plain_regex():
    # the inputs the plain regexes take quadratic time on: one unclosed backtick then escaped ones, many '/*'
    for text in ("`" + "\\` x" * 800, "/* a\n" * 800 + "`b`", "`" + "/*\\`" * 400 + "*/"):
        for ours, plain in PLAIN:
            assert [m.span() for m in ours.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_a_pattern_must_have_one_block_alternative_and_dotall():
    with pytest.raises(AssertionError):
        CPattern(r"//[^\n]*", re.S)
    with pytest.raises(AssertionError):
        CPattern(r"/\*.*?\*/", 0)
