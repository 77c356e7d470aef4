"""Selection replicates: MIRA's demo selection made again from another teacher sample and another draw of the
students' folds, so a proxy verdict on MIRA can be read over the selection's own variance, not only the training
seeds'.

Why: the same code on two CPUs (AMD, Intel) kept 3.5 % other records and moved MIRA's held-out loss by 0.010, more
than its training seeds spread (bench/NOTES.md, sessions 25 and 26). Each replicate re-runs label, distill, score
and select in the pipeline benchmark's project with `label.seed` and `distill.seed` changed, keeps its manifest for
`evaluate.manifests` (arm `mira_rep<i>`), and puts the default run's outputs back. `pooled_arm` reads the default
and the replicates as one arm whose draws are the selections.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.common import env
from mira_core.evaluation.stats import summarize

# decided before the first run (bench/NOTES.md, session 26); the default run is label.seed 1, distill.seed 0
REPLICATES = ({"label": 2, "distill": 1}, {"label": 3, "distill": 2})
STAGES = ("label", "distill", "score", "select")
OUTS = ("labels", "students", "scores", "selection")  # under data/: what those stages write
METRICS = ("label.json", "students.json", "score.json", "select.json")
PLOTS = ("distill",)  # under plots/: the distill stage's val predictions, which the pipeline's intervals read
POOLED = "mira_selections"  # the name of the pooled arm in the reading


def arm(i: int) -> str:
    return f"mira_rep{i}"


def manifest(i: int) -> str:
    """Where replicate i's manifest is kept, relative to the project (an `evaluate.manifests` path)."""
    return f"replicates/{arm(i)}.parquet"


def _set_seeds(params: dict, seeds: dict) -> dict:
    out = json.loads(json.dumps(params))  # a deep copy of plain YAML data
    for section, seed in seeds.items():
        if "seed" not in out[section]:
            raise KeyError(f"params.yaml has no {section}.seed")
        out[section]["seed"] = seed
    return out


def kept_overlap(a, b) -> float:
    """Token Jaccard of two manifests' kept records (record_id, n_tokens, kept)."""
    import polars as pl

    ka = a.filter(pl.col("kept")).select("record_id", "n_tokens")
    kb = b.filter(pl.col("kept")).select("record_id")
    both = int(ka.join(kb, on="record_id")["n_tokens"].sum())
    total = int(ka["n_tokens"].sum()) + int(b.filter(pl.col("kept"))["n_tokens"].sum()) - both
    return round(both / total, 4) if total else 1.0


SAVED = ".replicates-saved"  # the default run's outputs while the replicates run, under the project
DONE = "saved.ok"  # written once the save is whole: a save cut short is discarded, a whole one restored


def _stage(root: Path, stage: str) -> None:
    subprocess.run(["mira", "stage", stage], cwd=root, env=env(), check=True, capture_output=True)


def _save(root: Path, saved: Path) -> None:
    saved.mkdir()
    shutil.copy2(root / "params.yaml", saved / "params.yaml")
    for name in OUTS:
        shutil.copytree(root / "data" / name, saved / name)
    for name in METRICS:
        shutil.copy2(root / "metrics" / name, saved / name)
    for name in PLOTS:
        if (root / "plots" / name).exists():
            shutil.copytree(root / "plots" / name, saved / "plots" / name)
    (saved / DONE).write_text("")


def _restore(root: Path, saved: Path) -> None:
    """Put the saved default run back (params, outputs, metrics, distill plots) and remove the save.

    A restore killed midway is done again by the next run, so each step can be repeated: an output whose save is
    gone was already moved back (removing it again would lose the default's), the plots are copied rather than
    moved (a save without them means the default had none), and the DONE marker goes before the rest of the save.
    """
    shutil.copy2(saved / "params.yaml", root / "params.yaml")
    for name in OUTS:
        if (saved / name).exists():
            shutil.rmtree(root / "data" / name, ignore_errors=True)
            (saved / name).rename(root / "data" / name)
    for name in METRICS:
        shutil.copy2(saved / name, root / "metrics" / name)
    for name in PLOTS:
        shutil.rmtree(root / "plots" / name, ignore_errors=True)
        if (saved / "plots" / name).exists():
            shutil.copytree(saved / "plots" / name, root / "plots" / name)
    (saved / DONE).unlink()
    shutil.rmtree(saved)


def run(root: Path) -> dict:
    """Make every replicate's selection in `root` (a project the pipeline benchmark ran), keep its manifest, and
    restore the default run's params, outputs, metrics and distill plots whatever happens. A run killed before its
    restore left its save behind: that is put back first, so a replicate is never taken for the default."""
    import polars as pl
    import yaml

    from mira_core.io import write_parquet

    data, metrics, params_path = root / "data", root / "metrics", root / "params.yaml"
    saved = root / SAVED
    if (saved / DONE).exists():
        _restore(root, saved)
    shutil.rmtree(saved, ignore_errors=True)  # a save cut short: the project itself was not touched yet
    _save(root, saved)
    params = yaml.safe_load(params_path.read_text())
    default = pl.read_parquet(data / "selection" / "mira" / "manifest.parquet")
    out = {"default": {"label_seed": params["label"]["seed"], "distill_seed": params["distill"]["seed"],
                       **_selection_facts(metrics / "select.json", default)}, "replicates": {}}
    start = time.perf_counter()
    try:
        for i, seeds in enumerate(REPLICATES, 1):
            params_path.write_text(yaml.safe_dump(_set_seeds(params, seeds), sort_keys=False))
            for stage in STAGES:
                _stage(root, stage)
            kept = pl.read_parquet(data / "selection" / "mira" / "manifest.parquet")
            if kept.select("record_id", "kept").equals(default.select("record_id", "kept")):
                raise RuntimeError(f"replicate {i} kept exactly the default run's records: did its stages re-run?")
            write_parquet(kept.select("record_id", "kept"), root / manifest(i))  # atomically: evaluate reads it
            out["replicates"][arm(i)] = {"label_seed": seeds["label"], "distill_seed": seeds["distill"],
                                         **_selection_facts(metrics / "select.json", kept),
                                         "kept_token_overlap_with_default": kept_overlap(kept, default)}
    finally:
        _restore(root, saved)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def _selection_facts(select_json: Path, manifest_df) -> dict:
    s = json.loads(select_json.read_text())
    return {"mask_on": s["mask"]["on"], "kept_records": int(manifest_df["kept"].sum())}


def pooled_arm(arms: dict, names: list[str]) -> dict | None:
    """MIRA over its selections as one arm, in the shape mira_core.evaluation.stats reads; None when an arm is
    missing or diverged.

    Each selection's mean over its training seeds is one draw of the method, so the arm's `seeds` are those means
    and its sd theirs (a two-level design with equal seeds per selection: the variance of the grand mean is the
    variance of the selection means over their count). Reading all nine runs as nine draws would take the training
    seeds within a selection for independent draws of the selection and understate the noise."""
    if any(n not in arms for n in names):
        return None
    losses = [s["loss"] for n in names for s in arms[n]["seeds"]]
    if not all(np.isfinite(losses)):
        return None
    if len({len(arms[n]["seeds"]) for n in names}) != 1:  # the reading below needs as many seeds per selection
        raise ValueError(f"the selections ran different numbers of training seeds: "
                         f"{ {n: len(arms[n]['seeds']) for n in names} }")
    means = [float(np.mean([s["loss"] for s in arms[n]["seeds"]])) for n in names]
    return {**summarize(means), "seeds": [{"selection": n, "loss": m} for n, m in zip(names, means, strict=True)],
            "runs": len(losses), "selections": len(names), "selection_means": [round(m, 4) for m in means],
            "run_std": float(np.std(losses, ddof=1)) if len(losses) > 1 else 0.0}


def manifests() -> dict[str, str]:
    """`evaluate.manifests` entries for every replicate."""
    return {arm(i): manifest(i) for i in range(1, len(REPLICATES) + 1)}


def split(arms: dict, sigmas: float) -> tuple[dict, dict]:
    """(the other arms, the replicates' arms), each side's notes written again without the other side's arms: a
    replicate is another draw of `mira`, not an arm to compare the ablations with."""
    from mira_core.evaluation.stats import noise_note, within_noise

    names = set(manifests())
    out = []
    for side in ({a: v for a, v in arms.items() if a not in names}, {a: v for a, v in arms.items() if a in names}):
        pairs = within_noise(side, sigmas)
        out.append({a: {**v, "note": noise_note(a, side, pairs)} for a, v in side.items()})
    return out[0], out[1]


def reading(arms: dict, sigmas: float) -> dict | None:
    """MIRA over its selections as one arm (POOLED, `pooled_arm`), with
    its note against `full` and `random` by the evaluation's rule; None when an arm is missing or diverged."""
    from mira_core.evaluation.stats import noise_note, within_noise

    pooled = pooled_arm(arms, ["mira", *manifests()])
    if pooled is None or not {"full", "random"} <= set(arms):
        return None
    side = {POOLED: pooled, "random": arms["random"], "full": arms["full"]}
    bars = {}  # how near each verdict sits to the rule's bar (a gap just under it is "within" all the same)
    for other in ("random", "full"):
        o = arms[other]
        se = (pooled["loss_std"] ** 2 / len(pooled["seeds"]) + o["loss_std"] ** 2 / len(o["seeds"])) ** 0.5
        bars[other] = {"gap": abs(pooled["loss_mean"] - o["loss_mean"]), "bar": sigmas * se}
    return {**pooled, "note": noise_note(POOLED, side, within_noise(side, sigmas)), "bars": bars}


def lines(reps: dict | None, default_arm: dict | None) -> list[str]:
    """BENCHMARKS section 8's table of MIRA's selections and the pooled reading; [] when the run made none."""
    if not reps or not reps.get("replicates") or default_arm is None:
        return []
    rows = [["`mira` (default)", reps["default"]["label_seed"], reps["default"]["distill_seed"],
             reps["default"]["mask_on"], f"{reps['default']['kept_records']:,}", "1",
             f"{default_arm['loss_mean']:.4f} ± {default_arm['loss_std']:.4f}"]]
    for name, x in reps["replicates"].items():
        loss = reps.get("arms", {}).get(name)
        rows.append([f"`{name}`", x["label_seed"], x["distill_seed"], x["mask_on"], f"{x['kept_records']:,}",
                     f"{x['kept_token_overlap_with_default']:.3f}",
                     f"{loss['loss_mean']:.4f} ± {loss['loss_std']:.4f}" if loss else "-"])
    header = ["selection", "`label.seed`", "`distill.seed`", "mask pairs on", "records kept",
              "kept tokens shared with the default (Jaccard)", "held-out loss"]
    out = [f"**MIRA over {len(rows)} selections.** The same demo selected again with another teacher label sample "
           "and another draw of the students' CV folds (label, distill, score and select re-run; "
           f"{reps['seconds'] / 60:.1f} minutes), each evaluated as an arm of `evaluate.manifests` with the same "
           "training seeds: how far the selection's own variance moves MIRA's held-out loss, beside its training "
           "seeds'.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    if (p := reps.get("pooled")):
        out += ["", f"MIRA as one arm over its selections (`{POOLED}`): each selection's mean over its training "
                f"seeds is one draw of the method, {' / '.join(f'{m:.4f}' for m in p['selection_means'])}, "
                f"{p['loss_mean']:.4f} ± {p['loss_std']:.4f} over the {p['selections']} (the {p['runs']} runs spread "
                f"{p['run_std']:.4f}); by the evaluation's rule, with the selections as its draws, it is {p['note']}"
                + (" (" + "; ".join(f"to `{o}` a gap of {b['gap']:.4f} against a bar of {b['bar']:.4f}"
                                    for o, b in p["bars"].items()) + ")" if p.get("bars") else "") + "."]
    return out + [""]


def rederive(ablations: dict) -> None:
    """Compute the pooled reading again from the arms an ablation run recorded (in place): `--report-only` then
    carries what this module reads now, without training anything again."""
    from mira_core.config import EvaluateParams

    reps = ablations.get("replicates")
    if reps and reps.get("arms") and "arms" in ablations:
        reps["pooled"] = reading({**ablations["arms"], **reps["arms"]},
                                 reps.get("sigmas", EvaluateParams().noise_sigmas))
