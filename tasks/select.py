"""Tasks of the select stage: one manifest per method (MIRA and each baseline), and materialization.

Each task reads exactly the paths it is given (they key its cache): the group map, the corpus folder, the
filter stages' drop lists (dedup, decontaminate), and what its method needs (scores, rubrics and student
metrics for MIRA; labels or embeddings for a baseline).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import task

from mira_core.config import SelectParams
from mira_core.grouping import read_groups
from mira_core.io import atomic_dir, read_json, write_parquet
from mira_core.manifests import (
    attach_scores,
    baseline_scores,
    check_scored,
    competing_ids,
    corpus_index,
    export_kept,
    mira_scores,
    oracle_table,
)
from mira_core.selection import select


@task(name="select-mira")
def select_mira(p: SelectParams, group_map: Path, corpus: Path, dedup: Path, decontaminate: Path, scores: Path,
                students: Path, rubrics: Path, labels: Path, out: Path, out_mask: Path, out_oracle: Path) -> dict:
    """Mask, aggregate and select to the budget; writes the MIRA manifest, the mask and the teacher-oracle table."""
    groups = read_groups(group_map)
    index = corpus_index(corpus, groups, p.held_out_sources, dedup, decontaminate, sort=True)
    reports = read_json(students)
    scored, mask, own, scales = mira_scores(scores, rubrics, reports, p, competing_ids(index), groups)
    records = attach_scores(index, scored)
    check_scored(records, scores, reports)
    write_parquet(oracle_table(labels, rubrics, index, scored, mask, scales, p, own), out_oracle)
    del index, scored  # the selection below is the memory peak at scale
    write_parquet(select(records, p.budget, p.granularity, "mira", p.min_score, own_budget=own.units,
                                     weights=p.weights, max_epochs=p.max_epochs), out)
    write_parquet(mask, out_mask)
    return own.named()


def ablation_params(p: SelectParams, name: str) -> SelectParams:
    """The select params of one MIRA ablation: a granularity, the mask off, raw (unstandardised) anchors, or the
    paper's trimmed mean (no weight on the lowest anchor), or the paper's Spearman in the mask, or a source that
    shares no anchor with its group ranked against it all the same."""
    if name in ("global", "group", "source"):
        return p.model_copy(update={"granularity": name})
    return p.model_copy(update={"no_mask": {"mask": False}, "raw_scale": {"standardize": False},
                                "trimmed_mean": {"worst_weight": 0.0}, "spearman_mask": {"agreement": "spearman"},
                                "pooled_unshared": {"unshared_own_budget": False}}[name])


@task(name="select-ablation", task_run_name="select-mira_{name}")
def select_ablation(name: str, p: SelectParams, group_map: Path, corpus: Path, dedup: Path, decontaminate: Path,
                    scores: Path, students: Path, rubrics: Path, out: Path) -> dict:
    """One MIRA ablation's manifest, from the same scores (no student runs again)."""
    q = ablation_params(p, name)
    groups = read_groups(group_map)
    index = corpus_index(corpus, groups, q.held_out_sources, dedup, decontaminate, sort=True)
    reports = read_json(students)
    scored, _, own, _ = mira_scores(scores, rubrics, reports, q, competing_ids(index), groups)
    records = attach_scores(index, scored)
    check_scored(records, scores, reports)
    write_parquet(select(records, q.budget, q.granularity, f"mira_{name}", q.min_score, own_budget=own.units,
                                     weights=q.weights if q.granularity == p.granularity else None,
                                     max_epochs=q.max_epochs), out)
    return own.named()


@task(name="select-baseline", task_run_name="select-{method}")
def select_baseline(method: str, settings: dict, group_map: Path, corpus: Path, dedup: Path, decontaminate: Path,
                    labels: Path | None, embeddings: Path | None, out: Path) -> dict:
    """A baseline's manifest at the same budget, one global cut; `settings` from `baseline_settings`."""
    index = corpus_index(corpus, read_groups(group_map), settings["held_out_sources"], dedup, decontaminate)
    records = index.with_columns(score=pl.Series(baseline_scores(method, index, settings, corpus, labels,
                                                                 embeddings)))
    write_parquet(select(records, settings["budget"], "global", method), out)
    return {}


@task(name="materialize")
def materialize_kept(manifest: Path, fmt: str, corpus: Path, tokenizer: Path, commit: str | None, params_digest: str,
                     rubrics: Path, out: Path, provenance: dict | None = None, eod_token: str = "",
                     prefix_root: str = "", tokenizer_eos: str | None = None) -> dict:
    """The kept records of a manifest as a trainer reads them (JSONL, Parquet or Megatron), with their lineage.

    `tokenizer_eos`: the eos_token of the tokenizer_config.json beside `tokenizer` (megatron.configured_eos),
    which the Megatron export reads itself for its default end-of-document token; passed so that it is part of
    the cache key, which digests only the tokenizer.json (a changed eos_token served the old export)."""
    with atomic_dir(out) as tmp:
        return export_kept(corpus, manifest, fmt, tmp, tokenizer=tokenizer, commit=commit, params_digest=params_digest,
                           rubrics=rubrics, final=out, provenance=provenance, eod_token=eod_token,
                           prefix_root=prefix_root)
