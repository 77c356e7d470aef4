"""Stage evaluate: proxy mid-training. Does the selected half train as well as the whole?

One small GPT-2 is trained briefly on a general slice (the shared base); every (arm, seed) run continues
it on the arm's kept records with a WSD schedule for the same number of tokens and is scored on the
held-out sources (select.held_out_sources, never selected by any arm) at regular intervals.

Reads: data/selection/<method>/manifest.parquet, the files of evaluate.manifests, data/corpus/. Writes: metrics/evaluate.json,
plots/evaluate/curves.csv (arm, seed, tokens_seen, loss), .mira/evaluate/base/<key>/ (the base checkpoint:
safetensors + tokenizer.json, local state; about 3 MB at the defaults, one per base setting, kept for a return
to it), a nested MLflow run per arm, and a Prefect table.

Runs go one at a time (a one-worker pool): on 2 cores, two runs side by side with one torch thread each
took 0.37 s per step each, one run on both threads 0.18 s, so parallel runs bought nothing and doubled
the memory. Each training run is keyed by what it trains on (tasks/evaluate.py),
so after a `select.budget` change the base and the `full` arm are served from .mira/evaluate/.
On the demo with the defaults (3 arms x 3 seeds) the stage takes about 3 minutes (161 s in BENCHMARKS.md
section 5: the data, the base and nine (arm, seed) runs, plus imports, Prefect and MLflow start-up), and two
runs of it give identical numbers. At these defaults a run sees 1.4% (full) to 2.9% (a half) of
its arm's tokens, so the arms differ in what their data is like, not in how often it repeats.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow
from prefect.utilities.annotations import quote

from flows.common import gather, run_log, stage_main, states, task_runner
from flows.publish import publish_table
from flows.tracking import flat_params, metric_key, pipeline_run
from mira_core.config import EvaluateParams, Params
from mira_core.errors import ConfigError
from mira_core.evaluation.metrics import build_metrics, write_curves
from mira_core.evaluation.stats import table, text_table
from mira_core.io import write_json
from mira_core.layout import Layout
from tasks.evaluate import prepare_data, train_arm, train_base

CURVES = Path("plots") / "evaluate" / "curves.csv"


@flow(name="evaluate")
def evaluate_flow(p: EvaluateParams, held_out: list[str], root: str, reuse: bool = True) -> dict:
    lay = Layout(Path(root))
    if not p.enabled:
        write_json({"enabled": False}, lay.metrics_file("evaluate"))
        write_curves([], lay.root / CURVES)
        print("evaluate: disabled (evaluate.enabled: false); nothing trained")
        return {"enabled": False}
    if not held_out:
        raise ConfigError("evaluate.enabled is true but select.held_out_sources is empty: there is no target set")
    t0 = time.perf_counter()
    with run_log(lay, "evaluate") as log:
        # each waited for by gather, a slice at a time: a plain .result() is deaf to Ctrl-C while the base trains
        data_f = prepare_data.submit(p, held_out, lay.corpus, lay.selection, lay.root)
        (data,) = gather([data_f], "evaluate", "data")
        bases = lay.shared_state / "evaluate" / "base"  # the workspace's, for a queued DVC experiment too
        base_f = train_base.submit(p, quote(data), bases, reuse=reuse)
        (base,) = gather([base_f], "evaluate", "base")
        kept = lay.shared_state / "evaluate" / "runs" if reuse else None
        futures = {(arm, seed): train_arm.submit(arm, seed, p, quote(data), Path(base["dir"]), kept, base["key"])
                   for arm in p.all_arms for seed in p.seeds}
        runs = dict(zip(futures, gather(futures.values(), "evaluate", "run"), strict=True))
        log["reused"] = {"base": base["reused"], "runs": sorted(f"{a}-seed{s}" for (a, s), r in runs.items()
                                                                if r["reused"])}
        log["tasks"] = states([data_f, base_f, *futures.values()])
        metrics = build_metrics(p, data, base, runs)
        metrics["wall_s"] = round(time.perf_counter() - t0, 3)
        metrics["reused"] = {"base": base["reused"], "runs": sum(r["reused"] for r in runs.values())}
        write_json(metrics, lay.metrics_file("evaluate"))
        write_curves(metrics["curves"], lay.root / CURVES)
    header, rows = table(metrics["arms"], metrics["within_noise"])
    tgt = metrics["target"]
    print(f"evaluate: held-out loss on {', '.join(tgt['sources'])} ({tgt['tokens']:,} tokens in {tgt['windows']} "
          f"windows), {len(p.seeds)} seed{'s' if len(p.seeds) > 1 else ''} per arm, "
          f"{metrics['config']['tokens_per_run']:,} training tokens per run "
          f"from one base ({base['tokens_seen']:,} tokens, held-out loss {base['loss']:.4f}); "
          f"{metrics['wall_s']:.0f} s on {base['device']}"
          + (f"; kept results reused for {'the base, ' if base['reused'] else ''}{n_reused} of {len(runs)} runs "
             "(their data did not change)" if (n_reused := sum(r["reused"] for r in runs.values())) or base["reused"]
             else ""))
    if tgt.get("holding_left_out"):  # absent from a metrics file written before the check
        print(f"evaluate: {tgt['holding_left_out']:,} training records hold at least "
              f"{metrics['config']['target_containment']:.0%} of a target record's word {metrics['config']['target_ngram']}"
              f"-grams and are left out of every arm (e.g. {tgt['holding_examples'][0][0]} holds "
              f"{tgt['holding_examples'][0][1]})")
    if tgt.get("unchecked_short"):
        print(f"evaluate: {tgt['unchecked_short']:,} of {tgt['records']:,} target records are under "
              f"evaluate.target_ngram = {metrics['config']['target_ngram']} words: no training record is checked for "
              "holding them (a lower target_ngram checks them)")
    print(text_table(header, rows))
    print(f"({metrics['noise_rule']})")
    publish_table("evaluate", "Proxy mid-training: held-out loss per arm (mean ± sd over seeds)", header, rows)
    return metrics


def log_to_mlflow(params: Params, root: Path, metrics: dict) -> None:
    """The parent run gets the evaluate params; a nested run per arm gets its loss curves and final figures."""
    import mlflow

    with pipeline_run(params, root):
        mlflow.log_params({**flat_params(params, ("evaluate",)),
                           "evaluate.target_sources": ",".join(params.select.held_out_sources)})
        for arm, m in metrics["arms"].items():
            with mlflow.start_run(run_name=f"evaluate-{arm}", nested=True):
                mlflow.set_tags({"mira.stage": "evaluate", "mira.arm": arm})
                mlflow.log_params({"arm": arm, "seeds": ",".join(str(s["seed"]) for s in m["seeds"]),
                                   "train_records": m["train_records"], "train_tokens": m["train_tokens"]})
                by_step: dict[int, list[float]] = {}
                for a, seed, tokens, loss in metrics["curves"]:
                    if a == arm:
                        mlflow.log_metric(metric_key("heldout_loss", f"seed_{seed}"), loss, step=tokens)
                        by_step.setdefault(tokens, []).append(loss)
                for tokens, losses in sorted(by_step.items()):
                    mlflow.log_metric("heldout_loss", sum(losses) / len(losses), step=tokens)
                spread = {"loss_std": m["loss_std"]} if len(m["seeds"]) > 1 else {}  # one seed: no spread to log
                final = {"loss_mean": m["loss_mean"], **spread, "ppl_mean": m["ppl_mean"],
                         **{metric_key("loss", f"seed_{s['seed']}"): s["loss"] for s in m["seeds"]}}
                mlflow.log_metrics(final)


def run(params: Params, root: Path) -> dict:
    # one run at a time: see the module docstring for the measurement
    runner = params.runner.model_copy(update={"kind": "threads", "max_workers": 1})
    metrics = evaluate_flow.with_options(task_runner=task_runner(runner))(
        params.evaluate, list(params.select.held_out_sources), str(root), params.cache.enabled)
    if metrics.get("enabled"):
        log_to_mlflow(params, root, metrics)
    return metrics


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "evaluate", argv)


if __name__ == "__main__":
    main()
