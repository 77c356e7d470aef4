"""The pipeline: wall time per stage of the demo `dvc repro`, a no-op `dvc repro`, and a `dvc repro`
after changing only `select.budget`, in a fresh copy of the repository (a new git and DVC project).

Per-stage times come from one `dvc repro` whose output is read line by line: a stage's time runs from
its "Running stage" line to the next one (or to the end), so it includes DVC's hashing of that
stage's outputs. Which stages a run executed is read from the same lines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import env
from tests.repo_copy import copy_repo

RUNNING = re.compile(r"Running stage '([^']+)'")


def repro(root: Path, log: Path) -> dict:
    """Run `dvc repro` in root; wall time, and each executed stage's time from the output lines."""
    home = root / ".mira" / "prefect-home"  # the temporary Prefect servers' database, not the user's ~/.prefect
    home.mkdir(parents=True, exist_ok=True)
    e = {**env(), "PREFECT_HOME": str(home)}
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with open(log, "a") as out:
        proc = subprocess.Popen(["dvc", "repro"], cwd=root, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            out.write(line)
            m = RUNNING.search(line)
            if m:
                marks.append((m.group(1), time.perf_counter() - start))
        rc = proc.wait()
    total = time.perf_counter() - start
    if rc != 0:
        raise RuntimeError(f"dvc repro failed in {root} ({rc}); see {log}")
    # a stage ends where the next one begins; the last one ends with the run
    stages = {name: (marks[i + 1][1] if i + 1 < len(marks) else total) - t for i, (name, t) in enumerate(marks)}
    return {"seconds": total, "stages": stages}


def set_budget(root: Path, budget: float) -> None:
    """Edit select.budget in params.yaml in place, as a user would."""
    path = root / "params.yaml"
    text, n = re.subn(r"(?m)^(select:\n  budget: )[0-9.]+", rf"\g<1>{budget}", path.read_text())
    if n != 1:
        raise RuntimeError(f"{path}: select.budget not found where expected")
    path.write_text(text)


def run(work: Path, noop_repeats: int = 3) -> dict:
    shutil.rmtree(work / "pipeline", ignore_errors=True)
    (work / "pipeline").mkdir(parents=True)
    root = copy_repo(work / "pipeline")
    log = work / "pipeline.log"
    log.unlink(missing_ok=True)
    full = repro(root, log)
    quality = demo_quality(root)  # read before the budget change below rewrites the selection
    noop = [repro(root, log) for _ in range(noop_repeats)]
    set_budget(root, 0.4)
    budget = repro(root, log)
    return {"root": str(root), "full": full, "noop": noop, "budget": budget, "quality": quality}


def spearman_interval(plot: Path) -> tuple[float, float] | None:
    """95 % bootstrap interval of a group's median val Spearman, from the distill stage's plot of val predictions
    (one row per record and anchor, record-major: tasks/distill.py)."""
    import polars as pl

    from mira_core.reliability import median_spearman_interval

    if not plot.exists():
        return None
    d = pl.read_csv(plot)
    k = d["anchor"].n_unique()
    return median_spearman_interval(d["teacher"].to_numpy().reshape(-1, k), d["student"].to_numpy().reshape(-1, k))


def demo_quality(root: Path) -> dict:
    """What the demo run produced, from its metrics: the figures the fidelity issue's targets are about."""
    import json

    import polars as pl

    def m(name: str) -> dict:
        path = root / "metrics" / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    students, select, embed = m("students"), m("select"), m("embed")
    intervals = {g: spearman_interval(root / "plots" / "distill" / f"{g}.csv") for g in students}
    from flows.params import load_params

    held_out = load_params(root / "params.yaml").select.held_out_sources
    # as metrics/select.json counts them: a held-out source's pairs decide nothing (selection.mask_summary)
    mask = pl.read_parquet(root / "data" / "selection" / "mask.parquet").filter(~pl.col("source").is_in(held_out))
    teacher_flat = mask.filter(~pl.col("on") & pl.col("why").str.contains("the teacher gives one score"))
    return {
        "groups": m("group").get("groups", {}),
        "coverage": embed.get("coverage"), "encoder": embed.get("encoder", {}).get("encoder"),
        "students": {g: {"student": r["student"], "median_spearman": r["median_spearman"], "mean_mae": r["mean_mae"],
                         "median_somers_d": r.get("median_somers_d"),
                         "median_spearman_ceiling": r.get("median_spearman_ceiling"),
                         "median_spearman_interval": intervals[g], "n_val": r.get("n_val"),
                         "const_mae": r["const_mean_mae"], "wins": r.get("training", {}).get("wins")}
                     for g, r in students.items()},
        "mask": {"on": int(mask["on"].sum()), "pairs": mask.height, "teacher_constant": teacher_flat.height,
                 "agreement": select.get("mask", {}).get("agreement", "spearman"),
                 "on_if": select.get("mask", {}).get("on_if")},
        "oracle": select.get("oracle"),
        "retention": {k: v["kept_token_share"] for k, v in select.get("methods", {}).get("mira", {}).get(
            "by_source", {}).items()},
        "evaluate": {a: {k: r.get(k) for k in ("loss_mean", "loss_std", "note")}
                     for a, r in m("evaluate").get("arms", {}).items()},
        # the training records the proxy left out for holding a target record (evaluation.containment)
        "holding_target": m("evaluate").get("target", {}).get("holding_left_out"),
    }
