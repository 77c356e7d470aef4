"""Reliability-aware, source-preserving selection to a token budget.

Three steps, as in the paper (section 3.4-3.5):

1. Mask. Anchor d of group g is off for source s when the student's val MAE on (s, d) is above
   tau_mae or its rank agreement with the teacher is below tau_rank (an undefined one, from a constant
   side, counts as below). A source with fewer than `min_val_records` val records (none included) uses its
   group's figures, except that an anchor the teacher scored the same on all of its labeled records, at least
   `min_val_records` of them, is off (fewer say too little: the group's figures decide).
   The agreement is Somers' D by default, Spearman as in the paper with `agreement: spearman`: against the
   teacher's tied 1..5 labels Spearman caps a continuous student below 1, and below 0.3 on an anchor whose
   low scores are rare, so it switched off the anchors that catch rare defects (mira_core/reliability.py).
2. Aggregate. A record's score is the trimmed mean of its unmasked anchor scores. The mask is applied
   here, after scoring: the student is never asked anything different. With `standardize` (the
   default), each anchor's scores are first turned into z-scores over the group's competing records of
   the sources it is on for (`anchor_scales`; manifests.mira_scores says which compete), so sources whose
   unmasked anchors differ, or whose anchors sit at the top of the 1..5 scale, are ranked on one footing;
   scores are unclipped, so nothing ties at the top.
   With `worst_weight` w (0.5 by default; 0 is the paper's trimmed mean), the score blends in the record's
   lowest anchor: (1 - w) * trimmed mean + w * min, the min centred over the source's records (`aggregate`
   says why). A mean lets one failed anchor be outvoted by the others (a
   page that is mostly repeated navigation scores the floor on duplicate lines and the top on word-level
   anchors, and ranks with the good pages); the lowest anchor is the filter view (Gopher, C4: one failed rule
   drops the document). docs/selection.md has the measurement that found it.
3. Select. The budget (a token fraction, or a token count spread over units in proportion to their
   tokens) applies per group by default: each group keeps its share, highest score first, ties broken
   by record_id, so a group whose scores run low is not wiped out by a global cut. A source with no
   reliable anchor at all cannot be ranked against its neighbours; it keeps its own share, ranked on
   every anchor. Nor can a part of a group whose unmasked anchors are none of the rest's (`unshared`): it
   keeps its own share too, ranked on its own anchors.

Every record of the corpus ends in the manifest with a reason: kept, over_budget, below_threshold
(under `min_score`), unscored (no student score), held_out (a source reserved for evaluation), or the filter
stage's that drops it: near_duplicate (dedup) or contaminated (decontaminate).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from mira_core.config import SelectParams
from mira_core.errors import ConfigError, InvariantError
from mira_core.schema import MANIFEST, MASK, NOT_SELECTABLE, SelectionReason

REASONS = tuple(r.value for r in SelectionReason)


STAT_NAMES = {"somers_d": "Somers' D", "spearman": "Spearman"}
CONSTANT_LABELS_WHY = "the teacher gives one score to all"  # how `why` opens where the label-constancy rule holds


def _judge(m: dict, p: SelectParams) -> tuple[bool, str]:
    mae, rank, stat = m.get("mae"), m.get(p.agreement), STAT_NAMES[p.agreement]
    if mae is None:
        return False, f"none of {m['unscored']} val records scored" if m.get("unscored") else "no val records"
    if mae > p.tau_mae:
        return False, f"MAE {mae:.2f} > {p.tau_mae}"
    if p.agreement not in m:  # students' figures from before this statistic was measured
        return False, f"no {stat} in the students' figures (metrics/students.json is older): re-run distill"
    if rank is None:
        if m.get("teacher_constant"):
            return False, f"{stat} undefined (the teacher gives one score to every val record: nothing to rank)"
        if m.get("n", 3) < 3:  # the figures of a group with 2 val records, or of a source at min_val_records < 3
            return False, f"{stat} undefined (fewer than 3 scored val records)"
        return False, f"{stat} undefined (a constant side)"
    if rank < p.tau_rank:
        return False, f"{stat} {rank:.2f} < {p.tau_rank}"
    return True, "reliable"


def reliability_mask(reports: dict[str, dict], p: SelectParams, sources: dict[str, list[str]] | None = None
                     ) -> pl.DataFrame:
    """One row per (group, source, anchor): the figures used, and whether the anchor is on (always, with mask off).

    `sources`: every source scored in each group. A source with no val record (a per-record hash decides the
    split, so a source with a few labeled records can have none; a source can get no label at all) is judged
    on its group's figures, as any source under `min_val_records` is. Left out of the mask, it would have no
    anchor on and every one of its records would be unscored.

    On its group's figures, an anchor is still off for the source when the teacher gave one score to every one of
    its labeled records, train and val, and there are at least `min_val_records` of them (the report's
    `label_constancy`): the anchor does not apply to it, as a source judged on its own val records shows by an
    undefined agreement (reliability.label_constancy says what it did on the planted benchmark)."""
    rows = []
    for g, r in sorted(reports.items()):
        names = r.get("anchor_names", {})
        empty = {"n_val": 0, "anchors": {}}
        for s in sorted(set(r["sources"]) | set((sources or {}).get(g, ()))):
            sr = r["sources"].get(s, empty)
            own = sr["n_val"] >= p.min_val_records
            labeled = r.get("label_constancy", {}).get(s, {"n": 0, "constant": []})
            flat = set(labeled["constant"]) if p.mask and not own and labeled["n"] >= p.min_val_records else set()
            for a, group_m in r["anchors"].items():
                m = sr["anchors"][a] if own else group_m
                if a in flat:  # checked first, so `why` says so whatever the statistic (mask_summary's on_if)
                    on, why = False, (f"{CONSTANT_LABELS_WHY} {labeled['n']} labeled records of the source: "
                                      "nothing to rank")
                else:
                    on, why = _judge(m, p) if p.mask else (True, "mask off")
                rows.append({"group": g, "source": s, "anchor": a, "name": names.get(a, a), "n_val": sr["n_val"],
                             "basis": "source" if own else "group", "mae": m.get("mae"), "spearman": m.get("spearman"),
                             "somers_d": m.get("somers_d"), "on": on, "why": why})
    return pl.DataFrame(rows, schema=MASK)


def trimmed_mean(x: np.ndarray, trim: float) -> np.ndarray:
    """Row-wise mean after cutting floor(trim * k) values from each end (at least one value is kept)."""
    k = x.shape[1]
    if k == 0:
        return np.full(x.shape[0], np.nan)
    t = min(math.floor(trim * k), (k - 1) // 2)
    if t == 0:
        return x.mean(axis=1)
    return np.sort(x, axis=1)[:, t : k - t].mean(axis=1)


def finite(values: pl.Series) -> pl.Series:
    """`values` as Float64 with NaN and +-inf as null: a score that is not a finite number ranks nothing."""
    values = values.cast(pl.Float64)
    return pl.select(pl.when(values.is_finite()).then(values)).to_series().rename(values.name)


def aggregate(scores: pl.DataFrame, cols: list[str], trim: float,
              scales: dict[str, tuple[float, float]] | None = None, worst: float = 0.0,
              competing: np.ndarray | None = None) -> np.ndarray:
    """One source's record scores: the trimmed mean over the anchors on for it (`cols`); NaN when none are, or
    when any of them is NaN or infinite (an unscored record: one infinite score, standardised or centred, would
    turn every score of its source, and of its group through the scales, into NaN or -inf).

    With `scales` ({anchor: (mean, sd)}), each anchor is standardised first. With `worst` = w > 0 the score is
    (1 - w) * trimmed mean + w * (the record's lowest anchor - its mean over the source's records), `scores`
    being all of one source's records (`select.worst_weight`). Why centred: the lowest of k anchors falls as
    k grows (about -0.6 for 2 standard normals, -1.5 for 10), and sources differ in how many anchors the mask
    leaves on; uncentred, a source would lose its group's budget for having more anchors. Centred, the term
    only ranks a source's records among themselves, and the mean term alone compares sources.

    `competing` (a boolean per row): the records that compete for the budget, the ones the centring mean is
    taken over, as the scales are: near-duplicates and contaminated records are scored but never kept, and were
    they counted, the source's repeated boilerplate would lower its mean lowest anchor and lift every page it keeps.
    None, or no competing row: every row."""
    if not cols:
        return np.full(scores.height, np.nan)
    x = scores.select(cols).to_numpy().astype(np.float64)
    if scales is not None:
        x = (x - np.array([scales[c][0] for c in cols])) / np.array([scales[c][1] for c in cols])
    unscored = ~np.isfinite(x).all(axis=1)
    score = trimmed_mean(np.where(unscored[:, None], 0.0, x), trim)
    if worst > 0 and not unscored.all():
        low = np.where(unscored, np.nan, x.min(axis=1))
        inside = ~unscored if competing is None else ~unscored & competing
        score = (1 - worst) * score + worst * (low - low[inside if inside.any() else ~unscored].mean())
    score[unscored] = np.nan
    return score


def anchor_scales(frames: list[tuple[pl.DataFrame, list[str]]], anchors: list[str]) -> dict[str, tuple[float, float]]:
    """(mean, sd) of each anchor over a group's scored records, counting each source's records only for the anchors
    on for that source (sd 1 for a constant or unseen anchor).

    Why only those: an anchor that does not apply to most of a group's sources (bullets in code) sits at the top of
    the scale for them, with almost no spread; pooled with them, the one source it does apply to would get huge
    z-scores from tiny differences and win or lose the group's budget by that alone. Counted where it is on, an
    anchor is standardised over the records it actually ranks.
    """
    sums = {a: [0.0, 0.0, 0] for a in anchors}
    for df, cols in frames:
        for a in cols:
            v = finite(df[a])  # an unscored record (NaN, inf) must not make the group's scale NaN or infinite
            sums[a][0] += float(v.sum())
            sums[a][1] += float((v * v).sum())
            sums[a][2] += v.len() - v.null_count()
    out = {}
    for a, (s1, s2, n) in sums.items():
        mean = s1 / n if n else 0.0
        var = max(0.0, s2 / n - mean * mean) if n else 0.0
        out[a] = (mean, float(np.sqrt(var)) if var > 1e-12 else 1.0)
    return out


def anchors_on(mask: pl.DataFrame, group: str, anchors: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """source -> the anchors on for it, and the sources with no reliable anchor at all.

    Such a source cannot be ranked against its group's other sources without the signal the mask
    just rejected, so it is ranked on every anchor and keeps its own share of the budget (see
    `select`): the source is preserved, and its order within itself is the best available.
    """
    g = mask.filter(pl.col("group") == group)
    on, unjudged = {}, []
    for s in g["source"].unique().sort().to_list():
        cols = set(g.filter((pl.col("source") == s) & pl.col("on"))["anchor"].to_list())
        if not cols:
            unjudged.append(s)
            cols = set(anchors)
        on[s] = [a for a in anchors if a in cols]
    return on, unjudged


def unshared(on: dict[str, list[str]], unjudged: list[str], held_out: list[str] | tuple[str, ...] = ()
             ) -> dict[str, str]:
    """The sources of a group that cannot be ranked against the rest of it, each mapped to the budget unit it
    takes instead: sources are linked when they share an unmasked anchor, and every linked part but the largest
    keeps its own share (unit `source:<its sources joined by +>`); the largest stays in the group's unit.

    Anchors are standardised over the sources they are on for, so a part whose anchors are its own sits at
    z-mean 0 by construction: where it falls against the rest says nothing about its quality, only about the
    shape of its scores (on the demo, the docs source's two anchors sit at the top of the scale for most pages,
    so its median page outranked the code's and, pooled, docs kept 76 % of its tokens from the group's half).
    Like a source with no reliable anchor, such a part keeps its own share, ranked within itself
    (`select.unshared_own_budget`). `held_out`: the sources never selected (held out, or with no record that
    competes for the budget); they and the sources with no reliable anchor, which have their own share already,
    link nothing. The largest part: most sources, then the first
    name.
    """
    judged = {s: set(a) for s, a in on.items() if s not in unjudged and s not in held_out}
    parts: list[tuple[set[str], set[str]]] = []  # (sources, their anchors), merged as they link
    for s in sorted(judged):
        linked = [p for p in parts if p[1] & judged[s]]
        merged = ({s}.union(*(p[0] for p in linked)), judged[s].union(*(p[1] for p in linked)))
        parts = [p for p in parts if not any(p is q for q in linked)] + [merged]
    if len(parts) < 2:
        return {}
    parts.sort(key=lambda p: (-len(p[0]), sorted(p[0])))
    return {s: "source:" + "+".join(sorted(p[0])) for p in parts[1:] for s in p[0]}


OwnBudget = list[str] | tuple[str, ...] | dict[str, str]


def units(records: pl.DataFrame, granularity: str, own_budget: OwnBudget = ()) -> pl.Expr:
    """The unit each record's budget is counted in: all, its group or its source (own_budget sources always
    count on their own, or in the unit a mapping gives them)."""
    base = pl.lit("all") if granularity == "global" else pl.col(granularity)
    # a listed source is its own unit; a mapping names the unit (`unshared`: `source:<its part>`)
    own = own_budget if isinstance(own_budget, dict) else {s: f"source:{s}" for s in own_budget}
    if granularity == "source" or not own:  # every source is its own unit already, or none is set apart
        return base
    return (pl.when(pl.col("source").is_in(list(own)))
            .then(pl.col("source").replace_strict(own, default=None, return_dtype=pl.String)).otherwise(base))


def with_drops(records: pl.DataFrame) -> pl.DataFrame:
    """`records` with a `dropped` column (null: no filter stage drops the record) when it has none."""
    return records if "dropped" in records.columns else records.with_columns(dropped=pl.lit(None, dtype=pl.String))


def selectable() -> pl.Expr:
    """The records a selection may keep and whose tokens the budget is a share of: not held out, not dropped by
    the dedup or decontaminate stage."""
    return ~pl.col("held_out") & pl.col("dropped").is_null()


def is_fraction(budget: float) -> bool:
    """The one budget rule: up to 1 is a share of the selectable tokens, above 1 a number of tokens."""
    return budget <= 1


def budget_tokens(budget: float, selectable: int) -> float:
    """The budget in tokens; a ConfigError when an absolute budget asks for more than is selectable."""
    if is_fraction(budget):
        return budget * selectable
    if budget > selectable:
        raise ConfigError(f"select.budget = {int(budget)} tokens, but only {selectable} tokens are selectable "
                          "(held-out sources and records dropped by dedup or decontaminate excluded); lower it, or give a "
                          "share of at most 1")
    return budget


def budget_share(budget: float, selectable: int) -> float:
    """The budget as a share of the selectable tokens (an absolute budget above them is capped at all of them)."""
    return budget if is_fraction(budget) else min(1.0, budget / max(1, selectable))


def unit_budgets(tokens: pl.DataFrame, budget: float, weights: dict[str, float] | None = None,
                 unit_group: dict[str, str] | None = None, present: set[str] = frozenset()) -> dict[str, float]:
    """Token budget per unit (`tokens`: the selectable records' _unit and n_tokens).

    Without weights, each unit's share of the budget is its share of the tokens. A weight names a group (or a
    source, with granularity source) and gives it that share of the whole budget; the groups not named split what
    the named ones leave in proportion to their tokens (when every group is named, the weights are normalised to
    sum to 1). Within a group, its units (the group's own, and its parts set apart: a source with no reliable
    anchor, a part that shares no anchor with the rest) split the group's budget in proportion to their tokens.
    `unit_group`: unit -> the group (or source) a weight names; identity where absent. `present`: the names a weight
    may give that have records but no selectable token (every one dropped by a filter stage): such a weight's share
    stays unspent, as a share above a unit's tokens does; it was refused as "not a unit of this selection".
    """
    total = int(tokens["n_tokens"].sum())
    sums = dict(tokens.group_by("_unit").agg(pl.col("n_tokens").sum()).iter_rows())
    whole = budget * total if is_fraction(budget) else budget
    out = {u: whole * t / max(1, total) for u, t in sums.items()}  # proportional: the paper's default
    if not weights:
        return out
    of = {u: (unit_group or {}).get(u, u) for u in sums}
    group_tokens: dict[str, int] = {}
    for u, t in sums.items():
        group_tokens[of[u]] = group_tokens.get(of[u], 0) + t
    for name in set(weights) & set(present) - set(group_tokens):
        group_tokens[name] = 0  # nothing selectable: its share is unspent
    unknown = sorted(set(weights) - set(group_tokens))
    if unknown:
        raise ConfigError(f"select.weights names {', '.join(map(repr, unknown))}, which is not a unit of this "
                          f"selection (units: {', '.join(sorted(map(str, group_tokens)))})")
    if set(weights) == set(group_tokens):
        norm = sum(weights.values())
        if norm <= 0:
            raise ConfigError(f"select.weights name every unit of this selection ({', '.join(sorted(weights))}) and "
                              "are all 0, so no unit would keep anything; give at least one a share above 0, or "
                              "leave some unnamed")
        gb = {g: whole * weights[g] / norm for g in group_tokens}
    else:
        rest, rest_tokens = whole * (1 - sum(weights.values())), sum(t for g, t in group_tokens.items()
                                                                      if g not in weights)
        gb = {g: whole * weights[g] if g in weights else rest * t / max(1, rest_tokens)
              for g, t in group_tokens.items()}
    return {u: gb[of[u]] * t / max(1, group_tokens[of[u]]) for u, t in sums.items()}


def _budgets(df: pl.DataFrame, budget: float, granularity: str,
             weights: dict[str, float] | None) -> tuple[dict[str, float], dict[str, str]]:
    """Token budget per unit of `df` (every record, with its `_unit` and `dropped`), and each unit's name a weight
    may give (group or source; the unit itself with granularity global, where weights are refused)."""
    unit_group = dict(df.select("_unit", pl.col(granularity if granularity != "global" else "_unit"))
                      .unique("_unit").iter_rows()) if weights else {}
    present = set(df.filter(~pl.col("held_out"))[granularity].unique().to_list()) if weights else set()
    return unit_budgets(df.filter(selectable()), budget, weights, unit_group, present), unit_group


def weighted_shares(records: pl.DataFrame, budget: float, granularity: str, own_budget: OwnBudget,
                    weights: dict[str, float]) -> dict[str, float]:
    """Per name a weight may give (a group, or a source with granularity source): the share of its selectable
    tokens that its budget is, as `select` would give it on `records` (above 1 where a weight asks for repeats).

    The teacher-oracle table selects a sample (the labeled records) in which the groups' shares of the tokens are
    not the corpus's; these shares let it keep of each name's sample what the selection keeps of the name."""
    df = with_drops(records).with_columns(_unit=units(records, granularity, own_budget))
    budgets, unit_group = _budgets(df, budget, granularity, weights)
    tokens = dict(df.filter(selectable()).group_by(granularity).agg(pl.col("n_tokens").sum()).iter_rows())
    spent: dict[str, float] = {}
    for u, b in budgets.items():
        spent[unit_group[u]] = spent.get(unit_group[u], 0.0) + b
    return {name: spent[name] / t for name, t in tokens.items() if t}


def select(records: pl.DataFrame, budget: float, granularity: str, method: str, min_score: float | None = None,
           own_budget: OwnBudget = (), weights: dict[str, float] | None = None,
           max_epochs: float = 1.0) -> pl.DataFrame:
    """The manifest: `records` (record_id, source, group, n_tokens, score, held_out, and optionally dropped: the
    reason a filter stage drops the record) with kept and reason.

    Within each unit (all / group / source; `own_budget` sources always on their own, or in the unit a mapping
    {source: unit} names: `unshared`), records are taken
    highest score first (ties by record_id) while the running token count stays within the unit's budget; a record
    longer than the unit's whole budget is passed over (over_budget) and does not end the unit's run.

    With `weights` (see `unit_budgets`), a unit whose budget exceeds all its selectable tokens repeats what it
    keeps: its kept records get epochs = min(max_epochs, budget / selectable tokens); every other kept
    record has epochs 1, a record not kept 0.

    Sorting is the cost at scale, so strings are sorted once: records are put in record_id order (the
    manifest's order), and the score order is then a stable sort of one number; the running sums are
    taken per unit in that order (a window keeps row order).
    """
    records = with_drops(records)
    eligible = selectable() & pl.col("score").is_not_null() & pl.col("score").is_not_nan()
    if min_score is not None:
        eligible = eligible & (pl.col("score") >= min_score)
    df = records.sort("record_id").with_columns(
        _unit=units(records, granularity, own_budget), _e=eligible,
        _pos=pl.int_range(pl.len(), dtype=pl.UInt32))
    budgets, _ = _budgets(df, budget, granularity, weights)
    # Best first: eligible records by descending score, then the rest; a stable sort of one float key
    # keeps record_id order among ties (a multi-column arg_sort was 3x slower at 10M rows).
    key = pl.when(pl.col("_e")).then(-pl.col("score")).otherwise(float("inf"))
    order = df.select(_k=key, _pos=pl.col("_pos")).sort("_k", maintain_order=True)["_pos"]
    ranked = df.select("_unit", "_e", "n_tokens", "_pos").gather(order)
    ranked = ranked.with_columns(_budget=pl.col("_unit").replace_strict(budgets, default=0.0, return_dtype=pl.Float64))
    # a fractional budget is a float (0.57 * 100 tokens = 56.99999999999999): a record that fills it exactly fits.
    # The slack is relative to absorb that rounding, and under half a token, so a whole-number budget of 10^13
    # tokens is not passed by 10 (token counts are integers).
    limit = pl.col("_budget") + pl.min_horizontal(pl.col("_budget").abs() * 1e-12, pl.lit(0.49))
    alone = pl.col("n_tokens") <= limit
    # A record longer than its unit's whole budget can never be kept: it does not count in the running sum, or
    # a small unit (a source on its own budget) whose best record is that long kept nothing at all.
    ranked = ranked.with_columns(
        _cum=pl.when(pl.col("_e") & alone).then(pl.col("n_tokens")).otherwise(0).cum_sum().over("_unit"))
    fits = (pl.col("_cum") <= limit) & alone
    within = ranked.select(pl.col("_pos"), within=fits).sort("_pos")["within"]
    kept = pl.col("_e") & within
    # Repeats only where a weight asks a unit for more tokens than it has: a unit whose budget exceeds what it
    # keeps because records fall under min_score or are unscored is not upsampled (the quality floor would turn
    # into repeats of the weak unit's few records), and the repeat rate is what the weight asks of all its tokens.
    unit_tokens = dict(df.filter(selectable()).group_by("_unit").agg(pl.col("n_tokens").sum()).iter_rows())
    repeats = {u: min(max_epochs, b / unit_tokens[u]) for u, b in budgets.items()
               if weights and max_epochs > 1 and unit_tokens.get(u) and b > unit_tokens[u]}
    epochs = pl.when(kept).then(pl.col("_unit").replace_strict(repeats, default=1.0, return_dtype=pl.Float64)
                                ).otherwise(0.0)
    reason = (pl.when(pl.col("held_out")).then(pl.lit("held_out"))
              .when(pl.col("dropped").is_not_null()).then(pl.col("dropped"))
              .when(pl.col("score").is_null() | pl.col("score").is_nan()).then(pl.lit("unscored"))
              .when(~pl.col("_e")).then(pl.lit("below_threshold"))
              .when(kept).then(pl.lit("kept")).otherwise(pl.lit("over_budget")))
    return (df.with_columns(kept=kept, reason=reason, method=pl.lit(method), epochs=epochs)
            .select(list(MANIFEST)).cast(MANIFEST))


def retention(manifest: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per source or group: records and tokens in, the selectable tokens among them (not held out, not dropped by
    a filter stage), kept, and the kept share of the selectable tokens, the share the budget is of (0 where none
    is selectable: a held-out source)."""
    selectable_tokens = pl.col("n_tokens").filter(~pl.col("reason").is_in(NOT_SELECTABLE)).sum()
    return (manifest.group_by(by).agg(
        records=pl.len(), kept_records=pl.col("kept").sum(), tokens=pl.col("n_tokens").sum(),
        selectable_tokens=selectable_tokens, kept_tokens=pl.col("n_tokens").filter(pl.col("kept")).sum())
        .with_columns(kept_token_share=pl.when(pl.col("selectable_tokens") > 0)
                      .then(pl.col("kept_tokens") / pl.col("selectable_tokens")).otherwise(0.0).round(4)).sort(by))


def reason_counts(manifest: pl.DataFrame) -> dict[str, int]:
    counts = dict(manifest.group_by("reason").len().iter_rows())
    return {r: int(counts.get(r, 0)) for r in REASONS}


def overlap(manifests: dict[str, pl.DataFrame]) -> dict[str, dict[str, float | None]]:
    """Jaccard overlap of the kept record sets of every pair of methods; None where neither keeps a record (no
    overlap to speak of, as `mira compare` says; 0 read as "nothing in common" even on the diagonal)."""
    kept = {m: set(df.filter(pl.col("kept"))["record_id"].to_list()) for m, df in manifests.items()}
    return {a: {b: round(len(kept[a] & kept[b]) / len(kept[a] | kept[b]), 4) if kept[a] | kept[b] else None
                for b in kept} for a in kept}


def _counts_by(manifest: pl.DataFrame, by: str) -> dict[str, dict]:
    return {r.pop(by): r for r in retention(manifest, by).iter_rows(named=True)}


def summary(manifest: pl.DataFrame, budget_tokens: float) -> dict:
    """Counts of one manifest: reasons, kept tokens, retention per source and per group."""
    pool = manifest.filter(~pl.col("reason").is_in(NOT_SELECTABLE))
    kept_tokens = int(manifest.filter(pl.col("kept"))["n_tokens"].sum())
    return {
        "records": manifest.height, "reasons": reason_counts(manifest),
        "kept_records": int(manifest["kept"].sum()), "kept_tokens": kept_tokens,
        "trained_tokens": round(float((manifest["n_tokens"] * manifest["epochs"]).sum())),  # kept x epochs
        "selectable_tokens": int(pool["n_tokens"].sum()),
        "kept_token_share": round(kept_tokens / max(1, int(pool["n_tokens"].sum())), 4),
        "budget_tokens": round(budget_tokens),
        # counted alike (every record of the manifest, the share of the selectable tokens), so a group's records
        # are its sources' records summed
        "by_source": _counts_by(manifest, "source"),
        "by_group": _counts_by(manifest.filter(pl.col("group").is_not_null()), "group"),
    }


def check_counts(method: str, s: dict, corpus_records: int) -> None:
    """Every corpus record has exactly one reason in a manifest, and ingest accounts for the rest: else a bug."""
    if sum(s["reasons"].values()) != s["records"] or s["records"] != corpus_records:
        raise InvariantError(f"{method}: counts do not balance: {s['reasons']} vs {corpus_records} corpus records")


def mask_summary(mask: pl.DataFrame, p: SelectParams) -> dict:
    """(source, anchor) pairs on and off, overall and per group; the rule; and how many would be on under each
    rank agreement at the same thresholds (a mask off for the whole run says nothing there).

    Held-out sources are left out of the counts (`held_out_pairs` says how many pairs that is): no selection
    keeps their records, and with no labels of their own they are judged on their group's figures, so their
    pairs would count the group's agreement again."""
    held_out = mask.filter(pl.col("source").is_in(p.held_out_sources))
    mask = mask.filter(~pl.col("source").is_in(p.held_out_sources))

    def on_off(d: pl.DataFrame) -> dict[str, int]:
        return {"on": int(d["on"].sum()), "off": int((~d["on"]).sum())}

    def on_if(stat: str) -> int:  # the same rule as the mask's own, read on the other statistic
        q = p.model_copy(update={"agreement": stat})
        # the label-constancy rule holds whatever the statistic (reliability_mask checks it first)
        return sum(_judge(row, q)[0] and not row["why"].startswith(CONSTANT_LABELS_WHY)
                   for row in mask.select("mae", "spearman", "somers_d", "why").iter_rows(named=True))

    return {**on_off(mask), "by_group": {g: on_off(d) for (g,), d in mask.group_by("group", maintain_order=True)},
            "held_out_pairs": held_out.height, "agreement": p.agreement, "tau_rank": p.tau_rank, "tau_mae": p.tau_mae,
            "on_if": {stat: on_if(stat) for stat in STAT_NAMES} if p.mask else None}


def stage_metrics(p: SelectParams, manifests: dict[str, pl.DataFrame], ingest: dict) -> dict:
    """metrics/select.json's core: the budget in tokens, each method's summary (its counts checked against
    ingest's, so records read = kept + dropped by reason + quarantined), and the methods' overlap."""
    pool = manifests["mira"].filter(~pl.col("reason").is_in(NOT_SELECTABLE))
    tokens = budget_tokens(p.budget, int(pool["n_tokens"].sum()))
    per_method = {m: summary(df, tokens) for m, df in manifests.items()}
    for m, s in per_method.items():
        check_counts(m, s, ingest["total"]["kept"])
    return {"budget": p.budget, "granularity": p.granularity, "budget_tokens": round(tokens),
            "records_read": ingest["total"]["read"], "quarantined": ingest["total"]["quarantined"],
            "methods": per_method, "overlap": overlap(manifests)}
