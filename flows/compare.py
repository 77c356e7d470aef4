"""`mira compare A B`: two runs side by side, each a git revision, a DVC experiment or the workspace.

For every group: the rubric's anchors (added, removed, changed), the students' agreement with the
teacher; for every source: the share of tokens MIRA kept; and the overlap of the two selections.
Printed as text, and plotted to a PNG.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from flows.params import project_root
from flows.revisions import WORKSPACE, conflict_note, read_bytes, unreadable
from flows.rubrics import rubrics_at
from mira_core.errors import JSON_REFUSED, ConfigError, json_refusal
from mira_core.redact import redact_credentials
from mira_core.rubric import diff_lines, diff_rubrics

MANIFEST = "data/selection/mira/manifest.parquet"


def _json(root: Path, rev: str, path: str) -> dict:
    data = read_bytes(root, rev, path)
    if not data:
        return {}
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as e:
        raise unreadable(rev, path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
                                    + (f";{note}" if (note := conflict_note(data)) else "")) from None
    except JSON_REFUSED as e:  # not UTF-8; numbers or nesting past Python's limits
        raise unreadable(rev, path, f"not readable as JSON ({json_refusal(e)})") from None
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", bool: "true or false"}.get(type(obj), "a number or null")
        raise unreadable(rev, path, f"holds {kind}, not a JSON object")
    return obj


def _params(root: Path, rev: str) -> dict[str, object]:
    data = read_bytes(root, rev, "params.yaml")
    try:
        return _flat(yaml.safe_load(data)) if data else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise unreadable(rev, "params.yaml", f"not valid YAML ({where}{getattr(e, 'problem', None) or e})"
                                             + (f";{note}" if (note := conflict_note(data)) else "")) from None


def _flat(d: object, prefix: str = "") -> dict[str, object]:
    if isinstance(d, dict):
        out: dict[str, object] = {}
        for k, v in d.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: d}


def _redacted(v: object) -> object:
    """A params value with URL credentials as *** in every string it holds (a source list holds dicts)."""
    if isinstance(v, str):
        return redact_credentials(v)
    if isinstance(v, list):
        return [_redacted(x) for x in v]
    if isinstance(v, dict):
        return {k: _redacted(x) for k, x in v.items()}
    return v


def gather(root: Path, rev: str) -> dict:
    """Everything compare needs from one revision."""
    import polars as pl

    manifest = read_bytes(root, rev, MANIFEST)
    kept = None  # no selection at this revision: not an empty one
    if manifest:
        try:
            df = pl.read_parquet(io.BytesIO(manifest), columns=["record_id", "kept"])
        except (pl.exceptions.PolarsError, OSError) as e:  # a cut-off write, a Git LFS pointer, an old layout
            raise unreadable(rev, MANIFEST, f"not a selection manifest ({type(e).__name__}: "
                                             f"{str(e).splitlines()[0][:200]})") from None
        kept = set(df.filter(pl.col("kept"))["record_id"].to_list())
    return {"rev": rev, "params": _params(root, rev), "rubrics": rubrics_at(root, rev),
            "students": _json(root, rev, "metrics/students.json"), "select": _json(root, rev, "metrics/select.json"),
            "kept": kept}


def compare(a: dict, b: dict) -> dict:
    """The differences between two gathered runs, as plain data."""
    # compared as written, shown with URL credentials starred (as `mira params`, the report and MLflow show them):
    # the text lands in terminals and CI logs, and a key that alone changed still lists its line
    params = {k: [_redacted(a["params"].get(k)), _redacted(b["params"].get(k))]
              for k in sorted(set(a["params"]) | set(b["params"])) if a["params"].get(k) != b["params"].get(k)}
    students = {}
    for g in sorted(set(a["students"]) | set(b["students"])):
        sa, sb = a["students"].get(g, {}), b["students"].get(g, {})
        students[g] = {k: [sa.get(k), sb.get(k)] for k in ("student", "rubric_version", "mean_mae", "median_spearman",
                                                                 "median_somers_d")}
    ra = a["select"].get("methods", {}).get("mira", {}).get("by_source", {})
    rb = b["select"].get("methods", {}).get("mira", {}).get("by_source", {})
    retention = {s: [ra.get(s, {}).get("kept_token_share"), rb.get(s, {}).get("kept_token_share")]
                 for s in sorted(set(ra) | set(rb))}
    both = a["kept"] is not None and b["kept"] is not None
    union = (a["kept"] | b["kept"]) if both else set()
    return {"revs": [a["rev"], b["rev"]], "params": params, "rubrics": diff_rubrics(a["rubrics"], b["rubrics"]),
            "anchors": {g: [[x.name for x in a["rubrics"][g].anchors] if g in a["rubrics"] else [],
                            [x.name for x in b["rubrics"][g].anchors] if g in b["rubrics"] else []]
                        for g in sorted(set(a["rubrics"]) | set(b["rubrics"]))},
            "students": students, "retention": retention,
            "selection_overlap": {
                "kept_a": None if a["kept"] is None else len(a["kept"]),
                "kept_b": None if b["kept"] is None else len(b["kept"]),
                "both": len(a["kept"] & b["kept"]) if both else None,
                "jaccard": round(len(a["kept"] & b["kept"]) / len(union), 4) if union else None}}


def _fmt(v: object) -> str:
    """A metric: three decimals."""
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _param(v: object) -> str:
    """A params value as written (a learning rate of 3e-05 is not 0.000)."""
    return "-" if v is None else repr(v) if isinstance(v, float) else str(v)


def _aligned(na: list[str], nb: list[str]) -> list[tuple[str, str]]:
    """A's anchors and B's side by side, matched by name: A's order, then those only B has."""
    rows = [(x, x if x in nb else "") for x in na]
    return rows + [("", y) for y in nb if y not in na]


def format_text(c: dict) -> str:
    a, b = c["revs"]
    out = [f"mira compare  A = {a}   B = {b}", ""]
    if c["params"]:
        out.append("params that differ:")
        out += [f"  {k}: {_param(x)} -> {_param(y)}" for k, (x, y) in c["params"].items()]
        out.append("")
    for g, (na, nb) in c["anchors"].items():
        d = c["rubrics"][g]
        out.append(f"group {g}: rubric {d.get('status')}" + (f" ({d['versions'][0]} -> {d['versions'][1]})"
                                                             if "versions" in d else ""))
        if "versions" in d:  # in both: the settings that differ, then anchors added (+), removed (-), changed (~)
            out += diff_lines(d)
        width = max([len(x) for x in na] + [1])
        changed = {x["name"] for x in d.get("changed", [])}
        for x, y in _aligned(na, nb):
            mark = "+" if not x else "-" if not y else "~" if x in changed else " "
            out.append(f"  {mark} {x:<{width}}  |  {y}")
        s = c["students"].get(g)
        if s:
            out.append(f"  student {_fmt(s['student'][0])} -> {_fmt(s['student'][1])}; val MAE {_fmt(s['mean_mae'][0])}"
                       f" -> {_fmt(s['mean_mae'][1])}; median Somers' D {_fmt(s['median_somers_d'][0])} -> "
                       f"{_fmt(s['median_somers_d'][1])}; median Spearman {_fmt(s['median_spearman'][0])} -> "
                       f"{_fmt(s['median_spearman'][1])}")
        out.append("")
    out.append("MIRA kept token share per source (A -> B):")
    out += [f"  {s:<24} {_fmt(x)} -> {_fmt(y)}" for s, (x, y) in c["retention"].items()]
    o = c["selection_overlap"]
    missing = [side for side, n in (("A", o["kept_a"]), ("B", o["kept_b"])) if n is None]
    out += ["", f"selections: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} none (select has not "
                "run there)" if missing else f"selections: {o['kept_a']} kept in A, {o['kept_b']} in B, {o['both']} "
                f"in both; Jaccard {_fmt(o['jaccard'])}"]
    return "\n".join(out)


def plot(c: dict, path: Path) -> Path:
    """Retention per source and median Spearman per group, A beside B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mira_core.io import atomic_path
    from mira_core.report.plots import literal

    # labels drawn as written: a git branch or experiment may be named "x$_$y", read as mathtext that fails the plot
    a, b = map(literal, c["revs"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    srcs = list(c["retention"])
    x = np.arange(len(srcs))
    bars = [ax1.bar(x + off, [c["retention"][s][i] or 0 for s in srcs], 0.4) for i, off in enumerate((-0.2, 0.2))]
    ax1.set_xticks(x, [literal(s) for s in srcs], rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("kept token share (MIRA)")
    # handles named outright: matplotlib leaves a label that starts with '_' out of the legend (a branch "_wip")
    ax1.legend(bars, [a, b])
    groups = list(c["students"])
    x = np.arange(len(groups))
    bars = [ax2.bar(x + off, [c["students"][g]["median_spearman"][i] or 0 for g in groups], 0.4)
            for i, off in enumerate((-0.2, 0.2))]
    ax2.set_xticks(x, [literal(g) for g in groups])
    ax2.set_ylabel("median val Spearman, student vs teacher")
    ax2.legend(bars, [a, b])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def command(rev_a: Annotated[str, typer.Argument(help="Git revision, DVC experiment, or 'workspace'.")],
            rev_b: Annotated[str, typer.Argument(help="Git revision, DVC experiment, or 'workspace'.")] = WORKSPACE,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
            png: Annotated[Path | None, typer.Option("--png", help="Where to write the plot.")] = None,
            root: Annotated[Path, typer.Option("--root", help="Project folder.")] = Path(".")) -> None:
    """Compare two runs: rubric anchors per group, student metrics, retention, overlap of the selections."""
    try:
        root = project_root(root)  # outside a project every revision read as empty: "A and B have none", exit 0
        c = compare(gather(root, rev_a), gather(root, rev_b))
    except ConfigError as e:
        typer.echo(f"mira compare: {e}", err=True)
        raise typer.Exit(2) from None
    if WORKSPACE in (rev_a, rev_b):
        from flows.summary import stale_stages

        stale = stale_stages(root)
        if stale:  # the workspace's params.yaml beside outputs made with the old values
            typer.echo(f"mira compare: workspace: params.yaml changed after `dvc repro` ran {', '.join(stale)}: "
                       "its params above are the new values, its outputs the old ones (`dvc repro` first)", err=True)
    typer.echo(json.dumps(c, indent=2, default=str) if as_json else format_text(c))
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{rev_a}_vs_{rev_b}")
    path = plot(c, png or root / ".mira" / "compare" / f"{safe}.png")
    if not as_json:
        typer.echo(f"\nplot: {path}")
