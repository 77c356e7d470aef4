"""Stage select: reliability mask, trimmed-mean scores and source-preserving selection to the token budget,
with the baselines at the same budget.

Reads: data/corpus/, data/scores/, data/groups/, data/rubrics/, data/dedup/, data/decontaminate/,
data/labels/ (the teacher oracle, and the single-rubric baseline), metrics/students.json, metrics/ingest.json (and
data/embeddings/ for the single-rubric baseline).
Writes: data/selection/<method>/manifest.parquet, data/selection/mask.parquet, data/selection/oracle.parquet (the
teacher-oracle table), data/selection/mira/records/ or megatron/ (the export, with lineage.json),
metrics/select.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import gather, prune, require, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from mira_core.config import CacheParams, Params, SelectParams, params_digest
from mira_core.ingest.tokens import tokenizer_file
from mira_core.io import read_json, read_parquet, write_json
from mira_core.layout import Layout
from mira_core.manifests import baseline_settings, check_scored_corpus, oracle_summary
from mira_core.megatron import code_provenance, configured_eos, git_commit, run_provenance
from mira_core.selection import CONSTANT_LABELS_WHY, budget_tokens, mask_summary, stage_metrics
from mira_core.stages import upstream_params
from tasks.caching import cached, submit
from tasks.select import materialize_kept, select_ablation, select_baseline, select_mira


@flow(name="select")
def select_flow(p: SelectParams, tokenizer_name: str, cache: CacheParams, root: str, params_digest: str) -> dict:
    lay = Layout(Path(root))
    students = require(lay.metrics_file("students"), "distill")
    ingest = read_json(require(lay.metrics_file("ingest"), "ingest"))
    # Before any work: an impossible budget is an error now, not after every method has been selected. (An upper
    # bound: the records dedup and decontaminate drop are counted once the manifests exist, in stage_metrics.)
    budget_tokens(p.budget, sum(r["n_tokens"] for s, r in ingest["sources"].items() if s not in p.held_out_sources))
    group_map = require(lay.group_map(), "group")
    tokenizer = tokenizer_file(tokenizer_name, lay.root)  # the target tokenizer that counted (megatron tokenizes)
    filters = (require(lay.dedup, "dedup"), require(lay.decontaminate, "decontaminate"))
    check_scored_corpus(lay.scores, lay.corpus)  # once, for MIRA and every ablation: scores of a re-ingested corpus
    out = lay.selection
    with run_log(lay, "select") as log:
        common = (p, group_map, lay.corpus, *filters)  # what every method reads
        futures = {"mira": submit(cached(select_mira, cache, lay.root), *common, lay.scores, students, lay.rubrics,
                                  lay.labels, out=out / "mira" / "manifest.parquet", out_mask=out / "mask.parquet",
                                  out_oracle=out / "oracle.parquet")}
        for a in p.ablations:
            futures[f"mira_{a}"] = submit(cached(select_ablation, cache, lay.root), a, *common, lay.scores, students,
                                          lay.rubrics, out=out / f"mira_{a}" / "manifest.parquet")
        for m in p.baselines:  # keyed by what each reads: another knob of `select` does not re-run it
            reads = (lay.labels, lay.embeddings) if m == "single_rubric" else (None, None)
            futures[m] = submit(cached(select_baseline, cache, lay.root), m, baseline_settings(m, p), *common[1:],
                                *reads, out=out / m / "manifest.parquet")
        results = dict(zip(futures, gather(futures.values(), "select", "method"), strict=True))
        prune(out.iterdir(), lambda d: not d.is_dir() or d.name in futures)  # methods no longer asked for
        export = {"none": None, "megatron": "megatron"}.get(p.materialize, "records")  # the folder of the export
        prune([out / "mira" / d for d in ("records", "megatron") if (out / "mira" / d).exists()],
              lambda d: d.name == export)  # an export of another format, or one no longer asked for
        manifests, mask, oracle = read_outputs(out, list(futures))
        metrics = stage_metrics(p, manifests, ingest)
        materialized = {}
        if p.materialize != "none":
            fut = submit(cached(materialize_kept, cache, lay.root), out / "mira" / "manifest.parquet", p.materialize,
                         lay.corpus, tokenizer, git_commit(lay.root), params_digest, lay.rubrics,
                         out=out / "mira" / export,
                         provenance=run_provenance(lay.root, lay.params_file, os.environ) | code_provenance(),
                         eod_token=p.megatron_eod_token, prefix_root=p.megatron_prefix_root,
                         tokenizer_eos=configured_eos(tokenizer))
            materialized = {"format": p.materialize, "path": f"data/selection/mira/{export}", **fut.result()}
            futures["materialize"] = fut
        log["tasks"] = states(futures.values())
        metrics |= {"mask": mask_summary(mask, p),
                    "no_reliable_anchor": results["mira"]["no_reliable_anchor"],
                    "no_shared_anchor": results["mira"].get("no_shared_anchor", []), "materialized": materialized,
                    "tokenizer": ingest.get("tokenizer"),  # the tokenizer that counted every n_tokens here
                    "oracle": oracle_summary(oracle)}
        write_json(metrics, lay.metrics_file("select"))
    per_method = metrics["methods"]
    m = per_method["mira"]
    print(f"select: MIRA keeps {m['kept_records']} of {m['records']} records, {m['kept_tokens']} of "
          f"{m['selectable_tokens']} selectable tokens ({m['kept_token_share']:.1%}); mask {metrics['mask']['on']} on / "
          f"{metrics['mask']['off']} off; teacher-oracle agreement on labeled records: Spearman "
          f"{metrics['oracle']['all']['spearman']}, kept overlap {metrics['oracle']['all']['kept_overlap']}; "
          "baselines: " + ", ".join(
              f"{k} {v['kept_token_share']:.1%}" for k, v in per_method.items() if k != "mira"))
    warning = unreliable_warning(metrics["no_reliable_anchor"], list(m["by_source"]), p.held_out_sources,
                                 flat_sources(mask, metrics["no_reliable_anchor"]))
    if warning:  # said where the run is watched, not only in the report: such a source's cut is close to random
        print(warning, file=sys.stderr)
    publish_table("select-retention", "Tokens kept per source, by method",
                  ["source", *per_method], [[s, *(f"{per_method[k]['by_source'][s]['kept_token_share']:.1%}"
                                                  for k in per_method)] for s in m["by_source"]])
    return metrics


def read_outputs(out: Path, methods: list[str]) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, pl.DataFrame]:
    """Each method's manifest, the mask and the teacher-oracle table, as the select tasks wrote them under `out`.

    Each path is read as a name (mira_core.io): polars reads one as a glob pattern, so in a project under a folder
    like "runs [2]" the stage failed after every method had been selected."""
    manifests = {m: read_parquet(out / m / "manifest.parquet") for m in methods}
    return manifests, read_parquet(out / "mask.parquet"), read_parquet(out / "oracle.parquet")


def flat_sources(mask: pl.DataFrame, blind: list[str]) -> list[str]:
    """The sources of `blind` whose every anchor is off because the teacher gave all their labeled records one score
    (the mask's label-constancy rule), not because a student disagreed with the teacher."""
    return [s for s in blind if (rows := mask.filter(pl.col("source") == s)).height
            and rows["why"].str.starts_with(CONSTANT_LABELS_WHY).all()]


def unreliable_warning(blind: list[str], sources: list[str], held_out: list[str], flat: list[str] = ()
                       ) -> str | None:
    """The console warning for sources no anchor of which passes the reliability mask, or None.

    Counted among the sources a selection ranks: a held-out source is neither judged nor selected, so it can never
    be among `blind`, and counting it would understate the share. The sources of `flat` (`flat_sources`) are told
    apart: their teacher's labels do not vary, so nothing a student or more labels do can help, and the warning
    blamed the students (whose val MAE was 0)."""
    if not blind:
        return None
    n_sources = len([s for s in sources if s not in held_out])
    flat = [s for s in blind if s in flat]
    erring = [s for s in blind if s not in flat]
    out = (f"select: WARNING: no anchor passes the reliability mask for {len(blind)} of {n_sources} sources "
           f"({', '.join(blind)}): each keeps its own share of the budget, in an order that says little.")
    if erring:
        out += (f" {', '.join(erring)}: ranked on every anchor by students that disagree with the teacher; more "
                "labels (label.records_per_group) or another student may help.")
    if flat:
        out += (f" {', '.join(flat)}: the teacher gives all its labeled records one score on every anchor, so there "
                "is nothing to rank; a rubric or teacher that tells its records apart would help.")
    return out + " See the report's reliability section and metrics/students.json."


def positional_weights(params: Params) -> str | None:
    """The warning for select.weights that name groups by position: a group's name (g0, g1 ...) follows the
    alphabetically first source it holds, so a source added or renamed can renumber the groups and move a weight to
    other sources without a word. A name of `group.pins` is the user's own and stays with its sources."""
    if params.select.granularity != "group":
        return None
    named = sorted(set(params.select.weights) - set(params.group.pins.values()))
    if not named:
        return None
    return (f"select: warning: select.weights names {', '.join(named)}, a group named by its place in the source "
            "order: a source added or renamed can renumber the groups and move the weight to other sources; pin the "
            "sources (group.pins: {source: name}) to give the group a name of your own")


def run(params: Params, root: Path) -> dict:
    if warning := positional_weights(params):
        print(warning, file=sys.stderr)
    # The lineage's digest covers the params the selection depends on, not all of params.yaml: a change to
    # `evaluate` alone neither re-runs select under DVC nor re-exports under the task cache.
    return select_flow.with_options(task_runner=task_runner(params.runner))(
        params.select, params.ingest.tokenizer, params.cache, str(root),
        params_digest(params, upstream_params("select")))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "select", argv)


if __name__ == "__main__":
    main()
