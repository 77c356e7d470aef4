"""Review s43 of dedup: zero-width spaces inside words, and records joined to a cluster through another member.

A zero-width space became a space everywhere, so one put inside English words (by <wbr>, or to defeat copy
detection) split them and the copy shared no shingle with its original; beside a script written without spaces it
stays a word break. A record dropped through a chain (A~B, B~C) is counted in the metrics (`joined_by_chain`).
"""

from __future__ import annotations

import random

import polars as pl

from mira_core.dedup import DedupParams, normalise, run_dedup
from tests.mira_core.test_dedup import _edit, _text, _vocab, write_corpus


def test_a_zero_width_space_inside_a_word_is_removed_and_a_word_break_beside_khmer_or_han():
    assert normalise("near\u200bcopy of\u200b the page") == "nearcopy of the page"
    assert normalise("ភាសា\u200bខ្មែរ") == "ភាសា ខ្មែរ" and normalise("日本\u200b語") == "日本 語"
    # another invisible character beside it hides no neighbour; marks kana and Han share (the prolonged sound mark,
    # a voicing mark) count with them
    assert normalise("ก\u200d\u200b\u00adข") == normalise("ก\u00ad\u200bข") == "ก ข"
    assert normalise("ラーメンー\u200babc") == "ラーメンー abc" and normalise("か\u3099\u200babc") == "が abc"


def test_a_copy_with_zero_width_spaces_in_its_words_is_a_near_duplicate(tmp_path):
    rng = random.Random(43)
    original = _text(rng, _vocab(rng), 200)
    copy = " ".join(w[:2] + "\u200b" + w[2:] if i % 3 == 0 else w for i, w in enumerate(original.split()))
    other = _text(rng, _vocab(rng), 200)
    lay = write_corpus(tmp_path, {"web": [("a", original), ("b", copy), ("c", other)]})
    m = run_dedup(lay.corpus, DedupParams(), tmp_path / "out")
    assert m["total"]["records_dropped"] == 1 and m["joined_by_chain"] == 0


def test_a_record_joined_through_another_member_is_counted(tmp_path):
    rng = random.Random(0)
    a = _text(rng, _vocab(rng), 400)
    b = _edit(rng, a, 8)  # 8 words from its neighbour each: about 0.8 of the 5-word shingles shared, a to c 0.65
    c = _edit(rng, b, 8)
    lay = write_corpus(tmp_path, {"web": [("a", a), ("b", b), ("c", c)]})
    p = DedupParams(threshold=0.75)
    m = run_dedup(lay.corpus, p, tmp_path / "out")
    dropped = pl.read_parquet(tmp_path / "out" / "dropped.parquet")
    assert m["clusters"] == 1 and m["total"]["records_dropped"] == 2
    assert m["joined_by_chain"] == int((dropped["jaccard"] < p.threshold).sum()) == 1, dropped
