"""The baselines' manifests, found in review (session 33), and randomized invariants of the baselines.

single_rubric read a label table's anchor columns as those named a<digits> (discovery's a00, a01 ...), while a
rubric edited by hand may name an anchor otherwise (the Rubric validator allows any id but the label table's own
columns): such an anchor was left out of the mean the baseline fits on, and a group whose anchors were all so named
failed in polars ("cannot return empty fold") naming neither the file nor the baseline. With no embedding shard
(data/embeddings deleted once score had run) it failed on polars' "cannot concat empty list".

The randomized check builds 150 tiny corpora on disk, each in two line orders (1-6 sources of 1-40 records, token
counts from 0 to one huge record, word-less and non-Latin texts, held-out sources, near-duplicate and contaminated
records, budgets from one no record fits to 1.0 and an absolute one), and holds the random, length and DSIR
manifests to the rule: every corpus record once, nothing held out or dropped kept, the cut the documented one (best
first, ties by record_id, while the running sum stays within the budget; a record longer than the whole budget
passed over), and the same manifest whatever order the shards list their records in. It found no other difference.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from mira_core.config import SelectParams
from mira_core.errors import ConfigError
from mira_core.labels import label_schema
from mira_core.manifests import baseline_scores, baseline_settings, corpus_index
from mira_core.schema import CONTAMINATED, CORPUS, NEAR_DUPLICATES
from mira_core.selection import select


def _corpus(root: Path, rows: list[dict]) -> None:
    for s in sorted({r["source"] for r in rows}):
        (root / "corpus" / s).mkdir(parents=True, exist_ok=True)
        pl.DataFrame([r for r in rows if r["source"] == s], schema=CORPUS).write_parquet(
            root / "corpus" / s / "part-0.parquet")


def _record(rid: str, source: str, n_tokens: int, text: str = "x") -> dict:
    return {"record_id": rid, "source": source, "format": "text", "text": text, "n_tokens": n_tokens,
            "n_chars": len(text), "meta": "{}"}


def _rubric_project(root: Path, anchors: dict[str, list[int]], x: np.ndarray) -> np.ndarray:
    """One source of len(x) records, all labeled with `anchors` (id -> scores); the single_rubric scores."""
    ids = [f"s/{i:02d}" for i in range(len(x))]
    _corpus(root, [_record(i, "s", 10) for i in ids])
    (root / "emb" / "s").mkdir(parents=True)
    pl.DataFrame({"record_id": ids, "embedding": x.astype(np.float32)}).write_parquet(root / "emb/s/part-0.parquet")
    (root / "labels").mkdir()
    n = len(ids)
    rows = {"record_id": ids, "source": ["s"] * n, "group": ["g"] * n, "split": ["train"] * n, **anchors,
            **{k: [""] * n for k in ("rationales", "teacher", "rubric_version", "prompt_hash")}}
    pl.DataFrame(rows, schema=label_schema(list(anchors))).write_parquet(root / "labels" / "g.parquet")
    index = corpus_index(root / "corpus", {"s": "g"}, [])
    return baseline_scores("single_rubric", index, {"budget": 0.5, "held_out_sources": []}, root / "corpus",
                           root / "labels", root / "emb")


def _quality(n: int = 40) -> tuple[np.ndarray, list[int]]:
    x = np.random.default_rng(0).normal(size=(n, 3))
    return x, [int(v) for v in np.clip(np.round(3 + 1.5 * x[:, 0]), 1, 5)]


def test_single_rubric_fits_the_mean_of_every_anchor_whatever_its_id(tmp_path):
    # a00 says nothing (3 everywhere); the hand-named anchor carries the quality: the mean follows it. Read as
    # a<digits>, the mean was a00's constant, and every record scored alike (the cut fell by record_id).
    x, quality = _quality()
    s = _rubric_project(tmp_path, {"a00": [3] * len(x), "clarity": quality}, x)
    assert spearmanr(s, x[:, 0]).statistic > 0.9


def test_single_rubric_reads_a_group_whose_anchors_are_all_named_by_hand(tmp_path):
    x, quality = _quality()
    s = _rubric_project(tmp_path, {"clarity": quality, "depth": quality}, x)  # polars' ComputeError before
    assert s.shape == (len(x),) and spearmanr(s, x[:, 0]).statistic > 0.9


def test_single_rubric_without_embedding_shards_names_the_folder(tmp_path):
    # data/embeddings deleted once score had run (it is the largest output): polars' "cannot concat empty list"
    x, quality = _quality()
    _rubric_project(tmp_path, {"a00": quality}, x)
    shutil.rmtree(tmp_path / "emb")
    index = corpus_index(tmp_path / "corpus", {"s": "g"}, [])
    with pytest.raises(ConfigError, match=r"emb: no embedding shards.*single_rubric"):
        baseline_scores("single_rubric", index, {}, tmp_path / "corpus", tmp_path / "labels", tmp_path / "emb")


WORDS = ["def", "return", "the", "goal", "ä", "λx", "数据", "🙂", "x1", "--", ""]


def _random_project(rng: random.Random, root: Path, order: random.Random) -> tuple[list[dict], list[str], set[str]]:
    sources = [f"s{i}" for i in range(rng.randint(1, 6))]
    rows = []
    for s in sources:
        n = rng.randint(1, 40)
        recs = [_record(f"{s}/{rng.randint(0, 10**6)}_{i}", s, rng.choice([0, 1, 2, 5, 50, rng.randint(0, 300)]),
                        " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))) for i in range(n)]
        if rng.random() < 0.2:
            recs[rng.randrange(n)]["n_tokens"] = 10**9  # one record longer than any budget
        rows += recs
    ids = [r["record_id"] for r in rows]
    near = [{"record_id": i, "source": i.split("/")[0], "cluster": "kept/elsewhere", "jaccard": 0.9, "rank": 1,
             "reason": "near_duplicate"} for i in ids if rng.random() < 0.1]
    dirty = [{"record_id": i, "source": i.split("/")[0], "benchmark": "b", "item": "1", "n_matches": 3,
              "reason": "contaminated"} for i in ids if rng.random() < 0.05]
    shuffled = list(rows)
    order.shuffle(shuffled)
    _corpus(root, shuffled)
    for name, table, schema in (("dedup", near, NEAR_DUPLICATES), ("decontaminate", dirty, CONTAMINATED)):
        (root / name).mkdir()
        pl.DataFrame(table, schema=schema).write_parquet(root / name / "dropped.parquet")
    return rows, sources, {d["record_id"] for d in near + dirty}


def _rule(manifest: pl.DataFrame, budget: float) -> set[str]:
    """The kept record ids by the documented cut, one record at a time."""
    pool = manifest.filter(~pl.col("reason").is_in(["held_out", "near_duplicate", "contaminated"]))
    whole = (budget * int(pool["n_tokens"].sum()) if budget <= 1 else budget) * (1 + 1e-12)
    running, kept = 0, set()
    for r in pool.filter(pl.col("score").is_not_nan()).sort(["score", "record_id"], descending=[True, False]
                                                            ).iter_rows(named=True):
        if r["n_tokens"] > whole:
            continue
        running += r["n_tokens"]
        if running <= whole:
            kept.add(r["record_id"])
    return kept


def test_the_random_length_and_dsir_manifests_keep_the_rule_over_random_small_corpora(tmp_path):
    for seed in range(150):
        rng = random.Random(seed)
        manifests = []
        for order in (1, 2):  # the same corpus, its records in two orders
            root = tmp_path / f"{seed}-{order}"
            rows, sources, dropped = _random_project(random.Random(seed), root, random.Random(order))
            rng = random.Random(seed + 10_000)
            held = [s for s in sources[1:] if rng.random() < 0.3]
            budget = rng.choice([1.0, 0.5, rng.random() or 0.5, 1e-9, 7.0])
            p = SelectParams(budget=budget, held_out_sources=held, dsir_target=[rng.choice(sources)],
                             seed=rng.randint(0, 2**32 - 1))
            index = corpus_index(root / "corpus", {s: rng.choice(["g1", "g2"]) for s in sources}, held,
                                 root / "dedup", root / "decontaminate")
            made = {}
            for method in ("random", "length", "dsir"):
                settings = baseline_settings(method, p)
                scores = baseline_scores(method, index, settings, root / "corpus", None, None)
                m = select(index.with_columns(score=pl.Series(scores)), settings["budget"], "global", method)
                assert m.height == len(rows) and set(m["record_id"]) == {r["record_id"] for r in rows}, (seed, method)
                kept = m.filter("kept")
                assert not kept["source"].is_in(held).any() and not kept["record_id"].is_in(list(dropped)).any()
                assert set(kept["record_id"]) == _rule(m, budget), (seed, method)
                made[method] = m
            manifests.append(made)
        for method, m in manifests[0].items():
            assert m.equals(manifests[1][method]), (seed, method)
