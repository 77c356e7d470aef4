"""One renderer per report section: `(ReportInputs, ReportParams) -> Raw | None`.

A renderer never raises on a missing input: the part that needs it becomes an "unavailable" note
naming the file and the stage that writes it. Returning None omits the whole section; only optional
sections do that (Proxy evaluation, until metrics/evaluate.json exists). `SECTIONS` fixes the order
and the <h2> headings; adding a section is adding a function and a line there.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable

import numpy as np
import polars as pl

from mira_core.config import ReportParams
from mira_core.evaluation.stats import in_reading_order
from mira_core.redact import redact_credentials
from mira_core.report import plots
from mira_core.report.inputs import FILES, WRITER, ReportInputs
from mira_core.report.markup import (
    Raw,
    code,
    esc,
    h3,
    img,
    join,
    name_order,
    note,
    num,
    p,
    pct,
    pre,
    row,
    share,
    table,
    ul,
    unavailable,
)
from mira_core.selection import CONSTANT_LABELS_WHY, STAT_NAMES, is_fraction


def _missing(what: str, key: str) -> Raw:
    return unavailable(what, FILES[key], WRITER[key])


def _lacking(what: str, key: str, names: list[str]) -> Raw:
    """The stand-in for content whose input is there but lacks these keys (a file from an older mira)."""
    return p(f"Not available: {what} needs {', '.join(names)} in {FILES[key]}, which lacks "
             f"{'it' if len(names) == 1 else 'them'} (a file from an older mira?): re-run the {WRITER[key]} stage.",
             "missing")


def _group_of(inp: ReportInputs) -> dict[str, str]:
    """source -> group, from the group map, else from metrics/group.json."""
    if inp.groups is not None:
        return dict(inp.groups.select("source", "group").iter_rows())
    if inp.group:
        return {s: g for g, ss in inp.group.get("groups", {}).items() for s in ss}
    return {}


def members(inp: ReportInputs) -> dict[str, list[str]]:
    """group -> its sources, both sorted."""
    out: dict[str, list[str]] = {}
    for s, g in sorted(_group_of(inp).items(), key=lambda kv: (name_order(kv[1]), kv[0])):
        out.setdefault(g, []).append(s)
    return out


def _held_out(inp: ReportInputs) -> set[str]:
    if inp.mira is None:
        return set()
    return set(inp.mira.filter(pl.col("reason") == "held_out")["source"].unique().to_list())


def teacher_of(inp: ReportInputs) -> tuple[str | None, str | None]:
    """(provider, model) of the teacher, from the stage metrics or else the rubrics."""
    for m in (inp.discover, inp.label):
        t = (m or {}).get("teacher") or {}
        if t.get("provider"):
            return t["provider"], t.get("model")
    for r in inp.rubrics.values():  # rubrics record the teacher as "provider/model"
        provider, _, model = str(r.get("teacher", "")).partition("/")
        if provider:
            return provider, model or None
    return None, None


def teacher_description(provider: str | None, model: str | None) -> str:
    """Who judged the records, said plainly: the rules teacher is a heuristic, not a language model."""
    if provider is None:
        return "unknown (no discover or label metrics, no rubric)"
    name = f"{provider} / {model}" if model else provider
    if provider == "rules":
        return f"{name}: a heuristic teacher (deterministic rule-based quality signals), not an LLM"
    if provider == "openai":
        return f"{name}: an LLM behind an OpenAI-compatible endpoint"
    if provider == "transformers":
        return f"{name}: a local causal language model (transformers)"
    return name


def tokenizer_description(t: dict | None) -> str:
    """The tokenizer that counted every token figure (ingest.tokenizer), from metrics/ingest.json."""
    if not t:
        return "unknown (metrics/ingest.json names no tokenizer: re-run ingest)"
    name = str(t.get("name"))
    if name == "minilm":
        name = "minilm, the WordPiece tokenizer bundled with all-MiniLM-L6-v2"
    return f"{name} (vocab {num(t.get('vocab_size'))}, sha256 {str(t.get('sha256', '?'))[:12]}…)"


def _methods(sel: dict) -> dict[str, dict]:
    """The per-method figures, MIRA first, then the baselines in name order (the JSON keys are sorted)."""
    methods = sel.get("methods") or {}
    # a method whose figures are null (a metrics file rewritten by hand or another tool) has none to show
    return {m: methods[m] for m in sorted(methods, key=lambda m: (m != "mira", m)) if isinstance(methods[m], dict)}


def _budget_text(sel: dict) -> str:
    b = sel.get("budget")
    where = {"group": "per group", "source": "per source", "global": "one corpus-wide cut"}.get(
        sel.get("granularity"), str(sel.get("granularity")))
    tokens = num(sel.get("budget_tokens"))
    if isinstance(b, int | float) and is_fraction(b):
        return f"{share(b)} of the selectable tokens = {tokens} tokens, {where}"
    return f"{tokens} tokens, {where}"


def _budget_share(sel: dict) -> float | None:
    b, mira = sel.get("budget"), _methods(sel).get("mira") or {}
    if isinstance(b, int | float) and is_fraction(b):
        return float(b)
    selectable = mira.get("selectable_tokens")
    return sel["budget_tokens"] / selectable if selectable and sel.get("budget_tokens") else None


# ------------------------------------------------------------------------------------------------ sections


def summary(inp: ReportInputs, p_: ReportParams) -> Raw:
    rows: list[tuple[str, str | Raw]] = []
    notes: list[Raw] = []
    if inp.ingest:
        t = inp.ingest.get("total", {})
        reasons = ", ".join(f"{k} {num(v)}" for k, v in sorted((t.get("by_reason") or {}).items()))
        rows += [("Records read", num(t.get("read"))), ("Kept at ingest", num(t.get("kept"))),
                 ("Quarantined", f"{num(t.get('quarantined'))}" + (f" ({reasons})" if reasons else "")),
                 ("Tokens kept at ingest", num(t.get("n_tokens"))),
                 ("Tokens counted with", tokenizer_description(inp.ingest.get("tokenizer")))]
    else:
        notes.append(_missing("the ingest counts", "ingest"))
    by_group = members(inp)
    if by_group:
        rows.append(("Groups and sources", f"{len(by_group)} groups, {sum(map(len, by_group.values()))} sources"))
    if inp.select:
        sel = inp.select
        m = _methods(sel).get("mira")
        rows.append(("Token budget", _budget_text(sel)))
        if m:  # .get: a select.json from an older mira lacks some of these, and the note below says which
            rows += [("MIRA keeps", f"{num(m.get('kept_records'))} of {num(m.get('records'))} records; "
                                    f"{num(m.get('kept_tokens'))} of {num(m.get('selectable_tokens'))} selectable tokens"),
                     ("MIRA kept token share", pct(m.get("kept_token_share")))]
            trained = m.get("trained_tokens")
            if trained is not None and trained != m.get("kept_tokens"):  # a weight repeats a unit's records
                rows.append(("MIRA trained tokens", f"{num(trained)} (kept tokens x epochs: select.weights repeat a "
                                                    "unit's records up to select.max_epochs)"))
            absent = [f"methods.mira.{k}" for k in ("records", "kept_records", "kept_tokens", "selectable_tokens",
                                                     "kept_token_share") if m.get(k) is None]
            if absent:
                notes.append(_lacking("the MIRA counts", "select", absent))
        held = sorted(_held_out(inp))
        if held:
            rows.append(("Held out (never selected)", ", ".join(held)))
        if sel.get("no_reliable_anchor"):
            rows.append(("Sources with no reliable anchor", ", ".join(sel["no_reliable_anchor"])))
        if sel.get("no_shared_anchor"):
            rows.append(("Sources sharing no anchor with their group", ", ".join(sel["no_shared_anchor"])))
    else:
        notes.append(_missing("the selection figures", "select"))
    rows.append(("Teacher", teacher_description(*teacher_of(inp))))
    if inp.manifests:
        outs = [code(path) for path in inp.manifests.values()]
        if inp.mask is not None:
            outs.append(code(FILES["mask"]))
        export = (inp.select or {}).get("materialized") or {}
        if export.get("path"):
            outs.append(Raw(f"{code(export['path'] + '/')} (the kept records, per source, as "
                            f"{esc(export.get('format'))}; "
                            f"{code('lineage.json')} names the commit, params, rubrics and manifest that made them)"))
        rows.append(("Outputs", Raw("<br>".join(map(str, outs)))))
    else:
        notes.append(_missing("the list of manifests", "selection"))
    return join([table(["", ""], rows, css_class="kv"), *notes])


def retention(inp: ReportInputs, p_: ReportParams) -> Raw:
    if not inp.select or "methods" not in inp.select:
        return _missing("retention per source", "select")
    methods = _methods(inp.select)
    if not methods:
        return _missing("retention per source", "select")
    tokens = next(iter(methods.values())).get("by_source")  # MIRA's, when it ran
    if not isinstance(tokens, dict):
        return _lacking("retention per source", "select", [f"methods.{next(iter(methods))}.by_source"])
    group_of = _group_of(inp)
    sources = sorted(tokens, key=lambda s: (name_order(group_of.get(s, "")), s))
    shares = {m: {s: ((r.get("by_source") or {}).get(s) or {}).get("kept_token_share") for s in sources}
              for m, r in methods.items()}
    held = _held_out(inp)
    png = plots.retention_chart(sources, shares, held, _budget_share(inp.select), p_.dpi)
    # the selectable tokens, which the shares beside them and the total below are over (a select.json from an
    # older mira has only every token: near-duplicates, contaminated and held-out records included)
    rows = [[s, group_of.get(s, "–"),
             "–" if s in held else num((tokens[s] or {}).get("selectable_tokens", (tokens[s] or {}).get("tokens"))),
             *(("held out" if s in held else pct(shares[m][s])) for m in methods)] for s in sources]
    rows.append([Raw("<b>all selectable</b>"), "", num((methods.get("mira") or {}).get("selectable_tokens")),
                 *(pct(r.get("kept_token_share")) for r in methods.values())])
    return join([img(png, "kept token share per source, MIRA and baselines"),
                 note("Share of each source's tokens kept, per method, at the same token budget (dashed line). "
                      "Held-out sources are never selected: they are the evaluation target."),
                 table(["source", "group", "selectable tokens", *methods], rows)])


def scores(inp: ReportInputs, p_: ReportParams) -> Raw:
    if inp.mira is None:
        return _missing("the score distributions", "mira")
    df = inp.mira
    if not df.height:  # a figure of no panel is matplotlib's ValueError, which failed the whole report
        return p(f"No record in {FILES['mira']}: nothing was scored or selected.")
    groups = {}
    for (g,), d in sorted(df.group_by("group"), key=lambda x: name_order(str(x[0][0]))):
        held = d["reason"] == "held_out"
        # near-duplicates and contaminated records are scored but never selectable: not "dropped" by the cut
        filtered = d["reason"].is_in(["near_duplicate", "contaminated"])
        groups[str(g)] = {"kept": d.filter(pl.col("kept"))["score"].to_numpy(),
                          "dropped": d.filter(~pl.col("kept") & ~held & ~filtered)["score"].to_numpy(),
                          "filtered": d.filter(filtered)["score"].to_numpy(),
                          "held out": d.filter(held)["score"].to_numpy()}
    # selection gives an unscored record a NaN score (null only in older manifests): both are left out of the plots
    unscored = df["score"].cast(pl.Float64).fill_nan(None).null_count()
    parts: list = [img(plots.score_histograms(groups, p_.max_hist_bins, p_.dpi), "MIRA score histograms per group"),
                   note("The MIRA score of a record is the trimmed mean of its group's anchors that are reliable for "
                        "its source, blended with the lowest of them (select.worst_weight), each anchor standardised "
                        "over its group by default (the score column of the MIRA manifest). "
                        + _cut_note((inp.select or {}).get("granularity"))
                        + " Filtered records (near-duplicates, contaminated) are scored but never selectable; the "
                        "panel's count is of the selectable ones.")]
    if unscored:
        parts.append(note(f"{unscored:,} records have no score (unscored) and are not shown."))
    return join(parts)


def _cut_note(granularity: str | None) -> str:
    """How the budget cut reads on the histograms, for the select.granularity the run used."""
    if granularity == "global":
        return "With one corpus-wide budget every group is cut at the same score."
    if granularity == "source":
        return "With a budget per source each source keeps its own top share, so the cut differs within a group."
    return ("With a per-group budget each group keeps its top share; a source with no reliable anchor is ranked "
            "within its own share, so its kept records may sit below the group's cut.")


def _why(why: str) -> str:
    """'Somers' D 0.14 < 0.3' -> 'Somers' D < 0.3': the rule, without the record-specific figure; and the flat
    labels' reason without its source's record count (30 sources listed the one rule 30 times)."""
    why = re.sub(f"^({re.escape(CONSTANT_LABELS_WHY)}) \\d+ ", r"\1 the ", why)
    return re.sub(r"^(\D+?) -?[\d.]+ ([<>]) ", r"\1 \2 ", why)


def _group_reliability(g: str, rubric: dict | None, mask: pl.DataFrame | None, stat: str, p_: ReportParams) -> list:
    parts: list = []
    anchors = (rubric or {}).get("anchors", [])
    m = mask.filter(pl.col("group") == g) if mask is not None else None
    if rubric is None:
        parts.append(unavailable(f"the rubric of {g}", f"data/rubrics/{g}.json", "discover"))
    else:
        used: dict[str, str] = {}
        if m is not None and m.height:
            for (a,), d in m.group_by("anchor"):
                used[a] = f"{int(d['on'].sum())} of {d.height}"
        parts.append(table(["id", "name", "description", "support", "reliable for (sources)"],
                           [[a.get("id"), a.get("name"), a.get("description"), a.get("support"),
                             used.get(a.get("id"), "–")] for a in anchors]))
    if m is None or not m.height:
        parts.append(_missing(f"the reliability of {g}", "mask"))
        return parts
    order = [a["id"] for a in anchors if a.get("id") in set(m["anchor"])] or sorted(set(m["anchor"]))
    names = dict(m.select("anchor", "name").unique().iter_rows())
    sources = sorted(set(m["source"]))
    idx = {(r["source"], r["anchor"]): r for r in m.iter_rows(named=True)}
    shape = (len(sources), len(order))
    rho, mae, on = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, dtype=bool)
    for i, s in enumerate(sources):
        for j, a in enumerate(order):
            r = idx.get((s, a))
            if r:
                rho[i, j] = np.nan if r.get(stat) is None else r[stat]
                mae[i, j] = np.nan if r["mae"] is None else r["mae"]
                on[i, j] = bool(r["on"])
    basis = {s: d.row(0, named=True) for (s,), d in m.group_by("source")}
    ylabels = [f"{s} (n={basis[s]['n_val']}" + (", group figures)" if basis[s]["basis"] == "group" else ")")
               for s in sources]
    label = STAT_NAMES.get(stat, stat)
    png = plots.reliability_heatmap(ylabels, [f"{a} {names.get(a, '')}" for a in order], rho, mae, on, p_.dpi, label)
    parts.append(img(png, f"{g}: val {label} and MAE per source and anchor, masked cells hatched"))
    off = m.filter(~pl.col("on"))
    if off.height:
        counts = off.with_columns(rule=pl.col("why").map_elements(_why, return_dtype=pl.String)) \
            .group_by("rule").len().sort(["len", "rule"], descending=[True, False])
        parts.append(note(f"{m.height - off.height} of {m.height} (source, anchor) pairs in use; masked because: "
                          + "; ".join(f"{r} ({n})" for r, n in counts.iter_rows()) + "."))
    else:
        parts.append(note(f"All {m.height} (source, anchor) pairs in use."))
    return parts


def anchors_and_reliability(inp: ReportInputs, p_: ReportParams) -> Raw:
    # the statistic the mask read (select.agreement); a run from before it was a choice read Spearman
    stat = ((inp.select or {}).get("mask") or {}).get("agreement", "spearman")
    held = sorted(_held_out(inp))
    mask = inp.mask
    if mask is not None and held:
        # as metrics/select.json counts them: never selected, and with no labels of their own (label skips them)
        mask = mask.filter(~pl.col("source").is_in(held))
    groups = sorted(set(inp.rubrics) | (set(mask["group"]) if mask is not None else set()), key=name_order)
    parts: list = [note("Per group: the anchors discovered by the teacher, then how well the student reproduces the "
                        "teacher on val records, per source (n = val records). Bold values are in use; hatched cells "
                        f"are masked for that source (MAE too high, {STAT_NAMES.get(stat, stat)} too low or "
                        "undefined) and do not enter its score. Somers' D: of the pairs of val records the teacher "
                        "scores differently, the share the student orders the same way minus the share it reverses "
                        "(Spearman, the paper's, also counts the student's spread inside the teacher's ties).")]
    if not groups:
        parts.append(_missing("the anchors", "rubrics"))
    if held:
        parts.append(note(f"Held-out sources ({', '.join(held)}) are left out below: no selection keeps their "
                          "records, and the teacher labels none of them."))
    by_group = members(inp)
    for g in groups:
        parts.append(h3(f"Group {g}" + (f": {', '.join(by_group[g])}" if g in by_group else "")))
        parts += _group_reliability(g, inp.rubrics.get(g), mask, stat, p_)
    parts.append(h3("Sources with no reliable anchor"))
    if inp.select is None:
        parts.append(_missing("this list", "select"))
    elif inp.select.get("no_reliable_anchor"):
        parts.append(ul(inp.select["no_reliable_anchor"]))
        parts.append(note("No anchor passes the mask for these sources, so they cannot be ranked against their "
                          "neighbours: each keeps its own share of the budget, ranked on every anchor."))
    else:
        parts.append(p("None: every source has at least one reliable anchor."))
    if inp.select is not None and inp.select.get("no_shared_anchor"):
        parts.append(h3("Sources sharing no anchor with their group"))
        parts.append(ul(inp.select["no_shared_anchor"]))
        parts.append(note("These sources share no reliable anchor with the rest of their group, so their scores "
                          "cannot be compared with the group's: each part of the group that stands apart keeps its "
                          "own share of the budget, ranked within itself (select.unshared_own_budget)."))
    return join(parts)


def teacher_spend(inp: ReportInputs, p_: ReportParams) -> Raw:
    rows, parts = [], []
    keys = ("requests", "cache_hits", "calls", "prompt_tokens", "completion_tokens")
    total = dict.fromkeys(keys, 0)
    cost: float | None = None
    for stage, m in (("discover", inp.discover), ("label", inp.label)):
        if m is None:
            parts.append(_missing(f"the {stage} teacher figures", stage))
            continue
        t = m.get("teacher", {})
        failures = sum((t.get("failures") or {}).values())
        rows.append([stage, f"{t.get('provider', '?')} / {t.get('model', '?')}", *(num(t.get(k)) for k in keys),
                     num(failures), "–" if t.get("cost_usd") is None else f"${t['cost_usd']:,.4f}"])
        for k in keys:
            total[k] += t.get(k) or 0
        if t.get("cost_usd") is not None:
            cost = (cost or 0.0) + t["cost_usd"]
    if rows:
        if len(rows) > 1:
            rows.append([Raw("<b>total</b>"), "", *(num(total[k]) for k in keys), "",
                         "–" if cost is None else f"${cost:,.4f}"])
        parts.insert(0, table(["stage", "teacher", "requests", "cache hits", "provider calls", "prompt tokens",
                               "completion tokens", "failures", "cost (USD)"], rows))
        provider, _ = teacher_of(inp)
        parts.insert(1, note("The rules teacher runs locally: no tokens, no cost." if provider == "rules" else
                             "Cost is shown when teacher.price_input_per_1m and price_output_per_1m are set. "
                             "Cache hits are requests answered from the local request cache, at no cost."))
    return join(parts)


def students(inp: ReportInputs, p_: ReportParams) -> Raw:
    if not inp.students:
        return _missing("the student figures", "students")
    rows = []
    for g, r in sorted(inp.students.items(), key=lambda kv: name_order(kv[0])):
        kind = r.get("student", "?") + (f" ({r['training']['model']})" if r.get("training", {}).get("model") else "")
        mae, const = r.get("mean_mae"), r.get("const_mean_mae")
        ratio = f"{mae / const:.2f}×" if mae is not None and const else "–"
        agree = [a.get("spearman") for a in (r.get("self_agreement") or {}).values() if a.get("spearman") is not None]
        rows.append([g, kind, num(r.get("n_train")), num(r.get("n_val")), num(mae, 3), num(const, 3), ratio,
                     num(r.get("median_somers_d"), 3), num(r.get("median_spearman"), 3),
                     num(r.get("median_spearman_ceiling"), 3), num(statistics.median(agree), 3) if agree else "–"])
    parts: list = [table(["group", "student", "n_train", "n_val", "val MAE", "constant MAE", "MAE / constant",
                          "median val Somers' D", "median val Spearman", "median Spearman ceiling",
                          "teacher self-agreement (median Spearman)"], rows),
                   note("Constant MAE: a predictor that always answers the train mean of each anchor; a student is "
                        "useful where its MAE is well below it. Somers' D and Spearman: rank agreement with the "
                        "teacher on val records, median over anchors. Somers' D counts only the pairs the teacher "
                        "orders; Spearman also counts the student's spread inside the teacher's ties, so a "
                        "student without ties of its own cannot pass its ceiling: the Spearman of a student that "
                        "orders every pair the teacher orders (low where one score covers most records). Self-agreement: the "
                        "teacher against its own repeat labels.")]
    if inp.rationales is not None and inp.rationales.height:
        names = {g: (r.get("anchor_names") or {}) for g, r in inp.students.items()}
        rows = []
        for g, rid, kept, score, why in inp.rationales.select("group", "record_id", "kept", "score",
                                                               "rationales").iter_rows():
            reasons = json.loads(why) if why else {}
            text = "; ".join(f"{names.get(g, {}).get(a, a)}: {r}" for a, r in reasons.items()) or "(unscored)"
            rows.append([g, rid, "kept" if kept else "dropped", num(score, 2), text])
        parts += [h3("What the generative student wrote"),
                  table(["group", "record", "MIRA", "score", "rationale per anchor"], rows),
                  note("The best kept and the worst dropped records of each group whose student is generative, "
                       "with the one-line rationale it wrote for each anchor (data/scores/, column rationales).")]
    return join(parts)


def teacher_oracle(inp: ReportInputs, p_: ReportParams) -> Raw | None:
    """What survives student, mask, aggregation and selection: the student's record scores against the teacher's
    own labels on the labeled records, each selected at the same budget."""
    oracle = (inp.select or {}).get("oracle")
    if not oracle:
        return None
    rows = [[g, num(f.get("records")), num(f.get("spearman"), 3), num(f.get("val_spearman"), 3),
             pct(f.get("kept_overlap")), pct(f.get("teacher_kept_share_kept_by_student"))]
            for g, f in [*sorted(oracle.get("by_group", {}).items(), key=lambda kv: name_order(kv[0])),
                         ("all groups", oracle.get("all", {}))]]
    parts = [table(["group", "labeled records", "Spearman (all labeled)", "Spearman (val only)",
                    "kept overlap (Jaccard)", "teacher's kept records the student keeps"], rows),
             note("Each labeled record gets a teacher score (its labels, aggregated exactly as the student's "
                  "scores are: the same unmasked anchors, standardisation and trim) beside its student score; "
                  "each set is then selected at the same budget. Where MIRA loses, read this first: a low "
                  "Spearman on val means the student does not carry the teacher's ranking; a high Spearman "
                  "with a low overlap means the loss is in the cut. Train records were seen by the students, "
                  "so the val column is the honest one.")]
    by_source = oracle.get("by_source") or {}
    if by_source:  # metrics of an older select have none
        src_rows = [[f.get("group"), s, num(f.get("records")), pct(f.get("teacher_kept_token_share")),
                     pct(f.get("student_kept_token_share"))]
                    for s, f in sorted(by_source.items(), key=lambda kv: (name_order(kv[1].get("group") or ""),
                                                                          kv[0]))]
        parts += [table(["group", "source", "labeled records", "labeled tokens kept by the teacher's labels",
                         "by the student's scores"], src_rows),
                  note("Each source's share of its labeled tokens that each selection keeps. Where the students "
                       "keep much more of one source than the teacher's labels do, that source takes its group's "
                       "budget by the students' error, not the teacher's judgment: a student's scores regress "
                       "toward each source's mean, so the source with the highest mean keeps more above the "
                       "group's cut.")]
    return join(parts)


def baselines_and_overlap(inp: ReportInputs, p_: ReportParams) -> Raw:
    if not inp.select or "methods" not in inp.select:
        return _missing("the baselines", "select")
    methods = _methods(inp.select)
    parts: list = [table(["method", "kept records", "kept tokens", "kept token share"],
                         [[m, num(r.get("kept_records")), num(r.get("kept_tokens")), pct(r.get("kept_token_share"))]
                          for m, r in methods.items()])]
    ov = inp.select.get("overlap") or {}
    names = [m for m in methods if m in ov] + sorted(set(ov) - set(methods))
    if names:
        mat = np.array([[np.nan if ov[a].get(b) is None else float(ov[a][b]) for b in names] for a in names])
        parts += [h3("Overlap of the kept records"),
                  note("Jaccard overlap |A ∩ B| / |A ∪ B| of the records each method keeps, at the same budget."),
                  row(img(plots.overlap_heatmap(names, mat, p_.dpi), "Jaccard overlap of the kept records"),
                      table(["", *names], [[a, *(num(ov[a].get(b), 3) for b in names)] for a in names]))]
    else:
        parts.append(p("No overlap figures in metrics/select.json."))
    return join(parts)


def proxy_evaluation(inp: ReportInputs, p_: ReportParams) -> Raw | None:
    """Rendered only once the evaluate stage has written metrics/evaluate.json; one line when it trained nothing."""
    if inp.evaluate is None:
        return None
    if not inp.evaluate.get("enabled", True):  # what the stage writes when it is off: {"enabled": false}
        return p("Disabled (evaluate.enabled: false in params.yaml): no proxy model was trained. To compare the "
                 "arms, hold out target sources (select.held_out_sources) and set evaluate.enabled: true.")
    arms = inp.evaluate.get("arms") or {}
    if not arms:
        return _lacking("the proxy evaluation", "evaluate", ["arms"])
    arms = in_reading_order(arms)
    rows = [[a, _loss_mean(r), _loss_std(r), num(r.get("ppl_mean"), 2),
             ", ".join(f"{x.get('seed')}: {num(x.get('loss'), 4)}" if isinstance(x, dict) else str(x)
                       for x in r.get("seeds") or []) or "–",
             r.get("note") or "–"] for a, r in arms.items()]
    # the note is the stage's verdict on every other arm, beyond the noise too: the list below holds only the pairs
    # within it, so a reader could not tell which arm MIRA lost to
    parts: list = [table(["arm", "eval loss (mean)", "std over seeds", "perplexity (mean)", "seeds",
                          "against the other arms"], rows)]
    if arms:
        parts.insert(0, img(plots.evaluation_chart(arms, p_.dpi), "proxy-model eval loss per arm"))
    target = inp.evaluate.get("target") or {}
    if target.get("holding_left_out"):  # absent from a metrics file written before the containment check
        eg = (target.get("holding_examples") or [None])[0]
        example = f", e.g. {eg[0]}, which holds {eg[1]}" if isinstance(eg, list | tuple) and len(eg) == 2 else ""
        parts.append(p(f"{num(target['holding_left_out'])} training records hold a held-out record inside them "
                       "(evaluate.target_containment of its word n-grams) and were left out of every arm and of "
                       f"the base's slice{example}."))
    if target.get("unchecked_short"):
        parts.append(p(f"{num(target['unchecked_short'])} of the {num(target.get('records'))} target records are "
                       "under evaluate.target_ngram words: no training record was checked for holding them."))
    noise = inp.evaluate.get("within_noise") or []
    if noise:
        items = [" vs ".join(map(str, x)) if isinstance(x, list | tuple) else str(x) for x in noise]
        # the stage's own rule (k standard errors of the difference of the means): "smaller than the seed-to-seed
        # spread" told a reader that a gap of 1.5 sd with three seeds each was beyond noise, which the rule calls within
        rule = str(inp.evaluate.get("noise_rule") or "a gap under evaluate.noise_sigmas standard errors of the "
                   "difference of the mean losses over seeds").removeprefix("within noise: ")
        parts += [p(f"Within noise ({rule}):"), ul(items)]
    return join(parts)


def _loss_mean(arm: dict) -> str:
    """An arm's mean eval loss; a loss that is not finite is a run that diverged (the stage's note says so), not a
    figure that is missing."""
    mean = arm.get("loss_mean")
    if isinstance(mean, float) and not math.isfinite(mean):
        return "not finite (a run diverged)"
    return num(mean, 4)


def _loss_std(arm: dict) -> str:
    """The sd over seeds; one seed has none (the stage writes 0.0 there, and calls no pair within noise)."""
    if len(arm.get("seeds") or []) == 1:
        return "n/a (one seed)"
    return num(arm.get("loss_std"), 4)


def filters(inp: ReportInputs, p_: ReportParams) -> Raw:
    """What the dedup and decontaminate stages drop before any selection, per source, and every benchmark match."""
    if inp.dedup is None and inp.decontaminate is None:
        return join([_missing("the near-duplicate counts", "dedup"), _missing("the contamination counts",
                                                                              "decontaminate")])
    near = (inp.dedup or {}).get("sources", {})
    cont = (inp.decontaminate or {}).get("sources", {})
    records = {s: (near.get(s) or cont.get(s) or {}).get("records_in") for s in set(near) | set(cont)}
    if inp.mira is not None:
        # what select drops, from its manifest: it also drops the kept copy of a cluster that holds a held-out record,
        # counts a record on both lists once (contaminated), and a held-out record as held out
        by = dict(((s, r), n) for s, r, n in inp.mira.group_by("source", "reason").len().iter_rows())
        every = sorted({s for s, _ in by} | set(records))
        near = {s: {"records_dropped": by.get((s, "near_duplicate"), 0)} for s in every}
        cont = {s: {"records_dropped": by.get((s, "contaminated"), 0)} for s in every}
        records = {s: sum(n for (t, _), n in by.items() if t == s) for s in every}
    rows = [[s, num(records.get(s)), num(near.get(s, {}).get("records_dropped")),
             num(cont.get(s, {}).get("records_dropped"))] for s in sorted(set(near) | set(cont))]
    parts: list = [table(["source", "records", "near-duplicates dropped", "contaminated dropped"], rows),
                   note("A near-duplicate is a record whose shingle set (dedup.shingle and dedup.shingle_size: word 5-grams by "
                        "default) has an estimated Jaccard similarity at or "
                        "above dedup.threshold with another record, directly or through a chain of such records (one "
                        "copy per cluster is kept, unless the cluster holds a held-out record: then none is). A "
                        "contaminated record shares at least decontaminate.min_matches n-grams with a benchmark item. "
                        "Both are dropped from every method's selection, and the budget is a share of what remains; "
                        "the counts are the MIRA manifest's when it exists (a held-out record counts as held out).")]
    bench = (inp.decontaminate or {}).get("benchmarks", {})
    if bench:
        parts.append(table(["benchmark", "items", "n-grams", "records dropped"],
                           [[b, num(r.get("items")), num(r.get("ngrams")), num(r.get("records_dropped"))]
                            for b, r in bench.items()]))
    if inp.contaminated is not None and inp.contaminated.height:
        shown = inp.contaminated.sort(["benchmark", "item", "record_id"]).head(p_.max_listed)
        parts += [h3("Contaminated records and the item each matches"),
                  table(["record", "source", "benchmark", "item", "shared n-grams"],
                        [list(r) for r in shown.select("record_id", "source", "benchmark", "item", "n_matches")
                         .iter_rows()]),
                  note(f"{shown.height} of {inp.contaminated.height} matches shown (report.max_listed); all are in "
                       f"{FILES['contaminated']}.")]
    return join(parts)


def source_groups(inp: ReportInputs, p_: ReportParams) -> Raw:
    parts: list = []
    if inp.similarity_png is not None:
        parts.append(img(inp.similarity_png, "cosine similarity of the source centroids, sources ordered by group"))
    else:
        parts.append(_missing("the similarity heatmap", "similarity"))
    by_group = members(inp)
    if not by_group:
        return join([*parts, _missing("the group membership", "groups")])
    recs = (inp.group or {}).get("records", {})
    toks = {s: r.get("n_tokens") for s, r in (inp.ingest or {}).get("sources", {}).items()}
    parts.append(table(["group", "sources", "records", "tokens"],
                       [[g, ", ".join(ss), num(sum(recs.get(s, 0) for s in ss)) if recs else "–",
                         num(sum(toks.get(s) or 0 for s in ss)) if toks else "–"] for g, ss in by_group.items()]))
    if inp.group:
        sil = inp.group.get("silhouette")
        parts.append(note(f"Grouping: {inp.group.get('method', '?')}"
                          + (f"; silhouette {sil:.3f}" if isinstance(sil, int | float) else "")
                          + (f"; pinned: {inp.group['pinned']}" if inp.group.get("pinned") else "") + "."))
    return join(parts)


def run_parameters(inp: ReportInputs, p_: ReportParams) -> Raw:
    parts: list = [h3("Rubrics and students")]
    groups = sorted(set(inp.rubrics) | set(inp.students or {}), key=name_order)
    rows = []
    for g in groups:
        r, s = inp.rubrics.get(g, {}), (inp.students or {}).get(g, {})
        trained_on = s.get("rubric_version")
        stale = trained_on is not None and r.get("version") is not None and trained_on != r.get("version")
        rows.append([g, r.get("version", "–"), r.get("teacher", "–"), r.get("prompt_version", "–"),
                     num(len(r["anchors"])) if "anchors" in r else "–", s.get("student", "–"),
                     s.get("student_version", "–"),
                     (f"{trained_on} (stale: rubric changed)" if stale else trained_on) or "–"])
    parts.append(table(["group", "rubric version", "teacher", "prompt version", "anchors", "student",
                        "student version", "trained on rubric"], rows) if rows
                 else _missing("the rubric versions", "rubrics"))
    parts.append(h3("Software"))
    parts.append(table(["package", "version"], [[k, v or "not installed"] for k, v in inp.versions.items()]))
    parts.append(h3("params.yaml"))
    if inp.params_text is None:
        parts.append(_missing("the parameters", "params"))
    else:  # folded (no script needed: <details>), since it is long and the tables above are what most readers want
        n = inp.params_text.count("\n") + 1
        parts.append(Raw(f"<details><summary>Show params.yaml ({n} lines)</summary>"
                         f"{pre(redact_credentials(inp.params_text))}</details>"))
    return join(parts)


Renderer = Callable[[ReportInputs, ReportParams], Raw | None]
SECTIONS: tuple[tuple[str, Renderer], ...] = (
    ("Summary", summary),
    ("Retention per source", retention),
    ("Near-duplicates and contamination", filters),
    ("Score distributions per group", scores),
    ("Anchors and reliability", anchors_and_reliability),
    ("Teacher spend", teacher_spend),
    ("Students", students),
    ("Teacher oracle", teacher_oracle),
    ("Baselines and overlap", baselines_and_overlap),
    ("Proxy evaluation", proxy_evaluation),
    ("Source groups", source_groups),
    ("Run parameters and versions", run_parameters),
)
