"""Heuristic quality signals behind the offline "rules" teacher. This is a rules teacher, not an LLM.

Every signal is a named quality dimension: a small function from a record's text to a score from 1
(worst) to 5 (best) and a reason that quotes the evidence, or None when the dimension does not apply
to that record. Thresholds follow published data-filtering rules where there are some: Gopher
(Rae et al., 2021, appendix A) for prose, C4 (Raffel et al., 2020) for terminal punctuation,
StarCoder / The Stack (Li et al., 2023) for code line lengths, comment ratios and generated files.
Each threshold is stretched into five grades rather than a pass/fail cut, so that records of one
source still get different scores.

Everything here is pure Python and regular expressions (plus `ast.parse` for Python code); the
analyses a record shares between dimensions (parsed Python, split words, parsed messages) are cached
on the text, so judging one record on every dimension costs one pass of each.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

# Old code with invalid escape sequences makes ast.parse warn (DeprecationWarning on 3.11, SyntaxWarning
# later). Filters scoped to the pseudo file name of parsed records silence only those and, unlike
# catch_warnings, are thread-safe.
RECORD_FILENAME = "<mira-record>"
for _category in (SyntaxWarning, DeprecationWarning):
    warnings.filterwarnings("ignore", category=_category, module=re.escape(RECORD_FILENAME))

Signal = tuple[int, str]
SignalFn = Callable[[str], Signal | None]

FORMATS = ("code", "text", "qa", "chat", "agent")
CODE = ("code", "qa")  # on a qa record a code dimension judges the answer, when the answer is code
TEXT = ("text",)
QA = ("qa",)
DIALOG = ("chat", "agent")


@dataclass(frozen=True)
class Dimension:
    """One named quality signal."""

    name: str
    description: str
    formats: tuple[str, ...]
    applies_when: str  # said in the "not applicable" rationale when the function returns None
    fn: SignalFn


@dataclass(frozen=True)
class Finding:
    """A dimension's verdict on one record: a 1..5 score and its reason, or score None when it does not apply."""

    name: str
    score: int | None
    reason: str


REGISTRY: dict[str, Dimension] = {}


def dimension(name: str, description: str, formats: tuple[str, ...], applies_when: str
              ) -> Callable[[SignalFn], SignalFn]:
    """Register a signal function under a unique snake_case name."""

    def register(fn: SignalFn) -> SignalFn:
        if name in REGISTRY:
            raise ValueError(f"dimension {name!r} registered twice")
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"dimension {name!r}: unknown formats {sorted(unknown)}")
        REGISTRY[name] = Dimension(name, description, formats, applies_when, fn)
        return fn

    return register


# ---------------------------------------------------------------- grading helpers

def _at_least(x: float, cuts: tuple[float, float, float, float]) -> int:
    """Higher is better: cuts are the minimum for scores 2, 3, 4 and 5."""
    return 1 + sum(x >= c for c in cuts)


def _at_most(x: float, cuts: tuple[float, float, float, float]) -> int:
    """Lower is better: cuts are the maximum for scores 5, 4, 3 and 2."""
    return 5 - sum(x > c for c in cuts)


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f} %" if b else "0 %"


def _quote(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return repr(s if len(s) <= n else s[: n - 3] + "...")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ---------------------------------------------------------------- code: language and shared analyses

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


@lru_cache(maxsize=16)
def py_facts(text: str) -> PyFacts:
    """Parse Python once per text; SyntaxError and friends become ok=False with the line."""
    try:
        tree = ast.parse(text, filename=RECORD_FILENAME)
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
_C_SPANS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)
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
    "c": re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S),
    "python": re.compile(r"^[ \t]*#[^\n]*|[ \t]#[ \t][^\n]*", re.M),
    "shell": re.compile(r"^[ \t]*#(?!!)[^\n]*|[ \t]#[ \t][^\n]*", re.M),
}


def comment_lines(text: str) -> set[int]:
    """Line numbers (1-based) that hold a comment, in the record's language."""
    lang = language(text)
    skip = py_facts(text).string_lines if lang == "python" else set()
    lines: set[int] = set()
    line, pos = 1, 0
    for m in _COMMENT_SPANS[lang].finditer(text):
        if m.group().startswith('"'):  # a C string literal that may hold // or /*
            continue
        line += text.count("\n", pos, m.start())
        pos = m.start()
        span = range(line, line + m.group().count("\n") + 1)
        lines.update(n for n in span if n not in skip)
    return lines


@dataclass
class Block:
    """A function body found by brace matching (C, shell)."""

    name: str
    line: int
    lines: int


_BRACES = re.compile(r"[{}]")
_BEFORE_BRACE = re.compile(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*(?:const\s*)?$")


def brace_functions(text: str) -> list[Block]:
    """C / shell function bodies: a `{` right after `name(...)`, matched to its closing brace."""
    code = stripped(text)
    out: list[Block] = []
    depth, start, name = 0, -1, ""
    for m in _BRACES.finditer(code):
        if m.group() == "{":
            if start < 0:
                head = _BEFORE_BRACE.search(code, max(0, m.start() - 400), m.start())
                if head and head.group(1) not in ("if", "for", "while", "switch", "sizeof", "return"):
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


# ---------------------------------------------------------------- code dimensions

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


@dimension("parses", "Whether the code is syntactically valid: Python through ast.parse, C and shell through "
           "balanced brackets, quotes and block keywords.", CODE, "code")
def parses(text: str) -> Signal | None:
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
    score = _at_most(share, (0.01, 0.1, 0.3, 0.6))
    if ws < 0.08:
        score = min(score, 2)
    return score, (f"{_pct(long_chars, len(text))} of {len(text)} characters sit on lines over 300 characters; "
                   f"whitespace is {_pct(ws, 1)} of the text")


_LICENSE = re.compile(r"copyright|licen[cs]e|spdx-license-identifier|permission is hereby granted|all rights "
                      r"reserved|redistribution and use|without warranty|warranties|gnu general public", re.I)
_LICENSE_SURE = re.compile(r"spdx-license-identifier|permission is hereby granted|licensed under|redistribution "
                           r"and use|gnu (?:lesser )?general public license|THE SOFTWARE IS PROVIDED", re.I)
_BLOCKS = {
    "c": re.compile(r"/\*.*?\*/|(?:^[ \t]*//[^\n]*\n?)+", re.S | re.M),
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


# ---------------------------------------------------------------- text (Gopher / C4)

_WORD_CHARS = re.compile(r"[^\W_]")
_ALPHA = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=16)
def words(text: str) -> list[str]:
    """Whitespace-separated tokens, as Gopher counts words."""
    return text.split()


@dimension("word_count", "Number of words; Gopher keeps documents of 50 to 100,000 words.", TEXT, "prose text")
def word_count(text: str) -> Signal | None:
    n = len(words(text))
    if n > 100_000:
        return 2, f"{n} words, over Gopher's 100,000-word limit"
    return _at_least(n, (20, 50, 100, 200)), f"{n} words (Gopher keeps 50 to 100,000)"


@dimension("mean_word_length", "Mean word length in characters; Gopher keeps 3 to 10.", TEXT, "text of 10+ words")
def mean_word_length(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    m = sum(len(w) for w in ws) / len(ws)
    gap = max(4.0 - m, m - 6.5, 0.0)  # distance from the comfortable band of English prose
    score = _at_most(gap, (0.0, 1.5, 3.5, 5.5)) if m >= 4 else _at_most(gap, (0.0, 0.5, 1.0, 1.5))
    return score, f"mean word length {m:.1f} characters over {len(ws)} words (Gopher keeps 3 to 10)"


@dimension("alpha_word_fraction", "Share of words with at least one alphabetic character; Gopher requires 80 %.",
           TEXT, "text of 10+ words")
def alpha_word_fraction(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    alpha = sum(1 for w in ws if _ALPHA.search(w))
    frac = alpha / len(ws)
    return _at_least(frac, (0.55, 0.7, 0.8, 0.9)), (
        f"{alpha} of {len(ws)} words hold a letter ({_pct(alpha, len(ws))}; Gopher requires 80 %)")


@dimension("symbol_ratio", "Hash and ellipsis symbols per word; Gopher drops documents over 0.1.", TEXT,
           "text of 10+ words")
def symbol_ratio(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    # A Markdown '###' heading marker is one symbol, not three; likewise '....'.
    hashes = len(re.findall(r"#+", text))
    ellipses = len(re.findall(r"\.{3,}|\u2026", text))
    r = max(hashes, ellipses) / len(ws)
    return _at_most(r, (0.02, 0.05, 0.1, 0.2)), (f"{hashes} hash and {ellipses} ellipsis symbols for {len(ws)} words "
                                                 f"(ratio {r:.3f}; Gopher's limit is 0.1)")


@dimension("duplicate_line_fraction", "Share of lines (and of their characters) that repeat an earlier line; Gopher "
           "limits are 30 % and 20 %.", TEXT, "text of 5+ lines with letters or digits")
def duplicate_line_fraction(text: str) -> Signal | None:
    # Lines without letters or digits (rules, reST underlines, fences) are markup, not repeated content.
    lines = [s for s in (ln.strip() for ln in text.split("\n")) if _WORD_CHARS.search(s)]
    if len(lines) < 5:
        return None
    seen: set[str] = set()
    dup_n = dup_chars = 0
    for s in lines:
        if s in seen:
            dup_n += 1
            dup_chars += len(s)
        seen.add(s)
    total = sum(len(s) for s in lines)
    r = max(dup_n / len(lines) / 0.3, dup_chars / total / 0.2)
    reason = (f"{dup_n} of {len(lines)} lines repeat an earlier line ({_pct(dup_n, len(lines))} of lines, "
              f"{_pct(dup_chars, total)} of characters)")
    if dup_n:
        top, n = Counter(lines).most_common(1)[0]
        reason += f"; {_quote(top, 40)} appears {n} times"
    return _at_most(r, (0.25, 0.5, 1.0, 1.5)), reason


_NGRAM_LIMITS = {2: 0.20, 3: 0.18, 4: 0.16}


def _occurrences(ws: list[str], gram: tuple[str, ...]) -> int:
    """Non-overlapping occurrences, so that 'a a a a' does not cover more characters than it has."""
    n, i, count, first = len(gram), 0, 0, gram[0]
    while i <= len(ws) - n:
        if ws[i] == first and tuple(ws[i:i + n]) == gram:
            count += 1
            i += n
        else:
            i += 1
    return count


@dimension("top_ngram_repetition", "Share of characters covered by the most frequent word 2-, 3- and 4-gram; Gopher "
           "limits are 20 %, 18 % and 16 %.", TEXT, "text of 20+ words")
def top_ngram_repetition(text: str) -> Signal | None:
    ws = [w.lower() for w in words(text)]
    if len(ws) < 20:
        return None
    total = sum(len(w) for w in ws)
    worst, detail = 0.0, ""
    for n, limit in _NGRAM_LIMITS.items():
        gram = Counter(zip(*(ws[i:] for i in range(n)), strict=False)).most_common(1)[0][0]  # n-grams: shorter tails end it
        count = _occurrences(ws, gram)
        frac = count * sum(len(w) for w in gram) / total
        if frac / limit > worst:
            worst, detail = frac / limit, (f"the top {n}-gram {_quote(' '.join(gram), 40)} occurs {count} times, "
                                           f"{frac:.1%} of word characters (limit {limit:.0%})")
    return _at_most(worst, (0.25, 0.5, 1.0, 1.5)), detail


_BULLET = re.compile(r"^[ \t]*(?:[-*+\u2022\u2023\u25e6\u2043]|\d{1,3}[.)])[ \t]+\S")


@dimension("bullet_line_fraction", "Share of non-blank lines that are bullet items; Gopher drops documents over 90 %.",
           TEXT, "text of 3+ non-blank lines")
def bullet_line_fraction(text: str) -> Signal | None:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 3:
        return None
    b = sum(1 for ln in lines if _BULLET.match(ln))
    return _at_most(b / len(lines), (0.3, 0.5, 0.7, 0.9)), (f"{b} of {len(lines)} non-blank lines are bullet items "
                                                            f"({_pct(b, len(lines))}; Gopher's limit is 90 %)")


_GOPHER_STOP = ("the", "be", "to", "of", "and", "that", "have", "with")


@dimension("stopword_presence", "Presence and density of Gopher's English stop words (the, be, to, of, and, that, "
           "have, with); Gopher requires two.", TEXT, "text of 10+ words")
def stopword_presence(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    counts = Counter(w.strip(".,;:!?\"'()[]*_`").lower() for w in ws)
    present = [s for s in _GOPHER_STOP if counts[s]]
    hits = sum(counts[s] for s in _GOPHER_STOP)
    density = hits / len(ws)
    reason = (f"{len(present)} of 8 Gopher stop words present ({', '.join(present) or 'none'}); they are "
              f"{density:.1%} of {len(ws)} words")
    if len(present) < 2:
        return (1 if not present else 2), reason
    return _at_least(density, (0.0, 0.0, 0.05, 0.1)), reason


_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*?^[ \t]*(?:```|~~~)[^\n]*$", re.S | re.M)
_NOT_PROSE = re.compile(r"^(?:#|[=\-~^*+`]{3,}|\.\. |\||<|>>>|\$ |[-*+]\s|\d+[.)]\s|:\w+:|\[[^\]]*\]:)")
_UNDERLINE = re.compile(r"^[ \t]*([=\-~^*+#\"'`])\1{2,}[ \t]*$")
_TERMINAL = re.compile(r"[.!?][\"')\]*_`\u201d\u2019]*$")


@dimension("terminal_punctuation", "Share of prose paragraphs (5+ words, outside code, headings and lists) that end "
           "in terminal punctuation, the C4 line rule applied to paragraphs.", TEXT,
           "text with prose paragraphs of 5+ words")
def terminal_punctuation(text: str) -> Signal | None:
    blocks = re.split(r"\n[ \t]*\n", _FENCE.sub("\n\n    (code)\n\n", text))
    paras: list[tuple[str, bool]] = []  # text, whether it ends well
    for i, para in enumerate(blocks):
        lines = [ln for ln in para.split("\n") if ln.strip()]
        # A reST title and its underline are a heading, whatever paragraph they sit in.
        lines = [ln for j, ln in enumerate(lines) if not _UNDERLINE.match(ln)
                 and not (j + 1 < len(lines) and _UNDERLINE.match(lines[j + 1]))]
        # Indented blocks are code or quoted literals in Markdown and reST.
        if not lines or lines[0].startswith(("    ", "\t")) or _NOT_PROSE.match(lines[0].lstrip()):
            continue
        joined = " ".join(ln.strip() for ln in lines)
        if len(joined.split()) < 5:
            continue
        # A colon that introduces a code example ends its sentence as well as a full stop would.
        nxt = next((b for b in blocks[i + 1:] if b.strip()), "").lstrip("\n")
        intro = joined.rstrip("*_ ").endswith(":") and nxt.startswith(("    ", "\t", ">>>", ".. code"))
        paras.append((joined, bool(_TERMINAL.search(joined)) or intro))
    if not paras:
        return None
    ended = sum(ok for _, ok in paras)
    reason = f"{ended} of {len(paras)} prose paragraphs end in terminal punctuation ({_pct(ended, len(paras))})"
    loose = next((p for p, ok in paras if not ok), None)
    if loose:
        reason += f"; e.g. one ends {_quote(loose[-40:], 40)}"
    return _at_least(ended / len(paras), (0.2, 0.4, 0.6, 0.8)), reason


_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_BADGE = re.compile(r"!\[[^\]]*\]\([^)]*(?:badge|shields\.io|travis-ci|codecov|badgen|coveralls|/workflows/)[^)]*\)|"
                    r"!\[[^\]]*\]\[[^\]]*badge[^\]]*\]|\[!\[|^\.\. (?:image|\|[^|]+\| image)::[^\n]*(?:badge|"
                    r"shields\.io)", re.M | re.I)
_BARE_URL = re.compile(r"(?<![(<\[\"'=`])\bhttps?://[^\s)>\]]+")


@dimension("markup_noise", "HTML tags, badge images and bare URLs per 100 words: page furniture rather than content.",
           TEXT, "text of 10+ words")
def markup_noise(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    body = _FENCE.sub("", text)
    tags, badges, urls = len(_HTML_TAG.findall(body)), len(_BADGE.findall(body)), len(_BARE_URL.findall(body))
    per100 = 100 * (tags + 3 * badges + urls) / len(ws)  # a badge is a whole line of furniture
    return _at_most(per100, (0.5, 2.0, 5.0, 10.0)), (f"{tags} HTML tags, {badges} badges and {urls} bare URLs for "
                                                     f"{len(ws)} words ({per100:.1f} per 100 words, badges x3)")


# ---------------------------------------------------------------- qa

_QA = re.compile(r"\AQuestion:\n(.*?)\n\nAnswer:\n(.*)\Z", re.S)
_CODE_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)


@lru_cache(maxsize=16)
def split_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) of a rendered qa record, or None when the text is not in that form."""
    m = _QA.match(text)
    return (m.group(1), m.group(2)) if m else None


def answer_code(text: str) -> str | None:
    """The code in a qa record's answer: its fenced blocks, or the whole answer when it reads as code."""
    qa = split_qa(text)
    if qa is None:
        return None
    answer = qa[1]
    lang = language(answer)
    # Whole-answer code first: a docstring inside it may hold fenced examples of its own.
    if lang == "python" and py_facts(answer).ok and (py_facts(answer).funcs or py_facts(answer).classes):
        return answer
    fenced = _CODE_FENCE.findall(answer)
    if fenced:
        return "\n".join(fenced)
    looks = {"python": _PY_MARK, "c": _C_MARK, "shell": _SH_MARK}[lang]
    marks = len(looks.findall(answer))
    return answer if marks >= max(2, len(answer.split("\n")) // 10) else None


_TASK = re.compile(r"\?|^\s*(?:write|implement|create|explain|describe|how|what|why|which|when|where|given|define|"
                   r"show|list|compute|find|return|fix|convert|give|make|build|generate|complete)\b", re.I | re.M)
_TARGET = re.compile(r"`[^`\n]+`|\b\w+\([^)]*\)")


@dimension("question_clarity", "Whether the question states a task, names its target precisely and gives enough "
           "specification to answer it.", QA, "question/answer records")
def question_clarity(text: str) -> Signal | None:
    qa = split_qa(text)
    if qa is None:
        return None
    q = qa[0]
    n = len(q.split())
    task, target = _TASK.search(q), _TARGET.search(q)
    score = 1 + bool(task) + bool(target) + (n >= 12) + (n >= 30)
    if n > 1500:
        score -= 1
    stated = "stated: " + _quote(task.group().strip() or "?", 20) if task else "not stated"
    parts = [_plural(n, "word"), f"task {stated}",
             f"target {'named: ' + _quote(target.group(), 40) if target else 'not named'}"]
    return max(1, score), "; ".join(parts)


_REQUESTED = re.compile(r"`([A-Za-z_]\w*)\s*\(")
_DOCSTRINGS = re.compile(r"(\"\"\"|''').*?\1|#[^\n]*", re.S)
_STOP = set(["a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "as", "is", "are", "be", "been", "was", "were", "it", "its", "this", "that", "these", "those", "from", "at", "into", "if", "else", "when", "then", "than", "not", "no", "can", "may", "must", "should", "will", "would", "do", "does", "did", "have", "has", "had", "you", "your", "we", "our", "they", "their", "which", "what", "who", "how", "why", "there", "here", "also", "only", "any", "all", "each", "such", "more", "most", "other", "some", "same", "so", "use", "used", "using", "one", "two", "write", "function", "module", "python", "return", "returns", "returned", "value", "values", "given", "none", "true", "false", "default", "object"]) | set(keyword.kwlist)  # noqa: E501 - a word list


def _keywords(s: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", s)} - _STOP


def _question_identifiers(q: str) -> set[str]:
    """Names the question asks about: in backticks, snake_case or camelCase, or called with parentheses.

    Of a dotted path (`package.module.name`) only the last part counts: the qualifier says where the
    name lives, the answer need not repeat it.
    """
    ticked = re.compile(r"`+([^`\n]+)`+")
    spans = ticked.findall(q)
    spans += re.findall(r"\b[A-Za-z_]\w*_\w+\b|\b[a-z]+[A-Z]\w*\b|\b\w+\([^()\n]*\)", ticked.sub(" ", q))
    out = set()
    for span in spans:
        head, _, args = span.partition("(")
        if re.fullmatch(r"\s*[A-Za-z_][\w.]*\.[A-Za-z_]\w*\s*", head) and not args:
            head = head.rsplit(".", 1)[-1]
        out |= {w.lower() for w in re.findall(r"[A-Za-z_]\w+", head + " " + args)}  # one letter: too ambiguous
    return out - _STOP


@dimension("answer_relevance", "Overlap between the identifiers and keywords of the question and those used in the "
           "answer (for code, outside its docstrings and comments).", QA, "question/answer records")
def answer_relevance(text: str) -> Signal | None:
    qa = split_qa(text)
    if qa is None:
        return None
    q, a = qa
    code = answer_code(text)
    body = _DOCSTRINGS.sub(" ", code) if code else a  # a docstring copied from the question proves nothing
    got = {w.lower() for w in re.findall(r"[A-Za-z_]\w*", body)}
    ids = _question_identifiers(q)
    kws = _keywords(q) - ids
    id_hit = len(ids & got) / len(ids) if ids else None
    kw_hit = len(kws & got) / len(kws) if kws else 0.0
    r = kw_hit if id_hit is None else 0.75 * id_hit + 0.25 * kw_hit
    reason = (f"{len(kws & got)} of {len(kws)} question keywords appear in the answer{' code' if code else ''}")
    if ids:
        reason = (f"{len(ids & got)} of {len(ids)} identifiers named in the question are used "
                  f"({', '.join(sorted(ids - got)[:4]) or 'all'} {'missing' if ids - got else 'present'}); " + reason)
    return _at_least(r, (0.15, 0.3, 0.5, 0.7)), reason


@dimension("answer_completeness", "Whether the answer is a full answer: defines what was asked, is not a stub, "
           "parses, and is not cut short.", QA, "question/answer records")
def answer_completeness(text: str) -> Signal | None:
    qa = split_qa(text)
    if qa is None:
        return None
    q, a = qa
    n = len(a.split())
    if n < 3:
        return 1, f"the answer has {_plural(n, 'word')}"
    code = answer_code(text)
    issues: list[str] = []
    if code is not None:
        lang = language(code)
        facts = py_facts(code) if lang == "python" else None
        wanted = _REQUESTED.search(q)
        if wanted and not re.search(rf"\b(?:def|class)\s+{re.escape(wanted.group(1))}\b", code) and lang == "python":
            issues.append(f"the requested {wanted.group(1)} is not defined")
        if facts is not None and not facts.ok:
            issues.append(f"the code does not parse (line {facts.error_line}: {facts.error})")
        elif facts is not None:
            funcs = [f for f in facts.funcs if not f.exempt]
            if funcs and all(f.is_stub for f in funcs):
                issues.append("every function body is a stub")
            else:
                stmts = sum(1 for ln in _DOCSTRINGS.sub("", code).split("\n") if ln.strip()) - len(funcs)
                if stmts <= 1:
                    issues.append(f"the body is {_plural(max(stmts, 0), 'line')} of code")
        detail = f"a {lang} answer of {len(code.splitlines())} lines"
    else:
        if not _TERMINAL.search(a.rstrip()) and not a.rstrip().endswith(("`", ")", ":")):
            issues.append(f"the answer stops mid-sentence: {_quote(a.rstrip()[-30:], 30)}")
        if n < 20:
            issues.append(f"the answer has only {n} words")
        detail = f"a prose answer of {n} words"
    severe = sum(any(k in i for k in ("not defined", "stub", "parse")) for i in issues)
    score = 5 - 3 * severe - (len(issues) - severe)
    return max(1, score), detail + ("; " + "; ".join(issues) if issues else "; nothing missing")


# ---------------------------------------------------------------- chat / agent

@dataclass(frozen=True)
class Call:
    id: str | None
    name: str
    args: str


@dataclass(frozen=True)
class Message:
    role: str
    ref: str | None  # id= on the header: the tool call a tool result answers
    content: str
    calls: tuple[Call, ...] = ()


_HEADER = re.compile(r"(?:\A|\n\n)\[(system|developer|user|assistant|tool|function)(?: id=([^\]\n]*))?\](?=\n|\Z)")
_CALL = re.compile(r"^\[tool_call(?: id=([^\]\n]*))?\] ([^\n]*)$", re.M)


@lru_cache(maxsize=16)
def parse_messages(text: str) -> tuple[Message, ...]:
    """Messages back from the canonical chat/agent rendering (mira_core.ingest.render.render_messages)."""
    heads = list(_HEADER.finditer(text))
    out = []
    for i, h in enumerate(heads):
        body = text[h.end() + 1: heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        calls: list[Call] = []
        if h.group(1) == "assistant":
            marks = list(_CALL.finditer(body))
            for j, c in enumerate(marks):
                end = marks[j + 1].start() if j + 1 < len(marks) else len(body)
                calls.append(Call(c.group(1), c.group(2).strip(), body[c.end() + 1: end].strip()))
            if marks:
                body = body[: marks[0].start()]
        out.append(Message(h.group(1), h.group(2), body.strip(), tuple(calls)))
    return tuple(out)


def _calls(msgs: tuple[Message, ...]) -> list[tuple[int, Call]]:
    return [(i, c) for i, m in enumerate(msgs) for c in m.calls]


def _args_problem(args: str) -> str | None:
    """Why a tool call's arguments are not exactly one JSON object, or None when they are."""
    s = args.strip()
    if not s:
        return "empty arguments"
    dec = json.JSONDecoder()
    try:
        obj, end = dec.raw_decode(s)
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg} at char {e.pos})"
    rest, n = s[end:].strip(), 1
    while rest:
        try:
            _, end = dec.raw_decode(rest)
        except json.JSONDecodeError:
            return f"JSON object followed by {len(rest)} characters of trailing text"
        rest, n = rest[end:].strip(), n + 1
    if n > 1:
        return f"{n} JSON values packed into one arguments field"
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not an object"
    return None


def _norm_call(c: Call) -> tuple[str, str]:
    try:
        return c.name, json.dumps(json.loads(c.args), sort_keys=True)
    except (json.JSONDecodeError, RecursionError):
        return c.name, " ".join(c.args.split())


@dimension("tool_call_validity", "Share of tool calls whose arguments parse as exactly one JSON object (several "
           "objects packed into one field, or broken JSON, count as invalid).", DIALOG, "traces with tool calls")
def tool_call_validity(text: str) -> Signal | None:
    calls = _calls(parse_messages(text))
    if not calls:
        return None
    bad = [(c, p) for _, c in calls if (p := _args_problem(c.args))]
    empty = [c for _, c in calls if c.args.strip() in ("{}",)]
    ok = len(calls) - len(bad)
    reason = f"{ok} of {_plural(len(calls), 'tool call')} have valid JSON-object arguments"
    if bad:
        c, p = bad[0]
        reason += f"; {c.id or c.name}: {p}"
        share = ok / len(calls)
        return (3 if share >= 0.9 else 2 if share >= 0.5 else 1), reason
    if empty:
        return 4, reason + f"; {len(empty)} with empty arguments {{}}"
    return 5, reason


_ERROR = re.compile(r"^(?:Traceback \(most recent call last\)|[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b:?|"
                    r"error\b|fatal\b|command not found)", re.M | re.I)


def _is_error(content: str) -> bool:
    return bool(_ERROR.search(content[:2000]))


def _results(msgs: tuple[Message, ...]) -> list[tuple[int, Message]]:
    return [(i, m) for i, m in enumerate(msgs) if m.role in ("tool", "function")]


def _answered_call(msgs: tuple[Message, ...], i: int) -> Call | None:
    """The call a tool result at index i answers: by id, else the latest call before it."""
    ref = msgs[i].ref
    before = [c for _, c in _calls(msgs[:i])]
    if ref:
        for c in reversed(before):
            if c.id == ref or c.name == ref:
                return c
    return before[-1] if before else None


@dimension("error_recovery", "After a tool result that is an error, whether the next call changes course instead of "
           "repeating the failed call.", DIALOG, "traces with a tool error")
def error_recovery(text: str) -> Signal | None:
    msgs = parse_messages(text)
    errors = [(i, m) for i, m in _results(msgs) if _is_error(m.content)]
    if not errors:
        return None
    credit, notes, repeated = 0.0, [], False
    for i, m in errors:
        failed = _answered_call(msgs, i)
        later = [c for _, c in _calls(msgs[i + 1:])]
        label = m.ref or f"message {i}"
        if later and failed is not None and _norm_call(later[0]) == _norm_call(failed):
            notes.append(f"after the error in {label} the same call is repeated")
            repeated = True
        elif later:
            credit += 1
        else:
            final = next((x.content for x in reversed(msgs[i + 1:]) if x.role == "assistant" and x.content), "")
            first = m.content.strip().split("\n")[-1][:40]
            acknowledged = bool(re.search(r"error|exception|fail|raise", final, re.I))
            # Stopping after an error is no recovery; saying so in the answer is at least honest.
            credit += 0.75 if acknowledged else 0.25
            if not acknowledged:
                notes.append(f"the last error ({_quote(first, 40)}) is not mentioned in the final answer")
    share = credit / len(errors)
    reason = f"{_plural(len(errors), 'tool error')}, recovery credit {credit:g} of {len(errors)}"
    if notes:
        reason += "; " + "; ".join(notes[:2])
    score = _at_least(share, (0.25, 0.5, 0.75, 0.95))
    return (min(score, 2) if repeated else score), reason


_TOKEN = re.compile(r"[A-Za-z_][\w.]{2,}|\d+(?:\.\d+)?")


# Words every Python repr or summary uses; sharing one of them proves nothing about reading a result.
_GENERIC_TOKENS = {"array", "list", "dict", "none", "true", "false", "tensor", "object", "int", "float", "str",
                   "dtype", "int64", "float64", "the", "and", "for", "with", "value", "values", "error", "name"}


def _tokens(s: str) -> set[str]:
    return {t.lower().rstrip(".") for t in _TOKEN.findall(s)} - _GENERIC_TOKENS


def _final_answer(msgs: tuple[Message, ...]) -> str:
    return next((m.content for m in reversed(msgs) if m.role == "assistant" and m.content), "")


@dimension("tool_result_usage", "Whether the final assistant message uses what the tools returned (values that "
           "appear in tool results and nowhere in the request or the calls).", DIALOG,
           "traces with informative tool results")
def tool_result_usage(text: str) -> Signal | None:
    msgs = parse_messages(text)
    known = set().union(*(_tokens(m.content) for m in msgs if m.role in ("system", "developer", "user")),
                        *(_tokens(c.args) for _, c in _calls(msgs)))
    novel = [(m.ref or f"message {i}", _tokens(m.content) - known) for i, m in _results(msgs)
             if m.content.strip() not in ("", "(no output)")]
    novel = [(ref, toks) for ref, toks in novel if toks]
    if not novel:
        return None
    final = _final_answer(msgs)
    if not final:
        return 1, f"{_plural(len(novel), 'informative tool result')} but no final assistant answer"
    said = _tokens(final)
    used = [(ref, sorted(toks & said)) for ref, toks in novel if toks & said]
    share = len(used) / len(novel)
    reason = f"the final answer reuses values from {len(used)} of {_plural(len(novel), 'informative tool result')}"
    if used:
        reason += f", e.g. {', '.join(used[0][1][:3])} from {used[0][0]}"
    return _at_least(share, (0.01, 0.15, 0.3, 0.5)), reason


_GAVE_UP = re.compile(r"\bI (?:was|am) unable\b|\bI could(?:n't| not)\b|\bcannot complete\b|\bI failed to\b|"
                      r"\bgave up\b", re.I)


@dimension("task_completion", "Whether the conversation ends with an assistant message that has content, rather than "
           "a dangling tool call, tool result or user turn.", DIALOG, "chat or agent records")
def task_completion(text: str) -> Signal | None:
    msgs = parse_messages(text)
    if not msgs:
        return 1, "no messages could be read from the record"
    last = msgs[-1]
    if last.role == "assistant" and last.content:
        n = len(last.content.split())
        if _GAVE_UP.search(last.content):
            return 3, f"ends with an assistant message of {n} words that gives up: {_quote(last.content, 50)}"
        if n < 3:
            return 4, f"ends with an assistant message of only {_plural(n, 'word')}"
        return 5, f"ends with an assistant answer of {n} words after {len(msgs)} messages"
    if last.role == "assistant":
        return 2, f"ends with an assistant tool call ({last.calls[0].name if last.calls else 'empty'}) and no answer"
    return 1, f"ends with a {last.role} message, not an assistant answer"


@dimension("repeated_calls", "Share of tool calls that repeat an earlier call with the same tool and arguments.",
           DIALOG, "traces with 2+ tool calls")
def repeated_calls(text: str) -> Signal | None:
    calls = [c for _, c in _calls(parse_messages(text))]
    if len(calls) < 2:
        return None
    keys = [_norm_call(c) for c in calls]
    dups = len(keys) - len(set(keys))
    back_to_back = sum(a == b for a, b in zip(keys, keys[1:], strict=False))
    score = _at_most(dups / len(keys), (0.0, 0.15, 0.3, 0.5))
    reason = f"{dups} of {len(keys)} tool calls repeat an earlier call ({_pct(dups, len(keys))})"
    if dups:
        (name, args), n = Counter(keys).most_common(1)[0]
        reason += f"; {name} {_quote(args, 50)} is called {n} times"
    if back_to_back:
        score = min(score, 2)
        reason += f"; {back_to_back} back-to-back"
    return score, reason


_CODE_TOOLS = re.compile(r"python|ipython|exec|run_code|code_interpreter|jupyter", re.I)


@dimension("tool_code_syntax", "Share of code passed to a Python tool that parses with ast.parse.", DIALOG,
           "traces that pass code to a Python tool")
def tool_code_syntax(text: str) -> Signal | None:
    codes = []
    for _, c in _calls(parse_messages(text)):
        if not _CODE_TOOLS.search(c.name) or _args_problem(c.args):
            continue
        obj = json.loads(c.args)
        code = next((obj[k] for k in ("code", "source", "script", "cell") if isinstance(obj.get(k), str)), None)
        if code is not None:
            codes.append((c.id or c.name, code))
    if not codes:
        return None
    bad = [(cid, f) for cid, code in codes if not (f := py_facts(code)).ok]
    reason = f"{len(codes) - len(bad)} of {len(codes)} code arguments parse"
    if bad:
        cid, f = bad[0]
        reason += f"; {cid}: SyntaxError line {f.error_line}: {f.error}"
    return _at_least((len(codes) - len(bad)) / len(codes), (0.4, 0.7, 0.9, 1.0)), reason


@dimension("message_structure", "Whether the messages are well formed: a user turn, tool results that answer earlier "
           "calls, calls that get results, no empty assistant turns.", DIALOG, "chat or agent records")
def message_structure(text: str) -> Signal | None:
    msgs = parse_messages(text)
    if not msgs:
        return 1, "the text is not a rendered conversation ([role] blocks)"
    problems = []
    roles = [m.role for m in msgs]
    if "user" not in roles:
        problems.append("no user message")
    first = next((r for r in roles if r not in ("system", "developer")), None)
    if first not in ("user", None):
        problems.append(f"the first turn is {first}, not user")
    call_ids = {c.id for _, c in _calls(msgs) if c.id}
    answered = {m.ref for _, m in _results(msgs) if m.ref}
    orphans = sorted(answered - call_ids - {c.name for _, c in _calls(msgs)})
    if orphans:
        problems.append(f"tool results for unknown calls: {', '.join(orphans[:3])}")
    unanswered = sorted(call_ids - answered)
    if unanswered:
        problems.append(f"calls without results: {', '.join(unanswered[:3])}")
    empty = sum(1 for m in msgs if m.role == "assistant" and not m.content and not m.calls)
    if empty:
        problems.append(f"{_plural(empty, 'empty assistant message')}")
    if not problems:
        return 5, f"{len(msgs)} well-formed messages ({', '.join(f'{n} {r}' for r, n in Counter(roles).items())})"
    return max(1, 5 - len(problems)), "; ".join(problems)


@dimension("response_length", "Mean length in words of the assistant's text replies; one-word replies teach little.",
           DIALOG, "chat or agent records")
def response_length(text: str) -> Signal | None:
    msgs = parse_messages(text)
    replies = [len(m.content.split()) for m in msgs if m.role == "assistant" and m.content]
    if not replies:
        return (1, "no assistant message has text content") if msgs else None
    mean = sum(replies) / len(replies)
    return _at_least(mean, (2, 6, 15, 40)), (f"{_plural(len(replies), 'assistant text reply')}, mean {mean:.0f} words "
                                             f"(shortest {min(replies)}, longest {max(replies)})")


_REFUSAL = re.compile(r"as an ai(?: language)? model|I(?:'m| am) (?:just )?an ai\b|I (?:cannot|can't|can not) "
                      r"(?:help|assist|provide|comply)|I'?m sorry, but I (?:cannot|can't)|I do not have (?:access|the "
                      r"ability)|I don't have (?:access|the ability)", re.I)


@dimension("refusal_markers", "Share of assistant replies with refusal or AI-disclaimer boilerplate ('As an AI "
           "language model', 'I cannot help').", DIALOG, "chat or agent records with assistant text")
def refusal_markers(text: str) -> Signal | None:
    replies = [m.content for m in parse_messages(text) if m.role == "assistant" and m.content]
    if not replies:
        return None
    hits = [r for r in replies if _REFUSAL.search(r)]
    if not hits:
        return 5, f"no refusal or disclaimer phrases in {_plural(len(replies), 'assistant reply')}"
    phrase = _REFUSAL.search(hits[0]).group()  # type: ignore[union-attr]
    return _at_most(len(hits) / len(replies), (0.0, 0.0, 0.2, 0.5)), (
        f"{len(hits)} of {_plural(len(replies), 'assistant reply')} hold refusal phrases, e.g. {_quote(phrase, 40)}")


# ---------------------------------------------------------------- evaluation

def view(dim: Dimension, fmt: str, text: str) -> tuple[str | None, str]:
    """The text a dimension judges for this record, and a prefix for its reason; None text with a why when none."""
    if fmt not in dim.formats:
        return None, f"{dim.name} applies to {'/'.join(dim.formats)} records, not {fmt}"
    if fmt == "qa" and dim.formats == CODE:
        code = answer_code(text)
        return (code, "answer: ") if code is not None else (None, "the answer is not code")
    return text, ""


def assess(fmt: str, text: str, names: Iterable[str] | None = None) -> dict[str, Finding]:
    """Evaluate dimensions (all registered ones when names is None) on one record."""
    out: dict[str, Finding] = {}
    for name in REGISTRY if names is None else names:
        dim = REGISTRY[name]
        target, prefix = view(dim, fmt, text)
        if target is None:
            out[name] = Finding(name, None, prefix)
            continue
        result = dim.fn(target)
        if result is None:
            why = dim.applies_when
            if dim.formats == CODE and "Python" in why:
                lang = language(target)
                if lang != "python":
                    why += f"; this is {lang} code"
                elif not py_facts(target).ok:
                    why += "; this Python code does not parse"
            out[name] = Finding(name, None, f"{name} needs {why}")
        else:
            score, reason = result
            out[name] = Finding(name, max(1, min(5, int(score))), prefix + reason)
    return out
