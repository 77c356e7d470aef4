"""The rules teacher's prose dimensions: Gopher (Rae et al., 2021) document rules and C4's terminal punctuation.

Each rule's pass/fail threshold is stretched into five grades; words are Gopher's whitespace tokens,
cached on the text so every dimension splits a record once.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from mira_core.mojibake import REPLACEMENT, first_mojibake, mojibake_count
from mira_core.teachers.rules.registry import TEXT, Signal, _at_least, _at_most, _pct, _quote, dimension
from mira_core.unspaced import FULL_STOPS, mostly_unspaced, spaced

_WORD_CHARS = re.compile(r"[^\W_]")
_ALPHA = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=16)
def words(text: str) -> list[str]:
    """Whitespace-separated tokens, as Gopher counts words; in text mostly in Chinese or Japanese, each Han or kana
    character is a word (`mira_core.unspaced`: a page without spaces was one to four words)."""
    return spaced(text).split()


@dimension("word_count", "Number of words; Gopher keeps documents of 50 to 100,000 words.", TEXT, "prose text")
def word_count(text: str) -> Signal | None:
    n = len(words(text))
    if n > 100_000:
        return 2, f"{n} words, over Gopher's 100,000-word limit"
    return _at_least(n, (20, 50, 100, 200)), f"{n} words (Gopher keeps 50 to 100,000)"


@dimension("mean_word_length", "Mean word length in characters; Gopher keeps 3 to 10.", TEXT, "text of 10+ words")
def mean_word_length(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10 or mostly_unspaced(text):  # a word of one character is the rule there, not a defect
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
    if len(ws) < 10 or mostly_unspaced(text):  # English stop words: a Chinese or Japanese page holds none
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
# Full stops, question and exclamation marks, of other scripts too (FULL_STOPS); closing CJK quotes and brackets after them
_TERMINAL = re.compile(f"[.!?{FULL_STOPS}]"
                       "[\"')\\]*_`\u201d\u2019\u300d\u300f\uff09\u300b\u3011]*$")


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
        if len(words(joined)) < 5:
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


@dimension("mojibake", "Mojibake sequences (ftfy's badness measure) and U+FFFD replacement characters per 100 words: "
           "text decoded with the wrong codec, which every word rule passes.", TEXT, "text of 10+ words")
def mojibake(text: str) -> Signal | None:
    ws = words(text)
    if len(ws) < 10:
        return None
    n, lost = mojibake_count(text), text.count(REPLACEMENT)
    per100 = 100 * n / len(ws)
    # One mark in a thousand words can be a quoted example (a page about encodings); one in a hundred is on every
    # screen of the page.
    reason = f"{n} mojibake marks ({lost} of them U+FFFD) for {len(ws)} words ({per100:.2f} per 100 words)"
    first = first_mojibake(text) if n else None  # a second scan of the page only where the first found a mark
    if first:
        reason += f"; e.g. {_quote(first, 40)}"
    return _at_most(per100, (0.1, 0.3, 1.0, 3.0)), reason
