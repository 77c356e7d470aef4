"""`mira summary`: what the last run produced and where it is, from the metrics files (no model is loaded)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

import typer


def _load(root: Path, stage: str) -> dict | None:
    # here, not at the top: `mira --help` should not import polars
    from mira_core.report.inputs import read_object

    f = root / "metrics" / f"{stage}.json"
    # read as the report reads it: a file with a merge conflict's markers, cut off, or not an object is a ConfigError
    # naming it and the stage to re-run, not a JSONDecodeError's traceback
    return read_object(f, root) if f.exists() else None


def _by_group(d: dict) -> list[tuple]:
    """A metrics file's per-group entries, g2 before g10."""
    from mira_core.report.markup import name_order  # here: `mira --help` should not import it

    return sorted(d.items(), key=lambda kv: name_order(kv[0]))


def _num(x: float | None) -> str:
    return "n/a" if x is None else str(round(x, 3))


def _as_is(x: float | None) -> str:
    """A figure as the stage wrote it (already rounded), n/a where it has none: a student that scored no val record
    has no MAE, which printed as "None"."""
    return "n/a" if x is None else str(x)


def _changed(old: object, new: object, prefix: str) -> list[str]:
    """Dotted keys whose values differ between two parsed params sections."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [k for key in sorted(set(old) | set(new), key=str)
                for k in _changed(old.get(key), new.get(key), f"{prefix}.{key}")]
    return [] if _same(old, new) else [prefix]


# a float as YAML 1.2 (DVC's reader) spells it; PyYAML reads YAML 1.1, where one without a dot (1e-5) is a string
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _same(a: object, b: object) -> bool:
    """Equal values, where PyYAML reads DVC's `3e-05` in dvc.lock as a string (YAML 1.1 wants a dot) and
    params.yaml's `3.0e-05` as a float: a number and a string that spells it are the same value. So are two strings
    that spell one number: params.yaml's `1e-5`, which DVC read as a float and wrote back to dvc.lock as `1e-05`."""
    if a == b:
        return True
    if isinstance(a, list) and isinstance(b, list):  # ridge_alphas: [1.0e-05, 0.1] is recorded as ['1e-05', 0.1]
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):
        return bool(_YAML12_FLOAT.fullmatch(a) and _YAML12_FLOAT.fullmatch(b)) and float(a) == float(b)
    for x, y in ((a, b), (b, a)):
        if isinstance(x, str) and isinstance(y, int | float) and not isinstance(y, bool):
            try:
                return float(x) == float(y)
            except ValueError:
                return False
    return False


def _at(params: dict, dotted: str) -> object:
    for part in dotted.split("."):
        params = params.get(part) if isinstance(params, dict) else None
    return params


def _count(x: int | None) -> str:
    return "n/a" if x is None else f"{x:,}"


def _spread(arm: dict) -> str:
    """'±sd' over an arm's seeds; one seed has none (the stage writes 0.0, which read as no spread at all), as the
    report says."""
    return " (one seed)" if len(arm.get("seeds") or []) == 1 else f"±{arm['loss_std']:.3f}"


def _loss(arm: dict) -> str:
    """An arm's mean held-out loss and spread; a loss that is not finite is a run that diverged, as the report says
    (it printed "nan±nan")."""
    mean = arm["loss_mean"]
    if isinstance(mean, float) and not math.isfinite(mean):
        return "not finite (a run diverged)"
    return f"{mean:.3f}" + _spread(arm)


def _budget(b: float) -> str:
    """select.budget as the report words it: a share of the selectable tokens (at most 1), or a token count."""
    return str(b) if b <= 1 else f"{b:,.0f} tokens"


def _jaccard(x: float | None) -> str:
    return "n/a: neither keeps a record" if x is None else f"{x:.2f}"


def _yaml_file(path: Path) -> object:
    """A YAML file's content, None where it is missing or unreadable. Read as bytes, which YAML reads as UTF-8
    whatever the locale: read as text under an ASCII one, a params.yaml with an accent in a comment was
    "unreadable" and every stale stage went unmentioned."""
    import yaml

    try:
        return yaml.safe_load(path.read_bytes())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _lock_entries(root: Path) -> dict[str, dict]:
    """dvc.lock's stage entries ({} without a readable lock)."""
    lock = _yaml_file(root / "dvc.lock")
    stages = lock.get("stages") if isinstance(lock, dict) else None
    return {k: v for k, v in (stages if isinstance(stages, dict) else {}).items() if isinstance(v, dict)}


def _locked(root: Path) -> dict[str, dict]:
    """dvc.lock's entries of the stages whose metrics file is the one `dvc repro` last wrote (the md5 it records).
    A metrics file written some other way (`mira run`, `mira stage`) is not judged: dvc.lock does not describe it."""
    import hashlib

    from mira_core.stages import BY_NAME

    out = {}
    for stage, entry in _lock_entries(root).items():
        # the stage's own metrics file: distill's is metrics/students.json, not metrics/distill.json
        rel = BY_NAME[stage].metrics_path if stage in BY_NAME else f"metrics/{stage}.json"
        metrics = root / rel
        outs = {o.get("path"): o.get("md5") for o in entry.get("outs") or [] if isinstance(o, dict)}
        if metrics.exists() and outs.get(rel) == hashlib.md5(metrics.read_bytes()).hexdigest():
            out[stage] = entry
    return out


def stale_stages(root: Path, locked: dict[str, dict] | None = None) -> dict[str, list[str]]:
    """Stages whose metrics file is the one `dvc repro` last wrote (dvc.lock's md5) but whose params in
    params.yaml have changed since: {stage: changed dotted keys}. `locked`: `_locked(root)`, when read already."""
    params = _yaml_file(root / "params.yaml")
    if params is None:
        return {}  # no params to compare against: their errors surface elsewhere
    out: dict[str, list[str]] = {}
    for stage, entry in (_locked(root) if locked is None else locked).items():
        recorded = (entry.get("params") or {}).get("params.yaml") or {}
        # a key is a section (`select`) or a dotted path into one (`select.held_out_sources`), as dvc.yaml names it
        changed = [k for key, value in recorded.items() for k in _changed(value, _at(params, key), key)]
        if changed:
            out[stage] = changed
    return out


def dvc_older(root: Path) -> dict[str, list[str]]:
    """mira_core.stages.params_not_in_dvc of the project's dvc.yaml; {} without a readable one."""
    from mira_core.stages import params_not_in_dvc

    dvc = _yaml_file(root / "dvc.yaml")
    # a dvc.yaml whose stages are no mapping (`stages: [a]`) is DVC's to refuse, not a traceback of the summary
    return params_not_in_dvc(dvc) if isinstance(dvc, dict) and isinstance(dvc.get("stages"), dict | None) else {}


def other_versions(root: Path) -> list[str]:
    """Outputs another version of mira made that this one's stages refuse (`embedding.check_current`,
    `labels.check_rubric_teacher`): after an upgrade the summary showed the old figures without a word. Checked on
    the stamps only (no model loaded); a project whose params do not load is left to the stages' own errors."""
    from flows.params import load_params
    from mira_core.embedding import made_by_other_version
    from mira_core.errors import MiraError
    from mira_core.io import read_json
    from mira_core.labels import rubric_of_other_version
    from mira_core.layout import Layout
    from mira_core.rubric import load_rubrics

    lay = Layout(root)
    found = []
    try:
        for side in sorted(lay.embeddings.rglob("*.json")):
            why = made_by_other_version(((read_json(side).get("stamp") or {}).get("encoder")) or {})
            if why:
                found.append(f"{side.relative_to(root).with_suffix('.parquet')}: {why}")
                break  # the shards are made together: one names the version
        if lay.params_file.exists() and lay.rubrics.is_dir():
            teacher = load_params(lay.params_file).teacher
            found += [why for r in load_rubrics(lay.rubrics).values() if (why := rubric_of_other_version(r, teacher))]
    except (MiraError, OSError, ValueError, AttributeError):
        pass  # what was found so far is said; the rest is the stages' to refuse, naming it
    return found


def blend_elsewhere(root: Path, export: str) -> list[str]:
    """The folders a Megatron export's blend.txt names that are not the export's own: select wrote its absolute
    path, and after `mv`, `cp -a` or `git clone` + `dvc pull` DVC calls select up to date while the blend still
    names the old place (gone, or the original's copy). None where `select.megatron_prefix_root` names where the
    trainer reads it, or the blend cannot be read."""
    from flows.params import load_params
    from mira_core.errors import MiraError

    try:
        if load_params(root / "params.yaml").select.megatron_prefix_root is not None:
            return []
    except (MiraError, OSError, ValueError):
        pass  # params that do not load: the blend is read as select writes it without a prefix root
    folder = (root / export).resolve()
    try:
        prefixes = (root / export / "blend.txt").read_text(encoding="utf-8").split()[1::2]
    except (OSError, UnicodeDecodeError):
        return []
    return sorted({str(Path(x).parent) for x in prefixes if Path(x).is_absolute()} - {str(folder)})


def filters_line(dedup: dict | None, decon: dict | None, select: dict | None = None) -> str | None:
    """What dedup and decontaminate marked for select to drop (a stage that has not run is left out, a disabled
    one said off), and once select has run what it dropped for them: a held-out record keeps its own reason, and a
    cluster whose kept copy is contaminated keeps a clean one in its place, so the two counts can differ (calling
    the marks "dropped at select" gave 23 and 1 where select dropped 19 and 0). The walkthrough promises a line per
    stage, and the filters had none."""
    parts = []
    if dedup:
        parts.append(f"{dedup['total']['records_dropped']} near-duplicates in {dedup.get('clusters', 0)} clusters"
                     if dedup.get("enabled", True) else "dedup off")
    if decon:
        marks = ", ".join(f"{b} {r['records_dropped']}" for b, r in (decon.get("benchmarks") or {}).items())
        parts.append(f"{decon['total']['records_dropped']} contaminated records" + (f" ({marks})" if marks else "")
                     if decon.get("enabled", True) else "decontaminate off")
    if not parts:
        return None
    reasons = ((select or {}).get("methods") or {}).get("mira", {}).get("reasons")
    dropped = (f"; select dropped {reasons.get('near_duplicate', 0)} near-duplicates and "
               f"{reasons.get('contaminated', 0)} contaminated (records of held-out sources count as held out)"
               if reasons else ", for select to drop")
    return f"filters     {'; '.join(parts)} marked{dropped}          data/dedup/, data/decontaminate/"


def stale_inputs(root: Path, locked: dict[str, dict] | None = None) -> dict[str, list[str]]:
    """Stages whose metrics file is the one `dvc repro` last wrote but one of whose inputs another stage has written
    again since, as dvc.lock records both: {stage: the paths}. `dvc repro distill` (or `-s`) leaves select's entry
    naming the old metrics/students.json, and the summary printed the new students beside the old selection. Read
    from dvc.lock (the md5 the stage read against the md5 its producer last wrote): no input is hashed. `locked`:
    `_locked(root)`, when read already."""
    locked = _locked(root) if locked is None else locked
    # only producers whose own entry is current: one run outside DVC and then this stage by `dvc repro -s` leaves
    # the producer's entry naming its old output and this one's the new, which is no stale input
    written = {o.get("path"): o.get("md5") for e in locked.values() for o in e.get("outs") or []
               if isinstance(o, dict) and o.get("md5")}
    out: dict[str, list[str]] = {}
    for stage, entry in locked.items():
        moved = [d.get("path") for d in entry.get("deps") or [] if isinstance(d, dict)
                 and d.get("path") in written and d.get("md5") and d.get("md5") != written[d.get("path")]]
        if moved:
            out[stage] = moved
    return out


def _stale_lines(stale: dict[str, list[str]], why: str) -> list[str]:
    """The summary's lines naming stale stages (at most four keys or paths each) and what brings them up to date."""
    if not stale:
        return []
    named = "; ".join(f"{s} ({', '.join(k[:4])}{', ...' if len(k) > 4 else ''})" for s, k in stale.items())
    return [f"stale       {why}: {named}", "            `dvc repro` brings them (and what follows them) up to date", ""]


def summary_lines(root: Path) -> list[str]:
    """The summary as lines of text; stages that have not run are skipped."""
    out = [f"mira summary for {root}", ""]
    locked = _locked(root)  # dvc.lock read and the metrics files hashed once for both checks
    out += _stale_lines(stale_stages(root, locked), "params.yaml changed after `dvc repro` ran these stages, so their "
                        "lines below are from the old values")
    out += _stale_lines(stale_inputs(root, locked), "a stage these read from ran again after `dvc repro` ran them, so their "
                        "lines below are from the old inputs")
    older = dvc_older(root)
    if older:
        out += ["dvc.yaml    written by an older mira: `dvc repro` does not re-run "
                + "; ".join(f"{s} when {', '.join(k)} change" for s, k in older.items())
                + ", though these stages now read them",
                "            add them under each stage's `params` in dvc.yaml (or run those stages with `mira stage`)", ""]
    other = other_versions(root)
    if other:
        out += ["upgraded    these outputs were made by another version of mira, so the lines below may be the old "
                "version's figures: " + "; ".join(other),
                "            `dvc repro --force` (or `mira run`) makes them again with this version", ""]
    ingest = _load(root, "ingest")
    if ingest:
        t = ingest["total"]
        out.append(f"corpus      {t['kept']} records, {t['n_tokens']:,} tokens from {len(ingest['sources'])} sources "
                   f"({t['quarantined']} quarantined)          data/corpus/, data/quarantine/")
        empty = ingest.get("empty_sources") or []  # optional sources that kept nothing (any other stops ingest)
        if empty and t["kept"]:
            out.append(f"            of those sources, {len(empty)} kept no record (optional): {', '.join(empty)}")
        if not t["kept"] and t["quarantined"]:
            out.append("            nothing was kept: every record read was quarantined (the reasons per source are in "
                       "metrics/ingest.json)")
    filters = filters_line(_load(root, "dedup"), _load(root, "decontaminate"), _load(root, "select"))
    if filters:
        out.append(filters)
    group = _load(root, "group")
    if group:
        out.append(f"groups      {len(group['groups'])} by {group['method']}: " +
                   "; ".join(f"{g}: {', '.join(s)}" for g, s in _by_group(group["groups"])))
    disc = _load(root, "discover")
    if disc:
        out.append("rubrics     " + ", ".join(f"{g} {d['anchors']} anchors (v {d['version']})"
                                               for g, d in _by_group(disc["groups"]))
                   + f"; teacher {disc['teacher']['provider']}/{disc['teacher']['model']}   data/rubrics/")
    label = _load(root, "label")
    if label:
        t = label["teacher"]
        out.append(f"labels      {sum(g['labeled'] for g in label['groups'].values())} records; teacher "
                   f"{t.get('calls', 0)} calls, {t.get('cache_hits', 0)} cache hits"
                   + (f", ${t['cost_usd']:.4f}" if "cost_usd" in t else "") + "   data/labels/")
    spent = [m["teacher"]["cost_usd"] for m in (disc, label) if m and "cost_usd" in m.get("teacher", {})]
    if spent:  # what the teacher cost, discover and label together
        out.append(f"teacher     ${sum(spent):.4f} in all (discover and label)")
    students = _load(root, "students")
    if students:
        out.append("students    " + ", ".join(
            f"{g} {r['student']} (val MAE {_as_is(r.get('mean_mae'))} vs constant {_as_is(r.get('const_mean_mae'))}, "
            f"median Somers' D {_num(r.get('median_somers_d'))}, Spearman {_num(r['median_spearman'])})"
            for g, r in _by_group(students))
            + "   data/students/, MLflow")
    sel = _load(root, "select")
    if sel is not None and not isinstance((sel.get("methods") or {}).get("mira"), dict):
        # `{}` (a file emptied by hand or by a tool) was passed over in silence, where `[]` is refused
        out.append("selection   metrics/select.json holds no figures for MIRA: re-run the select stage")
    elif sel:
        m = sel["methods"]["mira"]
        # .get: a select.json from an older mira has no selectable tokens or share (the report degrades on it too)
        share = m.get("kept_token_share")
        out.append(f"selection   MIRA kept {m['kept_records']} records, {m['kept_tokens']:,} of "
                   f"{_count(m.get('selectable_tokens'))} selectable tokens "
                   f"({'n/a' if share is None else f'{share:.1%}'}), {sel['granularity']} budget "
                   f"{_budget(sel['budget'])}"
                   # a weight repeats a unit's records: the tokens a trainer sees are more than those kept
                   + (f", {m['trained_tokens']:,} trained tokens with repeats (kept x epochs)"
                      if m.get("trained_tokens") not in (None, m["kept_tokens"]) else "")
                   + "   data/selection/mira/manifest.parquet")
        t = (ingest or {}).get("total") or {}
        if t and "records_read" in sel and (sel["records_read"], sel.get("quarantined")) != (t.get("read"),
                                                                                         t.get("quarantined")):
            # ingest re-run alone (`mira stage ingest`): the lines above describe two corpora, and no dvc.lock says so
            out.append(f"            stale: select read a corpus of {sel['records_read']:,} records "
                       f"({sel.get('quarantined')} quarantined), ingest's is {t.get('read')} ({t.get('quarantined')} "
                       "quarantined): run the stages after ingest (`dvc repro` does)")
        for title, names in (("baselines at the same budget", [k for k in sel["methods"]
                                                                 if k != "mira" and not k.startswith("mira_")]),
                             ("MIRA's ablations at the same budget", [k for k in sel["methods"] if k.startswith("mira_")])):
            if names:
                out.append(f"            {title}: " + ", ".join(
                    f"{k} (overlap with MIRA {_jaccard(sel['overlap']['mira'].get(k))})" for k in names)
                    + "   data/selection/<method>/")
        export = sel.get("materialized") or {}
        if export.get("path"):
            out.append(f"            kept records written for training ({export['format']}): {export['path']}/ "
                       f"({sum(export['records'].values())} records)")
            away = blend_elsewhere(root, export["path"]) if export.get("format") == "megatron" else []
            if away:
                here = (root / export["path"]).resolve()
                out.append(f"            blend.txt names {', '.join(away)}, not this project's {here} (moved, copied "
                           "or cloned since select ran): `dvc repro --force select` writes it here, or set "
                           "select.megatron_prefix_root")
    ev = _load(root, "evaluate")
    if ev and ev.get("arms"):
        from mira_core.evaluation.stats import in_reading_order  # here: `mira --help` should not import numpy

        held = (ev.get("target") or {}).get("holding_left_out")  # absent from a file written before the check
        out.append("evaluation  held-out loss: "
                   + ", ".join(f"{a} {_loss(v)}" for a, v in in_reading_order(ev["arms"]).items())
                   + ("; within noise: " + ", ".join(f"{a}~{b}" for a, b in ev.get("within_noise", [])) if ev.get(
                       "within_noise") else "")
                   + (f"; {held:,} training records holding a target record left out of every arm" if held else ""))
    if (root / "reports" / "report.html").exists():
        out.append(f"report      {root / 'reports' / 'report.html'}")
    if len(out) == 2:
        out.append("no stage has run yet: `dvc repro` (or `mira run`) runs them")
    out += ["", "watch runs: mira ui (Prefect UI and MLflow UI on 127.0.0.1); compare runs: mira compare A B"]
    return out


def command(root: Annotated[Path, typer.Option("--root", help="Project folder.")] = Path(".")) -> None:
    """Print what the last run produced and where it is."""
    from flows.params import project_root

    for line in summary_lines(project_root(root)):
        typer.echo(line)
