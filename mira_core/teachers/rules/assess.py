"""Evaluating the rules teacher's dimensions on one record: which text each dimension judges, and the findings.

Only the registry is read here; the dimension modules register into it when the package imports them.
"""

from __future__ import annotations

from collections.abc import Iterable

from mira_core.teachers.rules.code_facts import language, py_facts
from mira_core.teachers.rules.qa import answer_code
from mira_core.teachers.rules.registry import CODE, REGISTRY, Dimension, Finding


def view(dim: Dimension, fmt: str, text: str) -> tuple[str | None, str]:
    """The text a dimension judges for this record, and a prefix for its reason; None text with a why when none."""
    if fmt not in dim.formats:
        return None, f"{dim.name} applies to {'/'.join(dim.formats)} records, not {fmt}"
    if fmt == "qa" and dim.formats == CODE:
        code = answer_code(text)
        return (code, "answer: ") if code is not None else (None, "the answer is not code")
    return text, ""


def assess(fmt: str, text: str, names: Iterable[str] | None = None) -> dict[str, Finding]:
    """Evaluate dimensions (all registered ones when names is None) on one record; a CRLF line end is read as \\n."""
    # The rules' patterns end lines at \n only: a record with Windows line ends lost its fenced code (a qa answer's
    # ```python block read as the whole answer, which did not parse), its paragraphs and headings (terminal
    # punctuation found none) and counted each line's \r as a character. Python's parser and universal-newline
    # reading (the demo corpus's files) take \r\n as one line end; so do the rules. A lone \r is left as it is.
    text = text.replace("\r\n", "\n")
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
