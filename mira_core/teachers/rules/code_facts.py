"""Shared analyses of code records for the rules teacher: language detection, one parse of Python, C/shell spans.

The code dimensions (and the qa and dialog ones that look at code) need the same facts about a text:
its language, its parsed Python functions and names, its comment lines, its brace-matched C/shell
functions. Everything here is pure Python and regular expressions (plus `ast.parse` for Python); the
analyses are cached on the text, so judging one record on every dimension costs one pass of each.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from mira_core.marks import marks_in_order
from mira_core.teachers.rules.registry import _line_of

# Old code with invalid escape sequences makes ast.parse warn (DeprecationWarning on 3.11, SyntaxWarning
# later). Filters scoped to the pseudo file name of parsed records silence only those and, unlike
# catch_warnings, are thread-safe.
RECORD_FILENAME = "<mira-record>"
for _category in (SyntaxWarning, DeprecationWarning):
    warnings.filterwarnings("ignore", category=_category, module=re.escape(RECORD_FILENAME))


_PY_MARK = re.compile(
    r"^[ \t]*(?:(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[(:][^{;]*$|import[ \t]+\w|from[ \t]+[\w.]+"
    r"[ \t]+import\b|@\w|try:|except\b|elif\b|raise\b|with\b[^\n]*:[ \t]*$)|\bself\.|\"\"\"|'''", re.M)
_C_MARK = re.compile(
    r"^[ \t]*#[ \t]*(?:include[ \t]*[<\"]|define[ \t]+\w|ifn?def[ \t]+\w|endif\b|pragma[ \t]|undef[ \t])"
    r"|^[ \t]*(?:typedef|template[ \t]*<|namespace\b|using[ \t]+namespace\b|public:|private:|protected:)"
    r"|^[ \t]*(?:struct|enum|union)[ \t]+\w+[ \t]*\{?[ \t]*$|/\*|[;{][ \t]*$|\w::\w", re.M)
_SH_MARK = re.compile(
    r"^#!\S*\b(?:ba|z|k|da)?sh\b|^[ \t]*\$[ \t]|^[ \t]*(?:sudo|pip3?|python3?|cd|export|echo|git|ls|mkdir|rm|cp|mv|"
    r"curl|wget|apt(?:-get)?|brew|conda|make|cmake|source|chmod|tar|docker|npm|yarn|uv|poetry|pytest|set|fi|done|"
    r"esac|then|pipx|virtualenv|tox|nox|twine|hatch|pdm|sed|awk|grep|cat)\b|\$\{?\w|^[ \t]*[A-Z_][A-Z0-9_]*=\S",
    re.M)
_SHEBANG = re.compile(r"\A#![^\n]*")
_DETECT_CHARS = 8_000  # markers in the first 8k characters decide; the rest adds nothing but time


@lru_cache(maxsize=16)
def language(text: str) -> str:
    """'python', 'c' or 'shell', from the shebang or from counts of each language's telltale lines."""
    shebang = _SHEBANG.match(text)
    if shebang:
        line = shebang.group()
        if "python" in line:
            return "python"
        if re.search(r"\b(?:ba|z|k|da)?sh\b", line):
            return "shell"
    head = text[:_DETECT_CHARS]
    counts = {"python": len(_PY_MARK.findall(head)), "c": len(_C_MARK.findall(head)),
              "shell": len(_SH_MARK.findall(head))}
    best = max(counts.values())
    if counts["python"] and py_facts(text).ok:  # C and shell of any size do not parse as Python
        return "python"
    if best == 0:
        return "python" if py_facts(text).ok and "\n" in text.strip() else "shell"
    if counts["python"] == best and counts["c"] < best and counts["shell"] < best:  # Python that does not parse
        return "python"
    return "c" if counts["c"] == best else "shell"


@dataclass
class PyFunc:
    """What the Python dimensions need to know about one function."""

    name: str
    line: int
    lines: int
    has_doc: bool
    is_stub: bool
    exempt: bool  # @overload / @abstractmethod: a stub by design
    params: int
    annotated: int
    returns: bool
    is_test: bool
    asserts: int


@dataclass
class PyFacts:
    """One parse of a Python module, shared by every Python dimension."""

    ok: bool
    error: str = ""
    error_line: int = 0
    module_doc: bool = False
    funcs: list[PyFunc] = field(default_factory=list)
    classes: list[tuple[str, int, bool]] = field(default_factory=list)  # name, line, has docstring
    names: set[str] = field(default_factory=set)
    string_lines: set[int] = field(default_factory=set)  # lines inside multi-line docstrings / string statements


_TEST_NAME = re.compile(r"^test(?:_|[A-Z0-9]|$)")
# Functions named test_* outside test code are common (imghdr.test_jpeg detects JPEG files); a test
# module imports a test framework, defines a test class, or asserts in its test functions.
_TEST_MODULE = re.compile(r"^[ \t]*(?:import|from)[ \t]+[\w.]*?\b(?:unittest|pytest|nose|hypothesis|test|tests|"
                          r"testing)\b|\bclass[ \t]+Test\w*|TestCase\b|@pytest\.|\bpytest\.", re.M)
_ASSERT_CALL = re.compile(r"^_*(?:assert|check|verify|expect|fail)|raises|warns", re.I)


def _has_doc(body: list[ast.stmt]) -> bool:
    first = body[0] if body else None
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str))


def _trivial(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis:
        return True
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    out = set()
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        if isinstance(d, ast.Attribute):
            out.add(d.attr)
        elif isinstance(d, ast.Name):
            out.add(d.id)
    return out


_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(body: list[ast.stmt]) -> Iterable[ast.AST]:
    """Every statement (and except/case clause) under a body, without descending into expressions.

    A full ast.walk visits every expression node and costs five to ten times more; everything the
    dimensions need sits at statement level.
    """
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for name in _BLOCK_FIELDS:
            sub = getattr(node, name, None)
            if sub:
                stack.extend(reversed(sub))


def _callee(node: ast.AST | None) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _count_asserts(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """assert statements, assert*/check*/raises calls as statements, and `with pytest.raises(...)` blocks.

    Aliases count too: stdlib tests often write `eq = self.assertEqual` and then call `eq(...)`.
    """
    n, aliases = 0, set()
    for node in _statements(fn.body):
        if isinstance(node, ast.Assert):
            n += 1
        elif isinstance(node, ast.With | ast.AsyncWith):
            n += sum(isinstance(i.context_expr, ast.Call) and bool(_ASSERT_CALL.search(_callee(i.context_expr)))
                     for i in node.items)
        elif isinstance(node, ast.Assign) and not isinstance(node.value, ast.Call):
            if _ASSERT_CALL.search(_callee(node.value) or "-"):
                aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
        else:
            value = getattr(node, "value", None)
            if isinstance(value, ast.Call):
                name = _callee(value)
                n += bool(name) and (name in aliases or bool(_ASSERT_CALL.search(name)))
    return n


def _target_names(t: ast.AST | None) -> Iterable[str]:
    if isinstance(t, ast.Name):
        yield t.id
    elif isinstance(t, ast.Tuple | ast.List):
        for e in t.elts:
            yield from _target_names(e)
    elif isinstance(t, ast.Starred):
        yield from _target_names(t.value)


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> PyFunc:
    a = node.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
    if params and params[0].arg in ("self", "cls"):
        params = params[1:]
    has_doc = _has_doc(node.body)
    rest = node.body[1:] if has_doc else node.body
    is_test = bool(_TEST_NAME.match(node.name))
    return PyFunc(
        name=node.name, line=node.lineno, lines=(node.end_lineno or node.lineno) - node.lineno + 1, has_doc=has_doc,
        is_stub=all(_trivial(s) for s in rest), exempt=bool(_decorator_names(node) & {"overload", "abstractmethod"}),
        params=len(params), annotated=sum(p.annotation is not None for p in params), returns=node.returns is not None,
        is_test=is_test, asserts=_count_asserts(node) if is_test else 0)


# CPython 3.11 before 3.11.8 (gh-106905) can raise "SystemError: AST constructor recursion depth mismatch" when two
# threads build ASTs at once: the label stage's chunks run the rules teacher in threads, and a record lost that way
# was cached as a permanent failure. One parse at a time.
PARSE_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def py_facts(text: str) -> PyFacts:
    """Parse Python once per text; SyntaxError and friends become ok=False with the line."""
    try:
        with PARSE_LOCK:
            # a long run of marks took the parser quadratic time (mira_core.marks): the same tree, in order
            tree = ast.parse(marks_in_order(text), filename=RECORD_FILENAME)
    except SyntaxError as e:
        return PyFacts(False, e.msg or "invalid syntax", e.lineno or 0)
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return PyFacts(False, f"{type(e).__name__}: {e}", 0)
    facts = PyFacts(True, module_doc=_has_doc(tree.body))
    for node in _statements(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            facts.funcs.append(_function(node))
            a = node.args
            facts.names.update(x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                               if x and x.arg not in ("self", "cls"))
            facts.names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            facts.classes.append((node.name, node.lineno, _has_doc(node.body)))
            facts.names.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                facts.names.update(_target_names(t))
        elif isinstance(node, ast.AnnAssign | ast.For | ast.AsyncFor):
            facts.names.update(_target_names(node.target))
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                facts.names.update(_target_names(item.optional_vars))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            # Docstrings and bare string statements; a '#' line inside one is text, not a comment.
            if node.end_lineno != node.lineno:
                facts.string_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    facts.funcs.sort(key=lambda f: f.line)
    facts.names = {n for n in facts.names if not (n.startswith("__") and n.endswith("__"))}
    return facts


# C and shell are not parsed; comments and string literals are blanked out (newlines kept, so line
# numbers still hold) before brackets are counted, and preprocessor lines are dropped because macros
# may open a brace that another macro closes.
class CPattern:
    """A C pattern whose long alternatives, a block comment `/\\*.*?\\*/` and a backtick string where it has one,
    are matched in linear time.

    The plain regex scans to the end of the text from every '/*' that no '*/' follows, so a record with many
    unterminated '/*' took quadratic time (11 s at 96 KB); a backtick that nothing closes does the same. Once one
    '/*' has no '*/' after it, no later '/*' has one either, and once one backtick has no unescaped backtick after
    it, every later one is escaped from its view and fails too: the rest of the text is matched without that
    alternative. The matches are exactly the plain regex's.
    """

    # a long alternative as written in a pattern -> (its opener, the rest of it)
    LONG = {r"/\*.*?\*/": (r"/\*", r".*?\*/"), r"(?<!\')`(?:\\.|[^`\\])*`": (r"(?<!\')`", r"(?:\\.|[^`\\])*`"),
            r"`(?:\\.|[^`\\])*`": ("`", r"(?:\\.|[^`\\])*`")}

    def __init__(self, pattern: str, flags: int) -> None:
        assert pattern.count(r"/\*.*?\*/") == 1 and flags & re.S, pattern
        self.long: list[str] = []
        for alt in self.LONG:  # the lookbehind form first: the bare one is inside it
            if alt in pattern and not any(alt in k for k in self.long):
                self.long.append(alt)
        self.source, self.flags = pattern, flags
        self._compiled: dict[frozenset[int], re.Pattern[str]] = {}

    def _pattern(self, dropped: frozenset[int]) -> re.Pattern[str]:
        """The pattern without the long alternatives `dropped`, each other one ending the text as `u<i>` when
        nothing closes it (once, instead of failing from each opener)."""
        if dropped not in self._compiled:
            p = self.source
            for i, alt in enumerate(self.long):
                if i in dropped:
                    p = p.replace(alt + "|", "", 1) if alt + "|" in p else p.replace("|" + alt, "", 1)
                else:
                    opener, rest = self.LONG[alt]
                    p = p.replace(alt, f"{opener}(?:{rest}|(?P<u{i}>.*))", 1)
            self._compiled[dropped] = re.compile(p, self.flags)
        return self._compiled[dropped]

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        dropped: frozenset[int] = frozenset()
        pos = 0
        while True:
            for m in self._pattern(dropped).finditer(text, pos):
                hit = next((i for i in range(len(self.long)) if i not in dropped and m.group(f"u{i}") is not None),
                           None)
                if hit is None:
                    yield m
                    continue
                # the plain regex fails here, and after trying the other alternatives (none starts as this opener
                # does) goes on from the next character, where this alternative can no longer match
                dropped, pos = dropped | {hit}, m.start() + 1
                break
            else:
                return

    def sub(self, repl: Callable[[re.Match[str]], str], text: str) -> str:
        parts, pos = [], 0
        for m in self.finditer(text):
            parts += [text[pos:m.start()], repl(m)]
            pos = m.end()
        parts.append(text[pos:])
        return "".join(parts)


# Code in another C-like language is read the C way too: its backtick strings (JavaScript and TypeScript template
# literals, Go raw strings) are literals, and a Rust lifetime ('a, 'static after < or &, or last in a list before >)
# that no quote closes is no char literal, which blanked the line up to the next quote. Only there: a JavaScript
# string ('https://...', 'hello world') is a literal as before, and so is a C char literal. Neither occurs in C or C++
# code. A JavaScript regular expression literal (/^[({]/) is a literal too, where a '/' cannot be a division: after
# one of ( , = : ! & | ? { ; or `return` (a space between allowed), and not opening a comment. It ends on its own
# line, and a character class in it holds no bare '/' (JavaScript allows one; such a literal is counted as code, as
# before: no opener follows '[', so the class's '/' starts none), so each failed opener scans only to the next '/':
# linear. In C such a '/' is a syntax error anyway. A Rust loop label is no char literal either: 'outer: before
# loop, while, for or a block where a statement starts (a line's start, or after { ; }), and 'outer after break or
# continue. Only there: a JavaScript string such as 'Note: for docs ...' after `(` or `=` is a literal as before (one
# that starts a line of an array, and a word, a colon and one of those keywords, still reads as a label).
_C_REGEX = (r'(?:(?<=[(,=:!&|?{};])|(?<=[(,=:!&|?{};] )|(?<=\breturn ))'
            r'/(?![/*])(?:\\.|\[(?:\\.|[^\]\\\n/])*\]|[^/\\\n\[])+/[A-Za-z]*')
_C_RUST_LABEL = (r"(?:(?m:^)|(?<=[{};]))[ \t]*'[A-Za-z_]\w*(?=:[ \t]*(?:loop|while|for)\b|:[ \t]*\{)|"
                 r"(?<=\bbreak )'[A-Za-z_]\w*\b(?!')|(?<=\bcontinue )'[A-Za-z_]\w*\b(?!')|")
_C_SPANS = CPattern(r'`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|(?<=[<&])\'[A-Za-z_]\w*\b(?!\')|'
                    r'(?<=, )\'[A-Za-z_]\w*(?=>)|' + _C_RUST_LABEL + r'\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*|'
                    + _C_REGEX, re.S)
_C_PREPROC = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_SH_HEREDOC = re.compile(r"<<-?[ \t]*['\"]?(\w+)['\"]?[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.S | re.M)
_SH_SPANS = re.compile(r"\\.|'[^']*'|\"(?:\\.|[^\"\\])*\"|(?<![\w$#{])#[^\n]*")


def _blank(m: re.Match[str]) -> str:
    # A literal becomes 0 (not an identifier, not a quote): any quote left afterwards is unterminated.
    s = m.group()
    if s.startswith(("/*", "//", "#", "\\")):
        return "\n" * s.count("\n") or " "
    return "0" + "\n" * s.count("\n")


@lru_cache(maxsize=16)
def stripped(text: str) -> str:
    """C or shell code without comments, string literals (and, for C, preprocessor lines)."""
    if language(text) == "c":
        out = _C_SPANS.sub(_blank, text)
        return _C_PREPROC.sub(lambda m: "\n" * m.group().count("\n"), out)
    out = _SH_HEREDOC.sub(lambda m: "\n" * m.group().count("\n"), text)
    return _SH_SPANS.sub(_blank, out)


_COMMENT_SPANS = {
    "c": CPattern(r'(?<!\')`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S),
    "python": re.compile(r"^[ \t]*#[^\n]*|[ \t]#[ \t][^\n]*", re.M),
    "shell": re.compile(r"^[ \t]*#(?!!)[^\n]*|[ \t]#[ \t][^\n]*", re.M),
}


def comment_lines(text: str) -> set[int]:
    """Line numbers (1-based) that hold a comment, in the record's language."""
    lang = language(text)
    skip = py_facts(text).string_lines if lang == "python" else set()
    lines: set[int] = set()
    rows = text.split("\n")
    line, pos = 1, 0
    for m in _COMMENT_SPANS[lang].finditer(text):
        if m.group().startswith(('"', "`")):  # a string literal (C, or a backtick one) that may hold // or /*
            continue
        line += text.count("\n", pos, m.start())
        pos = m.start()
        span = range(line, line + m.group().count("\n") + 1)
        # a blank line inside a block comment holds no comment: the share is over non-blank lines
        lines.update(n for n in span if n not in skip and rows[n - 1].strip())
    return lines


@dataclass
class Block:
    """A function body found by brace matching (C, shell)."""

    name: str
    line: int
    lines: int


_BRACES = re.compile(r"[{}]")
# `name(...)` right before the brace, or with a result type between: Go's `int` or `(int, error)`, TypeScript's
# `: Promise<T>`, Rust's `-> Result<T, E>`, Java's `throws IOException`. The type holds no parenthesis, so the
# search still starts at the function's own name, and one run of its characters ends the pattern (no nested
# repeats over the same spaces to backtrack through).
_BEFORE_BRACE = re.compile(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:const\s*)?"
                           r"((?:(?:->|:|throws\b)\s*)?[\w&*\[][\w\s.:<>\[\],&*?']*|\([^()]*\)\s*|)$")
# A macro call before or inside a namespace, class or struct head (`C10_MACRO("-W...") namespace c10 {`,
# `class PROTOBUF_EXPORT PROTOBUF_ALIGNAS(8) Arena final {`) reads as a function with a result type; a function's
# line seldom holds these words (one that does, `template <class T> auto f(T x) -> T {` on one line, is missed).
_TYPE_BODY = re.compile(r"\b(?:namespace|class|struct|union|enum|interface|impl|trait)\b")
_NOT_FUNCTIONS = frozenset(("if", "for", "while", "switch", "sizeof", "return", "catch"))


def _type_body(code: str, head: re.Match[str]) -> bool:
    """Whether a `name(...) type {` match opens a namespace, class or struct body. Only a match with a result type is
    read so: `name(...) {` is a function, as it was before result types were (`f(void) __attribute__((cold)) {` reads
    as one named __attribute__, of the right length)."""
    tail = head.group(2)
    if not tail.strip():
        return False
    line_start = code.rfind("\n", 0, head.start()) + 1
    return bool(_TYPE_BODY.search(code, line_start, head.start()) or _TYPE_BODY.search(tail))


def brace_functions(text: str) -> list[Block]:
    """C / shell function bodies (and those of other C-like languages): a `{` after `name(...)` and an optional
    result type, matched to its closing brace."""
    code = stripped(text)
    out: list[Block] = []
    depth, start, name = 0, -1, ""
    for m in _BRACES.finditer(code):
        if m.group() == "{":
            if start < 0:
                head = _BEFORE_BRACE.search(code, max(0, m.start() - 400), m.start())
                if head and head.group(1) not in _NOT_FUNCTIONS and not _type_body(code, head):
                    start, name, depth = m.start(), head.group(1), 0
            depth += start >= 0
        elif start >= 0:
            depth -= 1
            if depth == 0:
                first = _line_of(code, start)
                out.append(Block(name, first, code.count("\n", start, m.end()) + 1))
                start = -1
    return out


def code_lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if ln.strip()]


def _python(text: str) -> PyFacts | None:
    if language(text) != "python":
        return None
    facts = py_facts(text)
    return facts if facts.ok else None
