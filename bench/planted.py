"""The planted-defect benchmark, end to end: how many broken and good tokens each selection method keeps.

In a fresh copy of the repository, `mira_core.planted` writes four real sources (code, QA, docs,
agent traces from this Python installation) with a quarter of each source's records given one of
14 known defects into `data/raw/`, and params.yaml is pointed at them (`demo_corpus.enabled: false`,
nothing held out, the proxy evaluation off, DSIR toward the QA source). The stages from `ingest` to
`select` then run one by one as `mira stage NAME`, in the order of the stage records (mira_core/stages.py):
that needs no edit of dvc.yaml and follows any stage added between them. Each arm is one params change from the
default that re-runs the stages from the first it touches (`select.*`: select; `distill.*`: distill, score,
select; `label.*`: label onwards), or from the first the arm before it touched, whose outputs are then stale;
an arm the params model rejects (a knob not there yet) is skipped with the error, and an arm equal
to the default is not run twice. Then the arms of SEED_ARMS (with the teacher-oracle arm) run again on
corpora planted with OTHER_SEEDS, each in its own copy, since a few hundred records per source leave each
defect kind some 20 records and one record moves a kind's share by several points. Every manifest
under data/selection (MIRA and the baselines), and the oracle table when select writes one, is scored
against the truth by `mira_core.planted.evaluate`.

    python -m bench.planted                  # writes bench/.work/planted.json, prints the section
    python -m bench.run --only planted       # the same, saved with the other figures into BENCHMARKS.md

300 records per source (1,200 records) keep one corpus's run near 7 minutes on 2 cores, and the other seeds
about 10 more; discover and label use the default sample sizes.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import time
from pathlib import Path

import polars as pl
import yaml

from bench.common import WORK, env
from mira_core.planted import TEACHER_ALL
from tests.repo_copy import copy_repo

# (arm, {dotted params key: value}): the first is the default; every other arm changes one knob of it
# (`balanced_all`: the three students' `balance` knobs together)
ARMS: tuple[tuple[str, dict], ...] = (
    ("default", {}),
    ("global", {"select.granularity": "global"}),
    ("group", {"select.granularity": "group"}),
    ("source", {"select.granularity": "source"}),
    ("no_mask", {"select.mask": False}),
    ("raw_scale", {"select.standardize": False}),
    ("trimmed_mean", {"select.worst_weight": 0.0}),
    ("spearman_mask", {"select.agreement": "spearman"}),
    ("pooled_unshared", {"select.unshared_own_budget": False}),
    ("head", {"distill.student": "head"}),
    ("linear", {"distill.student": "linear"}),
    ("trees", {"distill.student": "trees"}),
    ("auto", {"distill.student": "auto"}),
    ("balanced", {"distill.trees.balance": 0.5}),
    ("balanced_all", {"distill.trees.balance": 0.5, "distill.head.balance": 0.5, "distill.linear.balance": 0.5}),
    ("cover", {"label.cover_share": 0.5}),
)
LAST = "select"
# The arms of SEED_ARMS (and the teacher-oracle arm) again on corpora planted with other seeds: how far one
# corpus's figures carry. A few hundred records per source make every per-kind share a handful of records.
OTHER_SEEDS = (1, 2)
# the arms run at the other seeds too (the teacher-oracle arm follows the default)
SEED_ARMS = ("default", "cover", "balanced", "balanced_all")
# TEACHER_ALL (mira_core.planted) names the arm that is not a params change: the teacher's scores of every record
TEACHER_DESCRIBE = "the teacher's own scores of every record in place of the students' (default mask and budget)"


def _stages() -> list[str]:
    """The stages from ingest to select, in graph order (a stage added between them is run too)."""
    from flows.stages import STAGES

    names = [s.name for s in STAGES]
    return names[names.index("ingest"): names.index(LAST) + 1]


def _set(raw: dict, dotted: str, value) -> None:
    *path, key = dotted.split(".")
    node = raw
    for p in path:
        node = node.setdefault(p, {})
    node[key] = value


def configure(raw: dict, sources: list[dict], records: int) -> dict:
    """The copy's params pointed at the planted sources; nothing held out; no proxy training; half a source's worth
    of records labeled per group, so that most records are scored by a student that never saw their label."""
    raw = copy.deepcopy(raw)
    raw["sources"] = sources
    _set(raw, "label.records_per_group", max(40, records // 2))
    _set(raw, "demo_corpus.enabled", False)
    _set(raw, "select.held_out_sources", [])
    if "dsir" in raw.get("select", {}).get("baselines", []):
        _set(raw, "select.dsir_target", ["qa"])  # as the demo resamples toward its QA source
    _set(raw, "evaluate.enabled", False)
    return raw


def _effective(raw: dict) -> dict:
    """What an arm's params amount to (validated), or raises ConfigError."""
    from mira_core.config import parse_params

    p = parse_params(raw)
    return {"select": p.select.model_dump(), "distill": p.distill.model_dump(), "label": p.label.model_dump()}


def _stage(root: Path, name: str, log: Path) -> float:
    home = root / ".mira" / "prefect-home"  # the temporary Prefect servers' database; Prefect makes no parents
    home.mkdir(parents=True, exist_ok=True)
    e = {**env(), "PREFECT_HOME": str(home)}
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n==== mira stage {name}\n")
        out.flush()
        rc = subprocess.run(["mira", "stage", name, "--root", str(root)], cwd=root, env=e, stdout=out,
                            stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise RuntimeError(f"mira stage {name} failed ({rc}); see {log}:\n{tail}")
    return time.perf_counter() - start


def _evaluate(root: Path, truth: pl.DataFrame, budget: float, keep: Path) -> dict:
    from mira_core.planted import evaluate, load_selection

    sel = root / "data" / "selection"
    manifests, oracle = load_selection(sel)
    keep.mkdir(parents=True, exist_ok=True)  # the arm's selection, for `mira planted eval` later
    for m in manifests:
        (keep / m).mkdir(exist_ok=True)
        shutil.copy2(sel / m / "manifest.parquet", keep / m / "manifest.parquet")
    if oracle is not None:
        shutil.copy2(sel / "oracle.parquet", keep / "oracle.parquet")
    return evaluate(truth, manifests, budget, oracle)


def teacher_scores(root: Path) -> dict:
    """Replace each student score shard under data/scores by the teacher's own scores of the same records."""
    import os

    from mira_core.config import parse_params
    from mira_core.errors import ConfigError
    from mira_core.layout import Layout
    from mira_core.rubric import load_rubrics
    from mira_core.scoring import teacher_score_shard
    from mira_core.teachers import make_teacher

    lay = Layout(root)
    p = parse_params(yaml.safe_load(lay.params_file.read_text()))
    teacher = make_teacher(p.teacher, root, os.environ)
    rubrics = load_rubrics(lay.rubrics)
    total = {"records": 0, "failed": 0}
    for shard in sorted(lay.scores.glob("*/*/part-*.parquet")):  # the score flow's <group>/<source>/<corpus shard>
        group, source = shard.parent.parent.name, shard.parent.name
        if group not in rubrics:
            raise ConfigError(f"{shard}: no rubric for group {group} under {lay.rubrics}")
        r = teacher_score_shard(shard, lay.corpus / source / shard.name, rubrics[group], teacher, shard)
        total = {k: total[k] + r[k] for k in total}
    return total


def teacher_arm(root: Path, truth: pl.DataFrame, budget: float, log: Path, default_keep: Path, raw: dict,
                settings: dict) -> tuple[dict, dict | None]:
    """The whole-corpus teacher oracle: select on the teacher's scores of every record, with the default arm's
    mask, aggregation and budget; then the students' scores are put back for the other arms.

    The select stage's oracle table covers only the labeled records; this one covers every record, so the per-kind
    table can tell the records the students let through from those the teacher's own anchors pass. Its manifest
    joins the default arm's as the method `teacher_scores` (`mira planted eval` on that folder shows it too).
    Returns (this arm's row, the default arm's result re-evaluated with it); the result is None when the arm is
    skipped (a teacher other than `rules`: it would be asked about every record) or failed, as the row says.
    """
    from mira_core.errors import MiraError
    from mira_core.planted import evaluate, load_selection

    row = {"changes": {}, "describe": TEACHER_DESCRIBE, "settings": {**settings, "student": "teacher"}}
    provider = raw.get("teacher", {}).get("provider", "rules")
    if provider != "rules":
        return {**row, "skipped": f"the teacher is `{provider}`: this arm asks it about every record"}, None
    scores, saved = root / "data" / "scores", root / "data" / ".scores-students"
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(scores, saved)
    t0 = time.perf_counter()
    try:
        asked = teacher_scores(root)
        stages = {"teacher": round(time.perf_counter() - t0, 1), "select": round(_stage(root, "select", log), 1)}
        (default_keep / TEACHER_ALL).mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "data" / "selection" / "mira" / "manifest.parquet",
                     default_keep / TEACHER_ALL / "manifest.parquet")
        mask = json.loads((root / "metrics" / "select.json").read_text()).get("mask", {})
    except (RuntimeError, MiraError) as e:  # the other arms still run, as after any arm's failure
        shutil.rmtree(default_keep / TEACHER_ALL, ignore_errors=True)
        print(f"  planted {TEACHER_ALL}: failed: {str(e).splitlines()[0]}", flush=True)
        return {**row, "failed": str(e)[-3000:]}, None
    finally:
        shutil.rmtree(scores)
        saved.rename(scores)
    manifests, oracle = load_selection(default_keep)
    arm = {**row, "teacher": asked, "stages": stages, "seconds": round(time.perf_counter() - t0, 1),
           "result": evaluate(truth, {"mira": manifests[TEACHER_ALL]}, budget),
           "mask": {"on": mask.get("on"), "pairs": (mask.get("on") or 0) + (mask.get("off") or 0)}}
    m = arm["result"]["methods"]["mira"]
    print(f"  planted {TEACHER_ALL}: {arm['seconds']:.0f} s; the teacher's scores keep {m['good_kept']:.1%} of good "
          f"tokens, {m['broken_kept']:.1%} of broken", flush=True)
    return arm, evaluate(truth, manifests, budget, oracle)


def first_stage(changes: dict, before: dict, stages: list[str]) -> str:
    """The first stage an arm must re-run: the earliest that its own changes or the previous arm's touch (each
    params section is read by the stage of its name; the previous arm's outputs from there on are stale)."""
    return min((k.split(".")[0] for k in {**changes, **before}), key=stages.index)


def run(work: Path, records: int = 300, seed: int = 0, rate: float = 0.25,
        arms: tuple[tuple[str, dict], ...] = ARMS, other_seeds: tuple[int, ...] = OTHER_SEEDS) -> dict:
    """Build, run the stages, then every arm; the figures per arm. Then, with planted.json already written, the
    arms of SEED_ARMS (and the teacher oracle) on a corpus planted with each of `other_seeds` other than `seed` (in
    work/seed-N), summarised by `seed_summary`; a seed whose run fails gets a {"failed": reason} row."""
    from mira_core.errors import ConfigError
    from mira_core.planted import build_planted_corpus

    start = time.perf_counter()
    root = work / "planted"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(work / "planted-arms", ignore_errors=True)
    root.mkdir(parents=True)
    copy_repo(root)
    log = work / "planted.log"
    log.unlink(missing_ok=True)
    raw_dir = root / "data" / "raw"
    shutil.rmtree(raw_dir, ignore_errors=True)
    info = build_planted_corpus(raw_dir, seed=seed, defect_rate=rate, records_per_source=records, relative_to=root)
    truth = pl.read_parquet(raw_dir / "truth.parquet")
    base = configure(yaml.safe_load((root / "params.yaml").read_text()), info["sources"], records)
    default = _effective(base)
    stages = _stages()
    arms_run: dict[str, dict] = {}
    before: dict = {}  # the last arm run's changes: its stages' outputs must be re-made under this arm's params
    for name, changes in arms:
        raw = copy.deepcopy(base)
        for k, v in changes.items():
            _set(raw, k, v)
        arm: dict = {"changes": changes}
        try:
            eff = _effective(raw)
        except ConfigError as e:
            arms_run[name] = {**arm, "skipped": f"params rejected (not in this version yet?): {e}"}
            print(f"  planted {name}: skipped: {str(e).splitlines()[-1].strip()}", flush=True)
            continue
        arm["settings"] = {"granularity": eff["select"]["granularity"], "mask": eff["select"].get("mask", True),
                           "agreement": eff["select"].get("agreement", "spearman"), "student": eff["distill"]["student"]}
        if name != "default" and eff == default:
            arms_run[name] = {**arm, "same_as": "default"}
            continue
        (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        first = "ingest" if name == "default" else first_stage(changes, before, stages)
        before = changes
        t0 = time.perf_counter()
        try:
            arm["stages"] = {s: round(_stage(root, s, log), 1) for s in stages[stages.index(first):]}
        except RuntimeError as e:
            if name == "default":
                raise
            arms_run[name] = {**arm, "failed": str(e)[-3000:]}
            print(f"  planted {name}: failed: {str(e).splitlines()[0]}", flush=True)
            continue
        arm["seconds"] = round(time.perf_counter() - t0, 1)
        budget = raw.get("select", {}).get("budget", 0.5)
        arm["result"] = _evaluate(root, truth, budget, work / "planted-arms" / name)
        mask = json.loads((root / "metrics" / "select.json").read_text()).get("mask", {})
        arm["mask"] = {"on": mask.get("on"), "pairs": (mask.get("on") or 0) + (mask.get("off") or 0)}
        arms_run[name] = arm
        m = arm["result"]["methods"]["mira"]
        print(f"  planted {name}: {arm['seconds']:.0f} s; mira keeps {m['good_kept']:.1%} of good tokens, "
              f"{m['broken_kept']:.1%} of broken", flush=True)
        if name == "default":
            arms_run[TEACHER_ALL], result = teacher_arm(root, truth, budget, log, work / "planted-arms" / name, raw,
                                                    arm["settings"])
            arm["result"] = result or arm["result"]
    out = {"records_per_source": records, "seed": seed, "defect_rate": rate, "counts": info["counts"],
           "stages": stages, "arms": arms_run, "seconds": round(time.perf_counter() - start, 1), "root": str(root)}
    from mira_core.io import write_json

    if other_seeds:
        out["seeds"] = {str(seed): seed_summary(arms_run["default"]["result"], arms_run)}
        write_json(out, work / "planted.json")  # the main run's figures are safe before the other seeds start
        for s in [s for s in other_seeds if s != seed]:
            print(f"  planted: seed {s}: the arms {', '.join(SEED_ARMS)} and {TEACHER_ALL}", flush=True)
            t0 = time.perf_counter()
            try:
                other = run(work / f"seed-{s}", records, s, rate, other_seeds=(),
                            arms=tuple(a for a in arms if a[0] in SEED_ARMS))
                out["seeds"][str(s)] = {**seed_summary(other["arms"]["default"]["result"], other["arms"]),
                                        "seconds": round(time.perf_counter() - t0, 1)}
            except Exception as e:  # noqa: BLE001 - any failure there leaves the main run's figures standing
                out["seeds"][str(s)] = {"failed": f"{type(e).__name__}: {str(e)[-3000:]}"}
    write_json(out, work / "planted.json")
    return out


def seed_summary(result: dict, arms: dict | None = None) -> dict:
    """What the issue's done-when reads off one planted corpus's default arm: MIRA's, the perfect selector's and
    the whole-corpus teacher oracle's shares, the kinds the teacher scores low that MIRA keeps above the bar, and
    whether MIRA keeps fewer broken tokens than `single_rubric` in every source; and MIRA's shares in the other
    arms of SEED_ARMS found in `arms`."""
    from mira_core.planted import over_single, removal_kept, teacher_drops, teacher_low_kept

    m = result["methods"]
    mira, teacher, single = m["mira"], m.get(TEACHER_ALL), m.get("single_rubric")
    o = result.get("oracle")
    broken = {n: {src: v["broken_kept"] for src, v in m[n]["by_source"].items()}
              for n in ("mira", "single_rubric") if n in m}
    return {
        "mira": {k: mira[k] for k in ("good_kept", "broken_kept")},
        "perfect": {"good_kept": m["perfect"]["good_kept"], "good_bound": result.get("corpus", {}).get("good_bound")},
        "teacher": {k: teacher[k] for k in ("good_kept", "broken_kept")} if teacher else None,
        "low_kinds": sorted(teacher_drops(result)),
        "by_kind": {"mira": mira["by_kind"], "teacher": teacher["by_kind"] if teacher else None},
        "low_over": {k: {"mira": mira["by_kind"].get(k), "teacher": teacher["by_kind"].get(k) if teacher else None}
                     for k in teacher_low_kept(result)},
        # fewer, or none where single_rubric keeps none either
        "fewer_than_single": not over_single(broken["mira"], broken["single_rubric"]) if single else None,
        # each source's share of broken tokens kept, so a "no" above names where and by how much
        "broken_by_source": broken,
        # and of all its tokens: single_rubric cuts once over every source, so it may keep little of one
        "kept_by_source": {n: {src: v.get("kept") for src, v in m[n]["by_source"].items()}
                           for n in ("mira", "single_rubric") if n in m},
        "removal_kept": o["broken_removal_kept"] if o else None,
        "removal_kept_all": removal_kept(mira["broken_kept"], teacher["broken_kept"]) if teacher else None,
        "arms": {n: {k: arms[n]["result"]["methods"]["mira"][k] for k in ("good_kept", "broken_kept", "by_kind")}
                 for n in SEED_ARMS[1:] if "result" in (arms or {}).get(n, {})},
    }


def seeds_table(seeds: dict) -> list[str]:
    """Per planted seed, the default arm's figures and the other SEED_ARMS' shares, as BENCHMARKS.md rows, with
    the mean of the shares."""
    from mira_core.planted import md_table, pct

    rows, done = [], []
    extra = list(SEED_ARMS[1:])
    for seed, v in seeds.items():
        if "failed" in v:
            rows.append([seed, *["-"] * (7 + len(extra)), "failed: " + v["failed"].splitlines()[0]])
            continue
        done.append(v)
        t = v["teacher"] or {}
        over = ", ".join(f"{k} {pct(x['mira'])} (`{TEACHER_ALL}` {pct(x['teacher'])})" for k, x in v["low_over"].items())
        rows.append([seed, pct(v["mira"]["good_kept"]), pct(v["mira"]["broken_kept"]), pct(v["perfect"]["good_kept"]),
                     f"{pct(t.get('good_kept'))} / {pct(t.get('broken_kept'))}",
                     _fewer(v), pct(v["removal_kept"]), pct(v["removal_kept_all"]),
                     *[_pair(v.get("arms", {}).get(n)) for n in extra], over or "none"])
    if len(done) > 1:
        mean = lambda f: sum(f(v) for v in done) / len(done)  # noqa: E731
        rows.append(["mean", pct(mean(lambda v: v["mira"]["good_kept"])), pct(mean(lambda v: v["mira"]["broken_kept"])),
                     pct(mean(lambda v: v["perfect"]["good_kept"])), "", "", "", "",
                     *[_pair({k: mean(lambda v, n=n, k=k: v["arms"][n][k]) for k in ("good_kept", "broken_kept")})
                       if all(n in v.get("arms", {}) for v in done) else "" for n in extra], ""])
    return md_table(["seed", "MIRA good kept", "MIRA broken kept", "perfect good kept",
                     f"`{TEACHER_ALL}` good / broken kept",
                     "fewer broken than single_rubric in every source (if not: broken kept, MIRA / it)",
                     "removal kept (labeled)", "removal kept (every record)",
                     *[f"`{n}` arm: good / broken kept" for n in extra],
                     "kinds the teacher scores low that MIRA keeps above 20 %"], rows)


def _fewer(v: dict) -> str:
    """yes / no, a "no" with the sources where MIRA keeps more broken tokens than `single_rubric` (MIRA / it)."""
    from mira_core.planted import over_single, pct

    answer = {True: "yes", False: "no", None: "-"}[v["fewer_than_single"]]
    shares = v.get("broken_by_source", {})  # absent in a summary saved before it was kept
    if v["fewer_than_single"] is False and {"mira", "single_rubric"} <= set(shares):
        mira, single = shares["mira"], shares["single_rubric"]
        answer += f" ({', '.join(f'{src} {pct(mira[src])} / {pct(single[src])}' for src in over_single(mira, single))})"
    return answer


def _pair(m: dict | None) -> str:
    from mira_core.planted import pct

    return f"{pct(m['good_kept'])} / {pct(m['broken_kept'])}" if m else "-"


# ---------------------------------------------------------------- BENCHMARKS.md
def section(r: dict) -> list[str]:
    """The BENCHMARKS.md section: one row per arm for MIRA, then every method of the default arm in full."""
    from mira_core.planted import KINDS, md_table, pct, render_markdown

    arms = r["arms"]
    d = arms["default"]
    rows = []
    for name in [n for n, _ in ARMS if n in arms] + sorted(set(arms) - {n for n, _ in ARMS}):
        a = arms[name]
        change = ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in a["changes"].items()) or a.get("describe", "-")
        s = a.get("settings", {})
        mask = s.get("agreement", "on") if s.get("mask", True) else "off"
        what = f"{s.get('granularity', '?')}, mask {mask}, {s.get('student', '?')}"
        if "result" not in a:
            note = ("same as default" if "same_as" in a else "skipped: " + a["skipped"].splitlines()[-1].strip()
                    if "skipped" in a else "failed: " + a["failed"].splitlines()[0])
            rows.append([name, change, what if s else "-", "-", "-", "-", "-", "-", "-", "-", note])
            continue
        m, o, on = a["result"]["methods"]["mira"], a["result"].get("oracle"), a.get("mask", {})
        rows.append([name, change, what, f"{on['on']} of {on['pairs']}" if on.get("pairs") else "-",
                     pct(m["good_kept"]), pct(m["broken_kept"]), pct(m["broken_share_of_kept"]),
                     pct(o["student"]["broken_kept"]) if o else "-", pct(o["broken_removal_kept"]) if o else "-",
                     pct(o["val"]["broken_removal_kept"]) if o and o.get("val") else "-", f"{a['seconds']:,.0f} s"])
    n_kinds = sum(len(k) for k in KINDS.values())
    out = ["## 6. Planted defects: what each selection keeps", "",
           f"{r['records_per_source']} real records per source (code, qa, docs, traces, from this machine's Python "
           f"installation), {r['defect_rate']:.0%} of each source given one of {n_kinds} known defects "
           "(`mira_core/planted.py`: syntax errors, minified, generated and table code; placeholder, echoed and wrong "
           "answers; spam, boilerplate, truncated and garbled docs; broken tool-call JSON, tool loops and traces "
           "with no final answer). The stages `" + "`, `".join(r["stages"]) + "` run once in a fresh copy of the "
           "repository with the `rules` teacher and the default params (nothing held out, DSIR toward `qa`); each "
           "arm changes one knob (`balanced_all` the three students' `balance` knobs together) and re-runs the "
           "stages from the first it (or the arm before it) touches. *good kept* "
           "and *broken kept* are shares of the good and of the broken tokens a method keeps (higher and lower are "
           "better); *broken share of kept* is the broken part of what it keeps. The oracle columns compare, on the "
           "labeled records, the students' cut with the teacher's own (`data/selection/oracle.parquet`): *removal kept* is "
           "(1 - student broken kept) / (1 - teacher broken kept), above 100 % when the students drop more broken "
           "tokens than the teacher's cut; *on val* is the same on the val records alone, which the students were not "
           f"fitted on. The `{TEACHER_ALL}` row changes no knob: it is select run on the teacher's own scores of every "
           "record in place of the students' (same mask, aggregation and budget), the whole-corpus teacher oracle, "
           "and it is a column of the tables below. *pairs on*: the (source, anchor) pairs the reliability mask keeps. "
           f"One run, {r['seconds'] / 60:,.1f} minutes in all.", ""]
    out += md_table(["arm", "change", "granularity, mask, student", "pairs on", "MIRA good kept", "MIRA broken kept",
                     "broken share of kept", "oracle: student broken kept", "removal kept", "removal kept on val",
                     "stages run"], rows)
    o = d.get("result", {}).get("oracle")
    if o and o["records"] >= d["result"]["corpus"]["records"]:
        out += ["", "At this size every record is labeled (`label.records_per_group` is at least every group's size), "
                "so the oracle table covers the whole corpus and the students score records they were fitted on."]
    if r.get("seeds"):
        sizes = [n for kinds in r["counts"].values() for k, n in kinds.items() if k != "good"]
        held = [n for n in sizes if n]  # a kind planted in no record (a small corpus, a low rate) has no share to move
        moves = (f"so one record moves its share by about {100 / max(held):.0f}-{100 / min(held):.0f} points" if held
                 else "so no kind has a share to move")
        took = sum(v.get("seconds", 0) for v in r["seeds"].values())
        names = [f"`{a}`" for a in (SEED_ARMS[0], TEACHER_ALL, *SEED_ARMS[1:])]
        out += ["", f"The {', '.join(names[:-1])} and {names[-1]} arms "
                f"again on corpora planted with other seeds (the same sources and defect rate; seed {r['seed']} is "
                f"the run above; {took / 60:,.1f} minutes more). Each kind has {min(sizes)}-{max(sizes)} records per "
                f"corpus, {moves}:", "",
                *seeds_table(r["seeds"])]
    if "result" in d:
        out += ["", "Every method at the default arm (`perfect` keeps only good tokens, each source up to its share "
                "of the budget: the most a source-preserving selector can keep; `perfect_group` keeps only good "
                "tokens, each group up to its share, as MIRA's default `select.granularity: group` does, split "
                "between the group's sources by their good tokens: where a source holds fewer broken tokens than "
                "its group's others, it rightly takes more of the group's budget):", "",
                *render_markdown(d["result"]).splitlines()]
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=300, help="records per source")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.25, help="share of each source's records given a defect")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    r = run(WORK, records=args.records, seed=args.seed, rate=args.rate)
    print("\n".join(section(r)))


if __name__ == "__main__":
    main()
