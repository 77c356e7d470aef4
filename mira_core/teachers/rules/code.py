"""The rules teacher's code dimensions: syntax, docstrings, comments, lengths, generated and licence text, names.

Python is judged through its parse (`code_facts.py_facts`), C and shell through brackets, quotes and
block keywords. On a qa record a code dimension judges the answer when the answer is code (see
`assess.view`). StarCoder / The Stack (Li et al., 2023) supplies the line-length, comment-ratio and
generated-file thresholds.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

from mira_core.teachers.rules.code_facts import (
    _TEST_MODULE,
    Block,
    CPattern,
    _python,
    brace_functions,
    code_lines,
    comment_lines,
    language,
    py_facts,
    stripped,
)
from mira_core.teachers.rules.registry import (
    CODE,
    Signal,
    _at_least,
    _at_most,
    _line_of,
    _pct,
    _plural,
    _quote,
    dimension,
)

_PY2 = re.compile(r"^[ \t]*print[ \t]+[^(\s=]|^[ \t]*except[ \t]+\w+[ \t]*,[ \t]*\w+[ \t]*:|^[ \t]*exec[ \t]+['\"]",
                  re.M)
_PAIRS = {")": "(", "]": "[", "}": "{"}
_SH_BLOCKS = {"if": "fi", "case": "esac", "do": "done"}


def _bracket_problems(code: str, brackets: str) -> list[str]:
    problems: list[str] = []
    stack: list[tuple[str, int]] = []
    line, pos = 1, 0
    for m in re.finditer(f"[{re.escape(brackets)}]", code):
        line += code.count("\n", pos, m.start())
        pos = m.start()
        ch = m.group()
        if ch in "([{":
            stack.append((ch, line))
        elif stack and stack[-1][0] == _PAIRS[ch]:
            stack.pop()
        else:
            problems.append(f"unmatched '{ch}' on line {line}")
            break
    if stack and not problems:
        ch, ln = stack[-1]
        more = f" ({len(stack)} open)" if len(stack) > 1 else ""
        problems.append(f"'{ch}' opened on line {ln} is never closed{more}")
    return problems


def _shell_problems(code: str) -> list[str]:
    problems = []
    for q in ("'", '"'):
        if q in code:
            problems.append(f"unterminated {q} quote on line {_line_of(code, code.find(q))}")
    problems += _bracket_problems(code, "{}[]")
    words: Counter[str] = Counter()
    for seg in re.split(r"[;&|\n(){}]", code):
        toks = seg.split()
        while toks and toks[0] in ("then", "do", "else", "!", "time"):
            words[toks.pop(0)] += 1
        if toks:
            words[toks[0]] += 1
    if words["end"] and not (words["fi"] or words["done"] or words["esac"]):
        # fish closes every block with `end`
        opens = sum(words[k] for k in ("if", "for", "while", "function", "switch", "begin"))
        if opens != words["end"]:
            problems.append(f"{opens} fish blocks opened but {words['end']} 'end'")
        return problems
    for opener, closer in _SH_BLOCKS.items():
        if words[opener] != words[closer]:
            problems.append(f"{words[opener]} '{opener}' but {words[closer]} '{closer}'")
    return problems


# A prose or markup document read as code (a repository's README.md, docs/*.rst, an HTML page in a folder source of
# format code): its apostrophes read as unterminated shell quotes, a sentence's "if" as an unclosed shell block, and a
# fenced Python example as a Python file that does not parse. Such a document is told by its lines: most of those that
# are neither blank, nor a comment or heading (#, //, /*, *, --, ;), nor inside a fence are sentences. Only its fenced
# code blocks are judged then. Code in Python, C or shell has few such lines outside its comments and strings.
_OPENER = re.compile(r"[ \t]*(`{3,}|~{3,})")  # a fence's opening line; its closer is the same run alone on a line
_CLOSER = re.compile(r"[ \t]*(`{3,}|~{3,})[ \t]*")
_NEUTRAL_LINE = re.compile(r"^[ \t]*(?:#(?![ \t]*(?:include|define|if|ifn?def|else|elif|endif|pragma|undef|error)\b)|"
                           r"//|/\*|\*|--|;|<!--)")
_TRAILING_COMMENT = re.compile(r"[ \t]+(?:#|//)[ \t].*$")
_SENTENCE_END = re.compile(r"[.:?!][)\"'*_`]*[ \t]*$")
_TRIPLE_QUOTE = re.compile(r'"""|\'\'\'')
_COMMAND_LINE = re.compile(r"[ \t]*(?:echo|printf)[ \t]")
_WORD = re.compile(r"^[(\"'*_\[`]*[A-Za-z][A-Za-z'\u2019-]*[)\"'*_\]`.,;:!?]*$")


def fenced(text: str) -> tuple[list[str], list[str]]:
    """The lines outside fenced code blocks, and each block's body. A fence opens on a line that starts with three or
    more backticks or tildes and closes at the first later line holding the same run alone; an opener never closed
    is a line like any other, and an opener of k backticks may close on a run of 3 to k (the longest that closes).
    Line by line, in linear time: as a regex, many unclosed openers each scanned the rest of the text."""
    lines = text.split("\n")
    closers: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if m := _CLOSER.fullmatch(line):
            closers.setdefault(m.group(1), []).append(i)
    outside, blocks, i = [], [], 0
    while i < len(lines):
        m = _OPENER.match(lines[i]) if i < len(lines) - 1 else None  # an opener needs the line break after it
        end = None
        if m:
            run = m.group(1)
            for k in range(len(run), 2, -1):  # the longest run that some later line closes
                later = closers.get(run[:k], [])
                at = bisect.bisect_right(later, i)
                if at < len(later):
                    end = later[at]
                    break
        if end is None:
            outside.append(lines[i])
            i += 1
            continue
        blocks.append("\n".join(lines[i + 1:end]))
        i = end + 1
    return outside, blocks


def _prose_document(text: str) -> bool:
    """Whether `text` reads as a prose or markup document: more than half of the lines that are not blank, a comment or
    heading, fenced code, or inside a triple-quoted string, are sentences (3+ words, 80 % of them plain words, ending in
    . : ? or !; an `echo` or `printf` line is a command)."""
    prose = other = 0
    in_string = False
    for line in fenced(text)[0]:
        # A Python docstring's sentences are no prose document: a module that is mostly docstring and does not parse
        # was judged on its (absent) fences alone. Its lines, from the opening triple quote to the closing, count not.
        quotes = len(_TRIPLE_QUOTE.findall(line))
        if in_string or quotes:
            in_string ^= quotes % 2 == 1
            continue
        line = _TRAILING_COMMENT.sub("", line)  # `uvx ruff check  # Lint all files.` is a command
        if not line.strip() or _NEUTRAL_LINE.match(line):
            continue
        if _COMMAND_LINE.match(line):  # `echo "Copying the files."` is a shell command, not a sentence
            other += 1
            continue
        toks = re.sub(r"^[ \t]*(?:[-*+>|]|\d+[.)])[ \t]+", "", line).split()
        words = sum(bool(_WORD.match(t)) for t in toks)
        if (len(toks) >= 3 and _WORD.match(toks[0]) and words >= 0.8 * len(toks)
                and _SENTENCE_END.search(line)):
            prose += 1
        else:
            other += 1
    return prose > other


@dimension("parses", "Whether the code is syntactically valid: Python through ast.parse, C and shell through "
           "balanced brackets, quotes and block keywords.", CODE, "code (in a prose or markup document such as "
           "Markdown, a fenced code block)")
def parses(text: str) -> Signal | None:
    if (language(text) != "python" or not py_facts(text).ok) and _prose_document(text):
        blocks = [b for b in fenced(text)[1] if b.strip()]
        if not blocks:
            return None
        found = [_parses_code(b) for b in blocks]
        worst = min(range(len(found)), key=lambda i: found[i][0])  # the first of the lowest
        score, reason = found[worst]
        if score == 5:
            return 5, f"a prose document whose {_plural(len(blocks), 'fenced code block')} parse"
        return score, f"a prose document; fenced code block {worst + 1} of {len(blocks)}: {reason}"
    return _parses_code(text)


def _parses_code(text: str) -> Signal:
    lang = language(text)
    if lang == "python":
        facts = py_facts(text)
        if facts.ok:
            return 5, f"the Python code parses ({len(code_lines(text))} non-blank lines)"
        where = f" on line {facts.error_line}" if facts.error_line else ""
        if _PY2.search(text):
            return 2, f"SyntaxError{where}: {facts.error}; the file uses Python 2 syntax"
        return 1, f"SyntaxError{where}: {facts.error}"
    code = stripped(text)
    if lang == "c":
        problems = _bracket_problems(code, "()[]{}")
        if_count = len(re.findall(r"^[ \t]*#[ \t]*if", text, re.M))
        endif_count = len(re.findall(r"^[ \t]*#[ \t]*endif\b", text, re.M))
        if if_count != endif_count:
            problems.append(f"{if_count} #if/#ifdef but {endif_count} #endif")
        if "/*" in code:
            problems.append(f"unterminated /* comment on line {_line_of(code, code.find('/*'))}")
    else:
        problems = _shell_problems(code)
    if not problems:
        return 5, f"{lang} code with balanced brackets and quotes ({len(code_lines(text))} non-blank lines)"
    return (2 if len(problems) == 1 else 1), f"{lang} code: " + "; ".join(problems[:3])


@dimension("docstring_density", "Share of Python functions and classes that carry a docstring.", CODE,
           "Python code that defines functions or classes")
def docstring_density(text: str) -> Signal | None:
    facts = _python(text)
    if facts is None or not (facts.funcs or facts.classes):
        return None
    items = [(f.name, f.line, f.has_doc) for f in facts.funcs] + facts.classes
    with_doc = sum(d for _, _, d in items)
    frac = with_doc / len(items)
    missing = [f"{n} (line {ln})" for n, ln, d in items if not d and not n.startswith("_")][:3]
    reason = f"{with_doc} of {len(items)} functions and classes have docstrings ({_pct(with_doc, len(items))})"
    if missing:
        reason += "; none on " + ", ".join(missing)
    if facts.module_doc:
        reason += "; the module has a docstring"
    return _at_least(frac, (0.15, 0.35, 0.6, 0.8)), reason


@dimension("comment_density", "Share of non-blank code lines that hold a comment; StarCoder drops files under 1 % "
           "or over 80 %.", CODE, "code of at least 10 non-blank lines")
def comment_density(text: str) -> Signal | None:
    n = len(code_lines(text))
    if n < 10:
        return None
    c = len(comment_lines(text))
    r = c / n
    if r > 0.8:
        score = 1
    elif r > 0.6:
        score = 3
    elif r > 0.4:
        score = 4
    else:
        score = _at_least(r, (0.01, 0.03, 0.06, 0.1))
    return score, f"{c} of {n} non-blank lines hold a comment ({_pct(c, n)})"


@dimension("function_length", "Length of the longest function body in lines; long functions are hard to read "
           "and to learn from.", CODE, "code that defines functions")
def function_length(text: str) -> Signal | None:
    lang = language(text)
    if lang == "python":
        facts = py_facts(text)
        if not facts.ok:
            return None
        blocks = [Block(f.name, f.line, f.lines) for f in facts.funcs]
    else:
        blocks = brace_functions(text)
    if not blocks:
        return None
    longest = max(blocks, key=lambda b: (b.lines, -b.line))
    mean = sum(b.lines for b in blocks) / len(blocks)
    score = _at_most(longest.lines, (40, 75, 120, 200))
    return score, (f"the longest of {_plural(len(blocks), 'function')} is {longest.name} (line {longest.line}) with "
                   f"{longest.lines} lines; mean {mean:.0f} lines")


@dimension("line_length", "Longest and mean line length; StarCoder drops files with lines over 1000 characters "
           "or a mean over 100.", CODE, "code")
def line_length(text: str) -> Signal | None:
    lines = text.split("\n")
    lengths = [len(ln) for ln in lines]
    longest = max(range(len(lines)), key=lambda i: (lengths[i], -i))
    nonblank = [n for n, ln in zip(lengths, lines, strict=True) if ln.strip()]
    if not nonblank:
        return None
    mean = sum(nonblank) / len(nonblank)
    over = sum(n > 100 for n in nonblank)
    score = _at_most(lengths[longest], (100, 120, 200, 1000))
    if len(nonblank) >= 5:  # a mean over a one-line snippet is just that line's length
        score = min(score, _at_most(mean, (50, 70, 100, 200)))
    reason = f"line {longest + 1} is {lengths[longest]} characters long; mean {mean:.0f} over {len(nonblank)} lines"
    if over:
        reason += f"; {_plural(over, 'line')} over 100 characters"
    return score, reason


_GEN_STRONG = re.compile(
    r"do not edit|generated by the protocol buffer compiler|@generated\b|automatically generated|auto-generated|"
    r"autogenerated|code generated by|this file was generated|machine generated", re.I)
_GEN_WEAK = re.compile(r"\bgenerated (?:by|from|with|using)\b|\bgenerated code\b", re.I)
_GEN_STRUCT = re.compile(r"_descriptor_pool\.Default\(\)|_builder\.Build(?:Message|TopDescriptors)|"
                         r"^# -\*- coding: utf-8 -\*-\n# Generated by", re.M)
_GEN_HEAD = 3000  # generators announce themselves at the top


@dimension("autogenerated_markers", "Whether the file says it was machine-generated (DO NOT EDIT, protoc, "
           "'generated by' headers); generated files teach little.", CODE, "code")
def autogenerated_markers(text: str) -> Signal | None:
    head = text[:_GEN_HEAD]
    strong = _GEN_STRONG.search(head)
    struct = _GEN_STRUCT.search(text)
    if strong:
        score = 1 if struct or len(_GEN_STRONG.findall(head)) > 1 else 2
        extra = " and protobuf builder calls" if struct else ""
        return score, f"line {_line_of(text, strong.start())} says {_quote(strong.group())}{extra}"
    if struct:
        return 2, f"line {_line_of(text, struct.start())} holds generated-code boilerplate {_quote(struct.group())}"
    weak = _GEN_WEAK.search(head)
    if weak:
        return 3, f"line {_line_of(text, weak.start())} mentions {_quote(weak.group())}"
    return 5, f"no generated-file markers in the first {min(len(text), _GEN_HEAD)} characters"


@dimension("minified", "Whether the code is minified or packed: characters on very long lines and little "
           "whitespace.", CODE, "code of at least 200 characters")
def minified(text: str) -> Signal | None:
    if len(text) < 200:
        return None
    lines = text.split("\n")
    long_chars = sum(len(ln) for ln in lines if len(ln) > 300)
    share = long_chars / len(text)
    ws = sum(text.count(c) for c in " \t\n") / len(text)
    filled = [len(ln) for ln in lines if ln.strip()]
    mean = sum(filled) / len(filled) if filled else 0.0  # a QA answer's code block may be blank lines only
    score = _at_most(share, (0.01, 0.1, 0.3, 0.6))
    # Little whitespace marks packed code only on long lines (StarCoder's limit on the mean line is 100): short
    # lines with little of it are data, a CSV or a wrapped base64 blob, which scored 2 here under a reason that
    # said no character sat on a long line.
    packed = ws < 0.08 and mean > 100
    if packed:
        score = min(score, 2)
    return score, (f"{_pct(long_chars, len(text))} of {len(text)} characters sit on lines over 300 characters; "
                   f"whitespace is {_pct(ws, 1)} of the text" + (f" on lines of {mean:.0f} characters on average"
                                                                 if packed else ""))


_LICENSE = re.compile(r"copyright|licen[cs]e|spdx-license-identifier|permission is hereby granted|all rights "
                      r"reserved|redistribution and use|without warranty|warranties|gnu general public", re.I)
_LICENSE_SURE = re.compile(r"spdx-license-identifier|permission is hereby granted|licensed under|redistribution "
                           r"and use|gnu (?:lesser )?general public license|THE SOFTWARE IS PROVIDED", re.I)
_BLOCKS = {
    "c": CPattern(r"/\*.*?\*/|(?:^[ \t]*//[^\n]*\n?)+", re.S | re.M),
    "python": re.compile(r"(?:^[ \t]*#[^\n]*\n?)+|\A\s*[rRuU]?(\"\"\"|''').*?\1", re.S | re.M),
    "shell": re.compile(r"(?:^[ \t]*#[^\n]*\n?)+", re.M),
}


@dimension("license_boilerplate", "Share of the text taken by license or copyright comment blocks.", CODE, "code")
def license_boilerplate(text: str) -> Signal | None:
    total, found = 0, []
    for m in _BLOCKS[language(text)].finditer(text):
        block = m.group()
        if _LICENSE_SURE.search(block) or len({k.lower() for k in _LICENSE.findall(block)}) >= 2:
            total += len(block)
            found.append(_line_of(text, m.start()))
    if not found:
        return 5, "no license or copyright block"
    share = total / len(text)
    where = "line " + ", ".join(map(str, found[:3])) if len(found) <= 3 else f"{len(found)} blocks"
    return _at_most(share, (0.05, 0.15, 0.3, 0.5)), (f"license/copyright text ({where}) is {total} of {len(text)} "
                                                     f"characters ({_pct(total, len(text))})")


@dimension("stub_only", "Share of Python functions whose body is only ..., pass or raise NotImplementedError "
           "(type stubs, placeholders).", CODE, "Python code that defines functions (not counting @overload)")
def stub_only(text: str) -> Signal | None:
    facts = _python(text)
    if facts is None:
        return None
    funcs = [f for f in facts.funcs if not f.exempt]
    if not funcs:
        return None
    stubs = [f for f in funcs if f.is_stub]
    frac = len(stubs) / len(funcs)
    reason = f"{len(stubs)} of {len(funcs)} functions are stubs ({_pct(len(stubs), len(funcs))})"
    if stubs:
        reason += ", e.g. " + ", ".join(f"{f.name} (line {f.line})" for f in stubs[:3])
    return _at_most(frac, (0.1, 0.3, 0.6, 0.9)), reason


@dimension("type_hints", "Share of Python function parameters and return values that carry type annotations.",
           CODE, "Python code whose functions take parameters or return values")
def type_hints(text: str) -> Signal | None:
    facts = _python(text)
    if facts is None or not facts.funcs:
        return None
    slots = sum(f.params + 1 for f in facts.funcs)
    done = sum(f.annotated + f.returns for f in facts.funcs)
    return _at_least(done / slots, (0.05, 0.25, 0.5, 0.8)), (
        f"{done} of {slots} parameters and return values are annotated ({_pct(done, slots)}) "
        f"across {_plural(len(facts.funcs), 'function')}")


_TODO = re.compile(r"\b(?:TODO|FIXME|XXX|HACK)\b")


@dimension("todo_markers", "TODO / FIXME / XXX / HACK markers per 100 lines: unfinished or known-broken code.",
           CODE, "code")
def todo_markers(text: str) -> Signal | None:
    n = max(1, len(code_lines(text)))
    hits = list(_TODO.finditer(text))
    if not hits:
        return 5, f"no TODO/FIXME/XXX/HACK markers in {n} lines"
    rate = 100 * len(hits) / n
    first = hits[0]
    return _at_most(rate, (0.0, 1.5, 5.0, 10.0)), (
        f"{_plural(len(hits), 'marker')} in {n} lines ({rate:.1f} per 100), first {first.group()} on line "
        f"{_line_of(text, first.start())}")


_CONVENTIONAL = {"_", "i", "j", "k", "n", "m", "x", "y", "z", "e", "f", "fd", "fp", "id", "ok", "db", "io", "os",
                 "op", "fn", "ip", "pk", "df", "ax", "dt", "tz", "np", "pd", "re", "it", "cb", "ch", "h", "w", "t",
                 "v", "s", "p", "c", "a", "b", "lo", "hi", "dx", "dy",
                 "G", "H", "A", "B", "X", "Y", "M", "N"}  # math and graph conventions
_MEANINGLESS = {"foo", "bar", "baz", "qux", "tmp", "temp", "var", "thing", "stuff", "data1", "data2", "obj1",
                "obj2", "xxx", "aaa", "myvar", "blah", "test1", "test2", "dummy"}
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_C_KEYWORDS = set(["auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "NULL", "size_t", "ssize_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t", "Py_ssize_t", "PyObject", "PyAPI_FUNC", "PyAPI_DATA"])  # noqa: E501 - a word list
_SH_NAMES = re.compile(r"^[ \t]*(?:export[ \t]+|local[ \t]+)?([A-Za-z_]\w*)=|\bfor[ \t]+([A-Za-z_]\w*)[ \t]+in\b|"
                       r"^[ \t]*(?:function[ \t]+)?([A-Za-z_][\w-]*)[ \t]*\(\)", re.M)


def _defined_names(text: str) -> set[str]:
    lang = language(text)
    if lang == "python":
        facts = py_facts(text)
        return facts.names if facts.ok else set()
    if lang == "c":
        return {t for t in _IDENT.findall(stripped(text)) if t not in _C_KEYWORDS}
    return {g for m in _SH_NAMES.finditer(text) for g in m.groups() if g}


def _cryptic(name: str) -> bool:
    bare = name.strip("_").lower()
    if bare in _MEANINGLESS:
        return True
    if name in _CONVENTIONAL or not bare:
        return False
    return len(bare) <= 2 or bool(re.fullmatch(r"[a-z]\d+", bare))


@dimension("identifier_quality", "Share of defined names that are cryptic (one or two letters beyond the "
           "conventional i, j, x ...) or meaningless (foo, tmp, var).", CODE, "code that defines at least 5 names")
def identifier_quality(text: str) -> Signal | None:
    names = _defined_names(text)
    if len(names) < 5:
        return None
    bad = sorted(n for n in names if _cryptic(n))
    frac = len(bad) / len(names)
    reason = f"{len(bad)} of {len(names)} distinct names are cryptic ({_pct(len(bad), len(names))})"
    if bad:
        reason += ": " + ", ".join(bad[:6])
    mean = sum(len(n) for n in names) / len(names)
    return _at_most(frac, (0.05, 0.12, 0.22, 0.35)), reason + f"; mean name length {mean:.1f}"


@dimension("duplicate_lines", "Share of substantial code lines (12+ characters) that repeat an earlier line: "
           "copy-paste and tables of boilerplate.", CODE, "code with at least 5 lines of 12+ characters")
def duplicate_lines(text: str) -> Signal | None:
    lines = [s for s in (ln.strip() for ln in text.split("\n")) if len(s) >= 12]
    if len(lines) < 5:
        return None
    counts = Counter(lines)
    dups = len(lines) - len(counts)
    top, n = counts.most_common(1)[0]
    reason = f"{dups} of {len(lines)} substantial lines repeat an earlier one ({_pct(dups, len(lines))})"
    if n > 1:
        reason += f"; the most repeated, {_quote(top, 50)}, appears {n} times"
    return _at_most(dups / len(lines), (0.1, 0.2, 0.35, 0.5)), reason


@dimension("test_assertions", "For test code: share of test functions that assert something, and assertions per "
           "test.", CODE, "Python test code (functions named test_* in a module that uses a test framework)")
def test_assertions(text: str) -> Signal | None:
    facts = _python(text)
    if facts is None:
        return None
    tests = [f for f in facts.funcs if f.is_test]
    if not tests or not (_TEST_MODULE.search(text) or any(f.asserts for f in tests)):
        return None
    with_assert = sum(f.asserts > 0 for f in tests)
    mean = sum(f.asserts for f in tests) / len(tests)
    reason = (f"{with_assert} of {_plural(len(tests), 'test function')} assert something "
              f"({_pct(with_assert, len(tests))}), {mean:.1f} assertions per test")
    empty = [f"{f.name} (line {f.line})" for f in tests if not f.asserts][:2]
    if empty:
        reason += "; none in " + ", ".join(empty)
    score = _at_least(with_assert / len(tests), (0.3, 0.6, 0.8, 0.95))
    if mean < 1.5 and score == 5:  # every test asserts, but barely: one check each
        score = 4
    return score, reason
