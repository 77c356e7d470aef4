"""The select stage says on the console when some sources have no reliable anchor (their cut is near random)."""

from __future__ import annotations

from flows.select import unreliable_warning


def test_sources_without_a_reliable_anchor_are_named_in_a_warning():
    assert unreliable_warning([], 3) is None
    text = unreliable_warning(["chat", "qa"], 3)
    assert text.startswith("select: WARNING: no anchor passes the reliability mask for 2 of 3 sources (chat, qa)")
    assert "label.records_per_group" in text
