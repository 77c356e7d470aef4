"""Selection at scale: the select stage's MIRA path on 10 million synthetic scored records.

`generate` writes a synthetic project in the layout the select stage reads (corpus index columns,
the group map, one rubric per group, per-source score shards with 15 anchors, the students report
the mask is computed from); `measure` then runs exactly what the `select-mira` task runs (corpus
index, reliability mask, trimmed mean over the unmasked anchors, scores attached by record_id,
per-group budget, manifest written as Parquet), in a fresh process so its peak RSS is its own.

Child modes: `python -m bench.selection generate ROOT N` and `python -m bench.selection measure ROOT`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.common import emit, peak_rss_mb

N_SOURCES = 20
N_GROUPS = 4
N_ANCHORS = 15


def generate(root: str, n: str) -> None:
    from mira_core.io import write_json, write_parquet
    from mira_core.layout import Layout
    from mira_core.rubric import Anchor, Rubric, save_rubric
    from mira_core.schema import GROUPS
    from mira_core.scoring import score_schema

    lay, n_total, rng = Layout(Path(root)), int(n), np.random.default_rng(0)
    start = time.perf_counter()
    sources = [f"src{i:02d}" for i in range(N_SOURCES)]
    groups = {s: f"g{i % N_GROUPS}" for i, s in enumerate(sources)}
    anchors = [f"a{j:02d}" for j in range(N_ANCHORS)]
    write_parquet(pl.DataFrame({"source": sources, "group": [groups[s] for s in sources],
                                "method": ["kmeans"] * N_SOURCES}, schema=GROUPS), lay.group_map())
    for g in sorted(set(groups.values())):
        members = [s for s in sources if groups[s] == g]
        save_rubric(Rubric(group=g, teacher="bench", prompt_version="bench", sources=members,
                           anchors=[Anchor(id=a, name=f"anchor {a}", description="d", exemplar_reason="r", support=1)
                                    for a in anchors]).with_version(), lay.rubrics / f"{g}.json")
    reports: dict[str, dict] = {}
    per_source = n_total // N_SOURCES
    for s in sources:
        ids = pl.Series("record_id", [f"{s}/{i:09d}" for i in range(per_source)])
        n_tokens = rng.lognormal(6, 1, per_source).astype(np.int64) + 1
        write_parquet(pl.DataFrame({"record_id": ids, "source": [s] * per_source, "n_tokens": n_tokens}),
                      lay.corpus / s / "part-00000.parquet")
        quality = rng.normal(3, 0.8, per_source)[:, None]
        x = np.clip(quality + rng.normal(0, 0.5, (per_source, N_ANCHORS)), 1, 5).astype(np.float32)
        table = pl.DataFrame({"record_id": ids, "group": [groups[s]] * per_source,
                              **{a: x[:, j] for j, a in enumerate(anchors)},
                              "student_version": ["bench"] * per_source, "coverage": [1.0] * per_source},
                             schema=score_schema(anchors))
        write_parquet(table, lay.scores / groups[s] / s / "part-00000.parquet")
        # About a fifth of the (source, anchor) pairs fail the mask, as on the demo.
        figures = {a: {"mae": float(rng.uniform(0.2, 1.0)), "spearman": (rho := float(rng.uniform(0.2, 0.9))),
                       "somers_d": rho, "n": 200} for a in anchors}
        r = reports.setdefault(groups[s], {"anchors": {a: {"mae": 0.5, "spearman": 0.6, "somers_d": 0.6, "n": 800}
                                                       for a in anchors},
                                           "anchor_names": {a: f"anchor {a}" for a in anchors}, "sources": {}})
        r["sources"][s] = {"n_val": 200, "anchors": figures}
    write_json(reports, lay.metrics / "students.json")
    emit({"records": per_source * N_SOURCES, "seconds": time.perf_counter() - start})


def measure(root: str) -> None:
    from mira_core.config import SelectParams
    from mira_core.grouping import read_groups
    from mira_core.io import read_json, write_parquet
    from mira_core.layout import Layout
    from mira_core.manifests import attach_scores, competing_ids, corpus_index, mira_scores
    from mira_core.selection import reason_counts, select

    lay, p, t = Layout(Path(root)), SelectParams(), {}
    start = time.perf_counter()
    index = corpus_index(lay.corpus, read_groups(lay.group_map()), p.held_out_sources, sort=True)
    t["index"] = time.perf_counter() - start
    # the ids that compete for the budget, as tasks/select.py passes them: scales and centring are taken over them
    scored, mask, own, _ = mira_scores(lay.scores, lay.rubrics, read_json(lay.metrics_file("students")), p,
                                       competing_ids(index))
    t["mask_and_aggregate"] = time.perf_counter() - start - sum(t.values())
    records = attach_scores(index, scored)
    del index, scored
    manifest = select(records, p.budget, p.granularity, "mira", p.min_score, own_budget=own.units)
    t["select"] = time.perf_counter() - start - sum(t.values())
    write_parquet(manifest, lay.selection / "mira" / "manifest.parquet")
    t["write"] = time.perf_counter() - start - sum(t.values())
    seconds = time.perf_counter() - start
    kept_tokens = int(manifest.filter(pl.col("kept"))["n_tokens"].sum())
    emit({"records": manifest.height, "seconds": seconds, "phases": t, "peak_rss_mb": peak_rss_mb(),
          "kept_token_share": kept_tokens / int(manifest["n_tokens"].sum()), "reasons": reason_counts(manifest),
          "anchors_masked": int((~mask["on"]).sum()), "anchor_pairs": mask.height})


if __name__ == "__main__":
    {"generate": generate, "measure": measure}[sys.argv[1]](*sys.argv[2:])
