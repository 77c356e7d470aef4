"""Scenario s30 (student kinds and selection knobs): findings reproduced on tiny frames.

Run on a 4-source corpus (web/code/qa/chat, 235 records) with distill.student linear, head (mlp), trees and auto,
select.granularity source then group, min_score, weights with max_epochs, and materialize parquet then jsonl.
"""

from __future__ import annotations

import polars as pl

from mira_core.selection import select


def _records(sizes: dict[tuple[str, str], int], per: int = 10) -> pl.DataFrame:
    """`per`-token records, `sizes[(source, group)]` tokens per source, scores descending within a source."""
    rows = [(f"{s}/{i:03d}", s, g, per, float(100 - i), False)
            for (s, g), n in sizes.items() for i in range(n // per)]
    return pl.DataFrame(rows, orient="row", schema={"record_id": pl.String, "source": pl.String, "group": pl.String,
                                                    "n_tokens": pl.Int64, "score": pl.Float64,
                                                    "held_out": pl.Boolean})


def _kept(m: pl.DataFrame) -> dict[str, tuple[int, float]]:
    k = m.filter(pl.col("kept"))
    return {s: (int(t), float(e)) for s, t, e in
            k.group_by("source").agg(pl.col("n_tokens").sum(), pl.col("epochs").max()).sort("source").iter_rows()}


def test_weighting_a_group_up_does_not_cut_it_below_its_unweighted_share():
    # g0: chat (20 tokens) stays in g0's unit; qa (180) shares no anchor with chat and is set apart (unshared);
    # g1: code (100). Budget 0.5 of 300 = 150 tokens; unweighted each unit keeps half of its tokens.
    recs = _records({("chat", "g0"): 20, ("qa", "g0"): 180, ("code", "g1"): 100})
    apart = {"qa": "source:qa"}
    plain = _kept(select(recs, 0.5, "group", "mira", own_budget=apart))
    assert plain["code"] == (50, 1.0)
    # The user asks g1 for 60 % of the budget (90 tokens; its token share is 33 %).
    weighted = _kept(select(recs, 0.5, "group", "mira", own_budget=apart, weights={"g1": 0.6}, max_epochs=3.0))
    # before: g1 got 0.6 of the 60-token pool (chat's 10 + code's 50) = 36 tokens -> 30 kept, fewer than unweighted,
    # while chat (unnamed) got 24 tokens for its 20 and was repeated 1.2 times.
    assert weighted["code"][0] >= plain["code"][0]
    assert weighted.get("chat", (0, 1.0))[1] == 1.0  # the unit nobody named is not upsampled by another group's weight
