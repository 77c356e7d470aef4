"""The select stage says on the console when some sources have no reliable anchor (their cut is near random)."""

from __future__ import annotations

from flows.select import unreliable_warning


def test_sources_without_a_reliable_anchor_are_named_in_a_warning():
    assert unreliable_warning([], ["chat", "qa", "web"], []) is None
    text = unreliable_warning(["chat", "qa"], ["chat", "qa", "web"], [])
    assert text.startswith("select: WARNING: no anchor passes the reliability mask for 2 of 3 sources (chat, qa)")
    assert "label.records_per_group" in text


def test_held_out_sources_are_not_counted_among_the_sources_ranked():
    text = unreliable_warning(["qa"], ["chat", "qa", "target"], ["target"])
    assert "for 1 of 2 sources (qa)" in text
