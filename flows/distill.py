"""Stage distill: one student per group, fitted on the train labels, measured against the teacher on val.

Reads: data/labels/, data/rubrics/, data/groups/, data/embeddings/ (head) or data/corpus/ (linear, finetune).
Writes: data/students/<group>/ (model.safetensors + config.json), metrics/students.json
(per group, source and anchor: val MAE, Somers' D and Spearman against the teacher, the teacher's self-agreement
beside it), plots/distill/<group>.csv (student versus teacher on val, for `dvc plots`; the student's scores
unclipped, as selection ranks them), and an MLflow run. The rank statistics the mask reads come from the
unclipped scores too, MAE from the scores clipped to the teacher's scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import gather, named_for, prune, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from flows.tracking import flat_params, metric_key, pipeline_run
from mira_core.config import CacheParams, DistillParams, EmbedParams, Params
from mira_core.errors import ConfigError
from mira_core.failure_budget import describe
from mira_core.grouping import members, read_groups
from mira_core.io import write_json
from mira_core.layout import Layout, project_path
from tasks.caching import cached, submit
from tasks.distill import distill_one


def check_enough_labels(lay: Layout, g: str) -> None:
    """Fail before any fitting when a group has too few labels, naming why: the teacher's failures, or the sample."""
    labels = pl.read_parquet(lay.labels / f"{g}.parquet", columns=["split"], glob=False)
    splits = dict(labels.group_by("split").len().iter_rows())
    train, val = splits.get("train", 0), splits.get("val", 0)
    if train >= 2 and val >= 2:
        return
    failures_file = lay.labels / "failures" / f"{g}.parquet"
    failures = pl.read_parquet(failures_file, glob=False) if failures_file.exists() else pl.DataFrame()
    if failures.height:
        why = (f"the teacher failed on {failures.height} of {train + val + failures.height} labeled requests; most "
               f"common reasons:\n{describe(failures)}\n(all of them in {failures_file})")
    else:
        # a group with no more records than records_per_group is labeled whole: raising it then changes nothing.
        # The fraction helps the split that is short, and only one of them: short of train, raising it hurts.
        # Under 4 labeled records no fraction gives 2 and 2 (a group of 2 or 3 records: group.k above what its sources
        # support, or a small source pinned alone)
        fraction = ("" if train + val < 4 else "raise label.val_fraction" if train >= 2
                    else "lower label.val_fraction" if val >= 2 else "")
        # short of both splits no fraction helps: the clause is left out ("where ..., or pin" read as a gap)
        where = f" or, where the group has no more records than that, {fraction}," if fraction else ""
        labeled = f"{train + val} labeled record{'s' * (train + val != 1)}"
        why = (f"the label sample is too small: {labeled}, label.val_fraction put {val} of them in val (distill "
               f"needs 2 train and 2 val); raise label.records_per_group,{where} or pin its sources into a larger "
               "group (group.pins)")
    raise ConfigError(f"group {g}: {train} train and {val} val labels, too few to distill: {why}")


def resolve_base_model(p: DistillParams, root: Path) -> Path | None:
    """The generative student's base model folder, relative paths read from the project root; as a task argument
    it keys the cache by the folder's content, so a rebuilt base model re-fits the students."""
    if p.student != "generative" or not p.generative.model:
        return None
    return project_path(p.generative.model, root)


@flow(name="distill")
def distill_flow(p: DistillParams, embed: EmbedParams, cache: CacheParams, root: str) -> dict:
    lay = Layout(Path(root))
    groups = members(read_groups(lay.group_map()))
    labeled = {g: s for g, s in groups.items() if (lay.labels / f"{g}.parquet").exists()}
    if not labeled:
        raise ConfigError(f"{lay.labels}: no labels (run the label stage first)")
    for g in labeled:
        check_enough_labels(lay, g)
    task = cached(distill_one, cache, lay.root)
    base_model = resolve_base_model(p, lay.root)
    # What the students read, and so what keys the task cache: embed's other knobs (threads, batch size, device)
    # and the unused kinds' sections cannot change a student, as dvc.yaml's params for the stage say
    p_used, embed_used = p.in_use(), EmbedParams(encoder=embed.encoder, static_source=embed.static_source)
    with run_log(lay, "distill") as log:
        futures = {}
        for g, sources in labeled.items():
            corpus = [s for src in sources for s in lay.corpus_shards(src)]
            futures[g] = submit(task, g, lay.labels / f"{g}.parquet", lay.labels / "repeats" / f"{g}.parquet",
                                lay.rubrics / f"{g}.json", corpus, [lay.embedding_shard(s) for s in corpus], p_used,
                                embed_used,
                                base_model, out=lay.students / g, out_plot=lay.plots / "distill" / f"{g}.csv",
                                embedding_stamps=[lay.embedding_shard(s).with_suffix(".json") for s in corpus])
        reports = dict(zip(futures, gather(futures.values(), "distill", "group"), strict=True))
        log["tasks"] = states(futures.values())
        prune([*lay.students.glob("*"), *(lay.plots / "distill").glob("*.csv")],  # groups that no longer exist
              named_for(reports, ".csv"))
        write_json(reports, lay.metrics_file("students"))
    publish_table("students", "Students against the teacher on val", ["group", "student", "val MAE", "constant MAE",
                  "median Somers' D", "median Spearman"],
                  [[g, r["student"], r["mean_mae"], r["const_mean_mae"], r.get("median_somers_d"), r["median_spearman"]]
                   for g, r in reports.items()])
    for g, r in reports.items():
        rho, d = r["median_spearman"], r.get("median_somers_d")
        print(f"distill {g}: {r['student']} student, {r['n_train']} train / {r['n_val']} val, val MAE {r['mean_mae']} "
              f"(constant predictor {r['const_mean_mae']}), median Somers' D {'n/a' if d is None else f'{d:.3f}'}, "
              f"Spearman {'n/a' if rho is None else f'{rho:.3f}'} over {len(r['anchors'])} anchors"
              + (f"; per anchor: {', '.join(f'{k} {n}' for k, n in r['training']['wins'].items())}"
                 if "wins" in r.get("training", {}) else ""))
    return reports


def log_to_mlflow(params: Params, root: Path, reports: dict) -> None:
    """The parent run gets the params; a nested run per group gets its metrics, rubric and student config."""
    import mlflow

    lay = Layout(root)
    with pipeline_run(params, root):
        # the held-out sources too: discover and label sample only the others, so they shape the labels
        mlflow.log_params({**flat_params(params, ("embed", "group", "teacher", "discover", "label", "distill")),
                           "select.held_out_sources": json.dumps(params.select.held_out_sources)[:6000]})
        for g, r in reports.items():
            with mlflow.start_run(run_name=f"distill-{g}", nested=True):
                mlflow.set_tags({"mira.stage": "distill", "mira.group": g, "mira.rubric_version": r["rubric_version"],
                                 "mira.student": r["student"], "mira.student_version": r["student_version"]})
                mlflow.log_params({"group": g, "student": r["student"], "rubric_version": r["rubric_version"],
                                   "n_train": r["n_train"], "n_val": r["n_val"]})
                mlflow.log_metrics(group_metrics(r))
                mlflow.log_artifact(str(lay.rubrics / f"{g}.json"), artifact_path="rubric")
                mlflow.log_artifact(str(lay.students / g / "config.json"), artifact_path="student")


def group_metrics(r: dict) -> dict[str, float]:
    """Flat metrics of one group's report: per anchor, per (source, anchor), and the teacher's self-agreement."""
    names = r["anchor_names"]
    out = {"val_mae": r["mean_mae"], "const_mae": r["const_mean_mae"]}
    for k in ("median_spearman", "median_somers_d", "median_spearman_ceiling"):
        if r.get(k) is not None:
            out[k] = r[k]
    for a, m in r["anchors"].items():
        for k in ("mae", "spearman", "somers_d", "const_mae"):
            if m.get(k) is not None:
                out[metric_key(k, f"{a}_{names[a]}")] = m[k]
    for s, sm in r["sources"].items():
        for a, m in sm["anchors"].items():
            for k in ("mae", "spearman", "somers_d"):
                if m.get(k) is not None:
                    out[metric_key(k, s, f"{a}_{names[a]}")] = m[k]
    for a, m in r["self_agreement"].items():
        for k in ("mae", "spearman", "exact"):
            if m.get(k) is not None:
                out[metric_key("teacher_self", k, f"{a}_{names[a]}")] = m[k]
    return {k: float(v) for k, v in out.items() if v is not None}


def run(params: Params, root: Path) -> dict:
    # fine-tuning already uses every core for one group; the other students are light enough to share
    runner = params.runner.model_copy(update={"max_workers": 1}) if params.distill.student == "finetune" else params.runner
    reports = distill_flow.with_options(task_runner=task_runner(runner))(
        params.distill, params.embed, params.cache, str(root))
    log_to_mlflow(params, root, reports)
    return reports


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "distill", argv)


if __name__ == "__main__":
    main()
