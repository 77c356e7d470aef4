"""The near-duplicate benchmark's wiring and table: its generated corpus has the share of near-copies it says, a
measure clusters them, and the section renders what the runs measured (speed itself is measured by `make bench`)."""

from __future__ import annotations

from bench import run
from bench.dedup import generate, measure


def test_every_benchmark_has_a_number_a_section_and_a_runner():
    assert set(run.ALL) == set(run.NUMBERS)
    assert len(set(run.NUMBERS.values())) == len(run.NUMBERS)


def test_a_measure_finds_the_one_cluster_of_near_copies(tmp_path):
    import polars as pl

    paths = generate(tmp_path, 400, 0.25)
    texts = pl.concat([pl.read_parquet(p) for p in paths])["text"]
    copies = int(texts.str.contains(" tail").sum())
    assert 60 < copies < 140 and texts.len() == 400
    x = measure(400, 0.25)
    assert x["clusters"] == 1 and x["dropped"] == copies - 1 and x["records"] == 400


def test_the_section_renders_each_size_and_share():
    runs = {f"{n}/{s}": [{"records": n, "share": s, "seconds": t, "peak_rss_mb": 200.0, "clusters": int(s > 0),
                          "dropped": int(n * s) - 1 if s else 0, "bands": [12, 10]} for t in (1.0, 2.0, 3.0)]
            for n in (20_000, 80_000) for s in (0.0, 0.1)}
    text = "\n".join(run.section_dedup({"runs": runs}))
    assert text.startswith("## 13. Near-duplicate clustering at scale")
    assert "| 80,000 | 10% | **2.00** |" in text and "(12, 10)" in text and "Median of 3 runs" in text
