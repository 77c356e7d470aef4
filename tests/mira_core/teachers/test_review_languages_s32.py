"""Review s32, scenario: a code corpus that is not Python, C or shell (JS/TS, Go, Rust, Java, C++, SQL ...).

The rules teacher reads every such file as C (or shell): `code_facts.language` knows only those three.
The C reading blanks '...' char literals, "..." strings and comments before brackets are counted, so
syntax it does not know leaks into the bracket count: a Rust lifetime ('a) opens a "char literal" that
swallows brackets up to the next quote on the line, and a backtick string (a JS/TS template literal, a
Go raw string) is code to it, so a '//' or '/*' inside one is read as a comment that hides what follows.
A correct file then scored `parses` 2. Those tests failed before the fix (backtick strings and lifetimes in
`_C_SPANS`, the backtick matched in linear time by `CPattern`). Two more were report-only strict xfails until
session 40 fixed them: a JavaScript regular expression literal (now a literal in `_C_SPANS` where a '/' cannot divide)
and functions with a result type (`_BEFORE_BRACE`). The guards beside them hold C readings the
fix must not move (C++ digit separators, a backtick char literal in ncurses.h).
"""

from __future__ import annotations

import random

import pytest

from mira_core.teachers.rules import code
from mira_core.teachers.rules.code_facts import brace_functions, comment_lines, language, stripped

RUST_LIFETIME = "pub fn first<'a>(xs: &'a [u8]) -> &'a u8 {\n    &xs[0]\n}\n"
TS_TEMPLATE_URL = "export function load(host: string) {\n  return fetch(`https://${host}/api`);\n}\n"
GO_RAW_STRING = "package m\n\nvar pat = `x/*`\n\nfunc F(a int) int {\n\treturn a\n}\n"
JS_REGEX = "export function isOpen(s) {\n  return /^[({]/.test(s);\n}\n"


def _clear() -> None:
    language.cache_clear()
    stripped.cache_clear()


def test_rust_lifetimes_are_not_char_literals():
    _clear()
    assert language(RUST_LIFETIME) == "c"
    assert code.parses(RUST_LIFETIME)[0] == 5  # was 2: "unmatched ')' on line 1"


RUST_LABELS = ("fn find(grid: &[Vec<char>]) -> Option<usize> {\n"
               "    'rows: for (i, row) in grid.iter().enumerate() { if row[0] == 'x' { continue 'rows; } }\n"
               "    'cells: loop { if grid.is_empty() { break 'cells; } return Some(0); }\n"
               "    None\n"
               "}\n")


def test_rust_loop_labels_are_not_char_literals():
    # (left by session 32, fixed in 41) 'rows: opened a char literal that ran to the next quote on its line ('x''s),
    # so the brackets between went uncounted and the file failed `parses`
    _clear()
    assert language(RUST_LABELS) == "c"
    found = code.parses(RUST_LABELS)
    assert found[0] == 5, found
    # a C char literal before a colon is still a literal: `case 'a': for` and `case '{': {` count no bracket in it
    for case in ("'a': for (;;) { return 1; }", "'{': { return 2; }"):
        _clear()
        c_case = f"int f(int c) {{\n  switch (c) {{\n  case {case}\n  }}\n  return 0;\n}}\n"
        assert code.parses(c_case)[0] == 5, c_case
    # a JavaScript string that starts like a label is a string (the review's two cases, both read as labels at first)
    for js in ("fetch('Note: for docs see https://example.com/x', {\n  method: 'GET',\n}).then(r => r.json());\n",
               "function f() {\n  const open = 'style: {';\n  return open;\n}\n"):
        _clear()
        assert code.parses(js)[0] == 5, js


def test_template_literal_with_a_url_parses_and_holds_no_comment():
    _clear()
    assert code.parses(TS_TEMPLATE_URL)[0] == 5  # was 2: "unmatched '}' on line 3"
    assert comment_lines(TS_TEMPLATE_URL) == set()  # was {2}


def test_go_raw_string_with_a_comment_opener_parses():
    _clear()
    assert code.parses(GO_RAW_STRING)[0] == 5  # was 2: "unterminated /* comment on line 3"


def _literal(rng: random.Random, quote: str) -> str:
    out = ""
    for _ in range(rng.randrange(0, 8)):
        ch = rng.choice(list("(){}[]'/*#`$ ab\\\""))
        out += "\\" + ch if ch in ("\\", quote) else ch
    return quote + out + quote


def _valid_file(kind: str, rng: random.Random) -> str:
    """A small valid file of `kind` with one random literal (or lifetime) in it."""
    if kind == "c_string":
        return f'#include <stdio.h>\n\nint main(void) {{\n    puts({_literal(rng, chr(34))});\n    return 0;\n}}\n'
    if kind == "c_char":
        c = rng.choice(list("(){}[]\"/*#` ab") + ["\\\\", "\\'", "\\n"])
        return f"int is_x(int c) {{\n    return c == '{c}';\n}}\n"
    if kind == "js_template":
        body = "".join(rng.choice(["x", " ", "/", "//", "(", ")", "{", "}", "'", '"', "#", "${a}"])
                       for _ in range(rng.randrange(0, 8)))
        return f"export function f(a) {{\n  const s = `{body}`;\n  return s;\n}}\n"
    if kind == "go_raw":
        body = "".join(rng.choice(["x", " ", "/", "//", "(", ")", "{", "'", '"', "/*"]) for _ in range(rng.randrange(0, 8)))
        return f"package m\n\nvar pat = `{body}`\n\nfunc F(a int) int {{\n\treturn a\n}}\n"
    if kind == "js_single":  # a word then anything: 'https://...' was read as a lifetime 'https, then a comment
        word, lit = rng.choice(["https", "hello", "a", "page", "x_1"]), _literal(rng, chr(39))
        return f"export function f(u) {{\n  return fetch('{word}{lit[1:]} + u);\n}}\n"
    lt = rng.choice(["'a", "'b", "'static", "'de"])  # rust
    return (f"pub fn f<{lt}, 'z>(x: &{lt} str, y: (u8, u8)) -> &{lt} str {{\n    let _ = (y.0, y.1);\n    x\n}}\n"
            if rng.random() < 0.5 else
            f"pub fn f<{lt}>(x: &{lt} str, y: (u8, u8)) -> &{lt} str {{\n    let _ = (y.0, y.1);\n    x\n}}\n")


@pytest.mark.parametrize("kind", ["c_string", "c_char", "js_template", "go_raw", "js_single", "rust"])
def test_a_literal_of_any_content_keeps_a_valid_file_valid(kind):
    # invariant: what a string / char literal (or a lifetime) holds never makes a valid file fail `parses`
    rng = random.Random(f"s32-{kind}")
    bad = []
    for _ in range(300):
        text = _valid_file(kind, rng)
        _clear()
        if code.parses(text)[0] != 5:
            bad.append(text)
    assert not bad, f"{len(bad)} of 300 valid files fail, e.g. {bad[0]!r}: {code.parses(bad[0])}"


def test_guard_cpp_digit_separator_keeps_its_identifier():
    # C++14 0x0000'FF00 (llvm XCOFF.h): a lifetime rule must not blank the digits after the quote
    text = "struct X {\n  static constexpr unsigned Mask = 0x0000'FF00;\n  int first_value;\n  int second_value;\n};\n"
    _clear()
    assert "FF00" in stripped(text)
    assert code.parses(text)[0] == 5


def test_guard_backtick_char_literal_starts_no_string():
    # ncurses.h: #define ACS_DIAMOND NCURSES_ACS('`') /* diamond */ -- the comment is still a comment
    text = ("#define ACS_DIAMOND NCURSES_ACS('`') /* diamond */\n" * 3 + "int f(void) {\n  return 0;\n}\n" * 3
            + "#define WACS_DIAMOND NCURSES_WACS('`') /* diamond */\n")
    _clear()
    assert comment_lines(text) == {1, 2, 3, 13}
    assert code.parses(text)[0] == 5


def test_js_regex_literal_brackets_are_not_code():
    _clear()
    assert code.parses(JS_REGEX)[0] == 5  # was 2: "unmatched ']' on line 2"
    assert "/^[({]/" not in stripped(JS_REGEX)
    # where a '/' divides, it stays code: a division after ')', a name or a number is never a regex literal
    division = "int f(int a, int b) {\n  return (a + 1) / b / 2;\n}\n"
    assert stripped(division) == division
    # a class holding a bare '/' is read as code, as before the fix (brackets balanced, so it still parses)
    cls = "function f(s) {\n  return s.replace(/a\\/b[/]c/g, 'x');\n}\n"
    _clear()
    assert "[/]" in stripped(cls) and code.parses(cls)[0] == 5
    # a broken one is still caught: a '(' no regex literal hides
    _clear()
    assert code.parses("function f(s) {\n  return g(/x/.test(s);\n}\n")[0] < 5


def test_functions_with_result_types_are_found():
    # Go, TypeScript, Rust and Java put a result type (or throws) between ')' and '{'; _BEFORE_BRACE wants
    # ')' right before the brace, so function_length says nothing about them (or names a catch block)
    go = "package m\n\nfunc Add(a int, b int) int {\n\treturn a + b\n}\n"
    ts = ("export async function run(n: number): Promise<number> {\n  try {\n    return await go(n);\n"
          "  } catch (err) {\n    log(err);\n  }\n  return 0;\n}\n")
    _clear()
    assert [b.name for b in brace_functions(go)] == ["Add"]  # []
    assert [b.name for b in brace_functions(ts)] == ["run"]  # ['catch']
    go_pair = "package m\n\nfunc Div(a, b int) (int, error) {\n\treturn a / b, nil\n}\n"
    rust = "fn parse(s: &str) -> Result<Vec<u8>, Error> {\n    todo!()\n}\n"
    java = "class A {\n  void load() throws IOException, TimeoutException {\n    read();\n  }\n}\n"
    c = ("struct __attribute__((packed)) header {\n  int a;\n};\nint main(int argc, char **argv) {\n  if (argc) {\n"
         "    return 1;\n  }\n  return 0;\n}\n")
    _clear()
    assert [(b.name, b.lines) for b in brace_functions(go_pair)] == [("Div", 3)]
    assert [b.name for b in brace_functions(rust)] == ["parse"]
    assert [b.name for b in brace_functions(java)] == ["load"]
    assert [(b.name, b.line, b.lines) for b in brace_functions(c)] == [("main", 4, 6)]  # no struct, no if
    # C++ (demo headers): `override` / `noexcept` after the arguments are a result type's place; a macro call before
    # a namespace or inside a class head opens no function
    cpp = ('C10_DIAGNOSTIC_PUSH("-Wx") namespace c10 {\nclass EXPORT ALIGNAS(8) Arena final {\n public:\n'
           "  int size() const override {\n    return 1;\n  }\n};\nint f() noexcept {\n  return 2;\n}\n}\n")
    _clear()
    assert [(b.name, b.line) for b in brace_functions(cpp)] == [("size", 4), ("f", 8)]
