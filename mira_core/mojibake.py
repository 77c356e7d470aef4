"""Marks of text decoded with the wrong codec (mojibake), counted one way for the rules teacher and the statistics.

A page of UTF-8 read as Latin-1 or Windows-1252 ("cafÃ©", "donâ€™t"), or bytes no codec could read (U+FFFD, the
replacement character), is broken for a reader and for a model, but every word rule of Gopher and C4 passes it: a
mojibake letter is a letter. `mojibake_count` counts ftfy's badness (its catalogue of character sequences that are
unlikely in real text and typical of mojibake; Speer, ftfy 6) plus the replacement characters, which ftfy does not
count.

Shared, like `mira_core.unspaced`, by the rules teacher's `mojibake` dimension and the document statistics'
`mojibake_per_word`: one definition, so the two cannot drift, and neither calls the other's code. ftfy is pinned
(constraints.txt), and its version counts in the rules teacher's version (mira_core.teachers.RULES_LIBRARIES).

Cost: ftfy's expression reads about 5 MB/s on one core, so text that is all ASCII, which holds no mark by
definition (every sequence in ftfy's catalogue has a character past U+007F), is answered without it.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def mojibake_count(text: str) -> int:
    """ftfy's badness of `text` plus its U+FFFD replacement characters; 0 for ASCII text, without running ftfy."""
    if text.isascii():
        return 0
    from ftfy.badness import badness  # ftfy's package import takes ~50 ms: paid on the first non-ASCII text only

    return badness(text) + text.count(REPLACEMENT)


def first_mojibake(text: str, around: int = 12) -> str | None:
    """The text around the first mark (`around` characters either side), the evidence a reason quotes; None
    without one."""
    if text.isascii():
        return None
    from ftfy.badness import BADNESS_RE

    found = BADNESS_RE.search(text)
    at = [i for i in (found.start() if found else -1, text.find(REPLACEMENT)) if i >= 0]
    if not at:
        return None
    i = min(at)
    return text[max(0, i - around) : i + around]
