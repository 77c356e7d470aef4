"""`make bench`: run every benchmark and rewrite BENCHMARKS.md from what this machine measured.

    python -m bench.run                     # everything (about 1.5 hours on 2 cores; the 1 M-record run is ~25 min)
    python -m bench.run --only teacher selection
    python -m bench.run --report-only       # rewrite BENCHMARKS.md from the saved figures

After BENCHMARKS.md, the figures the README and the docs quote are rewritten from the same results
(`bench/doc_figures.py`, from the extract it keeps in bench/figures.json), and any sentence whose words
no longer hold is listed to be rewritten by hand.

The embedding, teacher and linear-student benchmarks read demo-corpus records from a copy of the
repository under bench/.work/pipeline (its `demo_corpus` and `ingest` stages are run when it has no
corpus yet); the pipeline benchmark runs last, in a fresh copy at the same place. Every figure is the median
of several runs unless it says otherwise, and methods compared with each other run interleaved in
the same session, so a ratio never mixes two machines' moods. Targets come from the benchmark issue.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench import doc_figures, replicates, targets
from bench.common import REPO, WORK, child, env, machine, median, spread
from mira_core.config import EvaluateParams
from mira_core.io import write_parquet
from mira_core.planted import TEACHER_ALL

# pipeline replaces the copy, so it comes after those that read it; encoders reads the labels pipeline made
ALL = ("embedding", "teacher", "linear_student", "selection", "planted", "pipeline", "export", "encoders", "ablations",
       "scale", "generative", "gpu", "dedup")
ABLATION_ARMS = ["mira", "mira_source", "mira_no_mask", "mira_raw_scale", "mira_trimmed_mean", "mira_spearman_mask",
                 "mira_pooled_unshared", "single_rubric", "random", "full"]
EMBED_DOCS = 2000


def corpus_root() -> Path:
    """The bench copy of the repository with an ingested demo corpus (built if the pipeline was skipped)."""
    root = WORK / "pipeline"
    if not list((root / "data" / "corpus").glob("*/part-*.parquet")):
        import shutil

        from tests.repo_copy import copy_repo

        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        copy_repo(root)
        for stage in ("demo_corpus", "ingest"):
            subprocess.run(["mira", "stage", stage], cwd=root, env=env(), check=True, capture_output=True)
    return root


def records(name: str, n: int | None) -> Path:
    """A Parquet of demo-corpus texts: a seeded sample of n records, or all of them."""
    import polars as pl

    out = WORK / f"{name}.parquet"
    df = pl.scan_parquet(sorted((corpus_root() / "data" / "corpus").glob("*/part-*.parquet"))) \
        .select("record_id", "source", "text", "n_tokens").collect().sort("record_id")
    if n is not None:
        df = df.sample(n=min(n, df.height), seed=0, shuffle=True)
    df.write_parquet(out)
    return out


# ---------------------------------------------------------------- the benchmarks
def bench_pipeline(repeats: int) -> dict:
    from bench.pipeline import run

    return run(WORK, noop_repeats=repeats)


def bench_planted(repeats: int) -> dict:
    from bench.planted import run

    return run(WORK)  # one run: it takes minutes, and its figures are shares, not timings


def bench_encoders(repeats: int) -> dict:
    from bench.encoders import SETTINGS

    root = WORK / "pipeline"
    if not list((root / "data" / "labels").glob("*.parquet")):
        raise RuntimeError(f"{root}: no labels; run the pipeline benchmark first (--only pipeline encoders)")
    out = {}
    for setting in SETTINGS:  # one run each: the figures are fidelities, and the timing is for scale only
        out[setting] = child("encoders", str(root), setting)
        print(f"  encoders {setting}: {out[setting]['embed_seconds']:.0f} s", flush=True)
    return {"settings": out}


def bench_ablations(repeats: int) -> dict:
    """The proxy evaluation with every MIRA ablation and the one-score baseline as arms, on the pipeline's demo."""
    import yaml

    root = WORK / "pipeline"
    if not (root / "data" / "selection" / "mira_source" / "manifest.parquet").exists():
        raise RuntimeError(f"{root}: no ablation manifests; run the pipeline benchmark first")
    params = yaml.safe_load((root / "params.yaml").read_text())
    wanted = [a.removeprefix("mira_") for a in ABLATION_ARMS if a.startswith("mira_")]
    missing = [a for a in wanted if a not in params["select"]["ablations"]]
    if params["select"]["budget"] != 0.5 or missing:
        # the pipeline benchmark ends on a budget change: back to the default, with every ablation an arm names
        params["select"]["budget"] = 0.5
        params["select"]["ablations"] += missing
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        # the selection on disk is the 0.4 one, and a task-cache hit for 0.5 would not rewrite it: start clean
        import shutil

        shutil.rmtree(root / "data" / "selection", ignore_errors=True)
        subprocess.run(["mira", "stage", "select"], cwd=root, env=env(), check=True, capture_output=True)
    oracle = teacher_oracle(root)
    reps = replicates.run(root)
    params["evaluate"]["arms"] = ABLATION_ARMS
    params["evaluate"]["manifests"] = {TEACHER_ALL: ORACLE_MANIFEST, **replicates.manifests()}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.perf_counter()
    subprocess.run(["mira", "stage", "evaluate"], cwd=root, env=env(), check=True, capture_output=True)
    ev = json.loads((root / "metrics" / "evaluate.json").read_text())
    select = json.loads((root / "metrics" / "select.json").read_text())
    retention = {m: {s: v["kept_token_share"] for s, v in select["methods"][m]["by_source"].items()}
                 for m in ABLATION_ARMS if m in select["methods"]}
    sigmas = params["evaluate"].get("noise_sigmas", EvaluateParams().noise_sigmas)
    arms, reps["arms"] = replicates.split(ev["arms"], sigmas)  # the replicates read apart, not as ablations
    reps["pooled"] = replicates.reading(ev["arms"], sigmas)
    reps["sigmas"] = sigmas
    return {"seconds": time.perf_counter() - start, "arms": arms,
            "within_noise": [p for p in ev["within_noise"] if not set(p) & set(reps["arms"])],
            "retention": {**retention, TEACHER_ALL: oracle.pop("retention")}, "oracle": oracle, "replicates": reps}


ORACLE_MANIFEST = "oracle/teacher_scores.parquet"


def teacher_oracle(root: Path) -> dict:
    """The whole-corpus teacher oracle of the demo: select on the rules teacher's own scores of every record, with
    the students' mask, aggregation and budget (MIRA with students that agree with the teacher exactly), kept as
    ORACLE_MANIFEST for `evaluate.manifests`; the students' scores, selection and select.json are put back.

    What it tells: if this arm trains no better than MIRA's, the students are not what loses the held-out loss."""
    import shutil

    import polars as pl

    from bench.planted import teacher_scores

    data, metrics = root / "data", root / "metrics" / "select.json"
    saved = root / ".oracle-saved"
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir()
    for name in ("scores", "selection"):
        shutil.copytree(data / name, saved / name)
    shutil.copy2(metrics, saved / "select.json")
    students = pl.read_parquet(data / "selection" / "mira" / "manifest.parquet").select("record_id", "kept")
    start = time.perf_counter()
    try:
        asked = teacher_scores(root)
        teacher_s = time.perf_counter() - start
        subprocess.run(["mira", "stage", "select"], cwd=root, env=env(), check=True, capture_output=True)
        kept = pl.read_parquet(data / "selection" / "mira" / "manifest.parquet").select("record_id", "kept")
        if kept.equals(students):  # a task-cache hit would have left the students' selection in place
            raise RuntimeError("select on the teacher's scores kept exactly the students' records: was it re-run?")
        write_parquet(kept, root / ORACLE_MANIFEST)  # atomically: evaluate must never read half a file
        by_source = json.loads(metrics.read_text())["methods"]["mira"]["by_source"]
    finally:
        for name in ("scores", "selection"):
            shutil.rmtree(data / name, ignore_errors=True)
            (saved / name).rename(data / name)
        shutil.copy2(saved / "select.json", metrics)
        shutil.rmtree(saved)
    both = kept.join(students, on="record_id", suffix="_students")
    return {"teacher": asked, "teacher_s": round(teacher_s, 1), "seconds": round(time.perf_counter() - start, 1),
            "kept_records": int(kept["kept"].sum()),
            "kept_by_both": int((both["kept"] & both["kept_students"]).sum()),
            "retention": {s: v["kept_token_share"] for s, v in by_source.items()}}


def section_ablations(r: dict) -> list[str]:
    sources = sorted({s for v in r["retention"].values() for s in v})
    rows = [[a, f"{x['loss_mean']:.4f} ± {x['loss_std'] or 0:.4f}", x["note"],
             *(f"{r['retention'].get(a, {}).get(s, float('nan')):.0%}" if a in r["retention"] else "-"
               for s in sources)] for a, x in r["arms"].items()]
    out = ["## 8. Where MIRA gains or loses: the proxy evaluation per ablation", "",
           "The demo of section 5 at budget 0.5, evaluated with every MIRA ablation of `select.ablations` and the "
           f"one-score baseline as arms (same base checkpoint, same tokens, {_seed_count(r['arms'])} seeds each), "
           f"beside each arm's share of every source's tokens kept. One run, {r['seconds'] / 60:,.1f} minutes."]
    if (o := r.get("oracle")):
        out[-1] += (f" `{TEACHER_ALL}` is the whole-corpus teacher oracle (an arm of `evaluate.manifests`): select "
                    "run on the rules teacher's own scores of every record, with MIRA's mask, aggregation and budget, "
                    "so it is MIRA with students that agree with the teacher exactly "
                    f"({o['teacher']['records']:,} records scored in {o['teacher_s']:.0f} s; it keeps "
                    f"{o['kept_records']:,} records, {o['kept_by_both']:,} of them kept by MIRA too).")
    out += [""] + md_table(["arm", "held-out loss", "note", *sources], rows)
    return out + [""] + pooled_reading(r["arms"]) + replicates.lines(r.get("replicates"), r["arms"].get("mira"))


def _seed_count(arms: dict) -> str:
    counts = sorted({len(a["seeds"]) for a in arms.values()})
    return " or ".join(map(str, counts)) or "no"


def pooled_reading(arms: dict) -> list[str]:
    """The table's notes read again with one sd pooled over every arm's seeds (mira_core.evaluation.stats.pooled),
    and again without the arm whose seeds spread most: n seeds give each arm's own sd n - 1 degrees of freedom (two
    seeds moved the per-arm verdicts between runs), and one wide arm can set most of a pool."""
    from mira_core.evaluation.stats import noise_note, pooled, widest, within_noise

    got = pooled(arms)
    seeds = {len(a["seeds"]) for a in arms.values()}
    if got is None or "mira" not in arms or len(seeds) != 1:  # one bar for every pair needs one seed count
        return []
    sigmas, n = EvaluateParams().noise_sigmas, seeds.pop()
    sd, df = got
    wide = widest(arms)
    share = (n - 1) * arms[wide]["loss_std"] ** 2 / (df * sd ** 2)
    rest = {a: v for a, v in arms.items() if a != wide}
    pool_rest = pooled(rest) if wide != "mira" else None

    def note(sd_: float, arms_: dict) -> str:
        return noise_note("mira", arms_, within_noise(arms_, sigmas, sd=sd_))

    line = (f"Read with one sd pooled over every arm's seeds ({sd:.4f}, {df} degrees of freedom; the arms share the "
            f"training procedure and differ in data, where {n} seeds give an arm's own sd {n - 1} degree"
            f"{'s' if n > 2 else ''} of freedom), the "
            f"rule's bar for two arms of {n} seeds each is {sigmas * sd * (2 / n) ** 0.5:.4f}, and `mira` is "
            f"{note(sd, arms)}. `{wide}`'s seeds spread most ({arms[wide]['loss_std']:.4f}) and make "
            f"{share:.0%} of that pool")
    if pool_rest is not None:
        line += f"; without them the pooled sd is {pool_rest[0]:.4f} and `mira` is {note(pool_rest[0], rest)}"
    return [line + ". A reading beside the rule, which the notes above and the docs keep: which seeds set the "
            "noise decides several verdicts.", ""]


def bench_embedding(repeats: int) -> dict:
    import polars as pl

    from bench.embedding import METHODS, token_count

    path = records("embed_records", EMBED_DOCS)
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for r in range(repeats):  # interleaved: mira, st, plain, mira, st, plain ...
        for m in METHODS:
            runs[m].append(child("embedding", m, str(path), str(WORK / f"emb-{m}.npy")))
            print(f"  embedding {m} run {r + 1}: {runs[m][-1]['seconds']:.1f} s", flush=True)
    ref = np.load(WORK / "emb-mira-torch.npy")
    agree = {}
    for m in METHODS:
        v = np.load(WORK / f"emb-{m}.npy")
        if v.shape == ref.shape and m != "mira-static":  # the static encoder's vectors live in another space
            cos = (ref * v).sum(1)
            agree[m] = {"min": float(cos.min()), "mean": float(cos.mean())}
    df = pl.read_parquet(path)
    texts = df["text"].to_list()
    return {"docs": len(texts), "tokens": token_count(texts), "record_tokens": int(df["n_tokens"].sum()), "runs": runs,
            "cosine_vs_torch": agree, "mean_chars": float(np.mean([len(t) for t in texts])), "cpu": cpu_features()}


def cpu_features() -> dict:
    """What the int8 and bf16 speed-ups need, on the CPU measured: section 1 says it of that CPU, not of whichever
    machine later rewrites the page (a kept section called an Intel Xeon with AMX "no VNNI/AMX, no bf16")."""
    from mira_core.embedding import cpu_has_bf16

    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    return {"name": machine()["CPU"], "bf16": cpu_has_bf16(),
            "int8_dot": bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})}


def bench_teacher(repeats: int) -> dict:
    import polars as pl

    from bench.teacher import run

    texts = pl.read_parquet(records("teacher_records", 500))["text"].str.slice(0, 2000).to_list()
    latency, out = 0.3, {}
    for client in ("sdk", "lean"):
        for c in (1, 8, 64):
            n = max(20, c * 20)  # 20 rounds: the ramp-up of the first round is amortised
            out[f"{client}/{c}"] = [run(c, latency, n, texts, client) for _ in range(repeats)]
            print(f"  teacher {client} client, concurrency {c}: "
                  f"{[round(x['labels_per_s'], 1) for x in out[f'{client}/{c}']]} labels/s", flush=True)
    return {"latency_s": latency, "by_concurrency": out}


def bench_linear(repeats: int) -> dict:
    path = records("linear_records", None)
    runs = [child("linear_student", str(path)) for _ in range(repeats)]
    return {"runs": runs}


def bench_selection(repeats: int, n: int = 10_000_000) -> dict:
    root = WORK / "selection"
    marker = root / f"generated-{n}"
    if not marker.exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        gen = child("selection", "generate", str(root), str(n))
        marker.write_text(json.dumps(gen))
    runs = []
    for r in range(repeats):
        runs.append(child("selection", "measure", str(root)))
        print(f"  selection run {r + 1}: {runs[-1]['seconds']:.1f} s, {runs[-1]['peak_rss_mb']:.0f} MB", flush=True)
    return {"runs": runs}


# ---------------------------------------------------------------- BENCHMARKS.md
def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def section_pipeline(r: dict) -> list[str]:
    rows = [[f"`{s}`", f"{t:,.1f}"] for s, t in r["full"]["stages"].items()]
    rows.append(["**total** (`dvc repro`, one run)", f"**{r['full']['seconds']:,.1f}**"])
    noop = [x["seconds"] for x in r["noop"]]
    b = r["budget"]
    out = ["## 5. The pipeline on the demo", "",
           "A fresh copy of the repository (new git and DVC project, empty caches), default `params.yaml`. One "
           "full run (it takes minutes, so it is not repeated); a stage's time runs from its `Running stage` line "
           "to the next, so it includes DVC hashing its outputs and starting the stage's Prefect flow.", ""]
    out += md_table(["stage", "seconds"], rows)
    out += ["", f"- no-op `dvc repro` (nothing changed): median **{median(noop):.1f} s** over {len(noop)} runs "
            f"({spread(noop)} s); stages run: none.",
            f"- `dvc repro` after changing only `select.budget` (0.5 to 0.4): **{b['seconds']:,.1f} s**; stages run: "
            + ", ".join(f"`{s}` ({t:,.1f} s)" for s, t in b["stages"].items()) + ".",
            "  `evaluate` re-runs too because it trains on the selection (it reads `data/selection`); with "
            "`evaluate.enabled: false` it trains nothing and costs only a stage's start-up.", ""]
    total = r["full"]["seconds"] - r["full"]["stages"].get("demo_corpus", 0.0)
    out += [f"- Targets (encoder-speed issue): the demo's `dvc repro` after set-up under 10 minutes: "
            f"{r['full']['seconds'] / 60:,.1f} min ({verdict(r['full']['seconds'] < 600)}); no-op about 3 s: "
            f"{median(noop):.1f} s; after a budget change under 3 minutes: {b['seconds'] / 60:,.1f} min "
            f"({verdict(b['seconds'] < 180)}). Without building the demo corpus: {total / 60:,.1f} min.", ""]
    if "quality" in r:
        out += quality_lines(r["quality"])
    return out


def quality_lines(q: dict) -> list[str]:
    """The demo run's own figures: students, mask, oracle, retention, proxy evaluation, against the issue's targets."""
    out = ["### What the demo run produced", "",
           f"Encoder `{q['encoder']}`, mean coverage {q['coverage']['mean']:.1%} of each record's tokens "
           f"({q['coverage']['full_records']:,} records read whole). Groups: "
           + "; ".join(f"{g}: {', '.join(s)}" for g, s in q["groups"].items()) + ".", ""]

    def interval(x: dict) -> str:
        iv = x.get("median_spearman_interval")
        return f"{iv[0]:.2f} - {iv[1]:.2f}" if iv else "-"

    rows = [[g, x["student"], num_or_dash(x["median_spearman"]), interval(x),
             num_or_dash(x.get("median_spearman_ceiling")),
             num_or_dash(x.get("median_somers_d")), f"{x['mean_mae']:.3f}", f"{x['const_mae']:.3f}",
             ", ".join(f"{k} {n}" for k, n in (x["wins"] or {}).items() if n)] for g, x in q["students"].items()]
    out += md_table(["group", "student", "median val Spearman", "95 % interval", "its ceiling", "median val Somers' D",
                     "val MAE", "constant MAE", "anchors won"], rows)
    out += ["", "*Its ceiling*: the median over anchors of the Spearman that a student ordering every pair the teacher "
            "orders, with no ties of its own, would get against the same val labels (`mira_core/reliability.py`): "
            "where one score covers most records it is far below 1. Somers' D counts only the pairs the teacher "
            "orders. *95 % interval*: of the median val Spearman, over 1,000 bootstrap draws of the group's val records "
            "(" + ", ".join(f"{g}: {x['n_val']}" for g, x in q["students"].items() if x.get("n_val")) + ")."]
    ok_rho = all((x["median_spearman"] or 0) >= 0.7 for x in q["students"].values())
    mk = q["mask"]
    varying = mk["pairs"] - mk["teacher_constant"]
    names = {"somers_d": "Somers' D", "spearman": "Spearman (the paper's)"}
    stat = names.get(mk.get("agreement", "spearman"), "?")
    other = {k: v for k, v in (mk.get("on_if") or {}).items() if k != mk.get("agreement")}
    short = [g for g, x in q["students"].items() if (x["median_spearman"] or 0) < 0.7]

    def why_short(g: str, x: dict) -> str:
        iv, ceiling = x.get("median_spearman_interval"), x.get("median_spearman_ceiling")
        if ceiling is not None and ceiling < 0.7:
            return f"{g}'s ceiling is {ceiling:.2f}, so no student without ties can reach 0.7"
        if iv is None:
            return f"{g}: no interval measured"
        return f"{g}'s interval reaches 0.7: within the noise" if iv[1] >= 0.7 else f"{g} is below 0.7 beyond the noise"

    why = [why_short(g, q["students"][g]) for g in short]
    out += ["", f"- Median val Spearman >= 0.7 in every group: {verdict(ok_rho)}" + (f" ({'; '.join(why)})" if why
                                                                                      else "") + ".",
            f"- Mask ({stat}, thresholds unchanged): {mk['on']} of {mk['pairs']} (source, anchor) pairs on "
            f"({mk['on'] / mk['pairs']:.0%}; target at least half: {verdict(mk['on'] * 2 >= mk['pairs'])})"
            + "".join(f"; with the mask on {names.get(k, k)} instead, {n} would be on" for k, n in other.items())
            + f". Of the pairs off, {mk['teacher_constant']} are pairs "
            f"where the teacher gave every val record of the source the same score (nothing to rank); of the "
            f"{varying} pairs where the teacher varies, {mk['on']} ({mk['on'] / max(1, varying):.0%}) are on."]
    o = (q.get("oracle") or {}).get("all")
    if o:
        out.append(f"- Teacher oracle on the labeled records: Spearman of the student's record score to the "
                   f"teacher's {num_or_dash(o['spearman'])} (val only {num_or_dash(o['val_spearman'])}); the student "
                   f"keeps {o['teacher_kept_share_kept_by_student']:.0%} of what the teacher's own cut keeps.")
    out.append("- MIRA's retention per source: " + ", ".join(f"{s} {v:.0%}" for s, v in q["retention"].items())
               + ".")
    if q["evaluate"]:
        out += ["", "Proxy evaluation (held-out loss, mean ± sd over seeds):", ""]
        out += md_table(["arm", "held-out loss", "note"],
                        [[a, f"{e['loss_mean']:.4f} ± {e['loss_std'] or 0:.4f}", e["note"]]
                         for a, e in q["evaluate"].items()])
        ev = q["evaluate"]
        if {"mira", "random", "full"} <= set(ev):
            # a diverged arm's mean is NaN: min() kept `random` past a NaN `full`, and "met" was written
            diverged = [a for a in ("mira", "random", "full") if targets.diverged(ev[a]["loss_mean"])]
            ok = not diverged and all(ev["mira"]["loss_mean"] <= ev[a]["loss_mean"] for a in ("random", "full"))
            # each side said, met or missed: a mean below by less than the noise is no clear win either
            gaps = [f"{abs(ev['mira']['loss_mean'] - ev[a]['loss_mean']):.3f} "
                    f"{'above' if ev['mira']['loss_mean'] > ev[a]['loss_mean'] else 'below'} `{a}`, "
                    + ("within the noise" if doc_figures.relation(ev["mira"], a) == "within" else "beyond the noise")
                    for a in ("random", "full") if not diverged]
            said = (f" (the held-out loss of {' and '.join(f'`{a}`' for a in diverged)} is not finite: a run "
                    "diverged)" if diverged else f" (its mean is {'; '.join(gaps)})")
            out += ["", f"- MIRA's held-out loss at or below `random` and `full`: {verdict(ok)}{said}."]
        if q.get("holding_target") is not None:  # absent from figures saved before the containment check
            out.append(f"- Training records left out of every arm for holding a target record "
                       f"(`evaluate.target_containment`): {q['holding_target']:,}.")
    return out + [""]


def section_embedding(r: dict) -> list[str]:
    if "cosine_vs_torch" not in r:  # figures saved by an older version of this benchmark
        return ["## 1. Embedding pass", "", "Saved figures predate the encoder comparison; re-run "
                "`python -m bench.run --only embedding`.", ""]
    med = {m: median([x["seconds"] for x in runs]) for m, runs in r["runs"].items()}
    rss = {m: max(x["peak_rss_mb"] for x in runs) for m, runs in r["runs"].items()}
    dtype = {m: runs[0]["dtype"] for m, runs in r["runs"].items()}
    cover = {m: runs[0]["coverage"] for m, runs in r["runs"].items()}
    docs, rec_toks = r["docs"], r["record_tokens"]
    st = med["sentence-transformers"]
    rows = []
    for m in r["runs"]:
        cos = r["cosine_vs_torch"].get(m)
        rows.append([m, dtype[m], f"{docs / med[m]:,.1f}", f"{rec_toks * cover[m] / med[m]:,.0f}", f"{cover[m]:.1%}",
                     f"{st / med[m]:.2f}", f"{rss[m]:,.0f}", f"{cos['min']:.4f} / {cos['mean']:.4f}" if cos else "n/a",
                     spread([docs / x["seconds"] for x in r["runs"][m]])])
    n = len(r["runs"]["mira-torch"])
    int8 = st / med["mira-onnx-int8"]
    cos8 = r["cosine_vs_torch"]["mira-onnx-int8"]["min"]
    out = ["## 1. Embedding pass", "",
           f"{docs:,} demo records (a seeded sample of every source; mean {r['mean_chars']:,.0f} characters, "
           f"{rec_toks / docs:,.0f} tokens), all-MiniLM-L6-v2 or the static encoder distilled from it; 256-token "
           f"windows, batch 64, mean pooling, L2-normalised. Tokens/s counts the record tokens each method read "
           f"(coverage x record tokens). Median of {n} runs each, interleaved; each run in its own process (model load, "
           "ONNX export and static distillation not timed: they are cached once per machine).", ""]
    out += md_table(["method", "dtype", "docs/s", "tokens/s read", "coverage", "speed vs sentence-transformers",
                     "peak RSS MB", "cosine to torch fp32 (min / mean)", "docs/s range"], rows)
    out += ["", f"- At equal coverage (one 256-token window), the fastest MiniLM backend on this CPU, ONNX int8, runs "
            f"**{int8:.2f}x** sentence-transformers fp32 with min cosine {cos8:.4f} (target >= 3x at cosine >= 0.98: "
            f"{verdict(int8 >= 3 and cos8 >= 0.98)}). {_cpu_sentence(r.get('cpu'))}",
            f"- The static encoder reads every token of every record at **{docs / med['mira-static']:,.0f} docs/s**, "
            f"{st / med['mira-static']:.0f}x sentence-transformers' speed on 256-token heads.", ""]
    return out


def _cpu_sentence(cpu: dict | None) -> str:
    """Whether the CPU measured has what the published ~3x comes from (VNNI/AMX int8 dot products, native bf16)."""
    if not cpu:
        return ("The published ~3x comes from VNNI/AMX int8 dot products and native bf16; this run recorded no CPU "
                "flags.")
    features = {"VNNI/AMX int8 dot products": cpu["int8_dot"], "native bf16": cpu["bf16"]}
    has, lacks = [f for f, on in features.items() if on], [f for f, on in features.items() if not on]
    said = ("neither " + " nor ".join(lacks) if not has else
            " and ".join(has) + (f", not {' or '.join(lacks)}" if lacks else ""))
    return f"The CPU measured ({cpu['name']}) has {said}, where the published ~3x comes from."


def section_encoders(r: dict) -> list[str]:
    settings = r["settings"]
    groups = sorted({g for x in settings.values() for g in x["groups"]})
    students = list(next(iter(settings.values()))["groups"][groups[0]])
    rows = []
    for name, x in settings.items():
        for st in students:
            rhos = [x["groups"][g][st]["median_spearman"] for g in groups]
            rows.append([name, st, *(num_or_dash(v) for v in rhos), f"{x['coverage']:.1%}",
                         f"{x['records'] / x['embed_seconds']:,.1f}"])
    out = ["## 7. Which encoder: student fidelity on the demo's labels", "",
           "The demo's labeled records (train and val splits as labeled) embedded with each setting; each group's "
           "students fitted on train; the figure is the median over anchors of the val Spearman against the rules "
           "teacher. Labels, splits and document statistics are the same for every setting, so only the encoder "
           "differs. Docs/s is the embedding of these records alone (one run, on a machine shared with other jobs: for scale "
           "only, section 1 has the speed; the export or distillation is cached "
           "and not timed).", ""]
    out += md_table(["encoder", "student", *(f"{g} median val Spearman" for g in groups), "coverage", "docs/s"], rows)
    return out + [""]


def num_or_dash(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def section_teacher(r: dict) -> list[str]:
    rows, ok = [], {}
    for key, runs in r["by_concurrency"].items():
        client, c = key.split("/") if "/" in str(key) else ("sdk", str(key))  # older results: one client
        rate = median([x["labels_per_s"] for x in runs])
        bound = runs[0]["bound_per_s"]
        share = rate / bound
        ok[client] = ok.get(client, True) and share >= 0.9 and all(x["rerun_calls"] == 0 for x in runs)
        rows.append([client, c, str(runs[0]["labels"]), f"{rate:,.1f}", f"{bound:,.1f}", f"{share:.0%}",
                     str(max(x["max_in_flight"] for x in runs)), str(sum(x["rerun_calls"] for x in runs)),
                     f"{median([x['rerun_seconds'] for x in runs]) * 1000:,.0f}"])
    n = len(next(iter(r["by_concurrency"].values())))
    out = ["## 2. Teacher throughput", "",
           f"The `openai` teacher (its real client, retries and validation, the SQLite request cache) against the "
           f"test server (`tests/fake_openai.py`, real HTTP on 127.0.0.1) answering every request after "
           f"{r['latency_s'] * 1000:.0f} ms. One label = one record scored on 5 anchors (one request). Median of {n} "
           "runs; the bound is concurrency / latency.", ""]
    out += md_table(["client", "concurrency", "labels", "labels/s", "bound", "share of bound",
                     "max in flight at server", "calls on cached re-run (all runs)", "cached re-run ms"], rows)
    out += [""] + [f"- target: >= 90% of the bound at every concurrency and zero calls on the re-run, `client: "
                   f"{client}`: {verdict(v)}." for client, v in ok.items()] + [""]
    return out


def section_linear(r: dict) -> list[str]:
    rates = [x for run in r["runs"] for x in run["docs_per_s"]]
    rate = median(rates)
    run0 = r["runs"][0]
    out = ["## 3. `linear` student scoring", "",
           f"{run0['docs']:,} chunks of {run0['mean_chars']:,.0f} characters of the demo corpus, 15 anchors, "
           f"2^18 hash buckets (the defaults), one core (process pinned to one CPU, BLAS at one thread). "
           f"Median of {len(rates)} passes in {len(r['runs'])} processes.", ""]
    out += md_table(["docs/s per core", "range", "peak RSS MB"],
                    [[f"**{rate:,.0f}**", spread(rates), f"{max(x['peak_rss_mb'] for x in r['runs']):,.0f}"]])
    out += ["", f"- target >= 2,000 docs/s per core: {verdict(rate >= 2000)}.", ""]
    return out


def section_selection(r: dict) -> list[str]:
    runs = r["runs"]
    sec = median([x["seconds"] for x in runs])
    rss = max(x["peak_rss_mb"] for x in runs)
    phases = {k: median([x["phases"][k] for x in runs]) for k in runs[0]["phases"]}
    x = runs[0]
    out = ["## 4. Selection at scale", "",
           f"The `select-mira` path (corpus index, reliability mask, trimmed mean over unmasked anchors, per-group "
           f"budget of 50%, manifest written as Parquet) on {x['records']:,} synthetic scored records: 20 sources in "
           f"4 groups, 15 anchors, {x['anchors_masked']} of {x['anchor_pairs']} (source, anchor) pairs masked. "
           f"Median of {len(runs)} runs, each in a fresh process (generation not timed).", ""]
    out += md_table(["records", "seconds", "peak RSS MB", "kept token share"] + [f"{k} s" for k in phases],
                    [[f"{x['records']:,}", f"**{sec:.1f}**", f"**{rss:,.0f}**", f"{x['kept_token_share']:.3f}"]
                     + [f"{v:.1f}" for v in phases.values()]])
    out += ["", f"- target < 30 s: {verdict(sec < 30)}; target < 2 GB peak RSS: {verdict(rss < 2048)}.", ""]
    return out


def bench_scale(repeats: int) -> dict:
    import os

    from bench.scale import RECORDS_ENV, run

    return run(WORK, int(os.environ.get(RECORDS_ENV, 1_000_000)), repeats)


def section_scale(r: dict) -> list[str]:
    ing, sel = r["ingest"], r["select"]
    i_sec, s_sec = median([x["seconds"] for x in ing]), median([x["seconds"] for x in sel])
    i_rss, s_rss = max(x["peak_rss_mb"] for x in ing), max(x["peak_rss_mb"] for x in sel)
    x, n = ing[0], r["records"]
    flow = median([x["flow_seconds"] for x in ing])
    rows = [["`mira stage ingest`", f"{x['read']:,}", f"**{i_sec:,.1f}**", f"**{x['read'] / i_sec:,.0f}**",
             f"{r['raw_bytes'] / 2**20 / i_sec:,.1f} (JSONL read)", f"**{i_rss:,.0f}**"],
            ["select-mira path", f"{sel[0]['records']:,}", f"**{s_sec:,.1f}**", f"**{sel[0]['records'] / s_sec:,.0f}**",
             f"{r['score_bytes'] / 2**20 / s_sec:,.1f} (score Parquet read)", f"**{s_rss:,.0f}**"]]
    reasons = ", ".join(f"{k} {v:,}" for k, v in x["by_reason"].items()) or "none"
    out = [f"## 9. One machine at scale: {n / 1e6:g} M records", "",
           f"A generated corpus of {n:,} records in {r['raw_files']} plain JSONL files, "
           f"{r['raw_bytes'] / 1e9:,.2f} GB on disk ({r['sources']} sources: prose, code, question-answer and chat "
           f"records of varied length, mean {r['raw_bytes'] / n:,.0f} bytes; `python -m bench.scale`, seeded, "
           f"generation not timed). Ingest is `mira stage ingest` run as a user runs it (the project's Prefect "
           f"server, an empty task cache, `runner.max_workers: {r['max_workers']}`, one task per source), timed "
           f"from outside its process, start-up included (the flow itself: {flow:,.1f} s, {x['read'] / flow:,.0f} "
           f"records/s); its peak RSS is that of "
           f"its largest process. Select is the `select-mira` task's path (`bench.selection measure`: corpus index, "
           f"mask, trimmed mean, per-group budget of 50%, manifest) on that ingested corpus with synthetic scores "
           f"for every record (15 anchors, one group per kind of record), in a fresh process. "
           + (f"Median of {len(ing)} runs." if len(ing) > 1 else "One run."), ""]
    out += md_table(["step", "records", "seconds", "records/s", "MB/s", "peak RSS MB"], rows)
    out += ["", f"- Ingest kept {x['kept']:,} records, quarantined {x['quarantined']:,} ({reasons}); "
            f"{x['n_tokens']:,} tokens, {x['n_chars'] / 1e9:,.2f} G characters, written as {x['shards']:,} Parquet "
            f"shards of {x['corpus_bytes'] / 1e9:,.2f} GB; CPU time {x['cpu_seconds']:,.0f} s "
            f"({x['cpu_seconds'] / i_sec:,.1f} cores busy on average).",
            f"- Select: kept token share {sel[0]['kept_token_share']:.3f}; phases "
            + ", ".join(f"{k} {v:,.1f} s" for k, v in sel[0]["phases"].items()) + ".", ""]
    return out


def bench_dedup(repeats: int) -> dict:
    from bench.dedup import SHARES, SIZES

    runs = {}
    for n in SIZES:
        for share in SHARES:
            got = runs[f"{n}/{share}"] = [child("dedup", "measure", str(n), str(share)) for _ in range(repeats)]
            print(f"  dedup {n:,} records, near-copies {share:.0%}: {median([x['seconds'] for x in got]):.2f} s", flush=True)
    return {"runs": runs}


def section_dedup(r: dict) -> list[str]:
    from bench.dedup import PER_SHARD, SOURCES, WORDS

    rows = []
    for runs in r["runs"].values():
        x = runs[0]
        rows.append([f"{x['records']:,}", f"{x['share']:.0%}", f"**{median([y['seconds'] for y in runs]):.2f}**",
                     spread([y["seconds"] for y in runs]), f"{max(y['peak_rss_mb'] for y in runs):,.0f}",
                     f"{x['clusters']:,}", f"{x['dropped']:,}"])
    n_runs = len(next(iter(r["runs"].values())))
    return ["## 13. Near-duplicate clustering at scale", "",
            f"`dedup.near_duplicates` (LSH banding at the default threshold, bands and rows "
            f"{tuple(next(iter(r['runs'].values()))[0]['bands'])}, the Jaccard check, union-find) on generated "
            f"records of 60 words drawn from {WORDS:,} over {SOURCES} sources in shards of {PER_SHARD:,}, a share of "
            f"them one 80-word page with a word of their own (one large cluster of near-copies); the signatures are "
            f"computed first and not timed (`python -m bench.run --only dedup`, `bench/dedup.py`). Median of "
            f"{n_runs} runs, each in a fresh process; peak RSS includes generating the records.", "",
            *md_table(["records", "near-copies", "seconds", "spread", "peak RSS MB", "clusters", "dropped"], rows), ""]


def bench_export(repeats: int) -> dict:
    from bench.export import run

    root = WORK / "pipeline"
    if not (root / "data" / "selection" / "mira" / "manifest.parquet").exists():
        raise RuntimeError(f"{root}: no selection; run the pipeline benchmark first (--only pipeline export)")
    return run(root)


def section_export(r: dict) -> list[str]:
    d, c = r["dedup"], r["decontaminate"]
    bench = ", ".join(f"{b} ({v['items']} items, {v['records_dropped']} records)" for b, v in r["benchmarks"].items())
    out = ["## 10. Mid-training output on the demo: filters, counts, the Megatron export", "",
           "The pipeline benchmark's demo run (default params): what the `dedup` and `decontaminate` stages drop, "
           "the manifest's reasons, and `select.materialize: megatron` on MIRA's kept records, read back with "
           "`tests/megatron_reader.py` (an independent reader of Megatron-LM's indexed-dataset layout) and "
           "compared with the target tokenizer's ids of the same records (`python -m bench.run --only export`).", ""]
    out += md_table(["", "records"], [
        ["read by ingest", f"{r['read']:,}"], ["quarantined by ingest", f"{r['quarantined']:,}"],
        ["near-duplicates (`dedup`)", f"{d['records_dropped']:,} of {d['records_in']:,} "
                                      f"({d['tokens_dropped']:,} tokens)"],
        ["contaminated (`decontaminate`)", f"{c['records_dropped']:,} ({bench or 'no benchmark'})"],
        *[[f"MIRA manifest: `{k}`", f"{v:,}"] for k, v in r["reasons"].items()]])
    out += ["", "- Near-duplicates per source: " + ", ".join(f"{s} {n:,}" for s, n in r["dedup_by_source"].items())
            + f"; {r['clusters']:,} clusters, {r['cross_source_clusters']:,} of them across sources.",
            f"- Counts balance (every method's reasons sum to the corpus, and read = corpus + quarantined): "
            f"{verdict(r['balanced'])}.",
            f"- Megatron export: {r['documents']:,} documents, {r['export_tokens']:,} tokens ({r['dtype']}); "
            f"documents whose ids differ from the tokenizer's: **{r['mismatched']}** "
            f"({verdict(r['mismatched'] == 0)}); `mira stage select` with the export took {r['select_seconds']:,.1f} s.",
            ""]
    return out


def bench_generative(repeats: int) -> dict:
    from bench.generative import run

    root = WORK / "pipeline"
    if not (root / "data" / "labels").exists():
        raise RuntimeError(f"{root}: no labels; run the pipeline benchmark first (--only pipeline generative)")
    return run(root, n_train=64, n_val=32)


def bench_gpu(repeats: int) -> dict:
    from bench.generative import run_gpu

    return run_gpu()


def section_generative(r: dict) -> list[str]:
    from bench.generative import section

    return section(r)


def section_gpu(r: dict) -> list[str]:
    from bench.generative import section_gpu as gpu

    return gpu(r)


def section_planted(r: dict) -> list[str]:
    from bench.planted import section

    return section(r)


NUMBERS = {"embedding": 1, "teacher": 2, "linear_student": 3, "selection": 4, "pipeline": 5, "planted": 6,
           "encoders": 7, "ablations": 8, "scale": 9, "export": 10, "generative": 11, "gpu": 12, "dedup": 13}


def earlier_sections(path: Path) -> dict[int, list[str]]:
    """The numbered sections (`## N. ...`) of an existing BENCHMARKS.md, by number: a section whose figures this
    machine has not saved is kept as it was written, so a partial run never erases the others."""
    if not path.exists():
        return {}
    out: dict[int, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            head = line[3:].split(".", 1)[0]
            current = int(head) if head.isdigit() else None
            if current is not None:
                out[current] = []
        if current is not None:
            out[current].append(line)
    return out


def write(results: dict, path: Path) -> None:
    kept = earlier_sections(path)
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`python -m bench.run`) from a run on the machine below; do not edit by hand. "
             "Speed is measured here, never in tests.", "",
             f"Measured {results.get('measured_at', '?')} UTC, commit `{results.get('commit', '?')}`.", ""]
    lines += md_table(["machine", ""], [[k, v] for k, v in results["machine"].items()]) + [""]
    sections = {"embedding": section_embedding, "teacher": section_teacher, "linear_student": section_linear,
                "selection": section_selection, "pipeline": section_pipeline, "planted": section_planted,
                "encoders": section_encoders, "ablations": section_ablations, "scale": section_scale,
                "export": section_export, "generative": section_generative, "gpu": section_gpu, "dedup": section_dedup}
    for name, fn in sections.items():
        if name in results:
            body = fn(results[name])
            when = results.get("section_measured", {}).get(name)
            if when != {"at": results.get("measured_at"), "commit": results.get("commit")}:
                # saved by an earlier `--only` run: say when, so the page's header date does not claim it
                note = (f"*Measured {when['at']} UTC at commit `{when['commit']}`.*" if when else
                        "*Measured by an earlier run (before each section recorded its own date).*")
                body = [body[0], "", note, *body[1:]]
            lines += body
        elif NUMBERS[name] in kept:
            body = kept[NUMBERS[name]]
            note = "*Kept from an earlier run: not re-measured at the commit above, and perhaps on another machine.*"
            rest = [x for x in body[1:] if not x.startswith("*Kept from an earlier run")]  # this note, or an older one
            while rest and not rest[0].strip():  # the blank lines around an earlier note: one is written below
                rest.pop(0)
            lines += [body[0], "", note, "", *rest]
    notes = REPO / "bench" / "NOTES.md"  # what was profiled and why a missed target stays missed
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)


def _commit() -> str:
    """The commit measured, `+changes` when tracked files differ from it. Prose (*.md) and bench/figures.json are
    not counted: a benchmark run rewrites them itself, and they change no figure, so a second `--only` run in the
    same clone still names the commit it measured."""
    res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                             text=True).stdout.splitlines()
    dirty = [line[3:] for line in changed if not (line[3:].endswith(".md") or line[3:] == "bench/figures.json")]
    return (res.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=ALL, default=list(ALL))
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure (the median is reported)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite BENCHMARKS.md from the figures saved by earlier runs, measuring nothing")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    saved = WORK / "results.json"  # figures of earlier --only runs are kept, so a partial run rewrites its part
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if args.report_only:
        if not results:  # bench/.work is not versioned: a fresh clone has none
            sys.exit(f"{saved}: no saved results to rewrite BENCHMARKS.md from (run a benchmark first; "
                     "`python -m bench.doc_figures` syncs the docs from bench/figures.json alone)")
        args.only = []
        replicates.rederive(results.get("ablations", {}))  # readings added since the run: from its own losses
    else:
        results["machine"] = machine()
        results["measured_at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
        results["commit"] = _commit()  # what was measured: a later --report-only keeps it
    fns = {"pipeline": bench_pipeline, "embedding": bench_embedding, "teacher": bench_teacher,
           "linear_student": bench_linear, "selection": bench_selection, "planted": bench_planted,
           "encoders": bench_encoders, "ablations": bench_ablations, "scale": bench_scale, "export": bench_export,
           "generative": bench_generative, "gpu": bench_gpu, "dedup": bench_dedup}
    for name in ALL:
        if name in args.only:
            start = time.perf_counter()
            print(f"bench {name} ...", flush=True)
            results[name] = fns[name](args.repeats)
            results.setdefault("section_measured", {})[name] = {"at": results["measured_at"], "commit": results["commit"],
                                                                "cpu": results["machine"]["CPU"]}
            print(f"bench {name}: {time.perf_counter() - start:,.0f} s", flush=True)
            tmp = saved.with_suffix(".tmp")  # hours of figures: a write cut short must not lose the earlier ones
            tmp.write_text(json.dumps(results, indent=1, default=str))
            tmp.replace(saved)
    write(results, REPO / "BENCHMARKS.md")
    print(f"wrote {REPO / 'BENCHMARKS.md'}", file=sys.stderr)
    # the README and the docs quote some of these figures in sentences: rewrite them, and list what to re-read
    doc_figures.print_report(doc_figures.record_and_sync(results), wrote=True)


if __name__ == "__main__":
    main()
