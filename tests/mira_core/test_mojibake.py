"""mira_core.mojibake, the rules teacher's `mojibake` dimension and the `mojibake_per_word` statistic: text decoded
with the wrong codec is seen where every word rule passes it."""

from __future__ import annotations

import numpy as np

from mira_core.docstats import INDEX, doc_stats
from mira_core.mojibake import first_mojibake, mojibake_count
from mira_core.teachers.rules.prose import mojibake

CLEAN = ("The café on the corner serves crêpes and a naïve tarte Tatin; the chef’s menu changes with the season, and "
         "the éclair is the dish to try before the doors close at nine.")


def wrong_codec(text: str) -> str:
    """`text` as a program that read its UTF-8 bytes as Windows-1252 shows it."""
    return text.encode("utf-8").decode("cp1252", errors="replace")


def test_clean_accented_text_and_ascii_have_no_mark():
    assert mojibake_count(CLEAN) == 0
    assert mojibake_count("plain ASCII text, with symbols like # and ~ and ...") == 0
    assert first_mojibake(CLEAN) is None


def test_utf8_read_as_windows_1252_is_counted_and_quoted():
    broken = wrong_codec(CLEAN)
    assert mojibake_count(broken) >= 4  # é, ê, ï, ’ and é again each leave a sequence
    assert "Ã" in first_mojibake(broken)


def test_replacement_characters_count_though_ftfy_does_not():
    lost = CLEAN.replace("é", "\ufffd")
    assert mojibake_count(lost) == 2  # the two é; ftfy's badness reads U+FFFD as no mojibake
    assert "\ufffd" in first_mojibake(lost)


def test_the_dimension_grades_by_marks_per_100_words():
    score, reason = mojibake(CLEAN)
    assert score == 5 and reason.startswith("0 mojibake marks")
    score, reason = mojibake(wrong_codec(CLEAN))
    assert score == 1, reason
    assert "e.g. 'The cafÃ©" in reason
    # one mark in a long page is a quoted example, not a broken page
    page = " ".join([CLEAN] * 40) + " " + wrong_codec("café")
    assert mojibake(page)[0] == 5
    assert mojibake("Too short: cafÃ©.") is None  # under 10 words, as the other word rules


def test_the_statistic_is_marks_per_word_and_zero_for_clean_text():
    clean, broken = doc_stats("text", CLEAN), doc_stats("text", wrong_codec(CLEAN))
    assert clean[INDEX["mojibake_per_word"]] == 0
    n = len(wrong_codec(CLEAN).split())
    assert broken[INDEX["mojibake_per_word"]] == np.float32(mojibake_count(wrong_codec(CLEAN)) / n)
    # the other character statistics barely tell the two apart: the broken letters are letters
    assert abs(broken[INDEX["alpha_frac"]] - clean[INDEX["alpha_frac"]]) < 0.05



def test_the_rules_teachers_version_counts_ftfys(monkeypatch):
    """A new ftfy can count other sequences: the rules teacher's cached answers must not outlive it."""
    import importlib.metadata

    from mira_core import teachers

    before, real = teachers._rules_version(), importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0" if name == "ftfy" else real(name))
    assert teachers._rules_version() != before
