"""`mira summary`: what the last run produced and where it is, from the metrics files (no model is loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _load(root: Path, stage: str) -> dict | None:
    from mira_core.io import read_json  # here, not at the top: `mira --help` should not import polars

    f = root / "metrics" / f"{stage}.json"
    return read_json(f) if f.exists() else None


def _num(x: float | None) -> str:
    return "n/a" if x is None else str(round(x, 3))


def summary_lines(root: Path) -> list[str]:
    """The summary as lines of text; stages that have not run are skipped."""
    out = [f"mira summary for {root}", ""]
    ingest = _load(root, "ingest")
    if ingest:
        t = ingest["total"]
        out.append(f"corpus      {t['kept']} records, {t['n_tokens']:,} tokens from {len(ingest['sources'])} sources "
                   f"({t['quarantined']} quarantined)          data/corpus/, data/quarantine/")
        if not t["kept"] and t["quarantined"]:
            out.append("            nothing was kept: every record read was quarantined (the reasons per source are in "
                       "metrics/ingest.json)")
    group = _load(root, "group")
    if group:
        out.append(f"groups      {len(group['groups'])} by {group['method']}: " +
                   "; ".join(f"{g}: {', '.join(s)}" for g, s in group["groups"].items()))
    disc = _load(root, "discover")
    if disc:
        out.append("rubrics     " + ", ".join(f"{g} {d['anchors']} anchors (v {d['version']})"
                                               for g, d in disc["groups"].items())
                   + f"; teacher {disc['teacher']['provider']}/{disc['teacher']['model']}   data/rubrics/")
    label = _load(root, "label")
    if label:
        t = label["teacher"]
        out.append(f"labels      {sum(g['labeled'] for g in label['groups'].values())} records; teacher "
                   f"{t.get('calls', 0)} calls, {t.get('cache_hits', 0)} cache hits"
                   + (f", ${t['cost_usd']:.4f}" if "cost_usd" in t else "") + "   data/labels/")
    students = _load(root, "students")
    if students:
        out.append("students    " + ", ".join(
            f"{g} {r['student']} (val MAE {r['mean_mae']} vs constant {r['const_mean_mae']}, median Somers' D "
            f"{_num(r.get('median_somers_d'))}, Spearman {_num(r['median_spearman'])})" for g, r in students.items())
            + "   data/students/, MLflow")
    sel = _load(root, "select")
    if sel:
        m = sel["methods"]["mira"]
        out.append(f"selection   MIRA kept {m['kept_records']} records, {m['kept_tokens']:,} of {m['selectable_tokens']:,}"
                   f" selectable tokens ({m['kept_token_share']:.1%}), {sel['granularity']} budget "
                   f"{sel['budget']}   data/selection/mira/manifest.parquet")
        out.append("            baselines at the same budget: " + ", ".join(
            f"{k} (overlap with MIRA {sel['overlap']['mira'][k]:.2f})" for k in sel["methods"] if k != "mira")
            + "   data/selection/<method>/")
        export = sel.get("materialized") or {}
        if export.get("path"):
            out.append(f"            kept records written for training ({export['format']}): {export['path']}/ "
                       f"({sum(export['records'].values())} records)")
    ev = _load(root, "evaluate")
    if ev and ev.get("arms"):
        out.append("evaluation  held-out loss: " + ", ".join(
            f"{a} {v['loss_mean']:.3f}±{v['loss_std']:.3f}" for a, v in ev["arms"].items())
            + ("; within noise: " + ", ".join(f"{a}~{b}" for a, b in ev.get("within_noise", [])) if ev.get(
                "within_noise") else ""))
    if (root / "reports" / "report.html").exists():
        out.append(f"report      {root / 'reports' / 'report.html'}")
    if len(out) == 2:
        out.append("no stage has run yet: `dvc repro` (or `mira run`) runs them")
    out += ["", "watch runs: mira ui (Prefect UI and MLflow UI on 127.0.0.1); compare runs: mira compare A B"]
    return out


def command(root: Annotated[Path, typer.Option("--root", help="Project folder.")] = Path(".")) -> None:
    """Print what the last run produced and where it is."""
    from mira_core.errors import ConfigError

    if not (root.resolve() / "params.yaml").exists():  # not a project: say so, as the other commands do
        raise ConfigError(f"{root.resolve() / 'params.yaml'}: not found (run mira from the project folder, or pass "
                          "--root)")
    for line in summary_lines(root.resolve()):
        typer.echo(line)
