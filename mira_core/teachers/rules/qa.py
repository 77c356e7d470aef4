"""The rules teacher's question/answer dimensions, and the split of a rendered qa record into question and answer.

`answer_code` also decides whether the code dimensions apply to a qa record: they judge the answer's
code when there is some (see `assess.view`).
"""

from __future__ import annotations

import keyword
import re
from functools import lru_cache

from mira_core.teachers.rules.code_facts import _C_MARK, _PY_MARK, _SH_MARK, language, py_facts
from mira_core.teachers.rules.prose import _TERMINAL
from mira_core.teachers.rules.registry import QA, Signal, _at_least, _plural, _quote, dimension

_QA = re.compile(r"\AQuestion:\n(.*?)\n\nAnswer:\n(.*)\Z", re.S)
# The info string runs to the line end: "```python title=\"x.py\"" opens a fence as "```python" does. Only at a line
# start: an inline span ("wrap it in ```x``` first.") ends in ``` and then text, which read as a fence opening at the
# span's end, and its closing took the real fence's opening below. Elsewhere a fence opens as it did (a language).
_CODE_FENCE = re.compile(r"(?:(?<![^\n])[ \t]*```[^\n`]*|```[\w+-]*)\n(.*?)```", re.S)


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


# `name(`, or a method: `Owner.name(` called a method, or with a CapWords owner or a self/cls first argument; not any
# qualified call (`json.loads(text)` asks for no loads to be defined)
_REQUESTED = re.compile(r"method\s+`[A-Za-z_]\w*\.([A-Za-z_]\w*)\s*\(|`(?:[A-Z]\w*\.)?([A-Za-z_]\w*)\s*\("
                        r"|`[A-Za-z_]\w*\.([A-Za-z_]\w*)\s*\(\s*(?:self|cls)\b")
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
        if re.fullmatch(r"\s*[A-Za-z_][\w.]*\.[A-Za-z_]\w*\s*", head):  # `Owner.name(self, x)` too
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
    if not ids and not kws:  # nothing to look for (a question in Chinese, or of stop words alone): no grade
        return None
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
        name = wanted and next(g for g in wanted.groups() if g)
        if name and not re.search(rf"\b(?:def|class)\s+{re.escape(name)}\b", code) and lang == "python":
            issues.append(f"the requested {name} is not defined")
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
