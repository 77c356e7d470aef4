"""Long runs of combining marks put in canonical order, so that parsing a record with one takes linear time.

Python's parser NFKC-normalises every non-ASCII identifier, and unicodedata puts a run of combining marks in
canonical order by insertion sort: one identifier carrying 20,000 marks (a 40 KB "Zalgo" record) took 5 s to
`ast.parse`, and the time grows with the square of the run. A stable sort of each stretch of non-starters by
combining class is that canonical order, so the text it gives is canonically equivalent (every identifier
normalises to the same name, no line moves; the few marks of class 0 that decompose into non-starters are
decomposed, `_unfold`) and the parser's sort finds it already in order. Text without such a
run, all ordinary text, is returned as it is. `nfkc` is unicodedata's NFKC with the same care (dedup's fold).
"""

from __future__ import annotations

import unicodedata

import regex

LONG_RUN = 64  # marks; a run shorter than this costs the insertion sort nothing worth a pass
_MARK_RUN = regex.compile(rf"\p{{M}}{{{LONG_RUN},}}")
# for NFKC also the two halfwidth katakana sound marks, which decompose into marks
_NFKC_MARK_RUN = regex.compile(rf"[\p{{M}}\uff9e\uff9f]{{{LONG_RUN},}}")


def _unfold(ch: str) -> str:
    """A mark of class 0 whose canonical decomposition starts with a non-starter (Tibetan U+0F73, U+0F75, U+0F81) as
    that decomposition: the parser's NFKC decomposes it, and every mark after it then sorts past it (quadratic
    again). Any other character as it is."""
    if unicodedata.combining(ch) or not unicodedata.decomposition(ch):
        return ch
    d = unicodedata.normalize("NFD", ch)
    return d if unicodedata.combining(d[0]) else ch


def canonical_order(chars: str) -> str:
    """`chars` with each stretch of non-starters stably sorted by combining class: Unicode's canonical ordering,
    in linear time on a run of marks (unicodedata's own is an insertion sort)."""
    out: list[str] = []
    stretch: list[str] = []
    for ch in chars:
        if unicodedata.combining(ch):
            stretch.append(ch)
        else:  # a starter (a spacing mark of class 0): nothing moves across it
            out += sorted(stretch, key=unicodedata.combining)
            stretch.clear()
            out.append(ch)
    out += sorted(stretch, key=unicodedata.combining)
    return "".join(out)


def _in_order(run: regex.Match) -> str:
    return canonical_order("".join(_unfold(c) for c in run.group()))


def marks_in_order(text: str) -> str:
    """`text` with each run of LONG_RUN or more combining marks in canonical order (canonically equivalent)."""
    return _MARK_RUN.sub(_in_order, text) if _MARK_RUN.search(text) else text


def _decomposed_in_order(run: regex.Match) -> str:
    # each character's own decomposition, not NFKD of the run: that is the quadratic sort itself
    return canonical_order("".join(unicodedata.normalize("NFKD", c) for c in run.group()))


def nfkc(text: str) -> str:
    """unicodedata's NFKC, with each long run of marks first given as its decomposition in canonical order (what NFKD
    makes of it): the same result, in linear time (one letter carrying 40,000 marks took 5 s, quadratic)."""
    # Most text is NFKC already, and this check says so without the scan for runs. It is linear on a run of marks
    # too: the first mark out of order is a "no", and on a run in order it normalises in linear time.
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", _NFKC_MARK_RUN.sub(_decomposed_in_order, text))

