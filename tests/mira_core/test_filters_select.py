"""The filter stages end to end through selection: planted near-copies and benchmark items in a corpus are
written by the dedup and decontaminate stages' functions, and every manifest then drops them with their reason,
keeps the rest eligible, counts the budget over what is left, and still accounts for every record."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import polars as pl

from mira_core.config import DedupParams, SelectParams
from mira_core.decontaminate import run_decontaminate
from mira_core.dedup import run_dedup
from mira_core.filter_params import BenchmarkSpec, DecontaminateParams
from mira_core.manifests import corpus_index
from mira_core.selection import select, stage_metrics
from tests.mira_core.test_dedup import write_corpus

BENCH_ITEM = ("def rolling_checksum(values, window):\n    total = 0\n    out = []\n    for i, v in enumerate(values):\n"
              "        total += v\n        if i >= window:\n            total -= values[i - window]\n"
              "        out.append(total)\n    return out\n")


def _text(rng: random.Random, n: int = 300) -> str:
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "lambda", "zeta"]
    return " ".join(f"{rng.choice(words)}{rng.randrange(500)}" for _ in range(n))


def _project(tmp_path: Path):
    rng = random.Random(3)
    a = [(f"r{i}", _text(rng)) for i in range(20)]
    b = [(f"r{i}", _text(rng)) for i in range(20)]
    copies = {"b/r0", "b/r1", "b/r2"}  # near-copies of a's first three records: a few words changed
    for i in range(3):
        words = a[i][1].split()
        words[5], words[50] = "changed", "edited"  # Jaccard of the 5-gram sets ~0.94, well above 0.8
        b[i] = (f"r{i}", " ".join(words))
    b[10] = ("r10", "a helper module\n" + BENCH_ITEM + "\nprint(rolling_checksum([1, 2, 3], 2))")  # contaminated
    write_corpus(tmp_path, {"a": a, "b": b})
    bench = tmp_path / "bench.jsonl.gz"
    bench.write_bytes(gzip.compress(json.dumps({"task_id": "T/1", "solution": BENCH_ITEM}).encode() + b"\n"))
    dedup = run_dedup(tmp_path / "data" / "corpus", DedupParams(), tmp_path / "data" / "dedup")
    decon = run_decontaminate(tmp_path / "data" / "corpus", DecontaminateParams(benchmarks=[BenchmarkSpec(
        name="mine", path="bench.jsonl.gz", fields=["solution"], id_field="task_id")]), tmp_path,
        tmp_path / "data" / "decontaminate")
    return copies, dedup, decon


def test_planted_copies_and_benchmark_items_are_dropped_with_their_reason(tmp_path):
    copies, dedup, decon = _project(tmp_path)
    assert dedup["total"] == {"records_in": 40, "records_dropped": 3, "tokens_in": dedup["total"]["tokens_in"],
                              "tokens_dropped": dedup["total"]["tokens_dropped"]}
    assert decon["total"]["records_dropped"] == 1 and decon["benchmarks"]["mine"]["records_dropped"] == 1
    index = corpus_index(tmp_path / "data" / "corpus", {"a": "g0", "b": "g0"}, [], tmp_path / "data" / "dedup",
                         tmp_path / "data" / "decontaminate")
    dropped = dict(index.filter(pl.col("dropped").is_not_null()).select("record_id", "dropped").iter_rows())
    assert dropped == {**dict.fromkeys(copies, "near_duplicate"), "b/r10": "contaminated"}

    records = index.with_columns(score=pl.Series(range(index.height), dtype=pl.Float64))
    p = SelectParams(budget=0.5, held_out_sources=[], baselines=[], ablations=[], dsir_target=[])
    manifest = select(records, p.budget, "global", "mira")
    by_id = dict(manifest.select("record_id", "reason").iter_rows())
    assert {r for r, why in by_id.items() if why in ("near_duplicate", "contaminated")} == {*copies, "b/r10"}
    assert not manifest.filter(pl.col("record_id").is_in([*copies, "b/r10"]))["kept"].any()

    # The budget is half of what the filters leave, and every record is counted once.
    ingest = {"total": {"kept": 40, "read": 40, "quarantined": 0}}
    metrics = stage_metrics(p, {"mira": manifest}, ingest)
    clean_tokens = int(index.filter(pl.col("dropped").is_null())["n_tokens"].sum())
    s = metrics["methods"]["mira"]
    assert s["selectable_tokens"] == clean_tokens and metrics["budget_tokens"] == round(0.5 * clean_tokens)
    assert s["reasons"]["near_duplicate"] == 3 and s["reasons"]["contaminated"] == 1
    assert sum(s["reasons"].values()) == 40 and s["kept_tokens"] <= 0.5 * clean_tokens


def test_without_filter_folders_nothing_is_dropped(tmp_path):
    _project(tmp_path)
    index = corpus_index(tmp_path / "data" / "corpus", {"a": "g0", "b": "g0"}, [])
    assert index["dropped"].null_count() == index.height
    ordered = corpus_index(tmp_path / "data" / "corpus", {"a": "g0", "b": "g0"}, [], sort=True)
    assert ordered.equals(index.sort("record_id")) and ordered["record_id"].flags["SORTED_ASC"]


def test_a_near_copy_of_a_held_out_record_is_never_selectable(tmp_path):
    copies, _, _ = _project(tmp_path)  # a/r0..r2 are the kept copies of the clusters b/r0..r2 were dropped from
    index = corpus_index(tmp_path / "data" / "corpus", {"a": "g0", "b": "g0"}, ["b"], tmp_path / "data" / "dedup",
                         tmp_path / "data" / "decontaminate")
    dropped = dict(index.filter(pl.col("dropped").is_not_null() & ~pl.col("held_out")).select(
        "record_id", "dropped").iter_rows())
    assert dropped == {"a/r0": "near_duplicate", "a/r1": "near_duplicate", "a/r2": "near_duplicate"}
    m = select(index.with_columns(score=pl.lit(1.0)), 0.5, "global", "mira")
    assert dict(m.filter(pl.col("record_id").is_in(["a/r0", "b/r0"])).select("record_id", "reason").iter_rows()) \
        == {"a/r0": "near_duplicate", "b/r0": "held_out"}


def test_the_teacher_samples_leave_out_what_select_drops_for_a_held_out_source(tmp_path):
    # discover and label sample around excluded_ids: with a held-out source it must name the kept copies of its
    # clusters too, which select drops (the test above), or the teacher is paid for records no selection keeps
    from mira_core.exclusions import excluded_ids

    _project(tmp_path)
    dedup, decon = tmp_path / "data" / "dedup", tmp_path / "data" / "decontaminate"
    index = corpus_index(tmp_path / "data" / "corpus", {"a": "g0", "b": "g0"}, ["b"], dedup, decon)
    unselectable = set(index.filter(pl.col("dropped").is_not_null())["record_id"])
    assert {"a/r0", "a/r1", "a/r2"} <= unselectable
    assert set(excluded_ids(dedup, decon, ["b"])) == unselectable
    assert not {"a/r0", "a/r1", "a/r2"} & set(excluded_ids(dedup, decon))  # nothing held out: a's copies are kept


def test_a_contaminated_kept_copy_hands_its_place_to_the_clusters_next_clean_copy_in_keep_order(tmp_path):
    """A cluster of four: its kept copy (a) and the next in keep order (b) hold the benchmark item, c and d do not.
    c, the first clean copy in dedup's keep order, is kept in a's place; d stays a near-duplicate. Every record is
    accounted for, and the dedup list itself is unchanged (the stage's counts still read it)."""
    from mira_core.exclusions import drop_reasons, excluded_ids

    rng = random.Random(5)
    page = _text(rng)
    words = page.split()
    lay = write_corpus(tmp_path, {"a": [("x", page + "\n" + BENCH_ITEM)], "b": [("x", page + "\n" + BENCH_ITEM)],
                                  "c": [("x", " ".join([*words[:9], "edited", *words[10:]]))], "d": [("x", page)],
                                  "e": [("y", _text(rng))]})
    run_dedup(lay.corpus, DedupParams(), tmp_path / "dedup")
    near = pl.read_parquet(tmp_path / "dedup" / "dropped.parquet").sort("rank")
    assert near.select("record_id", "cluster", "rank").rows() == [("b/x", "a/x", 1), ("c/x", "a/x", 2),
                                                                  ("d/x", "a/x", 3)]
    spec = BenchmarkSpec(name="bench", path="bench.jsonl", fields=["prompt"], id_field="id")
    (tmp_path / "bench.jsonl").write_text(json.dumps({"id": "t0", "prompt": BENCH_ITEM}) + "\n", encoding="utf-8")
    run_decontaminate(lay.corpus, DecontaminateParams(benchmarks=[spec]), tmp_path, tmp_path / "decon")
    ids = pl.Series("record_id", ["a/x", "b/x", "c/x", "d/x", "e/y"])
    reasons = dict(zip(ids, drop_reasons(ids, tmp_path / "dedup", tmp_path / "decon"), strict=True))
    assert reasons == {"a/x": "contaminated", "b/x": "contaminated", "c/x": None, "d/x": "near_duplicate",
                       "e/y": None}
    assert sorted(excluded_ids(tmp_path / "dedup", tmp_path / "decon")) == ["a/x", "b/x", "d/x"]
    # without decontaminate's list, dedup's own choice stands
    assert drop_reasons(ids, tmp_path / "dedup", None).to_list() == [None, *["near_duplicate"] * 3, None]
