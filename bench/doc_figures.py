"""The benchmark figures that the README and the docs quote in their prose, kept in step with BENCHMARKS.md.

BENCHMARKS.md is rewritten whole from `bench/.work/results.json`; the README and the docs quote some of its
figures inside sentences, and a hand-copied figure goes stale at the next run. Each `Figure` below names a
file, a sentence pattern whose `{}` slots hold numbers, and how to compute those numbers from the results.
After a run, `sync` rewrites the numbers in place and lists what changed. A sentence also says things a number
cannot (MIRA's mean is *above* the full corpus's, an arm is *within the noise*): such a figure carries a
`claim`, checked on the new results, and a claim that no longer holds is listed for a person to rewrite, as is
a pattern that no longer matches its file exactly once. Figures quoted as examples of one anchor or one
source (docs/selection.md's mask paragraph, docs/students.md's weakest anchor) name the run they come from and
are not synced.

    python -m bench.doc_figures          # sync from bench/figures.json (bench.run does it after a run)
    python -m bench.doc_figures --check  # change nothing; exit 1 where a figure or a claim is out of step

`bench/figures.json` is the part of the run's results these figures read, committed beside the docs, so a test
checks on any clone that the docs say what the recorded run measured.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import machines, targets
from mira_core.evaluation.stats import pooled, relation, widest, within_noise
from mira_core.planted import KINDS, TEACHER_ALL, over_single, removal_kept, teacher_low_kept

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "bench" / "figures.json"
SECTIONS = ("planted", "pipeline", "ablations")  # the bench.run sections the figures read
NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?"


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the repository
    pattern: str  # the sentence, with one `{}` per number; any run of whitespace matches any other (line wraps)
    values: Callable[[dict], list[str]]  # the numbers, formatted as the sentence prints them
    claim: Callable[[dict], bool] | None = None  # what the words around the numbers assert, on the new results
    why: str = ""  # the claim in words, for the report


def regex(pattern: str) -> re.Pattern:
    # any run of whitespace in the pattern matches any run in the text (escaping first made "\n  " three runs)
    parts = [r"\s+".join(re.escape(w) for w in re.split(r"\s+", p)) for p in pattern.split("{}")]
    return re.compile(f"({NUMBER})".join(parts))


@dataclass
class Report:
    changed: list[str]  # "path: old -> new in <pattern>"
    problems: list[str]  # patterns that match 0 or 2+ times, claims that no longer hold
    skipped: list[str]  # figures whose results are not in this results file (a section not measured)


@dataclass(frozen=True)
class Block:
    """A part of a doc written whole from the results (a table), between markers that `replace` finds; `sync`
    rewrites it, and `--check` fails where it differs from what the recorded run gives."""

    path: str  # relative to the repository
    name: str  # for the report
    render: Callable[[dict], str]  # the whole block, its markers included
    replace: Callable[[str, str], str]  # the file's text with its block replaced (ValueError: markers not found once)
    sections: tuple[str, ...] = SECTIONS  # what it reads: a run that measured none of them leaves the block as it is


def sync(results: dict, figures: list[Figure], repo: Path = REPO, write: bool = True,
         blocks: tuple[Block, ...] = ()) -> Report:
    """Rewrite every figure's numbers, and every generated block, from `results`; with write=False only report
    what would change."""
    report = Report([], [], [])
    texts: dict[str, str] = {}
    for b in blocks:
        text = texts.setdefault(b.path, (repo / b.path).read_text())
        if not all(k in results for k in b.sections):  # a section the block reads was not measured
            report.skipped.append(f"{b.path}: {b.name}")
            continue
        try:
            new = b.replace(text, b.render(results))
        except Exception as e:  # noqa: BLE001 - a measured section the block cannot read: say so, keep the old one
            report.problems.append(f"{b.path}: {b.name}: {type(e).__name__}: {e}")
            continue
        if new != text:
            report.changed.append(f"{b.path}: {b.name} rewritten")
            texts[b.path] = new
    for f in figures:
        text = texts.setdefault(f.path, (repo / f.path).read_text())
        rx = regex(f.pattern)
        hits = list(rx.finditer(text))
        if len(hits) != 1:
            report.problems.append(f"{f.path}: the pattern matches {len(hits)} times, not once: {f.pattern!r}")
            continue
        try:
            new = f.values(results)
            holds = f.claim(results) if f.claim else True
        except (KeyError, TypeError, IndexError) as e:
            if _unmeasured(e, results):  # the section this figure reads was not measured
                report.skipped.append(f"{f.path}: {f.pattern!r}")
            else:  # measured, but without what the figure reads (an arm that failed): the sentence is unchecked
                report.problems.append(f"{f.path}: {type(e).__name__}: {e}: {f.pattern!r}")
            continue
        except FigureFailed as e:
            report.problems.append(f"{f.path}: {e}: {f.pattern!r}")
            continue
        hit = hits[0]
        if len(new) != rx.groups:  # e.g. a sentence written for two seeds, read from a run of three: rewrite it
            report.problems.append(f"{f.path}: {f.pattern!r} has {rx.groups} slots but the run gives {len(new)} "
                                   "values")
            continue
        old = list(hit.groups())
        if old != new:
            report.changed.append(f"{f.path}: {' / '.join(old)} -> {' / '.join(new)} in {f.pattern!r}")
            out, last = [], hit.start()
            for i, value in enumerate(new, start=1):
                out += [text[last:hit.start(i)], value]
                last = hit.end(i)
            texts[f.path] = text[:hit.start()] + "".join(out) + text[last:]
        if not holds:
            report.problems.append(f"{f.path}: no longer true, rewrite the sentence ({f.why}): {f.pattern!r}")
    if write:
        for path, text in texts.items():
            target = repo / path
            if target.read_text() != text:
                tmp = target.with_suffix(target.suffix + ".tmp")
                tmp.write_text(text)
                tmp.replace(target)
    return report


def extract(results: dict) -> dict:
    """The part of bench.run's results that the figures read (the whole file is 300 kB of per-arm detail)."""
    out: dict = {k: results[k] for k in ("measured_at", "commit") if k in results}
    stamps = {k: dict(v) for k, v in results.get("section_measured", {}).items() if k in SECTIONS}
    cpu = results.get("machine", {}).get("CPU")
    for v in stamps.values():  # the figures are one machine's (bench/machines.py): each section names its CPU
        if "cpu" not in v and cpu and v.get("at") == results.get("measured_at"):  # stamped before sections named it
            v["cpu"] = cpu
    if stamps:
        out["section_measured"] = stamps  # when each section was measured, which a partial run's header is not
    arms = results.get("planted", {}).get("arms", {})
    kept = {}
    for name in ("default", "trimmed_mean", "raw_scale", "spearman_mask"):
        res = arms.get(name, {}).get("result")
        if res:
            kept[name] = {"mask": arms[name].get("mask"), "result": {"corpus": res["corpus"], "oracle": res.get("oracle"),
                                     "teacher_all": res.get("teacher_all"),
                                     "methods": {m: v for m, v in res["methods"].items()
                                                 if m in ("mira", "mira_source", "single_rubric", "random",
                                                          "perfect", "perfect_group", TEACHER_ALL)}}}
    if "planted" in results:  # measured, even where every arm failed: its figures are then problems, not skips
        out["planted"] = {"arms": kept, "seconds": results["planted"].get("seconds")}
        if results["planted"].get("seeds"):
            out["planted"]["seeds"] = results["planted"]["seeds"]
    if "quality" in results.get("pipeline", {}):
        out["pipeline"] = {"quality": results["pipeline"]["quality"]}
    if "arms" in results.get("ablations", {}):
        out["ablations"] = {k: results["ablations"][k] for k in ("arms", "retention", "oracle", "replicates")
                            if k in results["ablations"]}
    return out


def record(results: dict, path: Path = RECORD) -> dict:
    """Write the extract atomically, beside the docs it backs, and return it. A section the results lack (a partial
    run in a checkout without bench/.work's saved results) keeps its earlier figures from `path`: the docs are to be
    synced from what this returns, which `--check` reads back, not from `results`."""
    new = extract(results)
    if path.exists():
        old = json.loads(path.read_text())
        # a section this run measured replaces the old one wholly, even where it yields no figures
        carried = {k: v for k, v in old.items() if k in SECTIONS and k not in results}
        new |= carried
        stamps = {k: v for k, v in old.get("section_measured", {}).items() if k in carried}
        if stamps:
            new["section_measured"] = {**new.get("section_measured", {}), **stamps}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return json.loads(path.read_text())  # as --check will read it (sorted keys, JSON types)


def record_and_sync(results: dict, path: Path = RECORD, repo: Path = REPO) -> Report:
    """What bench.run does after a run: record the extract, then rewrite the docs from the recorded extract, which
    holds the sections this run did not measure too (synced from `results` alone, a partial run in a fresh clone
    skipped the blocks that read both the planted and the pipeline sections, and left them stale)."""
    return sync(record(results, path), FIGURES, repo=repo, blocks=BLOCKS)


# ---------------------------------------------------------------- reading results.json
def _arm(r: dict) -> dict:
    return r["planted"]["arms"]["default"]["result"]


def _method(r: dict, name: str) -> dict:
    return _arm(r)["methods"][name]


def _planted_arm(r: dict, arm: str) -> dict:
    """MIRA's figures in one arm of the planted benchmark's main seed (`bench.planted.ARMS`)."""
    return r["planted"]["arms"][arm]["result"]["methods"]["mira"]


def _teacher_removal(r: dict) -> float:
    """On every record: the share of the teacher's scores' removal of broken tokens that MIRA's students keep."""
    return removal_kept(_method(r, "mira")["broken_kept"], _method(r, TEACHER_ALL)["broken_kept"])


def _spam(r: dict) -> dict:
    """The spam records MIRA and the teacher's scores of every record keep (both, MIRA only, the teacher's only)."""
    return _arm(r)["teacher_all"].get("spam", {"both": 0, "mira_only": 0, "teacher_only": 0, "records": 0})


def _overlap(r: dict, kind: str) -> dict:
    """The records of a planted kind that MIRA and the teacher's scores of every record keep at the main seed (both,
    MIRA only, the teacher's only, of how many records); all 0 where neither keeps one (`record_overlap` leaves such
    a kind out, so its record count is not recorded)."""
    return _arm(r)["teacher_all"].get(kind, {"both": 0, "mira_only": 0, "teacher_only": 0, "records": 0})


def _kept_records(r: dict, kind: str) -> int:
    """How many records of a planted kind MIRA keeps at the main seed (both with the teacher's scores, or alone)."""
    k = _overlap(r, kind)
    return k["both"] + k["mira_only"]


def _kind(r: dict, method: str, kind: str) -> float:
    """The share of a planted kind's tokens a method keeps at the main seed (0 for a kind no record has)."""
    return _method(r, method)["by_kind"].get(kind) or 0.0


def _q(r: dict) -> dict:
    return r["pipeline"]["quality"]


def _students(r: dict, key: str) -> list[float]:
    return [_q(r)["students"][g][key] for g in sorted(_q(r)["students"])]


def _loss(r: dict, arm: str) -> dict:
    return r["ablations"]["arms"][arm]


def _pooled_arms(r: dict, drop_widest: bool) -> dict:
    arms = r["ablations"]["arms"]
    return {a: v for a, v in arms.items() if not (drop_widest and a == widest(arms))}


def _pooled_rel(r: dict, a: str, b: str, drop_widest: bool = False) -> str:
    """How ablation arm a stands to arm b with one sd pooled over every arm's seeds, or over all but the widest
    arm's (BENCHMARKS section 8)."""
    from mira_core.config import EvaluateParams

    arms = _pooled_arms(r, drop_widest)
    if a == b or a not in arms or b not in arms:
        raise FigureFailed(f"no pooled relation of {a} to {b}")
    pairs = within_noise(arms, EvaluateParams().noise_sigmas, sd=pooled(arms)[0])
    if [a, b] in pairs or [b, a] in pairs:
        return "within"
    return "lower" if arms[a]["loss_mean"] < arms[b]["loss_mean"] else "higher"


def _other_run(commit: str) -> dict:
    """The other run measured at `commit` (bench/machines.py names it)."""
    runs = [o for o in machines.load_others() if commit in machines.run_name(o)]
    if len(runs) != 1:
        raise FigureFailed(f"{len(runs)} other runs measured at {commit}, not one")
    return runs[0]


def _other_loss(commit: str, arm: str) -> float:
    """An arm's mean held-out loss in the ablations of the other run measured at `commit`."""
    return _other_run(commit)["ablations"]["arms"][arm]["loss_mean"]


def _run_says(commit: str, *arms: str) -> list[str]:
    """MIRA's verdict against each arm on the other run measured at `commit`."""
    return [machines.verdict(_other_run(commit), a) for a in arms]


def _mira_above(r: dict, beyond: tuple[str, ...]) -> bool:
    """The pipeline run's MIRA above each arm named, beyond the noise."""
    ev = _q(r)["evaluate"]
    return all(relation(ev["mira"], a) == "higher" for a in beyond)


def _records(r: dict) -> int:
    """The demo corpus's records in a run, as the whole-corpus teacher oracle scored them all."""
    return r["ablations"]["oracle"]["teacher"]["records"]


def _moved(r: dict, commit: str, arm: str) -> bool:
    """Whether an arm's held-out loss differs between this run and the run at `commit` beyond the noise (the rule of
    BENCHMARKS section 8, each run's seeds read as one arm's)."""
    from mira_core.config import EvaluateParams

    both = {"now": _loss(r, arm), "then": _other_run(commit)["ablations"]["arms"][arm]}
    return not within_noise(both, EvaluateParams().noise_sigmas)


# MIRA's ablation arms on the demo but the raw scale, in the order the docs name them
ABLATIONS_BUT_RAW = ("mira_trimmed_mean", "mira_no_mask", "mira_source", "mira_pooled_unshared", "mira_spearman_mask")


def _same_loss_as(r: dict, commit: str, arms: tuple[str, ...], decimals: int = 4) -> bool:
    """Whether each of `arms` gave the same held-out loss, to `decimals`, in run r's ablations (this run's or another
    run's) as in the run at `commit` (two CPUs' sums differ in the fifth decimal: bench/NOTES.md, session 44)."""
    return all(round(_other_loss(commit, a), decimals) == round(_loss(r, a)["loss_mean"], decimals) for a in arms)


def _rel(r: dict, a: str, b: str) -> str:
    """How ablation arm a stands to arm b in the ablation run (BENCHMARKS section 8)."""
    return relation(_loss(r, a), b)


def _replicates(r: dict) -> dict:
    """MIRA's selection replicates in the ablation run (bench/replicates.py)."""
    reps = r["ablations"]["replicates"]
    if not reps.get("pooled"):
        raise FigureFailed("the ablation run made no selection replicates, or one of their arms failed")
    return reps


def _selection_means(r: dict) -> list[float]:
    """MIRA's mean loss per selection in the ablation run, the default selection's first."""
    return _replicates(r)["pooled"]["selection_means"]


def _worst_first(means: list[float]) -> bool:
    """Whether the first of a run's selection means (the default selection's) is the one highest loss."""
    return means[0] == max(means) and means.count(means[0]) == 1


def _middle_first(means: list[float]) -> bool:
    """Whether the first of a run's selection means (the default selection's) is neither the best nor the worst."""
    return 0 < sorted(means).index(means[0]) < len(means) - 1


def _best_first(means: list[float]) -> bool:
    """Whether the first of a run's selection means (the default selection's) is the one lowest loss."""
    return means[0] == min(means) and means.count(means[0]) == 1


def _retention(r: dict, arm: str, source: str) -> float:
    return r["ablations"]["retention"][arm][source]


def p1(x: float) -> str:
    return f"{100 * x:.1f}"


def p0(x: float) -> str:
    return f"{100 * x:.0f}"


def f2(x: float) -> str:
    return f"{x:.2f}"


def f3(x: float) -> str:
    return f"{x:.3f}"


def _wins(r: dict, i: int) -> dict[str, int]:
    """Anchors won per student kind in the i-th group (sorted by name) of the demo's `auto` students."""
    students = _q(r)["students"]
    return students[sorted(students)[i]]["wins"]


def _strict_most(wins: dict[str, int]) -> str | None:
    """The kind that wins strictly the most anchors, None on a tie for the most."""
    top = sorted(wins.values())
    if not top:
        return None
    return max(wins, key=wins.get) if len(top) < 2 or top[-1] > top[-2] else None


def _share_gap(r: dict, ref: str, method: str = "mira") -> float:
    """The largest gap, in points, between `method`'s and `ref`'s share of the kept tokens, over the sources."""
    from mira_core.planted import share_gap

    methods = _arm(r)["methods"]
    return abs(share_gap({**methods, "mira": methods[method]}, ref)[1])


def _every_source_fewer_broken(r: dict) -> bool:
    """The done-when at the main seed, by the rule the seeds table reads (mira_core.planted.over_single)."""
    shares = {n: {src: v["broken_kept"] for src, v in _method(r, n)["by_source"].items()}
              for n in ("mira", "single_rubric")}
    return not over_single(shares["mira"], shares["single_rubric"])


def _other_seeds() -> tuple[str, ...]:
    from bench.planted import OTHER_SEEDS

    return tuple(str(s) for s in OTHER_SEEDS)


OTHER = _other_seeds()  # the planted seeds beside the main run's 0


def _unmeasured(e: Exception, results: dict) -> bool:
    """Whether a figure failed to read `results` because a whole section is missing (a run of other sections), not
    because a measured section lacks what it reads (an arm or seed that failed)."""
    missing = [s for s in SECTIONS if s not in results]
    # a TypeError or IndexError (a None where a figure was) names no section: a problem, never a skip
    return isinstance(e, KeyError) and bool(e.args) and e.args[0] in missing


class FigureFailed(Exception):
    """A figure's run failed: `sync` reports it as a problem (not a skip), so the sentence is not left as it was."""


def _seed(r: dict, seed: str) -> dict:
    row = r["planted"]["seeds"][seed]
    if "failed" in row:
        raise FigureFailed(f"planted seed {seed} failed: {row['failed'][:300]}")
    return row


def _all_seeds(r: dict) -> list[str]:
    return list(r["planted"]["seeds"])  # the main run's seed first, then OTHER


def _cover_mean(r: dict, arm: str) -> float:
    """The mean over the seeds of the broken share the `cover` arm (or the default, random labels) keeps."""
    rows = [_seed(r, s) for s in _all_seeds(r)]
    return sum((x["arms"]["cover"] if arm == "cover" else x["mira"])["broken_kept"] for x in rows) / len(rows)


def _arm_mean(r: dict, arm: str) -> float:
    """The mean over the seeds of the broken share an arm of the seeds table keeps."""
    rows = [_seed(r, s) for s in _all_seeds(r)]
    return sum(x["arms"][arm]["broken_kept"] for x in rows) / len(rows)


def _bar_met(r: dict, arm: str) -> int:
    """On how many planted corpora an arm keeps no kind the teacher scores low (the default's `low_kinds`)
    above 20 %."""
    rows = [_seed(r, s) for s in _all_seeds(r)]
    return sum(all(x["arms"][arm]["by_kind"].get(k, 0.0) <= 0.2 for k in x["low_kinds"]) for x in rows)


def _cover_vs_random(r: dict) -> bool:
    """The covering label sample keeps fewer broken tokens than random labels on average over the seeds, though not
    without seed 1 (it keeps more at seed 0), and meets the 20 % bar on fewer corpora."""
    main, one = _all_seeds(r)[0], OTHER[0]

    def kept(s: str, arm: str) -> float:
        return (_seed(r, s)["arms"]["cover"] if arm == "cover" else _seed(r, s)["mira"])["broken_kept"]

    rest = [s for s in _all_seeds(r) if s != one]
    return (_cover_mean(r, "cover") < _cover_mean(r, "random") and kept(one, "cover") < kept(one, "random")
            and kept(main, "cover") > kept(main, "random")
            and sum(kept(s, "cover") for s in rest) >= sum(kept(s, "random") for s in rest)
            and _bar_met(r, "cover") < _default_bar_met(r))


def _other_seed(commit: str, seed: str) -> dict:
    """One planted seed's row in the other run measured at `commit`."""
    return _other_run(commit)["planted"]["seeds"][seed]


def _seed_kept(r: dict, seed: str, who: str, kind: str) -> float:
    """The share of a planted kind's tokens that MIRA ("mira") or the teacher's scores of every record ("teacher")
    keep at a seed (0 for a kind no record has)."""
    return _seed(r, seed)["by_kind"][who].get(kind) or 0.0


def _seed_over_single(row: dict) -> list[str]:
    """One seed's row: the sources where MIRA keeps broken tokens and not fewer than `single_rubric`."""
    shares = row["broken_by_source"]
    return over_single(shares["mira"], shares["single_rubric"])


def _default_bar_met(r: dict) -> int:
    """On how many planted corpora MIRA at the defaults keeps no kind the teacher scores low above 20 %."""
    return sum(not _seed(r, s)["low_over"] for s in _all_seeds(r))


def _over_bar(r: dict, arm: str | None, every_kind: bool = False) -> list[tuple[str, str]]:
    """(seed, kind) for each kind an arm of the seeds table (None: the default, MIRA) keeps above 20 %: of the
    kinds the teacher scores low at that seed (the default's `low_kinds`), or of every defect kind."""
    out = []
    for s in _all_seeds(r):
        row = _seed(r, s)
        kept = row["by_kind"]["mira"] if arm is None else row["arms"][arm]["by_kind"]
        kinds = [k for k in kept if k != "good"] if every_kind else row["low_kinds"]
        out += [(s, k) for k in sorted(kinds) if (kept.get(k) or 0.0) > 0.2]
    return out


def _ranked_low(r: dict) -> list[str]:
    """The kinds the teacher scores low at the main seed that MIRA keeps any of, most kept first, while each keeps
    strictly more than the next (a tie ends the list: no kind is "then" another it ties with)."""
    kept = _method(r, "mira")["by_kind"]
    shares = sorted(((kept.get(k) or 0.0, k) for k in _seed(r, _all_seeds(r)[0])["low_kinds"]), reverse=True)
    out = []
    for i, (v, k) in enumerate(shares):
        if v <= 0 or (i + 1 < len(shares) and shares[i + 1][0] == v):
            break
        out.append(k)
    return out


def _on(r: dict) -> dict:
    return _q(r)["mask"]


# ---------------------------------------------------------------- the figures
README = "README.md"
SELECTION = "docs/selection.md"
STUDENTS = "docs/students.md"
EVALUATION = "docs/evaluation.md"

FIGURES: list[Figure] = [
    # README: what it does here, measured
    Figure(README, "MIRA keeps {} % of the broken tokens and {} % of the good ones",
           lambda r: [p1(_method(r, "mira")["broken_kept"]), p1(_method(r, "mira")["good_kept"])]),
    Figure(README, "`single_rubric` keeps {} % and {} %, `random` {} % and {} %",
           lambda r: [p1(_method(r, "single_rubric")["broken_kept"]), p1(_method(r, "single_rubric")["good_kept"]),
                      p1(_method(r, "random")["broken_kept"]), p1(_method(r, "random")["good_kept"])]),
    Figure(README, "and the perfect selector 0 % and {} % (whole records, each source its share; no selection of "
                   "half the tokens can keep more than {} % of the good ones here, as {} % of the tokens are broken)",
           lambda r: [p1(_method(r, "perfect")["good_kept"]), p1(_arm(r)["corpus"]["good_bound"]),
                      p1(_arm(r)["corpus"]["broken_token_share"])]),
    Figure(README, "MIRA keeps fewer broken tokens than `single_rubric` in every source, each source's share within "
                   "{} points of the group-level perfect selector's",
           lambda r: [targets.at_most(_share_gap(r, 'perfect_group'))], _every_source_fewer_broken,
           "fewer broken tokens than single_rubric in every source"),
    Figure(EVALUATION, "MIRA keeps fewer broken tokens than `single_rubric` in every source on seed 2, and on seed 1 in "
                       "every source\n  but the docs, where it keeps slightly more, through the spam pages (below): {} % "
                       "against {} % (seed 2: {} %\n  against {} %; the run at aae3963 kept fewer in every source on "
                       "both).",
           lambda r: [p1(_seed(r, s)["broken_by_source"][m]["docs"]) for s in OTHER for m in ("mira", "single_rubric")],
           lambda r: (_seed_over_single(_seed(r, OTHER[0])) == ["docs"] and _seed_over_single(_seed(r, OTHER[1])) == []
                      and 0 < (_seed(r, OTHER[0])["broken_by_source"]["mira"]["docs"]
                               - _seed(r, OTHER[0])["broken_by_source"]["single_rubric"]["docs"]) <= 0.01
                      and max(KINDS["docs"], key=lambda k: _seed_kept(r, OTHER[0], "mira", k)) == "spam"
                      and all(not _seed_over_single(_other_seed("aae3963", s)) for s in OTHER)),
           "MIRA keeps fewer broken tokens than single_rubric in every source at seed 2, and at seed 1 in every source "
           "but the docs, where it keeps at most a point more, spam the docs' kind it keeps most of; the run at "
           "aae3963 fewer in every source at both"),
    Figure(EVALUATION, "In the traces it keeps {} % and {} %,\n  against `single_rubric`'s {} % and {} %: no broken "
                       "tool-call JSON survives on either seed (the run at\n  aae3963 kept {} % and {} % of that kind's "
                       "tokens), and the teacher's own scores keep none either.",
           lambda r: [p1(_seed(r, s)["broken_by_source"][m]["traces"]) for m in ("mira", "single_rubric") for s in OTHER]
           + [p1(_other_seed("aae3963", s)["by_kind"]["mira"]["broken_tool_json"]) for s in OTHER],
           lambda r: all(_seed(r, s)["broken_by_source"]["mira"]["traces"]
                         < _seed(r, s)["broken_by_source"]["single_rubric"]["traces"]
                         and _seed_kept(r, s, "mira", "broken_tool_json") == 0
                         == _seed_kept(r, s, "teacher", "broken_tool_json")
                         and _other_seed("aae3963", s)["by_kind"]["mira"]["broken_tool_json"] > 0 for s in OTHER),
           "MIRA keeps fewer of the traces' broken tokens than single_rubric at seeds 1 and 2, and neither it nor the "
           "teacher's scores any broken tool-call JSON; the run at aae3963 kept some at both"),
    Figure(EVALUATION, "MIRA keeps {} %, {} % and {} % of the garbled docs on the three corpora, and the teacher's own "
                       "scores\n  of every record none (MIRA at bd7e0d9: {} %, {} % and {} %).",
           lambda r: [p1(_seed(r, s)["by_kind"]["mira"]["garbled"]) for s in _all_seeds(r)]
           + [p1(_other_seed("bd7e0d9", s)["by_kind"]["mira"]["garbled"]) for s in _all_seeds(r)],
           lambda r: all(_seed(r, s)["by_kind"][m]["garbled"] == 0 for s in _all_seeds(r) for m in ("mira", "teacher")),
           "neither MIRA nor the teacher's scores of every record keep any garbled doc, on any seed"),
    Figure(EVALUATION, "What MIRA keeps of the docs' broken pages now is spam and truncated\n  ones, and on seeds 1 and 2 "
                       "some boilerplate ({} % and {} %).",
           lambda r: [p1(_seed_kept(r, s, "mira", "boilerplate")) for s in OTHER],
           lambda r: (all(_seed_kept(r, s, "mira", "garbled") == 0 for s in _all_seeds(r))
                      and all(_seed_kept(r, s, "mira", k) > 0 for s in _all_seeds(r) for k in ("spam", "truncated"))
                      and [s for s in _all_seeds(r) if _seed_kept(r, s, "mira", "boilerplate") > 0] == list(OTHER)),
           "of the docs' defects MIRA keeps spam and truncated pages on every seed, boilerplate at seeds 1 and 2 only, "
           "and no garbled page"),
    Figure(README, "(the `balanced` arm) keep about as many broken tokens, {} % on average over the three corpora "
                   "against the default's {} %, and keep every kind the teacher scores low under the bar on {} of them, "
                   "the default on {};",
           lambda r: [p1(_arm_mean(r, "balanced")), p1(_cover_mean(r, "random")), str(_bar_met(r, "balanced")),
                      str(_default_bar_met(r))],
           lambda r: abs(_arm_mean(r, "balanced") - _cover_mean(r, "random")) < 0.005,
           "the balanced arm keeps about as many broken tokens as the default on average (within half a point)"),
    Figure(README, "On seed 1 MIRA keeps three kinds the\n  teacher scores low above 20 %: spam pages at {} % (the rules "
                   "teacher's own scores of every record {} %),\n  wrong answers at {} % ({} %) and truncated pages at {} % "
                   "({} %, though its cut of the labeled records\n  keeps at most 20 %), so the bar is missed there and "
                   "met on seeds 0 and 2. Outside that set it keeps more than\n  20 % only of the spam on seed 0 ({} %, "
                   "the teacher's own scores {} %;",
           lambda r: [p1(_seed_kept(r, OTHER[0], m, k)) for k in ("spam", "wrong_answer", "truncated")
                      for m in ("mira", "teacher")]
           + [p1(_seed_kept(r, _all_seeds(r)[0], m, "spam")) for m in ("mira", "teacher")],
           lambda r: (_over_bar(r, None) == [(OTHER[0], k) for k in ("spam", "truncated", "wrong_answer")]
                      and [x for x in _over_bar(r, None, every_kind=True) if x not in _over_bar(r, None)]
                      == [(_all_seeds(r)[0], "spam")]
                      and _seed_kept(r, OTHER[0], "teacher", "truncated") > 0.2),
           "of the kinds the teacher scores low, MIRA keeps more than 20 % of the spam, the wrong answers and the "
           "truncated docs at seed 1 (those in the set by the teacher's labeled cut alone) and of none at seeds 0 and "
           "2; of the other kinds, more than 20 % only of the spam at seed 0"),
    Figure(README, "A covering label sample keeps fewer broken tokens on average, through seed 1 alone, but keeps every "
                   "kind the teacher scores low under the bar on fewer corpora",
           lambda r: [], lambda r: _cover_vs_random(r),
           "the covering sample keeps fewer broken tokens than random labels on average, through seed 1 alone (more at "
           "seed 0), and meets the bar on fewer corpora"),
    Figure(README, "Garbled pages, which MIRA kept most of on every seed in the run at bd7e0d9, it keeps\n  none of now",
           lambda r: [],
           lambda r: (all(_seed(r, s)["by_kind"]["mira"]["garbled"] == 0 for s in _all_seeds(r))
                      and all(_other_seed("bd7e0d9", s)["by_kind"]["mira"]["garbled"] > 0.5 for s in _all_seeds(r))),
           "MIRA keeps no garbled doc on any seed, where the run at bd7e0d9 kept more than half of them on each"),
    Figure(EVALUATION, "(`label.cover_share: 0.5`) keeps {} %, {} % and {} % of the broken tokens on the three corpora, "
                   "against random labels' {} %, {} % and {} %: {} % against {} % on average, fewer through seed 1 alone "
                   "(on seed 0 it keeps more), and it keeps\n  every kind the teacher scores low under the bar on {} of the "
                   "three, random labels on {}, so the default stays random",
           lambda r: [p1(_seed(r, s)["arms"]["cover"]["broken_kept"]) for s in _all_seeds(r)]
           + [p1(_seed(r, s)["mira"]["broken_kept"]) for s in _all_seeds(r)]
           + [p1(_cover_mean(r, "cover")), p1(_cover_mean(r, "random")), str(_bar_met(r, "cover")),
              str(_default_bar_met(r))],
           lambda r: _cover_vs_random(r),
           "the covering sample keeps fewer broken tokens than random labels on average, through seed 1 alone (more at "
           "seed 0), and meets the bar on fewer corpora"),
    Figure(EVALUATION, "(`distill.trees.balance: 0.5`, the `balanced` arm) keeps {} %, {} % and {} % of the broken tokens, "
                   "about as many as the default ({} % against {} % on\n  average), and on the second corpus {} % of the "
                   "wrong answers, {} % of the spam and {} % of the truncated\n  docs, over the bar: under it on {} of the "
                   "three",
           lambda r: [p1(_seed(r, s)["arms"]["balanced"]["broken_kept"]) for s in _all_seeds(r)]
           + [p1(_arm_mean(r, "balanced")), p1(_cover_mean(r, "random"))]
           + [p1(_seed(r, OTHER[0])["arms"]["balanced"]["by_kind"].get(k) or 0.0)
              for k in ("wrong_answer", "spam", "truncated")]
           + [str(_bar_met(r, "balanced"))],
           lambda r: (abs(_arm_mean(r, "balanced") - _cover_mean(r, "random")) < 0.005
                      and _over_bar(r, "balanced") == [(OTHER[0], k) for k in ("spam", "truncated", "wrong_answer")]),
           "the balanced arm keeps about as many broken tokens as the default on average (within half a point), and "
           "of the kinds the teacher scores low the wrong answers, the spam and the truncated docs over the bar at seed "
           "1, none at seeds 0 and 2"),
    Figure(EVALUATION, "The same weights in every student (the `balanced_all` arm) keep {} %, {} % and {} % of the broken "
                   "tokens and truncated docs at {} % and {} %: no kind the teacher scores low above 20 % on {} of the "
                   "three corpora (the `balanced` arm on {}, the default on {})",
           lambda r: [p1(_seed(r, s)["arms"]["balanced_all"]["broken_kept"]) for s in _all_seeds(r)]
           + [p1(_seed(r, s)["arms"]["balanced_all"]["by_kind"]["truncated"]) for s in OTHER]
           + [str(_bar_met(r, "balanced_all")), str(_bar_met(r, "balanced")),
              str(sum(not _seed(r, s)["low_over"] for s in _all_seeds(r)))]),
    Figure(README, "(the `teacher_scores` arm, the whole-corpus teacher oracle) keeps {} % of the spam: of the {} "
                   "pages MIRA keeps, the teacher's own anchors pass {}, and the students let {} through",
           lambda r: [p1(_method(r, TEACHER_ALL)["by_kind"]["spam"]), str(_spam(r)["both"] + _spam(r)["mira_only"]),
                      str(_spam(r)["both"]), str(_spam(r)["mira_only"])]),
    Figure(README, "the students' cut removes about as many broken tokens as the teacher's scores do, though not the "
                   "same ones ({} %; those keep {} % of the broken tokens and {} % of the good)",
           lambda r: [p0(_teacher_removal(r)), p1(_method(r, TEACHER_ALL)["broken_kept"]),
                      p1(_method(r, TEACHER_ALL)["good_kept"])],
           lambda r: 0.95 <= _teacher_removal(r) <= 1.05,
           "over all kinds the students keep 95-105 % of the teacher's removal"),
    Figure(README, "**No defect kind the teacher scores low survives above 20 % on this corpus** (the most kept is "
                   "truncated pages, {} %; spam pages, at {} %, {} of {}, are outside that set here).",
           lambda r: [p1(_kind(r, "mira", "truncated")), p1(_kind(r, "mira", "spam")),
                      str(_spam(r)["both"] + _spam(r)["mira_only"]), str(_spam(r)["records"])],
           lambda r: (not teacher_low_kept(_arm(r)) and _ranked_low(r)[:1] == ["truncated"]
                      and "spam" not in _seed(r, _all_seeds(r)[0])["low_kinds"]),
           "no kind the teacher scores low is kept above 20 % at the main seed, the truncated docs the most, and spam "
           "not one of those kinds there"),
    Figure(README, "on the labeled records alone, {} %, and on the val records, which the students were not fitted on, "
                   "{} %.",
           lambda r: [p0(_arm(r)["oracle"]["broken_removal_kept"]), p0(_arm(r)["oracle"]["val"]["broken_removal_kept"])],
           lambda r: _arm(r)["oracle"]["broken_removal_kept"] >= 0.9,
           "the students keep 90 % of the teacher's removal on the labeled records (the done-when)"),
    Figure(README, "median val Somers' D against the teacher is {} / {} / {} per group",
           lambda r: [f2(x) for x in _students(r, "median_somers_d")]),
    Figure(README, "their Spearman {} / {} / {} against ceilings of {} / {} / {}",
           lambda r: [f2(x) for x in _students(r, "median_spearman") + _students(r, "median_spearman_ceiling")]),
    Figure(README, "the Spearman spans {}-{} / {}-{} / {}-{}.",
           lambda r: [f2(x) for lo_hi in _students(r, "median_spearman_interval") for x in lo_hi]),
    Figure(README, "The mask keeps {} of the {} (source, anchor) pairs of the sources a selection may keep.",
           lambda r: [str(_on(r)["on"]), str(_on(r)["pairs"])]),
    Figure(README, "MIRA's half reaches a held-out loss of {} ± {}, `random` {} ± {}, the full corpus {} ± {}:\n  "
                   "above `random` by {} and above the full corpus by {}, both beyond the noise.",
           lambda r: [f3(_q(r)["evaluate"][a][k]) for a in ("mira", "random", "full") for k in ("loss_mean", "loss_std")]
           + [f3(abs(_q(r)["evaluate"]["mira"]["loss_mean"] - _q(r)["evaluate"][a]["loss_mean"]))
              for a in ("random", "full")],
           lambda r: _mira_above(r, ("random", "full")), "mira above random and full beyond the noise"),
    Figure(README, "MIRA's three\n  seeds gave {}, {} and {}.",
           lambda r: [f3(x["loss"]) for x in _loss(r, "mira")["seeds"]]),
    Figure(README, "With one sd pooled over every\n  arm's seeds ({}) its verdicts against `random`, `full` and the "
                   "teacher's own scores are the same: above\n  `random` and `full` beyond the noise, within the noise of the "
                   "teacher's own scores",
           lambda r: [f"{pooled(_pooled_arms(r, False))[0]:.4f}"],
           lambda r: (all(_pooled_rel(r, "mira", a) == _rel(r, "mira", a) == "higher" for a in ("random", "full"))
                      and _pooled_rel(r, "mira", TEACHER_ALL) == _rel(r, "mira", TEACHER_ALL) == "within"),
           "pooled: mira above random and full beyond the noise and within the noise of teacher_scores, as by the "
           "rule"),
    Figure(README, "(the replicates' kept tokens overlap the default\n  selection's with a Jaccard index of {} and {}), "
                   "MIRA's means are {}, {} and {}, {} ± {} with\n  the selections as its draws: above `random` (a gap of {} "
                   "against a bar of {}) and above `full` (a gap\n  of {} against a bar of {}), both beyond the noise. The "
                   "default selection is the best of the three.",
           lambda r: [f2(x["kept_token_overlap_with_default"]) for x in _replicates(r)["replicates"].values()]
           + [f3(m) for m in targets.selection_means(_replicates(r)["pooled"])]
           + [f3(_replicates(r)["pooled"][k]) for k in ("loss_mean", "loss_std")]
           + [f"{_replicates(r)['pooled']['bars'][a][k]:.4f}" for a in ("random", "full") for k in ("gap", "bar")],
           lambda r: (relation(_replicates(r)["pooled"], "random") == relation(_replicates(r)["pooled"], "full")
                      == "higher" and _best_first(_selection_means(r))),
           "mira over its selections above random and full beyond the noise; the default selection the best of three"),
    Figure(README, "The teacher's own scores of every\n  record in place of the students' (the `teacher_scores` arm, the "
                   "whole-corpus oracle) give {}, **within the\n  noise of MIRA**: in this run the proxy sees no loss on "
                   "the way to the students.",
           lambda r: [f3(_loss(r, TEACHER_ALL)["loss_mean"])],
           lambda r: _rel(r, TEACHER_ALL, "mira") == "within", "the whole-corpus teacher oracle within the noise of mira"),
    Figure(README, "its demo corpus is the same {} records as the run before's, at aae3963,",
           lambda r: [f"{_records(r):,}"], lambda r: _records(r) == _records(_other_run("aae3963")),
           "this run's demo corpus has as many records as aae3963's"),
    Figure(README, "`random` and `full`, which read no\n  score, moved from {} and {} to {} and {}.",
           lambda r: [f3(_other_loss("aae3963", a)) for a in ("random", "full")]
           + [f3(_loss(r, a)["loss_mean"]) for a in ("random", "full")],
           lambda r: all(_moved(r, "aae3963", a) for a in ("random", "full")),
           "random's and full's losses differ from aae3963's beyond the noise"),
    Figure(README, "Compare arms within a run: at aae3963 (the table below) MIRA was below `random` beyond the noise "
                   "and within the noise of `full`; here it is above both beyond the noise, over its three selections "
                   "too",
           lambda r: [],
           lambda r: (_run_says("aae3963", "random", "full") == ["below, beyond the noise", "within the noise"]
                      and _rel(r, "mira", "random") == _rel(r, "mira", "full") == "higher"
                      and relation(_replicates(r)["pooled"], "random") == relation(_replicates(r)["pooled"], "full")
                      == "higher"),
           "at aae3963 mira below random beyond the noise and within the noise of full; here above both beyond the "
           "noise, over its selections too"),
    Figure(README, "The raw scale ({}) is lowest of all, below `full` beyond\n  the noise, by ranking the code by its "
                   "docstrings, which moves tokens to the standard library (it keeps {} % of the\n  standard library's "
                   "tokens, MIRA {} %)",
           lambda r: [f3(_loss(r, "mira_raw_scale")["loss_mean"]), p0(_retention(r, "mira_raw_scale", "stdlib_code")),
                      p0(_retention(r, "mira", "stdlib_code"))],
           lambda r: (min(r["ablations"]["arms"], key=lambda a: _loss(r, a)["loss_mean"]) == "mira_raw_scale"
                      and _rel(r, "mira_raw_scale", "full") == "lower"
                      and _retention(r, "mira_raw_scale", "stdlib_code") > _retention(r, "mira", "stdlib_code")),
           "the raw scale lowest, below full beyond the noise, keeping more of the standard library than mira"),
    Figure(README, "The one-score baseline `single_rubric` ({}), which reads the statistics too, is below MIRA beyond "
                   "the noise and within the noise of `full`; it keeps none of the docs and {} % of the test files' "
                   "tokens, where MIRA keeps {} % and {} %.",
           lambda r: [f3(_loss(r, "single_rubric")["loss_mean"]), p0(_retention(r, "single_rubric", "test_files")),
                      p0(_retention(r, "mira", "docs")), p0(_retention(r, "mira", "test_files"))],
           lambda r: (_rel(r, "single_rubric", "mira") == "lower" and _rel(r, "single_rubric", "full") == "within"
                      and _retention(r, "single_rubric", "docs") == 0),
           "single_rubric below mira beyond the noise and within the noise of full, keeping no docs"),
    Figure(README, "`pooled_unshared` ({}) is below MIRA beyond the noise, as the raw scale is, and the paper's mask "
                   "statistic (Spearman, {}), mask off ({}), the per-source cut ({}) and the paper's trimmed mean ({}) "
                   "are within the noise of MIRA",
           lambda r: [f3(_loss(r, a)["loss_mean"]) for a in ("mira_pooled_unshared", "mira_spearman_mask", "mira_no_mask",
                                                             "mira_source", "mira_trimmed_mean")],
           lambda r: (_rel(r, "mira_pooled_unshared", "mira") == _rel(r, "mira_raw_scale", "mira") == "lower"
                      and all(_rel(r, a, "mira") == "within"
                              for a in ("mira_spearman_mask", "mira_no_mask", "mira_source", "mira_trimmed_mean"))),
           "pooled_unshared and the raw scale below mira beyond the noise; the spearman mask, mask off, the per-source "
           "cut and the trimmed mean within"),
    Figure(README, "On the AMD run at 429d89b (the table below) MIRA trailed\n  `full` and the teacher's own scores beyond "
                   "the noise, and on the Intel run at 6f96d9a (before dedup's LSH\n  fix and the proxy's containment "
                   "check) it was within the noise of both and of `single_rubric`: those verdicts\n  move",
           lambda r: [],
           lambda r: (_run_says("429d89b", "full", "teacher_scores") == ["above, beyond the noise"] * 2
                      and _run_says("6f96d9a", "full", "teacher_scores", "single_rubric") == ["within the noise"] * 3),
           "the AMD run at 429d89b: mira above full and teacher_scores beyond the noise; the Intel run: within those "
           "and single_rubric"),
    # docs/selection.md: the worst-anchor blend, the unshared rule, the demo's retention
    Figure(SELECTION, "broken tokens kept fall from {} % (`trimmed_mean` arm) to {} % and good tokens kept rise from "
                      "{} % to {} %.",
           lambda r: [p1(_planted_arm(r, "trimmed_mean")["broken_kept"]),
                      p1(_method(r, "mira")["broken_kept"]),
                      p1(_planted_arm(r, "trimmed_mean")["good_kept"]),
                      p1(_method(r, "mira")["good_kept"])],
           lambda r: (_planted_arm(r, "trimmed_mean")["broken_kept"]
                      > _method(r, "mira")["broken_kept"]
                      and _planted_arm(r, "trimmed_mean")["good_kept"]
                      < _method(r, "mira")["good_kept"]),
           "the blend keeps fewer broken and more good tokens than the trimmed mean"),
    Figure(SELECTION, "Pooled, docs kept {} % of its tokens from the group's half and the test files {} %; with its "
                      "own share docs keeps {} % and the test files {} %",
           lambda r: [p0(_retention(r, "mira_pooled_unshared", "docs")),
                      p0(_retention(r, "mira_pooled_unshared", "test_files")),
                      p0(_retention(r, "mira", "docs")), p0(_retention(r, "mira", "test_files"))]),
    Figure(SELECTION, "the C headers {} % and the agent traces {} % of their tokens",
           lambda r: [p0(_q(r)["retention"]["c_headers"]), p0(_q(r)["retention"]["doctest_traces"])]),
    Figure(SELECTION, "docs {} %, the standard library {} %, shell scripts {} %, test files {} % and third-party "
                      "modules {} %. {} of the {} (group, source, anchor) pairs pass the mask. {} of the {} pairs "
                      "off are pairs where the teacher gave",
           lambda r: [p0(_q(r)["retention"][s]) for s in ("docs", "stdlib_code", "shell_scripts", "test_files",
                                                         "site_packages_code")]
           + [str(_on(r)["on"]), str(_on(r)["pairs"]), str(_on(r)["teacher_constant"]),
              str(_on(r)["pairs"] - _on(r)["on"])]),
    Figure(SELECTION, "the {} pairs where the teacher varies, {} ({} %) pass.",
           lambda r: [str(_on(r)["pairs"] - _on(r)["teacher_constant"]), str(_on(r)["on"]),
                      p0(_on(r)["on"] / (_on(r)["pairs"] - _on(r)["teacher_constant"]))]),
    Figure(SELECTION, "rank as the teacher's own with Spearman {} ({} on val alone), and the students keep {} % of "
                      "what the",
           lambda r: [f2(_q(r)["oracle"]["all"]["spearman"]), f2(_q(r)["oracle"]["all"]["val_spearman"]),
                      p0(_q(r)["oracle"]["all"]["teacher_kept_share_kept_by_student"])]),
    Figure(SELECTION, "The group's median Spearman is {} against a median ceiling of {}; its median Somers' D is {}.",
           lambda r: [f2(_students(r, k)[2]) for k in ("median_spearman", "median_spearman_ceiling",
                                                       "median_somers_d")]),
    Figure(SELECTION, "mask keeps {} of {} pairs with Somers' D and {} with Spearman (pairs of the sources a",
           lambda r: [str(_on(r)["on"]), str(_on(r)["pairs"]), str(_on(r)["on_if"]["spearman"])]),
    Figure(SELECTION, "Spearman turns on {} of the {} pairs where Somers' D turns on {} in this run,\nand both keep {} % "
                      "of the broken tokens ({} % and {} % of the good).",
           lambda r: [str(r["planted"]["arms"]["spearman_mask"]["mask"]["on"]),
                      str(r["planted"]["arms"]["spearman_mask"]["mask"]["pairs"]),
                      str(r["planted"]["arms"]["default"]["mask"]["on"]), p1(_method(r, "mira")["broken_kept"]),
                      p1(_planted_arm(r, "spearman_mask")["good_kept"]),
                      p1(_method(r, "mira")["good_kept"])],
           lambda r: (_planted_arm(r, "spearman_mask")["broken_kept"]
                      == _method(r, "mira")["broken_kept"]),
           "the two masks keep the same share of broken tokens on the planted benchmark"),
    Figure(SELECTION, "the `spearman_mask` arm's held-out loss is {}, within the noise of MIRA's {} (section 8, one run "
                      "of three seeds per arm; below it beyond the noise in the runs at aae3963",
           lambda r: [f3(_loss(r, "mira_spearman_mask")["loss_mean"]), f3(_loss(r, "mira")["loss_mean"])],
           lambda r: (_rel(r, "mira_spearman_mask", "mira") == "within"
                      and _run_says("aae3963", "mira_spearman_mask") == ["above, beyond the noise"]),
           "spearman mask within the noise of mira; at aae3963 below mira beyond the noise"),
    Figure(SELECTION, "but within it in the runs\nat bd7e0d9, 2013ce6 and a230b99,", lambda r: [],
           lambda r: all(_run_says(c, "mira_spearman_mask") == ["within the noise"]
                         for c in ("bd7e0d9", "2013ce6", "a230b99")),
           "the runs at bd7e0d9, 2013ce6 and a230b99: the spearman mask within the noise of mira"),
    # docs/students.md: fidelity on the demo
    Figure(STUDENTS, "the students' median val Spearman against the teacher is {} (C headers), {} (the Python, docs, "
                     "shell and QA group) and {} (the agent traces), against medians of the Spearman ceiling of {}, "
                     "{} and {}; their median Somers' D is {}, {} and {}, and their mean val MAE {}, {} and {} against "
                     "the constant predictor's {}, {} and {}",
           lambda r: [f2(x) for key in ("median_spearman", "median_spearman_ceiling", "median_somers_d", "mean_mae",
                                        "const_mae") for x in _students(r, key)]),
    Figure(STUDENTS, "The trees win the most anchors of the first two groups ({} of {}, and {} of {}; in the\nsecond "
                     "the `linear` student wins {} and the stacked blend {}); no kind wins everywhere.",
           lambda r: [str(x) for x in (_wins(r, 0)["trees"], sum(_wins(r, 0).values()), _wins(r, 1)["trees"],
                                       sum(_wins(r, 1).values()), _wins(r, 1)["linear"], _wins(r, 1)["blend"])],
           lambda r: (_strict_most(_wins(r, 0)) == "trees" and _strict_most(_wins(r, 1)) == "trees"
                      and {k for k, v in _wins(r, 1).items() if v} == {"blend", "linear", "trees"}
                      and all(max(_wins(r, g).values()) < sum(_wins(r, g).values()) for g in (0, 1, 2))),
           "the trees win strictly the most of g0's and of g1's anchors (the linear student and the blend the only "
           "others in g1); no kind wins every anchor of a group"),
    Figure(STUDENTS, "so the traces' median Spearman of {} misses the fidelity issue's 0.7",
           lambda r: [f2(_students(r, "median_spearman")[2])], lambda r: _students(r, "median_spearman")[2] < 0.7,
           "the traces miss 0.7"),
    Figure(STUDENTS, "The C headers' {} is under its ceiling of {} too (Somers' D {})",
           lambda r: [f2(_students(r, "median_spearman")[0]), f2(_students(r, "median_spearman_ceiling")[0]),
                      f2(_students(r, "median_somers_d")[0])],
           lambda r: _students(r, "median_spearman")[0] < min(0.7, _students(r, "median_spearman_ceiling")[0]),
           "the C headers miss 0.7 and sit under their ceiling"),
    Figure(STUDENTS, "the three medians span {}-{}, {}-{} and {}-{}",
           lambda r: [f2(x) for lo_hi in _students(r, "median_spearman_interval") for x in lo_hi],
           lambda r: _students(r, "median_spearman_interval")[0][1] >= 0.7, "the C headers' interval reaches 0.7"),
    # docs/evaluation.md: the planted-defect benchmark
    Figure(EVALUATION, "MIRA keeps {} % of the broken tokens and {} % of the good ones; `single_rubric` {} % and {} %, "
                       "`random` {} % and {} %, the perfect selector 0 % and {} % (whole records,",
           lambda r: [p1(_method(r, m)[k]) for m in ("mira", "single_rubric", "random")
                      for k in ("broken_kept", "good_kept")] + [p1(_method(r, "perfect")["good_kept"])]),
    Figure(EVALUATION, "No selection can keep more than {} % of the good tokens at a budget of 0.5 when {} % of the "
                       "tokens are broken,",
           lambda r: [p1(_arm(r)["corpus"]["good_bound"]), p1(_arm(r)["corpus"]["broken_token_share"])],
           lambda r: _arm(r)["corpus"]["good_bound"] < 0.75, "the 75 % target is out of reach"),
    Figure(EVALUATION, "MIRA keeps {} % of what the perfect selector keeps.",
           lambda r: [p0(_method(r, "mira")["good_kept"] / _method(r, "perfect")["good_kept"])],
           lambda r: _method(r, "mira")["good_kept"] < 0.75, "the 75 % target is missed"),
    Figure(EVALUATION, "the teacher's own cut keeps {} % of the broken tokens and the students' cut {} %, which is {} % "
                       "of the teacher's removal; on the {} val records alone, which the students were not fitted on, "
                       "{} %.",
           lambda r: [p1(_arm(r)["oracle"]["teacher"]["broken_kept"]), p1(_arm(r)["oracle"]["student"]["broken_kept"]),
                      p0(_arm(r)["oracle"]["broken_removal_kept"]), str(_arm(r)["oracle"]["val"]["records"]),
                      p0(_arm(r)["oracle"]["val"]["broken_removal_kept"])]),
    Figure(EVALUATION, "every record keeps {} % of the spam, the {} pages MIRA keeps and {} more: in this run the students "
                       "let no\n  page through that the teacher's scores drop.",
           lambda r: [p1(_method(r, TEACHER_ALL)["by_kind"]["spam"]), str(_spam(r)["both"] + _spam(r)["mira_only"]),
                      str(_spam(r)["teacher_only"])],
           lambda r: _spam(r)["both"] > 0 and _spam(r)["mira_only"] == 0 and _spam(r)["teacher_only"] > 0,
           "the teacher's scores keep every spam page MIRA keeps, and more"),
    Figure(EVALUATION, "(truncated pages: {} %, {} of the {}; then broken\n  tool-call JSON at {} %, {} of the {}; spam "
                       "pages, at {} %, are outside that set here).",
           lambda r: [p1(_kind(r, "mira", "truncated")), str(_kept_records(r, "truncated")),
                      str(_overlap(r, "truncated")["records"]), p1(_kind(r, "mira", "broken_tool_json")),
                      str(_kept_records(r, "broken_tool_json")), str(_overlap(r, "broken_tool_json")["records"]),
                      p1(_kind(r, "mira", "spam"))],
           lambda r: (_ranked_low(r)[:2] == ["truncated", "broken_tool_json"]
                      and "spam" not in _seed(r, _all_seeds(r)[0])["low_kinds"]),
           "of the kinds the teacher scores low, MIRA keeps most of the truncated docs, then of the broken tool-call "
           "JSON; spam is not one of those kinds at the main seed"),
    Figure(EVALUATION, "(under {} minutes on 2 cores)", lambda r: [str(math.ceil(r["planted"]["seconds"] / 60))]),
    Figure(EVALUATION, "Those keep {} % of the broken tokens and {} % of the good; MIRA's students keep {} % of that "
                       "removal on every record. They keep as many of the truncated docs ({} % against {} %), fewer of the "
                       "spam ({} % against\n  {} %), and, as the teacher's scores do, none of the boilerplate, the garbled "
                       "docs, the syntax errors, the wrong\n  answers and the echoed answers; they keep one trace with "
                       "broken tool-call JSON the teacher's scores drop ({} %\n  against {} %)",
           lambda r: [p1(_method(r, TEACHER_ALL)["broken_kept"]), p1(_method(r, TEACHER_ALL)["good_kept"]),
                      p0(_teacher_removal(r))]
           + [p1(_kind(r, m, k)) for k in ("truncated", "spam", "broken_tool_json") for m in ("mira", TEACHER_ALL)],
           lambda r: (_overlap(r, "broken_tool_json")["mira_only"] == 1 and _overlap(r, "broken_tool_json")["both"] == 0
                      and _kind(r, TEACHER_ALL, "broken_tool_json") == 0
                      and abs(_kind(r, "mira", "truncated") - _kind(r, TEACHER_ALL, "truncated")) < 0.0005
                      and _kind(r, "mira", "spam") < _kind(r, TEACHER_ALL, "spam")
                      and all(_kind(r, m, k) == 0 for m in ("mira", TEACHER_ALL)
                              for k in ("boilerplate", "garbled", "syntax_error", "wrong_answer", "echoed_answer"))),
           "MIRA keeps as many truncated docs as the teacher's scores and fewer spam, neither keeps a boilerplate page, "
           "a garbled doc, a syntax error, a wrong answer or an echoed answer, and MIRA keeps one trace with broken "
           "tool-call JSON the teacher's scores drop"),
    Figure(EVALUATION, "MIRA keeps fewer broken tokens than `single_rubric` in every source: code {} % against {} %, docs "
                       "{} % against\n  {} %, QA {} % against {} %, traces {} % against {} %.",
           lambda r: [p1(_method(r, m)["by_source"][s]["broken_kept"]) for s in ("code", "docs", "qa", "traces")
                      for m in ("mira", "single_rubric")],
           lambda r: all(_method(r, "mira")["by_source"][s]["broken_kept"]
                         < _method(r, "single_rubric")["by_source"][s]["broken_kept"]
                         for s in ("code", "docs", "qa", "traces")),
           "MIRA keeps fewer broken tokens than single_rubric in each of the four sources"),
    Figure(EVALUATION, "cut rightly gives QA {} % of the kept tokens against its {} % of the corpus. MIRA's shares are\n"
                       "  within {} points of `perfect_group`'s for every source (QA {} %) and within {} points of "
                       "`perfect`'s",
           lambda r: [p1(_method(r, "perfect_group")["by_source"]["qa"]["kept_share"]),
                      p1(_method(r, "mira")["by_source"]["qa"]["corpus_share"]),
                      targets.at_most(_share_gap(r, 'perfect_group')), p1(_method(r, "mira")["by_source"]["qa"]["kept_share"]),
                      targets.at_most(_share_gap(r, 'perfect'))],
           lambda r: (_method(r, "perfect_group")["by_source"]["qa"]["kept_share"]
                      > _method(r, "mira")["by_source"]["qa"]["corpus_share"]),
           "the group-level perfect cut gives QA more than its corpus share"),
    Figure(EVALUATION, "`mira_source` (a cut per source) keeps\n  every corpus share within {} point and keeps {} % of the "
                       "broken tokens and {} % of the good.",
           lambda r: [targets.at_most(_share_gap(r, "perfect", "mira_source")),
                      p1(_method(r, "mira_source")["broken_kept"]), p1(_method(r, "mira_source")["good_kept"])]),
    Figure(EVALUATION, "MIRA keeps as much of the truncated docs as the teacher's own scores of every record do ({} % "
                       "and\n  {} %): that is the rules teacher's judgment. Garbled docs are kept by neither ({} % and {} %;",
           lambda r: [p0(_kind(r, m, k)) for k in ("truncated", "garbled") for m in ("mira", TEACHER_ALL)],
           lambda r: (abs(_kind(r, TEACHER_ALL, "truncated") - _kind(r, "mira", "truncated")) < 0.005
                      and all(_kind(r, m, "garbled") == 0 for m in ("mira", TEACHER_ALL))),
           "MIRA keeps as much of the truncated docs as the teacher's own scores (within half a point); garbled ones "
           "neither"),
    Figure(EVALUATION, "(`trimmed_mean` arm), keeps {} % of the broken\n  tokens and {} % of the good. It keeps {} % of "
                       "the boilerplate pages' tokens",
           lambda r: [p1(_planted_arm(r, "trimmed_mean")[k])
                      for k in ("broken_kept", "good_kept")]
           + [p0(_planted_arm(r, "trimmed_mean")["by_kind"]["boilerplate"])],
           lambda r: _planted_arm(r, "trimmed_mean")["by_kind"]["boilerplate"] > _method(r, "mira")["by_kind"]["boilerplate"],
           "the trimmed mean keeps more of the boilerplate than mira"),
    Figure(EVALUATION, "The trimmed\n  mean also keeps {} % of the garbled docs, which MIRA and the teacher's own scores drop",
           lambda r: [p1(_planted_arm(r, "trimmed_mean")["by_kind"]["garbled"])],
           lambda r: (_planted_arm(r, "trimmed_mean")["by_kind"]["garbled"] > 0.2
                      and all(_method(r, m)["by_kind"]["garbled"] == 0 for m in ("mira", TEACHER_ALL))),
           "the trimmed mean keeps over 20 % of the garbled docs, mira and the teacher's own scores none"),
    Figure(EVALUATION, "at seed 0, {} near-duplicates ({}\n  tokens; good records that are near-copies in the installation "
                       "itself), so the seed-0 corpus counted holds\n  {} tokens, {} % of them broken",
           lambda r: [str(_arm(r)["corpus"]["excluded"]["dropped_records"]),
                      f"{_arm(r)['corpus']['excluded']['dropped_tokens']:,}", f"{_arm(r)['corpus']['tokens']:,}",
                      p1(_arm(r)["corpus"]["broken_token_share"])]),
    Figure(EVALUATION, "keeps none of the boilerplate and {} % of the wrong answers.",
           lambda r: [p1(_method(r, "mira")["by_kind"]["wrong_answer"])],
           lambda r: (_method(r, "mira")["by_kind"]["boilerplate"] == 0
                      < _planted_arm(r, "trimmed_mean")["by_kind"]["boilerplate"]
                      and _method(r, "mira")["by_kind"]["wrong_answer"]
                      < _planted_arm(r, "trimmed_mean")["by_kind"]["wrong_answer"]),
           "mira keeps no boilerplate and fewer wrong answers than the trimmed mean"),
    Figure(EVALUATION, "({} % in this one), and here it gives QA {} % of\n  the kept tokens.",
           lambda r: [p1(_planted_arm(r, "trimmed_mean")["by_kind"]["wrong_answer"]),
                      p1(_planted_arm(r, "trimmed_mean")["by_source"]["qa"]
                         ["kept_share"])]),
    # the seeds' kinds over the bar and the two masks, stated by hand until session 32: now synced and claimed
    Figure(EVALUATION, "Seeds 0 and 2\n  have no kind the teacher scores low over the 20 % bar; **seed 1 has three**: "
                       "spam pages at {} % and wrong\n  answers at {} %, of which the teacher's own scores of every record "
                       "keep {} % and {} %, and truncated docs at\n  {} % (those scores {} %, but its cut of the labeled "
                       "records at most 20 %). The first two are the students'\n  loss.",
           lambda r: [p1(_seed_kept(r, OTHER[0], "mira", k)) for k in ("spam", "wrong_answer")]
           + [p1(_seed_kept(r, OTHER[0], "teacher", k)) for k in ("spam", "wrong_answer")]
           + [p1(_seed_kept(r, OTHER[0], m, "truncated")) for m in ("mira", "teacher")],
           lambda r: ([s for s in _all_seeds(r) if not _seed(r, s)["low_over"]] == [_all_seeds(r)[0], OTHER[1]]
                      and sorted(_seed(r, OTHER[0])["low_over"]) == ["spam", "truncated", "wrong_answer"]
                      and all(_seed_kept(r, OTHER[0], "teacher", k) <= 0.2 for k in ("spam", "wrong_answer"))
                      and _seed_kept(r, OTHER[0], "teacher", "truncated") > 0.2),
           "no kind the teacher scores low over the bar at seeds 0 and 2; at seed 1 the spam, the wrong answers and "
           "the truncated docs, the first two kept at most 20 % by the teacher's scores of every record, the third "
           "more (in the set by its labeled cut)"),
    Figure(EVALUATION, "MIRA keeps {} %, {} % and {} % of the wrong answers, which the teacher's own\n  scores drop on "
                       "every seed (the run at bd7e0d9 kept {} % on seed 1, just under the bar;",
           lambda r: [p1(_seed(r, s)["by_kind"]["mira"]["wrong_answer"]) for s in _all_seeds(r)]
           + [p1(_other_seed("bd7e0d9", OTHER[0])["by_kind"]["mira"]["wrong_answer"])],
           lambda r: (all(_seed(r, s)["by_kind"]["teacher"]["wrong_answer"] == 0 for s in _all_seeds(r))
                      and 0.15 < _other_seed("bd7e0d9", OTHER[0])["by_kind"]["mira"]["wrong_answer"] <= 0.2),
           "the teacher's own scores of every record keep no wrong answer on any seed (and the run at bd7e0d9 kept "
           "15-20 % at seed 1)"),
    Figure(EVALUATION, "At the defaults the bar is met on seeds 0 and 2 and missed on seed 1", lambda r: [],
           lambda r: (len(_all_seeds(r)) == 3
                      and [s for s in _all_seeds(r) if not _seed(r, s)["low_over"]] == [_all_seeds(r)[0], OTHER[1]]),
           "the 20 % bar met on the planted corpora of seeds 0 and 2, missed on seed 1's"),
    Figure(EVALUATION, "The mask reads Somers' D ({} of the {} pairs on); on Spearman, the paper's (`spearman_mask` "
                       "arm), {}\n  are on too, and the selection keeps the same share of the broken tokens ({} %; {} % of "
                       "the good against\n  {} %).",
           lambda r: [str(r["planted"]["arms"]["default"]["mask"]["on"]),
                      str(r["planted"]["arms"]["default"]["mask"]["pairs"]),
                      str(r["planted"]["arms"]["spearman_mask"]["mask"]["on"]), p1(_method(r, "mira")["broken_kept"]),
                      p1(_planted_arm(r, "spearman_mask")["good_kept"]),
                      p1(_method(r, "mira")["good_kept"])],
           lambda r: (r["planted"]["arms"]["spearman_mask"]["mask"]["on"] == r["planted"]["arms"]["default"]["mask"]["on"]
                      and _planted_arm(r, "spearman_mask")["broken_kept"]
                      == _method(r, "mira")["broken_kept"]),
           "the Spearman mask turns on as many pairs on the planted benchmark and keeps the same share of broken tokens"),
    Figure(EVALUATION, "MIRA keeps none of them above 20 % on this corpus**", lambda r: [],
           lambda r: not teacher_low_kept(_arm(r)),
           "no kind the teacher scores low is kept above 20 % at the main seed"),
    # docs/evaluation.md: the proxy evaluation per arm
    Figure(EVALUATION, "On the demo that leaves out {} training records,",
           lambda r: [f"{_q(r)['holding_target']:,}"], lambda r: _q(r)["holding_target"] > 0,
           "the containment check leaves some training records out on the demo"),
    *[Figure(EVALUATION, f"| `{a}` | 245,760 | {{}} ± {{}} | {note} |",
             lambda r, a=a: [f3(_q(r)["evaluate"][a][k]) for k in ("loss_mean", "loss_std")],
             lambda r, a=a, note=note: _q(r)["evaluate"][a]["note"] == note, f"the note of {a} reads: {note}")
      for a, note in (("mira", "higher loss than random, full (beyond noise)"),
                      ("random", "lower loss than mira, full (beyond noise)"),
                      ("full", "lower loss than mira (beyond noise); higher loss than random (beyond noise)"))],
    Figure(EVALUATION, "its mean is above `full`'s and `random`'s, both beyond the noise (at aae3963, below `random`'s "
                       "beyond the noise and within the noise of `full`'s; on the AMD run at 429d89b, above `full`'s "
                       "beyond the noise)",
           lambda r: [],
           lambda r: (_mira_above(r, ("random", "full"))
                      and _run_says("aae3963", "random", "full") == ["below, beyond the noise", "within the noise"]
                      and _run_says("429d89b", "full") == ["above, beyond the noise"]),
           "mira above random and full beyond the noise; at aae3963 below random beyond the noise and within the noise "
           "of full; at 429d89b above full beyond"),
    Figure(EVALUATION, "MIRA's half trains worse than a random half and than the full corpus, both beyond the noise: "
                       "MIRA's mean is {} above `random`'s and {} above the full corpus's, so the fidelity issue's "
                       "\"at or below `random` and `full`\" is missed in this run.",
           lambda r: [f3(abs(_q(r)["evaluate"]["mira"]["loss_mean"] - _q(r)["evaluate"][a]["loss_mean"]))
                      for a in ("random", "full")],
           lambda r: _mira_above(r, ("random", "full")), "mira above random and full beyond the noise"),
    Figure(EVALUATION, "The run before this one, at aae3963, had MIRA below `random` beyond the noise and within the "
                       "noise of `full`.",
           lambda r: [],
           lambda r: _run_says("aae3963", "random", "full") == ["below, beyond the noise", "within the noise"],
           "the run at aae3963: mira below random beyond the noise and within the noise of full"),
    Figure(EVALUATION, "the demo corpus is the same ({} records),",
           lambda r: [f"{_records(r):,}"], lambda r: _records(r) == _records(_other_run("aae3963")),
           "this run's demo corpus has as many records as aae3963's"),
    Figure(EVALUATION, "`random` and `full`, which read no score, moved from {} and {} to {} and {}. The rules teacher's",
           lambda r: [f3(_other_loss("aae3963", a)) for a in ("random", "full")]
           + [f3(_loss(r, a)["loss_mean"]) for a in ("random", "full")],
           lambda r: all(_moved(r, "aae3963", a) for a in ("random", "full")),
           "random's and full's losses differ from aae3963's beyond the noise"),
    Figure(EVALUATION, "5.566, 5.539, 5.564, {}, {}, {} and {}, at or below `random` in twelve of them, and beyond the "
                       "noise above `full` in three",
           lambda r: [f3(_other_loss(c, "mira")) for c in ("a230b99", "2013ce6", "bd7e0d9", "aae3963")],
           lambda r: (_other_loss("a230b99", "mira") > _other_loss("a230b99", "random")
                      and _other_loss("2013ce6", "mira") < _other_loss("2013ce6", "random")
                      and _other_loss("bd7e0d9", "mira") > _other_loss("bd7e0d9", "random")
                      and _other_loss("aae3963", "mira") < _other_loss("aae3963", "random")
                      and all(_run_says(c, "full") != ["above, beyond the noise"]
                              for c in ("a230b99", "2013ce6", "bd7e0d9", "aae3963"))),
           "mira above random by the mean at a230b99 and bd7e0d9 (not of the twelve), below at 2013ce6 and aae3963 (of "
           "them); above full beyond the noise in none of the four"),
    Figure(EVALUATION, "the run at bd7e0d9 differs\nfrom the {} run at aae3963 in the rules teacher's",
           lambda r: [f3(_other_loss("aae3963", "mira"))]),
    Figure(EVALUATION, "the {} run, at a230b99,\ndiffers from the {} run at 2013ce6 only in the rules teacher's `minified` "
                       "score of {} records",
           lambda r: [f3(_other_loss("a230b99", "mira")), f3(_other_loss("2013ce6", "mira")), "10"],
           lambda r: all(_other_loss("a230b99", a) == _other_loss("2013ce6", a) for a in ("random", "full")),
           "the runs at a230b99 and 2013ce6 gave the same losses for random and full"),
    Figure(EVALUATION, "the {} run differs from the\n{} run at bd7e0d9 in its CPU",
           lambda r: [f3(_other_loss(c, "mira")) for c in ("2013ce6", "bd7e0d9")]),
    Figure(EVALUATION, "and `random` and `full` agree to four decimals;", lambda r: [],
           lambda r: _same_loss_as(_other_run("bd7e0d9"), "2013ce6", ("random", "full")),
           "the runs at 2013ce6 and bd7e0d9 gave the same random and full losses to four decimals"),
    Figure(EVALUATION, "On the AMD run at 429d89b (the README's machines table) MIRA is above `full` beyond\nthe noise",
           lambda r: [],
           lambda r: _run_says("429d89b", "full") == ["above, beyond the noise"],
           "the AMD run at 429d89b: mira above full beyond the noise"),
    *[Figure(EVALUATION, f"{lead} gives {{}} ± {{}}, {where}",
             lambda r, a=a: [f3(_loss(r, a)["loss_mean"]), f3(_loss(r, a)["loss_std"])],
             lambda r, a=a, rel=rel: _rel(r, a, "mira") == rel, f"{a} {rel} than/within mira")
      for a, lead, where, rel in (
          ("mira_no_mask", "(every anchor on)", "within the noise of `mira`.", "within"),
          ("mira_trimmed_mean", "on the same students and mask,", "within the\n  noise of `mira`.", "within"),
          ("mira_spearman_mask", "(the paper's mask statistic)", "within the noise of `mira`: the two", "within"),
          ("mira_source", "(a cut per source)", "within the noise of `mira`.", "within"))],
    Figure(EVALUATION, "gives {} ± {}, below `mira` beyond the noise and within the noise of `full`;\n  it keeps {} % "
                       "of the docs' tokens where MIRA keeps {} %.",
           lambda r: [f3(_loss(r, "mira_pooled_unshared")["loss_mean"]),
                      f3(_loss(r, "mira_pooled_unshared")["loss_std"]),
                      p0(_retention(r, "mira_pooled_unshared", "docs")), p0(_retention(r, "mira", "docs"))],
           lambda r: (_rel(r, "mira_pooled_unshared", "mira") == "lower"
                      and _rel(r, "mira_pooled_unshared", "full") == "within"),
           "pooled_unshared below mira beyond the noise and within the noise of full"),
    Figure(EVALUATION, "the one-score baseline, gives {} ± {}, below `mira` beyond the noise and within the noise of "
                       "`full`. It keeps none of the docs, {} % of the test files and {} % of the standard library, "
                       "where MIRA keeps {} %, {} % and {} %.",
           lambda r: [f3(_loss(r, "single_rubric")["loss_mean"]), f3(_loss(r, "single_rubric")["loss_std"]),
                      p0(_retention(r, "single_rubric", "test_files")),
                      p0(_retention(r, "single_rubric", "stdlib_code")),
                      *(p0(_retention(r, "mira", s)) for s in ("docs", "test_files", "stdlib_code"))],
           lambda r: (_rel(r, "single_rubric", "mira") == "lower" and _rel(r, "single_rubric", "full") == "within"
                      and _retention(r, "single_rubric", "docs") == 0),
           "single_rubric below mira beyond the noise and within the noise of full, keeping no docs"),
    Figure(EVALUATION, "the two\n  masks turn on different pairs of the demo ({} against {}).",
           lambda r: [str(_on(r)["on_if"]["somers_d"]), str(_on(r)["on_if"]["spearman"])]),
    Figure(EVALUATION, "has the lowest loss of every arm, {} ± {}, below every other arm beyond the noise. It keeps "
                       "{} % of the test files' tokens and {} % of the standard library's, where MIRA keeps {} % and {} %.",
           lambda r: [f3(_loss(r, "mira_raw_scale")["loss_mean"]), f3(_loss(r, "mira_raw_scale")["loss_std"]),
                      p0(_retention(r, "mira_raw_scale", "test_files")),
                      p0(_retention(r, "mira_raw_scale", "stdlib_code")),
                      p0(_retention(r, "mira", "test_files")), p0(_retention(r, "mira", "stdlib_code"))],
           lambda r: all(_rel(r, "mira_raw_scale", a) == "lower" for a in r["ablations"]["arms"] if a != "mira_raw_scale"),
           "raw scale below every other arm beyond the noise"),
    Figure(EVALUATION, "select run on the rules teacher's own scores of all {} records, with MIRA's mask, aggregation "
                       "and budget, so MIRA with students that agree with the teacher exactly), gives {} ± {}, within the noise"
                       "\n  of `mira` and above `full` and `random` beyond it. It keeps {} records, {} of them "
                       "kept by\n  MIRA too.",
           lambda r: [f"{r['ablations']['oracle']['teacher']['records']:,}",
                      f3(_loss(r, TEACHER_ALL)["loss_mean"]), f3(_loss(r, TEACHER_ALL)["loss_std"]),
                      f"{r['ablations']['oracle']['kept_records']:,}", f"{r['ablations']['oracle']['kept_by_both']:,}"],
           lambda r: (_rel(r, TEACHER_ALL, "mira") == "within"
                      and all(_rel(r, TEACHER_ALL, a) == "higher" for a in ("full", "random"))),
           "the whole-corpus teacher oracle within the noise of mira, above full and random beyond it"),
    Figure(EVALUATION, "samples and draws of the students' folds overlaps the default selection's kept tokens with a "
                       "Jaccard index of\n  {} and {} and gives {} and {}; with the three selections as MIRA's draws, "
                       "{} ± {}, above\n  `random` and `full` beyond the noise (a gap of {} against a bar of {} to "
                       "`full`). The\n  default selection is the best of the three.",
           lambda r: [f2(x["kept_token_overlap_with_default"]) for x in _replicates(r)["replicates"].values()]
           + [f3(m) for m in targets.selection_means(_replicates(r)["pooled"])[1:]]
           + [f3(_replicates(r)["pooled"][k]) for k in ("loss_mean", "loss_std")]
           + [f"{_replicates(r)['pooled']['bars']['full'][k]:.4f}" for k in ("gap", "bar")],
           lambda r: (relation(_replicates(r)["pooled"], "random") == relation(_replicates(r)["pooled"], "full")
                      == "higher" and _best_first(_selection_means(r))),
           "mira over its selections above random and full beyond the noise; the default selection the best"),
    Figure(EVALUATION, "So in this run five arms train better than MIRA beyond the noise, the raw scale, "
                       "`pooled_unshared`, `single_rubric`, `random` and `full`, and none worse; every other arm is within "
                       "its noise: mask off, the paper's mask statistic, the per-source cut, the paper's trimmed mean and "
                       "the teacher's own scores of every record.",
           lambda r: [],
           lambda r: all(_rel(r, a, "mira") == ("lower" if a in ("mira_raw_scale", "mira_pooled_unshared",
                                                                 "single_rubric", "random", "full") else "within")
                         for a in r["ablations"]["arms"] if a != "mira"),
           "the raw scale, pooled_unshared, single_rubric, random and full below mira beyond the noise, every other arm "
           "within"),
    Figure(EVALUATION, "MIRA's own seeds spread {} in this run, more than in the run before, at aae3963 ({}).",
           lambda r: [f3(_loss(r, "mira")["loss_std"]), f3(_other_run("aae3963")["ablations"]["arms"]["mira"]["loss_std"])],
           lambda r: _loss(r, "mira")["loss_std"] > _other_run("aae3963")["ablations"]["arms"]["mira"]["loss_std"],
           "mira's seeds spread more than in the run at aae3963"),
    Figure(EVALUATION, "The teacher's own scores\nwithin the noise of MIRA say the proxy sees no judgment lost in the "
                       "students in this run, as at aae3963.", lambda r: [],
           lambda r: _rel(r, TEACHER_ALL, "mira") == "within" and _run_says("aae3963", TEACHER_ALL) == ["within the noise"],
           "teacher_scores within the noise of mira, here and at aae3963"),
    Figure(EVALUATION, "the paper's trimmed\nmean, which drops it, is within the noise of MIRA here and at aae3963 (behind "
                       "it by the mean in both) and\nwas ahead of it beyond the noise at 2013ce6.", lambda r: [],
           lambda r: (_rel(r, "mira_trimmed_mean", "mira") == "within"
                      and _loss(r, "mira_trimmed_mean")["loss_mean"] > _loss(r, "mira")["loss_mean"]
                      and _run_says("aae3963", "mira_trimmed_mean") == ["within the noise"]
                      and _other_loss("aae3963", "mira_trimmed_mean") > _other_loss("aae3963", "mira")
                      and _run_says("2013ce6", "mira_trimmed_mean") == ["above, beyond the noise"]),
           "the trimmed mean within the noise of mira and above it by the mean, here and at aae3963; below it beyond "
           "the noise at 2013ce6"),
    Figure(EVALUATION, "on this target that pays for the raw scale", lambda r: [],
           lambda r: _rel(r, "mira_raw_scale", "mira") == "lower", "the raw scale below mira beyond the noise"),
    Figure(EVALUATION, "This run's default selection is the best of MIRA's three selections (above); at aae3963 and "
                       "bd7e0d9 it was\nthe worst, at 2013ce6 the middle one", lambda r: [],
           lambda r: (_best_first(_selection_means(r))
                      and all(_worst_first(_other_run(c)["ablations"]["replicates"]["pooled"]["selection_means"])
                              for c in ("aae3963", "bd7e0d9"))
                      and _middle_first(_other_run("2013ce6")["ablations"]["replicates"]["pooled"]["selection_means"])),
           "the default selection the best of the three here, the worst at aae3963 and bd7e0d9, the middle one at "
           "2013ce6"),
    Figure(EVALUATION, "The arm\nfurthest ahead, the raw scale, keeps more of the standard library's tokens\nthan MIRA "
                       "does, as `single_rubric` does", lambda r: [],
           lambda r: (min(r["ablations"]["arms"], key=lambda a: _loss(r, a)["loss_mean"]) == "mira_raw_scale"
                      and all(_retention(r, a, "stdlib_code") > _retention(r, "mira", "stdlib_code")
                              for a in ("mira_raw_scale", "single_rubric"))),
           "the raw scale the lowest loss; it and single_rubric keep more of the standard library than mira"),
    Figure(EVALUATION, "With one sd pooled over every arm's\nseeds ({}; [BENCHMARKS.md](../BENCHMARKS.md) section 8) every "
                       "verdict on MIRA is the same.",
           lambda r: [f"{pooled(_pooled_arms(r, False))[0]:.4f}"],
           lambda r: all(_pooled_rel(r, "mira", a) == _rel(r, "mira", a) for a in r["ablations"]["arms"] if a != "mira"),
           "pooled: every verdict on mira the rule's"),
    Figure(EVALUATION, "On the AMD\nrun at 429d89b the teacher's own half was below MIRA's and the paper's trimmed "
                       "mean above it, both beyond the\nnoise, and `single_rubric` within it; on the Intel run at 6f96d9a "
                       "all three were within it",
           lambda r: [],
           lambda r: (_run_says("429d89b", "teacher_scores", "mira_trimmed_mean", "single_rubric")
                      == ["above, beyond the noise", "below, beyond the noise", "within the noise"]
                      and _run_says("6f96d9a", "teacher_scores", "mira_trimmed_mean", "single_rubric")
                      == ["within the noise"] * 3),
           "the AMD run at 429d89b: teacher_scores below mira, the trimmed mean above, single_rubric within; the Intel "
           "run at 6f96d9a: all three within"),
    Figure(EVALUATION, "The `raw_scale` arm keeps {} % of the broken tokens against\nMIRA's {} %: {} % of the code with "
                       "syntax errors, {} % of the truncated docs and {} % of the wrong\nanswers, where MIRA keeps {} %, "
                       "{} % and {} %; of the traces with broken tool-call JSON both keep {} %.",
           lambda r: [p1(_planted_arm(r, "raw_scale")["broken_kept"]), p1(_method(r, "mira")["broken_kept"]),
                      *(p1(_planted_arm(r, "raw_scale")["by_kind"].get(k) or 0.0)
                        for k in ("syntax_error", "truncated", "wrong_answer")),
                      *(p1(_kind(r, "mira", k)) for k in ("syntax_error", "truncated", "wrong_answer")),
                      p1(_kind(r, "mira", "broken_tool_json"))],
           lambda r: (_planted_arm(r, "raw_scale")["broken_kept"] > _method(r, "mira")["broken_kept"]
                      and all((_planted_arm(r, "raw_scale")["by_kind"].get(k) or 0.0) > _kind(r, "mira", k)
                              for k in ("syntax_error", "truncated", "wrong_answer"))
                      and abs((_planted_arm(r, "raw_scale")["by_kind"].get("broken_tool_json") or 0.0)
                              - _kind(r, "mira", "broken_tool_json")) < 0.0005),
           "planted: the raw scale keeps more broken tokens than mira, more of the syntax errors, the truncated docs and "
           "the wrong answers, and as much of the broken tool-call JSON"),
    Figure(README, "on the planted benchmark the raw scale keeps {} % of the broken tokens and the paper's trimmed mean\n  "
                   "{} %, against MIRA's {} %",
           lambda r: [p1(_planted_arm(r, "raw_scale")["broken_kept"]), p1(_planted_arm(r, "trimmed_mean")["broken_kept"]),
                      p1(_method(r, "mira")["broken_kept"])],
           lambda r: min(_planted_arm(r, a)["broken_kept"] for a in ("raw_scale", "trimmed_mean"))
           > _method(r, "mira")["broken_kept"],
           "planted: the raw scale and the trimmed mean keep more broken tokens than mira"),
    Figure(EVALUATION, "On the planted-defect benchmark the same arm keeps {} %\n  of the broken tokens against MIRA's {} % "
                       "(below).",
           lambda r: [p1(_planted_arm(r, "trimmed_mean")["broken_kept"]), p1(_method(r, "mira")["broken_kept"])],
           lambda r: _planted_arm(r, "trimmed_mean")["broken_kept"] > _method(r, "mira")["broken_kept"],
           "planted: the trimmed mean keeps more broken tokens than mira"),
]


BLOCKS: tuple[Block, ...] = (
    Block(README, "the fidelity issue's targets table", targets.render, targets.replace, ("planted", "pipeline")),
    Block(README, "the machines table", lambda r: machines.render(r, machines.load_others()), machines.replace),
)


def print_report(report: Report, wrote: bool) -> None:
    verb = "rewrote" if wrote else "out of step"
    for line in report.changed:
        print(f"doc figures: {verb}: {line}")
    for line in report.skipped:
        print(f"doc figures: not in this results file, left as it is: {line}")
    for line in report.problems:
        print(f"doc figures: CHECK BY HAND: {line}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RECORD,
                    help="bench/figures.json (default) or a whole results.json of bench.run")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 where anything is out of step")
    args = ap.parse_args()
    report = sync(json.loads(args.results.read_text()), FIGURES, write=not args.check, blocks=BLOCKS)
    print_report(report, wrote=not args.check)
    if args.check and (report.changed or report.problems):
        sys.exit(1)


if __name__ == "__main__":
    main()
