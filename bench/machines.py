"""The recorded run beside other machines' runs of the benchmark: which targets and proxy verdicts hold on both.

The same code on two CPUs gives other floating-point sums, and the demo's selection moves with them (two mask
pairs crossing their threshold, 3 % of the kept records; bench/NOTES.md, sessions 25 and 26). So the README
states a proxy verdict as measured only where every recorded machine agrees. `doc_figures` writes this block
between `<!-- machines:start -->` and `<!-- machines:end -->` from bench/figures.json (this run) and the
extracts in OTHER_RUNS (committed as `bench.run` wrote them; each section's stamp names the CPU it ran on, added
by hand from that run's BENCHMARKS.md header where the extract predates the field), each judged by
bench/targets.py's own rules.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from bench import targets
from mira_core.evaluation.stats import relation

START, END = "<!-- machines:start -->", "<!-- machines:end -->"
REPO = Path(__file__).resolve().parents[1]
OTHER_RUNS = ("bench/figures-intel-6f96d9a.json", "bench/figures-amd-429d89b.json", "bench/figures-amd-a230b99.json",
              "bench/figures-amd-2013ce6.json", "bench/figures-amd-bd7e0d9.json",
              "bench/figures-amd-aae3963.json")
ARMS = ("mira", "random", "full", "teacher_scores", "single_rubric")
VERSUS = ("random", "full", "teacher_scores", "single_rubric")  # MIRA's verdicts read on every machine


@functools.cache
def load_others(repo: Path = REPO) -> tuple[dict, ...]:
    """The other runs' extracts, read once per process: the block and several doc claims read them (not to be
    changed by a caller, since every later one gets the same dicts)."""
    return tuple(json.loads((repo / p).read_text()) for p in OTHER_RUNS)


def run_name(r: dict) -> str:
    """The CPU and commit the run's sections were measured on (several, named, where a partial run mixed them)."""
    stamps = r.get("section_measured", {}).values()
    cpus = sorted({v.get("cpu", "unknown CPU") for v in stamps} or {"unknown CPU"})
    commits = sorted({v.get("commit", "?") for v in stamps} or {r.get("commit", "?")})
    return f"{' / '.join(cpus)}, {' / '.join(commits)}"


def verdict(r: dict, other: str) -> str:
    """MIRA against `other` on one run's ablation evaluation, in words ("-" where the run lacks the arm)."""
    arms = r.get("ablations", {}).get("arms", {})
    if "mira" not in arms or other not in arms:
        return "-"
    blown = [a for a in ("mira", other) if targets.diverged(arms[a]["loss_mean"])]
    if blown:  # the note names no diverged arm, which read as "one seed"
        return " and ".join(f"`{a}`" for a in blown) + " not finite (a run diverged)"
    try:
        rel = relation(arms["mira"], other)
    except KeyError:
        return targets.NO_SPREAD
    return "within the noise" if rel == "within" else f"{'below' if rel == 'lower' else 'above'}, beyond the noise"


def render(r: dict, others: tuple[dict, ...] | list[dict]) -> str:
    """The block, markers included: the targets' status on each run, the proxy losses, and which of MIRA's proxy
    verdicts every run agrees on."""
    runs = [r, *others]
    head = ["", *(f"{'this run' if i == 0 else 'another run'} ({run_name(x)})" for i, x in enumerate(runs))]
    rows = []
    statuses = [{row[0]: row[1] for row in targets._planted_rows(x) + targets._demo_rows(x)} for x in runs]
    for target in statuses[0]:  # by the target's words: a run that lacks one shows "-" there and nowhere else
        rows.append([target, *(s.get(target, "-") for s in statuses)])
    for arm in ARMS:
        cells = []
        for x in runs:
            a = x.get("ablations", {}).get("arms", {}).get(arm)
            cells.append(f"{a['loss_mean']:.3f} ± {a['loss_std']:.3f}" if a else "-")
        rows.append([f"demo proxy, held-out loss: `{arm}`", *cells])
    agree, differ = [], []
    for other in VERSUS:
        said = [verdict(x, other) for x in runs]
        if "-" in said:
            continue
        (agree if len(set(said)) == 1 else differ).append((other, said))
        rows.append([f"demo proxy: MIRA against `{other}`", *said])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    text = ("Every run agrees on MIRA against " + ", ".join(f"`{o}` ({s[0]})" for o, s in agree) if agree
            else "The runs agree on none of MIRA's proxy verdicts")
    text += (". They disagree on MIRA against " + ", ".join(f"`{o}`" for o, _ in differ)
             + ": read those as signs, not measurements." if differ else ".")
    return "\n".join([START, *lines, "", text, END])


def replace(text: str, block: str) -> str:
    """`text` with its one START..END block replaced by `block` (ValueError unless there is exactly one)."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"the machines block's markers {START} ... {END} must appear once each, in that order")
    return text[:text.index(START)] + block + text[text.index(END) + len(END):]
