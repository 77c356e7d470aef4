"""Text written without spaces between words (Chinese, Japanese): where each Han or kana character is a word.

Gopher's word rules (the rules teacher's prose dimensions), dedup's word shingles and decontaminate's n-grams split
text on whitespace or on runs of word characters. A Chinese page is then one to four "words": every page fails
Gopher's 50-word minimum, a copy with one character changed shares no shingle with its original, and a benchmark
item has too few words to match. Where Han and kana characters are most of a text's letters (`mostly_unspaced`),
`spaced` puts a space around each of them, so every one counts as a word, a common approximation for CJK text
(a Chinese word is one to a few characters). Text that is mostly in a spaced script, English with a few Chinese
characters in it included, is returned as it is. dedup's shingles split every such character (`split_each`),
whatever the rest of the text: a near-copy on the other side of the "mostly" line was shingled the other way.
Thai, Khmer and Lao are written without spaces too but a character is not a word there: they are left as they are (a
page reads as few long words), as is Korean, which uses spaces.
`FULL_STOPS` are the sentence ends of other scripts, which end a sentence as `.` does.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The full stops, question and exclamation marks of scripts other than Latin: CJK full-width and ideographic, Arabic,
# Urdu, Devanagari, Armenian, Ethiopic. Shared by the statistics' line ends and the rules teacher's paragraph ends,
# which had two lists, one without the last two.
FULL_STOPS = "\u3002\uff01\uff1f\uff61\uff0e\u061f\u06d4\u0964\u0965\u0589\u1362"
# Hiragana, katakana, CJK unified ideographs (extension A, the main block, compatibility, extensions B onward) and
# halfwidth katakana
UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d\U00020000-\U0003134f]")
_LETTER = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=16)
def mostly_unspaced(text: str) -> bool:
    """Whether Han and kana characters are at least half of the text's letters (cached: several rules and the
    shingles ask of the same text)."""
    if text.isascii():
        return False
    # counted by subn, not findall: a list of one string per character took 170 MB for a 6 MB Chinese record
    unspaced = UNSPACED.subn("", text)[1]
    return unspaced > 0 and 2 * unspaced >= _LETTER.subn("", text)[1]


def split_each(text: str) -> str:
    """`text` with a space on each side of every Han or kana character, whatever the rest of it is."""
    return UNSPACED.sub(r" \g<0> ", text)


def spaced(text: str) -> str:
    """`split_each(text)` where the text is mostly such characters, else the text as it is."""
    return split_each(text) if mostly_unspaced(text) else text
