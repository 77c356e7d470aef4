"""The rules teacher's registry: what a dimension is, the decorator that registers one, and the grading helpers.

This is a rules teacher, not an LLM. Every signal is a named quality dimension: a small function from a
record's text to a score from 1 (worst) to 5 (best) and a reason that quotes the evidence, or None when
the dimension does not apply to that record. Thresholds follow published data-filtering rules where
there are some: Gopher (Rae et al., 2021, appendix A) for prose, C4 (Raffel et al., 2020) for terminal
punctuation, StarCoder / The Stack (Li et al., 2023) for code line lengths, comment ratios and generated
files. Each threshold is stretched into five grades rather than a pass/fail cut, so that records of one
source still get different scores.

The dimension modules (code, prose, qa, dialog) register into REGISTRY when imported; the package's
`__init__` imports them in a fixed order, which is the order of REGISTRY, of `assess` and of the
table in docs/teachers.md (`dimension_table`). The helpers with a leading underscore are shared by those modules
only, not part of the package's public names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


# ---------------------------------------------------------------- the table in docs/teachers.md

def dimension_table() -> list[str]:
    """The table of dimensions in docs/teachers.md, as markdown lines, in registry order.

    docs/teachers.md holds a copy between the rules-dimensions markers; `python -m mira_core.teachers.rules.table`
    rewrites it, and a test fails when the copy and this table differ.
    """
    def cell(s: str) -> str:
        return " ".join(s.split()).replace("|", "\\|")  # a pipe would end the cell

    lines = ["| dimension | formats | what it measures |", "|---|---|---|"]
    for d in REGISTRY.values():
        formats = ", ".join(f for f in FORMATS if f in d.formats)
        lines.append(f"| `{d.name}` | {formats} | {cell(d.description)} |")
    return lines
