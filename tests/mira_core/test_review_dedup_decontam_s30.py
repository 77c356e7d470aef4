"""Review of near-duplicate removal, decontamination and exclusions (mira_core/dedup.py, decontaminate.py,
exclusions.py): edge cases that failed before their fix."""

from __future__ import annotations

import json
from pathlib import Path

from mira_core.decontaminate import build_index, decontaminate_corpus
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams
from tests.mira_core.test_dedup import write_corpus

LONG = " ".join(f"word{i}" for i in range(40))  # 40 words: 28 13-grams
SHORT = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi"  # 14 words: 2 13-grams


def test_an_item_with_fewer_ngrams_than_min_matches_is_counted_unmatchable(tmp_path: Path) -> None:
    """With min_matches 3, an item of 2 n-grams can never be matched: even a verbatim copy of it passes. The
    summary's items_unmatchable exists so the metrics show what goes unchecked, yet counted it as checked."""
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"q": q}) + "\n" for q in (LONG, SHORT)))
    p = DecontaminateParams(benchmarks=[BenchmarkSpec(name="b", path="b.jsonl", fields=["q"])], min_matches=3)
    lay = write_corpus(tmp_path, {"web": [("long", LONG), ("short", SHORT)]})
    result = decontaminate_corpus(lay.corpus_shards(), p, root=tmp_path)
    assert result.dropped["record_id"].to_list() == ["web/long"]  # the copy of SHORT passes: it is unchecked
    assert result.benchmarks.select("items", "items_unmatchable").row(0) == (2, 1)
    # at the default min_matches every item with an n-gram is checked, as before
    one = build_index(p.model_copy(update={"min_matches": 1}), root=tmp_path).summary
    assert one.select("items", "items_unmatchable", "ngrams").row(0) == (2, 0, 30)


def test_a_benchmark_none_of_whose_items_can_be_matched_is_said(tmp_path: Path) -> None:
    """min_matches above every item's n-gram count: the benchmark checks nothing, which the stage now says."""
    from flows.decontaminate import unchecked
    from mira_core.decontaminate import run_decontaminate

    (tmp_path / "b.jsonl").write_text(json.dumps({"q": SHORT}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"q": LONG}) + "\n")
    specs = [BenchmarkSpec(name="b", path="b.jsonl", fields=["q"]), BenchmarkSpec(name="c", path="c.jsonl",
                                                                                   fields=["q"])]
    lay = write_corpus(tmp_path, {"web": [("short", SHORT)]})
    metrics = run_decontaminate(lay.corpus, DecontaminateParams(benchmarks=specs, min_matches=3), tmp_path,
                                tmp_path / "out")
    [line] = unchecked(metrics)
    assert line.startswith("benchmark 'b': none of its 1 items has decontaminate.min_matches = 3 distinct 13-word")
    assert unchecked(run_decontaminate(lay.corpus, DecontaminateParams(benchmarks=specs), tmp_path,
                                       tmp_path / "out2")) == []
