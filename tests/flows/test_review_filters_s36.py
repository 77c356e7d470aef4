"""Review s36 (h6): dedup and decontaminate checked against what they promise (docs/selection.md, the glossary).

Near-duplicates: every pair whose estimated Jaccard reaches `dedup.threshold` counts, and one record per cluster
is kept. Contamination: a record sharing a 13-gram with a benchmark item is dropped, whatever the item's fields
hold and whatever format renders the record. Each test builds a tiny corpus of shards and runs the stage's
mira_core function (what the flow's task runs), so none needs a Prefect server.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.decontaminate import run_decontaminate
from mira_core.dedup import DedupParams, minhash_shard, run_dedup
from mira_core.exclusions import drop_reasons
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams
from mira_core.ingest.render import render_qa
from mira_core.layout import corpus_shards
from tests.mira_core.test_dedup import _edit, _text, _vocab, write_corpus


def _bench(root: Path, rows: list[dict], fields: list[str]) -> DecontaminateParams:
    (root / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return DecontaminateParams(benchmarks=[BenchmarkSpec(name="bench", path="bench.jsonl", fields=fields,
                                                         id_field="id")])


def test_every_pair_estimated_at_or_above_the_threshold_is_clustered(tmp_path: Path) -> None:
    # 150 pages of 300 words, each copied into a second source with 6 words replaced: true Jaccard ~0.82, so most
    # pairs' estimate (the share of equal signature values, the very number dedup compares) is >= 0.8
    rng = random.Random(0)
    vocab = _vocab(rng)
    a, b = [], []
    for i in range(150):
        page = _text(rng, vocab, 300)
        a.append((f"p{i}", page))
        b.append((f"p{i}", _edit(rng, page, 6)))
    lay = write_corpus(tmp_path, {"a": a, "b": b}, shard_size=50)
    p = DedupParams()  # threshold 0.8, 128 permutations
    run_dedup(lay.corpus, p, tmp_path / "dedup")
    dropped = set(pl.read_parquet(tmp_path / "dedup" / "dropped.parquet")["record_id"])
    sigs = {}
    for shard in corpus_shards(lay.corpus):
        s = minhash_shard(shard, p)
        sigs.update(zip(s.record_id, s.signatures, strict=True))
    over = [i for i in range(150) if float(np.mean(sigs[f"a/p{i}"] == sigs[f"b/p{i}"])) >= p.threshold]
    assert len(over) > 80  # the planted pairs are near-copies by dedup's own estimate
    missed = [i for i in over if f"b/p{i}" not in dropped]
    assert missed == [], f"{len(missed)} of {len(over)} pairs at or above the threshold were not found"


def test_a_cluster_whose_kept_copy_is_contaminated_still_keeps_a_clean_copy(tmp_path: Path) -> None:
    rng = random.Random(1)
    vocab = _vocab(rng)
    page = _text(rng, vocab, 300)
    item = ("def add_numbers(first, second): return the sum of the two numbers given as arguments to this small "
            "function ") * 2
    # `blog` sorts before `web`, so keep: first keeps blog/x, the page with a benchmark item pasted at its end
    lay = write_corpus(tmp_path, {"blog": [("x", page + "\n" + item)], "web": [("x", page)],
                                  "other": [("y", _text(rng, vocab, 100))]})
    run_dedup(lay.corpus, DedupParams(), tmp_path / "dedup")
    run_decontaminate(lay.corpus, _bench(tmp_path, [{"id": "t0", "prompt": item}], ["prompt"]), tmp_path,
                      tmp_path / "decon")
    ids = pl.Series("record_id", ["blog/x", "web/x", "other/y"])
    reasons = dict(zip(ids, drop_reasons(ids, tmp_path / "dedup", tmp_path / "decon"), strict=True))
    assert reasons["blog/x"] == "contaminated"
    # web/x shares no n-gram with the benchmark; it is the cluster's one clean copy and must stay selectable
    assert reasons["web/x"] is None, reasons


def test_a_benchmark_field_holding_a_list_of_code_matches_a_verbatim_copy(tmp_path: Path) -> None:
    code = ("def rolling_checksum(values, window):\n    total = sum(values[:window])\n    out = [total]\n"
            "    for i in range(window, len(values)):\n        total += values[i] - values[i - window]\n"
            "        out.append(total)\n    return out\n")
    lay = write_corpus(tmp_path, {"code": [("copy", "# helper\n" + code + "\nprint(rolling_checksum([1, 2], 1))\n")]})
    # the docs: "a value that is not a string is read as its JSON text" (APPS-style `solutions`, a chat `turns`)
    p = _bench(tmp_path, [{"id": "a", "solutions": [code]}], ["solutions"])
    m = run_decontaminate(lay.corpus, p, tmp_path, tmp_path / "decon")
    assert m["benchmarks"]["bench"]["items_unmatchable"] == 0  # the item counts as checked ...
    assert m["total"]["records_dropped"] == 1  # ... so its verbatim copy must be caught


def test_a_short_qa_item_copied_into_a_qa_source_is_contaminated(tmp_path: Path) -> None:
    q = "Which planet in our solar system has the most known moons?"
    a = "Saturn has the most confirmed moons of any planet."
    # what ingest writes for a `format: qa` source holding the item, and for a text source holding it
    lay = write_corpus(tmp_path, {"qa": [("copy", render_qa(q, a))], "text": [("copy", f"{q}\n{a}")]})
    p = _bench(tmp_path, [{"id": "q1", "question": q, "answer": a}], ["question", "answer"])
    m = run_decontaminate(lay.corpus, p, tmp_path, tmp_path / "decon")
    assert m["benchmarks"]["bench"]["items_unmatchable"] == 0  # the item has 13-grams: it counts as checked
    assert m["sources"]["text"]["records_dropped"] == 1
    assert m["sources"]["qa"]["records_dropped"] == 1, m["sources"]
