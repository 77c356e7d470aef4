"""Review s32, per-record pathologies: one legitimate but unusual record must not take superlinear time or memory.

- Zalgo text: unicodedata's NFKC sorts a run of combining marks by insertion sort, so dedup's and decontaminate's
  fold took 5 s on one letter carrying 40,000 marks (80 KB) and over a minute on 160,000. Long runs are now put in
  canonical order first; the fold is the same text on every input.
- A huge record's MinHash: datasketch builds a (shingles, num_perm) array in one update, 1 GB and 16 s for a 1 MB
  record's character shingles. The update is now chunked; the signature is the same.
"""

from __future__ import annotations

import random
import types
import unicodedata

import numpy as np

from mira_core import dedup
from mira_core.filter_params import DedupParams

# --- the fold, as it was before this review (the reference every input must still match) ---------------------------


def _old_fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    text = dedup.without_ignorables(text)  # with the zero-width-space rule of review s43
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


# Marks of many combining classes (above, below, overlay, Hebrew, Arabic, Tibetan's decomposing vowels, the Greek
# ypogegrammeni that case-folds to iota, Indic viramas and spacing marks of class 0, the kana voicing marks and their
# halfwidth forms), and bases that decompose, compose or fold.
MARKS = [chr(c) for c in (*range(0x300, 0x370), 0x591, 0x5B0, 0x5BC, 0x5C1, 0x610, 0x64B, 0x651, 0x670, 0x093C,
                          0x093E, 0x094D, 0x0F71, 0x0F72, 0x0F73, 0x0F75, 0x0F80, 0x0F81, 0x1DC0, 0x1DCA, 0x20D0,
                          0x20DD, 0x20E3, 0x3099, 0x309A, 0xFF9E, 0xFF9F, 0x1D165, 0x1D16D)]
BASES = ["a", "e", "é", "ΐ", "Ϊ", "Å", "\u212a", "ﬁ", "가", "ᄀ", "ｶ", "カ", "ऄ", "ས", " ", "\u00ad", "\u200b", "İ", "ß",
         "x", "\n", "1"]


def _random_text(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(1, 6)):
        parts.append(rnd.choice(BASES))
        if rnd.random() < 0.5:  # a long run (past the 64 the fast path starts at) or a short one
            parts.append("".join(rnd.choice(MARKS) for _ in range(rnd.choice((1, 3, 63, 64, 65, rnd.randint(0, 300))))))
    return "".join(parts)


def test_the_fold_is_the_same_text_on_random_marks_and_bases():
    rnd = random.Random(32)
    for _ in range(400):
        text = _random_text(rnd)
        assert dedup._fold(text) == _old_fold(text), ascii(text)


def _unsorted_run(text: str) -> int:
    """The longest stretch of non-starters in `text` that is out of canonical (combining class) order."""
    longest, stretch = 0, []
    for ch in [*text, "a"]:
        if unicodedata.combining(ch):
            stretch.append(unicodedata.combining(ch))
            continue
        if stretch != sorted(stretch):
            longest = max(longest, len(stretch))
        stretch = []
    return longest


def test_a_long_run_of_marks_reaches_unicodedata_in_canonical_order(monkeypatch):
    seen: list[str] = []

    def normalize(form: str, text: str) -> str:
        seen.append(text)
        return unicodedata.normalize(form, text)

    from mira_core import marks  # the fold's NFKC, `marks.nfkc`

    monkeypatch.setattr(marks, "unicodedata", types.SimpleNamespace(
        normalize=normalize, combining=unicodedata.combining, is_normalized=unicodedata.is_normalized))
    zalgo = "Zalgo: h" + "\u0301\u0316" * 2000 + " done"  # above and below, alternating: insertion sort's worst case
    assert dedup.words(zalgo)[-1] == "done"
    assert max(map(_unsorted_run, seen)) <= 64  # the old fold handed unicodedata all 4,000 marks out of order


# --- the signature, as it was before this review -------------------------------------------------------------------


def _old_signature(hashes: np.ndarray, template) -> np.ndarray:
    m = dedup.MinHash(num_perm=template.num_perm, seed=template.seed, hashfunc=int,
                      permutations=template.permutations, scheme=dedup._SCHEME)
    m.update_batch((hashes >> np.uint64(32)).tolist())
    return m.hashvalues


def test_the_signature_is_the_same_on_random_shingle_sets():
    rnd = np.random.default_rng(32)
    template = dedup._template(DedupParams(num_perm=16))
    for k in range(300):
        size = int(rnd.integers(1, 200)) if k < 295 else int(rnd.integers(30_000, 100_000))  # past one chunk
        hashes = np.unique(rnd.integers(0, 2**64, size=size, dtype=np.uint64))
        assert np.array_equal(dedup.signature(hashes, template), _old_signature(hashes, template))


def test_a_huge_record_is_minhashed_in_bounded_chunks(monkeypatch):
    sizes: list[int] = []

    class Recording(dedup.MinHash):
        def update_batch(self, b):
            sizes.append(len(b))
            super().update_batch(b)

    monkeypatch.setattr(dedup, "MinHash", Recording)
    p = DedupParams(shingle="char", num_perm=16)
    rnd = random.Random(1)
    text = "".join(rnd.choice("abcdefghij ") for _ in range(100_000))
    hashes = dedup.shingle_hashes(text, p)
    dedup.signature(hashes, dedup._template(p))
    assert sum(sizes) == len(hashes) > 50_000
    assert max(sizes) <= 1 << 15  # one update of every shingle: a (shingles, num_perm) array, 4 GB at 1M shingles
