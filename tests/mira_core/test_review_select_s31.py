"""Edge cases of the select stage found in review (session 31), and randomized invariants of the selection.

The docstrings fixed here said what the code does not: the module docstring of mira_core/selection.py turned off
the anchor a source's teacher labels never vary on whatever their number (the code, and `select.min_val_records`'s
description, ask for at least min_val_records of them); flows/select.py's did not name data/selection/oracle.parquet
among what it writes, and read data/labels/ for the single-rubric baseline alone (the teacher oracle reads it too).

The randomized checks compare `select` with a plain reference over a few hundred tiny seeded inputs (groups,
sources, held-out and dropped records, missing and NaN scores, fractional and absolute budgets, min_score, sources
on their own budget, weights and repeats), and `unshared` with a union-find over shared anchors; neither found a
difference, and they stay as guards.
"""

from __future__ import annotations

import inspect
import math
import random

import polars as pl

import flows.select as select_flow
from mira_core import selection
from mira_core.config import SelectParams
from mira_core.selection import reliability_mask, select, unshared

GOOD = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}


def test_the_module_docstring_bounds_the_label_constancy_rule_as_the_code_does():
    """A source judged on its group's figures with 3 labeled records, all scored the same on a00: the code keeps a00
    on (too few labels to say the anchor does not apply), as min_val_records's description says; the module
    docstring said any such anchor was off."""
    report = {"g": {"anchors": {"a00": GOOD}, "sources": {"s": {"n_val": 2, "anchors": {"a00": GOOD}}},
                    "label_constancy": {"s": {"n": 3, "constant": ["a00"]}}}}
    assert reliability_mask(report, SelectParams())["on"].to_list() == [True]
    report["g"]["label_constancy"]["s"]["n"] = 20
    assert reliability_mask(report, SelectParams())["on"].to_list() == [False]
    mask_step = " ".join(selection.__doc__.split("2. Aggregate.")[0].split())
    assert "labeled records, at least `min_val_records` of them, is off" in mask_step


def test_the_flows_docstring_names_the_oracle_table_it_writes_and_the_labels_it_reads():
    """select_mira writes data/selection/oracle.parquet from data/labels/ whatever the baselines."""
    doc = " ".join(select_flow.__doc__.split())
    assert "data/selection/oracle.parquet" in doc.split("Writes:")[1]
    assert "data/labels/ (the teacher oracle" in doc.split("Writes:")[0]
    assert "out_oracle" in inspect.signature(select_flow.select_mira.fn).parameters


def _records(rng: random.Random) -> tuple[pl.DataFrame, list[str]]:
    groups = ["g1", "g2", "g3"][: rng.randint(1, 3)]
    sources = {f"s{i}": rng.choice(groups) for i in range(rng.randint(1, 5))}
    held = {s for s in sources if rng.random() < 0.15}
    rows = []
    for i in range(rng.randint(0, 12)):
        s = rng.choice(list(sources))
        score = rng.choice([None, float("nan"), 0.0, 1.0, -0.5, rng.gauss(0, 1), rng.gauss(0, 1)])
        rows.append({"record_id": f"r{rng.randint(0, 999):03d}_{i}", "source": s, "group": sources[s],
                     "n_tokens": rng.choice([0, 1, 5, 10, 50, rng.randint(1, 200)]), "score": score,
                     "held_out": s in held, "dropped": rng.choice([None] * 4 + ["near_duplicate", "contaminated"])})
    schema = {"record_id": pl.String, "source": pl.String, "group": pl.String, "n_tokens": pl.Int64,
              "score": pl.Float64, "held_out": pl.Boolean, "dropped": pl.String}
    return pl.DataFrame(rows, schema=schema), sorted(sources)


def _reference(rows: list[dict], budget: float, gran: str, min_score: float | None, own: set[str],
               weights: dict[str, float] | None, max_epochs: float) -> dict[str, float]:
    """record_id -> epochs of the kept records, by the rule as the docs state it, one record at a time."""
    for r in rows:
        r["sel"] = not r["held_out"] and r["dropped"] is None
        r["elig"] = (r["sel"] and r["score"] is not None and not math.isnan(r["score"])
                     and (min_score is None or r["score"] >= min_score))
        base = "all" if gran == "global" else r[gran]
        r["unit"] = base if gran == "source" or r["source"] not in own else f"source:{r['source']}"
        r["named"] = r["unit"] if gran == "global" else r[gran]
    sel = [r for r in rows if r["sel"]]
    total = sum(r["n_tokens"] for r in sel)
    whole = budget * total if budget <= 1 else budget
    unit_t: dict[str, int] = {}
    named_t: dict[str, int] = {}
    of: dict[str, str] = {}
    for r in sel:
        unit_t[r["unit"]] = unit_t.get(r["unit"], 0) + r["n_tokens"]
        named_t[r["named"]] = named_t.get(r["named"], 0) + r["n_tokens"]
        of[r["unit"]] = r["named"]
    if not weights:
        budgets = {u: whole * t / max(1, total) for u, t in unit_t.items()}
    else:
        if set(weights) == set(named_t):
            share = {g: weights[g] / sum(weights.values()) for g in named_t}
        else:
            rest = sum(t for g, t in named_t.items() if g not in weights)
            share = {g: weights[g] if g in weights else (1 - sum(weights.values())) * t / max(1, rest)
                     for g, t in named_t.items()}
        budgets = {u: whole * share[of[u]] * t / max(1, named_t[of[u]]) for u, t in unit_t.items()}
    kept = {}
    for u in {r["unit"] for r in rows}:
        b = budgets.get(u, 0.0) * (1 + 1e-12)
        running = 0
        for r in sorted((r for r in rows if r["unit"] == u and r["elig"]), key=lambda r: (-r["score"], r["record_id"])):
            if r["n_tokens"] > b:  # longer than the unit's whole budget: passed over
                continue
            running += r["n_tokens"]
            if running <= b:
                repeat = weights and max_epochs > 1 and unit_t.get(u) and budgets[u] > unit_t[u]
                kept[r["record_id"]] = min(max_epochs, budgets[u] / unit_t[u]) if repeat else 1.0
    return kept


def test_select_agrees_with_the_rule_over_random_small_inputs_whatever_the_row_order():
    """Over 300 seeded cases: the kept records and their epochs are the rule's (per unit, best first, ties by
    record_id, within the budget), every record has one reason, and shuffling the rows changes nothing."""
    for seed in range(300):
        rng = random.Random(seed)
        records, sources = _records(rng)
        gran = rng.choice(["global", "group", "source"])
        selectable = records.filter(~pl.col("held_out") & pl.col("dropped").is_null())
        tokens = int(selectable["n_tokens"].sum())
        budget = float(rng.randint(2, tokens)) if tokens >= 2 and rng.random() < 0.3 else rng.choice([0.1, 0.5, 1.0,
                                                                                                        rng.random()])
        min_score = rng.choice([None, None, 0.0])
        own = [s for s in sources if rng.random() < 0.3] if gran != "source" else []
        weights = None
        if gran != "global" and rng.random() < 0.4:
            named = [u for u in sorted(set(selectable[gran].to_list())) if rng.random() < 0.6]
            if named:
                w = [rng.choice([0.1, 0.2, 0.5, 0.9]) for _ in named]
                weights = {u: x / max(1.0, sum(w)) * 0.999 for u, x in zip(named, w, strict=True)}
        max_epochs = rng.choice([1.0, 3.0])
        got = select(records, budget, gran, "m", min_score, own_budget=own, weights=weights, max_epochs=max_epochs)
        assert got.height == records.height and got["reason"].null_count() == 0, seed
        want = _reference(records.to_dicts(), budget, gran, min_score, set(own), weights, max_epochs)
        kept = dict(got.filter(pl.col("kept")).select("record_id", "epochs").iter_rows())
        assert kept.keys() == want.keys() and all(abs(kept[k] - want[k]) < 1e-9 for k in kept), seed
        shuffled = select(records.sample(fraction=1.0, shuffle=True, seed=seed), budget, gran, "m", min_score,
                          own_budget=own, weights=weights, max_epochs=max_epochs)
        assert shuffled.equals(got), seed


def _root(parent: dict[str, str], s: str) -> str:
    while parent[s] != s:
        s = parent[s]
    return s


def test_unshared_parts_are_the_components_of_shared_anchors_whatever_the_order():
    """Over 500 seeded cases: every linked part but the largest (most sources, then first name) is set apart,
    held-out sources and those with no reliable anchor link nothing, and the input order changes nothing."""
    for seed in range(500):
        rng = random.Random(seed)
        sources = [f"s{i}" for i in range(rng.randint(1, 6))]
        on = {s: sorted(rng.sample("abcde", rng.randint(1, 3))) for s in sources}
        unjudged = [s for s in sources if rng.random() < 0.15]
        held = [s for s in sources if rng.random() < 0.15]
        judged = [s for s in sources if s not in unjudged and s not in held]
        parent = {s: s for s in judged}
        for i, a in enumerate(judged):
            for b in judged[i + 1:]:
                if set(on[a]) & set(on[b]):
                    parent[_root(parent, a)] = _root(parent, b)
        parts: dict[str, set[str]] = {}
        for s in judged:
            parts.setdefault(_root(parent, s), set()).add(s)
        ranked = sorted(parts.values(), key=lambda p: (-len(p), sorted(p)))
        want = {s: "source:" + "+".join(sorted(p)) for p in ranked[1:] for s in p}
        assert unshared(on, unjudged, held) == want, seed
        assert unshared(dict(reversed(on.items())), unjudged[::-1], held[::-1]) == want, seed
