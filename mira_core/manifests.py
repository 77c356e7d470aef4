"""The select stage's work: from corpus, scores and student metrics to one manifest per method.

Reads only what each method needs: token counts and ids for all; scores for MIRA; texts for DSIR;
embeddings and labels for the single-rubric baseline. Every manifest covers every corpus record
exactly once, so its reasons add up to the corpus (and, with ingest's quarantine, to every record read).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mira_core import baselines
from mira_core.config import SelectParams
from mira_core.errors import ConfigError, InvariantError
from mira_core.exclusions import drop_reasons
from mira_core.grouping import judged_members
from mira_core.io import DAMAGED_PARQUET, atomic_path, file_digest, read_parquet, write_parquet
from mira_core.layout import corpus_shards
from mira_core.megatron import materialize_megatron, write_lineage
from mira_core.reliability import spearman
from mira_core.rubric import Rubric, check_rubric_sources, load_rubrics
from mira_core.schema import (
    CORPUS,
    CORPUS_DIGEST,
    LABEL_META,
    MANIFEST,
    ORACLE,
    SCORE_META,
    TEACHER_SCORED,
    read_checked,
)
from mira_core.selection import (
    aggregate,
    anchor_scales,
    anchors_on,
    budget_share,
    finite,
    reliability_mask,
    select,
    selectable,
    unshared,
    weighted_shares,
    with_drops,
)


def corpus_index(corpus: Path, groups: dict[str, str], held_out: list[str], dedup: Path | None = None,
                 decontaminate: Path | None = None, sort: bool = False) -> pl.DataFrame:
    """record_id, source, group, n_tokens, held_out and dropped for every record of the corpus folder, in the
    shards' order; with `sort`, in record_id order (the manifest's): sorted while little else is in memory,
    `attach_scores` can then find each scored record by binary search, and `select` finds it sorted and does not
    sort again (at 10 million records, the select stage's peak fell from 2.8 to 1.9 GB). The baselines keep the
    shards' order (their scores are keyed by record id, so the order moves none).

    `dropped` is the filter stages' verdict (null: the record passes): `contaminated` where the decontaminate
    folder lists it, else `near_duplicate` where the dedup folder does, or where its near-duplicate cluster holds
    a record of a held-out source (so no near-copy of the evaluation target is trained on); such a record is
    never selected.
    """
    shards = corpus_shards(corpus)
    if not shards:
        raise ConfigError(f"{corpus}: no corpus shards (run ingest first)")
    index = read_checked(shards, CORPUS, ["record_id", "source", "n_tokens"])
    index = index.sort("record_id") if sort else index
    return index.with_columns(group=pl.col("source").replace_strict(groups, default=None),
                              held_out=pl.col("source").is_in(held_out),
                              dropped=drop_reasons(index["record_id"], dedup, decontaminate, held_out))


def competing_ids(index: pl.DataFrame) -> pl.Series:
    """The record_ids that compete for the budget (not held out, not dropped): what anchors are standardised over."""
    return with_drops(index).filter(selectable())["record_id"]


NO_RELIABLE, NO_SHARED = "no_reliable_anchor", "no_shared_anchor"  # why a source keeps its own share of the budget


@dataclass(frozen=True)
class SetApart:
    """The sources that do not compete for their group's budget: the unit each one is counted in instead
    (`select(own_budget=units)`), and why (`NO_RELIABLE`: selection.anchors_on; `NO_SHARED`: selection.unshared)."""

    units: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def named(self) -> dict[str, list[str]]:
        """The sources per reason, for metrics/select.json."""
        return {r: sorted(s for s, why in self.reasons.items() if why == r) for r in (NO_RELIABLE, NO_SHARED)}


def _score_folders(scores: Path, group: str) -> dict[str, list[Path]]:
    """source -> its score shards under data/scores/<group>/ (hidden folders, a crashed write's leftovers, skipped).

    A folder without a shard is skipped too: the score stage prunes the shards of a source a regroup moved to
    another group, not their folder, and counted here the source was judged again in its old group (a second set
    of mask pairs; on that group's figures, perhaps set apart with no reliable anchor, and its records then kept
    on a budget of their own in the new group)."""
    folders = {d.name: sorted(d.glob("part-*.parquet")) for d in sorted((Path(scores) / group).glob("*"))
               if d.is_dir() and not d.name.startswith(".")}
    return {s: files for s, files in folders.items() if files}


def _scales(folders: dict[str, list[Path]], on: dict[str, list[str]], apart: set[str], anchors: list[str],
            competing: pl.Series | None) -> dict[str, tuple[float, float]]:
    """Each anchor's (mean, sd) over the records that compete for the group's budget: not held out (`apart` holds
    them and the sources with no reliable anchor, which are ranked on every anchor and would move the scale of
    anchors that are off for everyone else) and, with `competing` (their record_ids, sorted), not dropped by a
    filter stage. An anchor no competing record is ranked on takes its scale from the sources set apart, which rank on
    it (not the (0, 1) of an anchor seen nowhere, which would leave it raw beside anchors in z-scores)."""
    def frames(sources: list[str]) -> list[tuple[pl.DataFrame, list[str]]]:
        out = []
        for src in sources:
            cols = on.get(src, [])
            for f in folders[src]:
                df = read_scores([f], cols)
                out.append((df if competing is None else df.filter(_member(df["record_id"], competing)), cols))
        return out
    inside = frames([s for s in folders if s not in apart])
    scales = anchor_scales(inside, anchors)
    used = {a for df, cols in inside for a in cols  # ranked on by some competing record that has a score
            if df.height > finite(df[a]).null_count()}
    if set(anchors) - used:
        rest = anchor_scales(frames([s for s in folders if s in apart]), anchors)
        scales.update({a: rest[a] for a in anchors if a not in used})
    return scales


def check_scored_by(folders: dict[str, list[Path]], expected: str | None, group: str) -> None:
    """A ConfigError for a score shard another student wrote than the group's (`expected`: metrics/students.json's
    student_version; None, in figures from before it, checks nothing). Only a missing anchor column was caught:
    after distill re-ran and score did not (`mira stage select` alone), other students' scores were ranked. Shards
    of a teacher's own scores, which the benchmarks' oracle arms write on purpose, pass."""
    if expected is None:
        return
    for files in folders.values():
        for f in files:
            lazy = pl.scan_parquet(f, glob=False)
            if "student_version" not in lazy.collect_schema():
                continue
            made = [v for v in lazy.select(pl.col("student_version").unique()).collect().to_series().to_list()
                    if v != expected and not str(v).startswith(TEACHER_SCORED)]
            if made:
                raise ConfigError(f"{f}: scored by student {made[0]}, and group {group}'s student is now {expected} "
                                  "(metrics/students.json): distill ran again after score; re-run score (dvc repro "
                                  "does)")


def read_scores(files: list[Path], cols: list[str], checked: bool = False) -> pl.DataFrame:
    """record_id and the anchor columns `cols` of a source's score shards (`checked`: their schema checked first).
    A shard without one of them was scored under another rubric (anchors added since, or discover re-run and
    `mira stage select` run alone): a ConfigError naming the shard and the anchors, where polars named none."""
    try:
        if checked:
            return read_checked(files, SCORE_META, ["record_id", *cols])
        return read_parquet(files, columns=["record_id", *cols])
    except pl.exceptions.ColumnNotFoundError as e:
        for f in files:
            have = pl.scan_parquet(f, glob=False).collect_schema()
            missing = [a for a in cols if a not in have]
            if missing:
                raise ConfigError(f"{f}: no score column for anchor(s) {', '.join(missing)} of its group's rubric: "
                                  "it was scored under another rubric (re-run score)") from e
        raise


def _member(ids: pl.Series, sorted_ids: pl.Series | None) -> np.ndarray:
    """Per id, whether it is in `sorted_ids` (sorted ascending; None: every id is). A binary search on the sorted
    ids, each hit checked by comparing the two: at 10M competing ids a hash set rebuilt per source (`is_in`)
    took 2.5 s a source, this a tenth of a second."""
    if sorted_ids is None:
        return np.ones(len(ids), dtype=bool)
    n = len(sorted_ids)
    if n == 0 or len(ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    pos = sorted_ids.search_sorted(ids, side="left").to_numpy()
    return (pos < n) & (sorted_ids.gather(np.minimum(pos, n - 1)) == ids).to_numpy()


def _competes(files: list[Path], sorted_ids: pl.Series | None) -> bool:
    """Whether any of a source's scored records competes for the budget (every one does without the ids)."""
    return bool(files) and bool(_member(read_parquet(files, columns=["record_id"])["record_id"], sorted_ids).any())


def mira_scores(scores: Path, rubrics: Path, reports: dict, p: SelectParams, competing: pl.Series | None = None,
                groups: dict[str, str] | None = None
                ) -> tuple[pl.DataFrame, pl.DataFrame, SetApart, dict[str, dict[str, tuple[float, float]]]]:
    """(record_id -> score, the mask, the sources set apart from their group's budget, each group's anchor
    scales) for every scored record.

    Score files are per source (data/scores/<group>/<source>/), so each source's records are
    aggregated on that source's unmasked anchors directly, reading only those columns. With
    `select.standardize`, a first pass over the group's files takes each anchor's mean and sd over the
    sources it is on for, counting only the records that compete for the budget (`competing`: their
    record_ids; every record of a source not held out when not given).
    """
    rubric = load_rubrics(rubrics)
    all_folders = {g: _score_folders(scores, g) for g in sorted(reports)}
    mask = reliability_mask(reports, p, {g: list(f) for g, f in all_folders.items()})
    # sorted once for the binary searches of _member: the index is in record_id order, so usually already
    sorted_ids = None if competing is None else competing if competing.is_sorted() else competing.sort()
    parts, own, all_scales = [], SetApart(), {}
    without = sorted(set(reports) - set(rubric))
    if without:  # students.json older than the rubrics (groups re-made since): a bare KeyError before
        raise ConfigError(f"{rubrics}: no rubric for group(s) {', '.join(without)}, which the students' figures "
                          "(metrics/students.json) name: the groups or rubrics changed after distill ran; run "
                          "distill and score again (`dvc repro` does)")
    check_current(rubric, reports, rubrics, groups, p.held_out_sources)
    for g in sorted(reports):
        anchors = rubric[g].anchor_ids()
        on, none_reliable = anchors_on(mask, g, anchors)
        # A held-out source is never selected, so it neither needs a reliable anchor nor keeps a share of the
        # budget; with no labels of its own it is judged on the group's figures and still scored on every anchor.
        none_reliable = [s for s in none_reliable if s not in p.held_out_sources]
        own.units.update((s, f"source:{s}") for s in none_reliable)
        own.reasons.update(dict.fromkeys(none_reliable, NO_RELIABLE))
        if p.unshared_own_budget:
            # a source none of whose records compete (all near-duplicates, say) is never kept: it links nothing
            absent = [s for s, f in all_folders[g].items() if not _competes(f, sorted_ids)]
            apart = unshared(on, none_reliable, [*p.held_out_sources, *absent])
            own.units.update(apart)
            own.reasons.update(dict.fromkeys(apart, NO_SHARED))
        folders = all_folders[g]
        check_scored_by(folders, reports[g].get("student_version"), g)
        scales = None
        if p.standardize:
            scales = _scales(folders, on, set(none_reliable) | set(p.held_out_sources), anchors, sorted_ids)
            all_scales[g] = scales
        for source, files in folders.items():
            cols = on.get(source, [])
            if not files:
                continue
            frame = read_scores(files, cols, checked=True)
            inside = None if competing is None else _member(frame["record_id"], sorted_ids)
            parts.append(pl.DataFrame({"record_id": frame["record_id"],
                                       "score": aggregate(frame, cols, p.trim, scales, p.worst_weight, inside)}))
    scored = pl.concat(parts) if parts else pl.DataFrame(schema={"record_id": pl.String, "score": pl.Float64})
    return scored, mask, own, all_scales


def check_current(rubric: dict[str, Rubric], reports: dict, rubrics: Path, groups: dict[str, str] | None,
                  held_out: list[str]) -> None:
    """A ConfigError when a group's student was distilled on another rubric than the one in `rubrics` now, or
    (`groups`: the group map) a rubric was discovered for other sources than its group holds now.

    `mira stage discover` (or group) run alone, then `select`: the score columns a00, a01 ... were read as the new
    rubric's anchors, which are other dimensions, and lineage.json named the new rubric. `dvc repro` re-runs label,
    distill and score after either; a stage run alone did not, and exited 0 with a selection no run from scratch
    gives. A students.json without `rubric_version` (an older mira) is not checked."""
    for g in sorted(reports):
        made = (reports[g] or {}).get("rubric_version")
        if made and g in rubric and made != rubric[g].version:
            raise ConfigError(f"{rubrics / f'{g}.json'} is rubric {rubric[g].version}, and group {g}'s student was "
                              f"distilled on rubric {made} (metrics/students.json): discover ran again since; run "
                              "label, distill and score again (`dvc repro` does)")
    if groups is not None:
        judged = judged_members(groups, held_out)
        for g in sorted(set(reports) & set(rubric)):
            check_rubric_sources(rubric[g], judged.get(g, []))


def oracle_table(labels: Path, rubrics: Path, index: pl.DataFrame, scored: pl.DataFrame, mask: pl.DataFrame,
                 scales: dict[str, dict[str, tuple[float, float]]], p: SelectParams,
                 own_budget: SetApart | list[str]) -> pl.DataFrame:
    """The teacher-oracle reference on the labeled records: each record scored by the teacher's own labels
    (aggregated exactly as the student's scores are: same unmasked anchors, same standardisation, same
    trim and worst-anchor weight) beside its student score, and each set selected at the same budget share,
    granularity and min_score (with weights: the share of each weighted name's tokens the selection keeps).

    What survives student -> mask -> aggregation -> selection is then read off directly: the overlap of
    the two kept sets, and (with known defects) how much of the teacher's removal the student keeps.
    """
    rubric = load_rubrics(rubrics)
    parts = []
    for f in sorted(Path(labels).glob("*.parquet")):
        g = f.stem
        if g not in rubric:
            continue
        anchors = rubric[g].anchor_ids()
        labeled = read_checked(f, LABEL_META, ["record_id", "source", "split", *anchors])
        on, _ = anchors_on(mask, g, anchors)
        for (source,), df in labeled.group_by("source", maintain_order=True):
            teacher = aggregate(df, on.get(source, []), p.trim, scales.get(g) if p.standardize else None,
                                p.worst_weight)
            parts.append(df.select("record_id", "source", "split").with_columns(
                group=pl.lit(g), teacher_score=pl.Series(teacher, dtype=pl.Float64)))
    if not parts:
        return pl.DataFrame(schema=ORACLE)
    index = with_drops(index)
    table = (pl.concat(parts).join(index.select("record_id", "n_tokens", "held_out", "dropped"), on="record_id")
             .join(scored.rename({"score": "student_score"}), on="record_id", how="left")
             .filter(selectable()).drop("dropped"))
    share = budget_share(p.budget, int(index.filter(selectable())["n_tokens"].sum()))
    units = own_budget.units if isinstance(own_budget, SetApart) else own_budget
    weights = None
    if p.weights:  # keep of each weighted name's labeled tokens the share the selection keeps of its tokens
        shares = weighted_shares(index, p.budget, p.granularity, units, p.weights)
        labeled = dict(table.group_by(p.granularity).agg(pl.col("n_tokens").sum()).iter_rows())
        wanted = {name: shares.get(name, 0.0) * t for name, t in labeled.items()}
        whole, total = sum(wanted.values()), sum(labeled.values())
        share = whole / max(1, total) if whole <= total else whole  # a share, or tokens: the budget rule
        weights = {name: w / whole for name, w in wanted.items()} if whole else None
    kept = {}
    for col in ("teacher_score", "student_score"):
        recs = table.select("record_id", "source", "group", "n_tokens", "held_out", score=pl.col(col))
        kept[col] = select(recs, share, p.granularity, "oracle", p.min_score, own_budget=units,
                           weights=weights).select("record_id", pl.col("kept").alias(f"kept_{col.split('_')[0]}"))
    out = table.join(kept["teacher_score"], on="record_id").join(kept["student_score"], on="record_id")
    return out.select(list(ORACLE)).cast(ORACLE).sort("record_id")


def oracle_summary(oracle: pl.DataFrame) -> dict:
    """Per group and overall: rank agreement of the student's record score with the teacher's, on val and on
    all labeled records, and the overlap of what each keeps. Per source: the share of its labeled tokens each
    selection keeps. A source the students keep much more of than the teacher's labels do takes its group's budget
    by the students' error, not by the teacher's judgment: a student's scores regress toward each source's mean,
    so where the means differ, the source with the highest keeps more above the group's cut (on the demo, the
    standard library)."""
    def figures(df: pl.DataFrame) -> dict:
        both = df.drop_nulls(["teacher_score", "student_score"]).filter(
            pl.col("teacher_score").is_not_nan() & pl.col("student_score").is_not_nan())
        val = both.filter(pl.col("split") == "val")
        kt, ks = df["kept_teacher"], df["kept_student"]
        union = int((kt | ks).sum())
        return {"records": df.height, "spearman": spearman(both["teacher_score"].to_numpy(),
                                                            both["student_score"].to_numpy()),
                "val_spearman": spearman(val["teacher_score"].to_numpy(), val["student_score"].to_numpy()),
                "kept_overlap": round(int((kt & ks).sum()) / union, 4) if union else None,
                "teacher_kept_share_kept_by_student": round(int((kt & ks).sum()) / max(1, int(kt.sum())), 4)}

    def shares(df: pl.DataFrame) -> dict:
        tokens = int(df["n_tokens"].sum())
        kept = {who: int(df.filter(pl.col(f"kept_{who}"))["n_tokens"].sum()) for who in ("teacher", "student")}
        return {"group": df["group"][0], "records": df.height,
                **{f"{who}_kept_token_share": round(k / tokens, 4) if tokens else None for who, k in kept.items()}}

    return {"all": figures(oracle), "by_group": {g: figures(d) for (g,), d in oracle.group_by("group",
                                                                                             maintain_order=True)},
            "by_source": {s: shares(d) for (s,), d in oracle.sort("source").group_by("source", maintain_order=True)}}


_VERIFY_ROWS = 1_000_000  # record_ids compared per slice: bounds the memory of the check


def attach_scores(index: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """`index` with each record's score (null where it has none): what a left join on record_id gives.

    With an index sorted by record_id (`corpus_index(sort=True)`), each scored record is found by binary search and
    its score scattered into one new column: no join's hash table and no copy of the index (at 10 million records
    this and the early sort took the select stage's peak from 2.8 to 1.9 GB and its time from 16 to 10 s). Every
    match is checked by comparing the two record_ids, in slices; an index that is not flagged sorted or repeats a
    record_id, or a record scored twice, takes the plain join instead.
    """
    ids = index["record_id"]
    n = len(ids)
    # an empty index takes the join too: the binary search's check would gather row -1 of nothing (OverflowError)
    if n == 0 or not ids.flags["SORTED_ASC"] or (n > 1 and _repeats(ids)):
        return index.join(scored, on="record_id", how="left", maintain_order="left")
    pos = ids.search_sorted(scored["record_id"], side="left").to_numpy()
    found = pos < n
    for i in range(0, len(pos), _VERIFY_ROWS):
        part = slice(i, i + _VERIFY_ROWS)
        same = ids.gather(np.minimum(pos[part], n - 1)) == scored["record_id"].slice(i, _VERIFY_ROWS)
        found[part] &= same.to_numpy()
    at = pos[found]
    hit = np.zeros(n, dtype=bool)
    hit[at] = True
    if int(hit.sum()) != len(at):  # a record scored twice: the join repeats it, and so must we
        return index.join(scored, on="record_id", how="left", maintain_order="left")
    score = pl.repeat(None, n, dtype=scored.schema["score"], eager=True).rename("score")
    return index.with_columns(score.scatter(at, scored["score"].filter(pl.Series(found))) if len(at) else score)


def check_scored(records: pl.DataFrame, scores: Path, reports: dict) -> None:
    """A ConfigError when a record that competes for the budget has no score row at all (`attach_scores` left its
    score null; a record its student failed on has a row, and a NaN score: `unscored`).

    Such a record was counted `unscored`, its share of the budget left unspent, and select exited 0: a source no
    longer held out (`select.held_out_sources` edited, then `mira stage select`), a source or shard ingested since
    score ran, or no score stage run at all. `dvc repro` re-runs the stages between; a stage run alone did not."""
    missing = with_drops(records).filter(selectable() & pl.col("score").is_null())
    if missing.is_empty():
        return
    ungrouped = sorted(set(missing.filter(pl.col("group").is_null())["source"]))
    if ungrouped:
        raise ConfigError(f"no group for source(s) {', '.join(ungrouped)} in the group map: the corpus changed after "
                          "the group stage ran; run embed, group and the stages after (`dvc repro` does)")
    counts = missing.group_by("group", "source").len().sort("group", "source").rows()
    unjudged = sorted({g for g, _, _ in counts if g not in reports})
    if unjudged:
        why = (f"group(s) {', '.join(unjudged)} have no student (metrics/students.json): the groups or "
               "select.held_out_sources changed after distill ran; run label, distill and score again (`dvc repro` "
               "does)")
    elif not scores.is_dir() or next(scores.rglob("*.parquet"), None) is None:
        why = "the score stage has not run; run it (`dvc repro` does)"
    else:
        why = "the corpus changed after score ran; run score again (`dvc repro` does)"
    listed = ", ".join(f"{s} ({g}): {n:,}" for g, s, n in counts[:8]) + (" ..." if len(counts) > 8 else "")
    raise ConfigError(f"{scores}: no score for {missing.height:,} record(s) that compete for the budget "
                      f"({listed}); {why}")


def check_scored_corpus(scores: Path, corpus: Path) -> None:
    """A ConfigError when a score shard scored another version of its corpus shard than the one there now: ingest
    ran again after score (`mira stage ingest`, then `mira stage select`), and a record whose text changed under
    the same record_id was ranked on the old text's score. `check_scored` catches only a record with no score row.
    The score stage writes the corpus shard's digest into each score shard's footer (`schema.CORPUS_DIGEST`); a
    shard without it (written by an older mira) and a shard whose corpus shard is gone (its records compete no
    more) are not checked."""
    stale = []
    for f in sorted(Path(scores).glob("*/*/part-*.parquet")):
        shard = Path(corpus) / f.parent.name / f.name
        if not shard.exists():
            continue
        try:
            made = pl.read_parquet_metadata(f).get(CORPUS_DIGEST)
        except DAMAGED_PARQUET as e:
            raise ConfigError(f"{f}: not a readable Parquet file ({e}); run score again (`dvc repro` does)") from e
        if made is not None and made != file_digest(shard):
            stale.append(f"{f} (of {shard})")
    if stale:
        raise ConfigError(f"{len(stale)} score shard(s) scored another version of their corpus shard, e.g. "
                          + ", ".join(stale[:3]) + ": ingest ran again after score; run score again (`dvc repro` "
                          "does)")


def _repeats(ids: pl.Series) -> bool:
    """Whether a sorted column holds one value twice (neighbours equal), compared in slices."""
    last = len(ids) - 1  # pairs (i, i + 1) for i < last
    return any((ids.slice(i, min(_VERIFY_ROWS, last - i)) == ids.slice(i + 1, min(_VERIFY_ROWS, last - i))).any()
               for i in range(0, last, _VERIFY_ROWS))


def _texts(corpus: Path) -> pl.DataFrame:
    return read_parquet(corpus_shards(corpus), columns=["record_id", "text"])


def _embeddings(embeddings: Path) -> pl.DataFrame:
    """Every embedding shard under `embeddings`; a ConfigError naming the folder when it holds none (deleted to save
    space once score had run, say): polars' "cannot concat empty list" named neither the folder nor the stage."""
    shards = sorted(Path(embeddings).glob("*/part-*.parquet"))
    if not shards:
        raise ConfigError(f"{embeddings}: no embedding shards, which the single_rubric baseline reads (run embed, or "
                          "leave single_rubric out of select.baselines)")
    return pl.concat([read_parquet(f) for f in shards], how="diagonal_relaxed").drop("coverage", strict=False)


def _features(emb: pl.DataFrame) -> np.ndarray:
    """The embedding, with the document statistics beside it when the embed stage made them."""
    x = emb["embedding"].to_numpy().astype(np.float64)
    if "stats" in emb.columns:
        x = np.hstack([x, emb["stats"].to_numpy().astype(np.float64)])
    return x


BASELINE_READS = {"random": ("seed",), "length": (), "dsir": ("seed", "dsir_target"), "single_rubric": ()}


def baseline_settings(method: str, p: SelectParams) -> dict:
    """The `select` settings a baseline's manifest depends on: its budget and held-out sources, and the knobs its
    scores read (BASELINE_READS). Its cached task is keyed by these alone, so editing another knob (the mask's
    thresholds, `select.ablations`) does not re-run every baseline."""
    if method not in BASELINE_READS:
        raise ValueError(f"unknown baseline {method!r}")
    return {"budget": p.budget, "held_out_sources": list(p.held_out_sources)} | {
        k: getattr(p, k) for k in BASELINE_READS[method]}


def baseline_scores(method: str, index: pl.DataFrame, settings: dict, corpus: Path, labels: Path | None,
                    embeddings: Path | None) -> np.ndarray:
    """One score per row of `index` for a baseline, from its `baseline_settings`; DSIR reads the corpus texts,
    single_rubric the labels and embeddings (the others are given None for those)."""
    if method == "random":
        return baselines.random_scores(index["record_id"], settings["seed"])
    if method == "length":
        return baselines.length_scores(index["n_tokens"])
    if method == "dsir":
        texts = index.select("record_id").join(_texts(corpus), on="record_id", how="left", maintain_order="left")
        target = index["source"].is_in(settings["dsir_target"]).to_numpy()
        return baselines.dsir_scores(texts["text"].fill_null("").to_list(), target, settings["seed"], index["record_id"])
    if method == "single_rubric":
        emb = index.select("record_id").join(_embeddings(embeddings), on="record_id", how="left", maintain_order="left")
        means = []
        for f in sorted(Path(labels).glob("*.parquet")):
            df = read_parquet(f)
            # every score column beside the label table's own (labels.label_schema): an anchor id is the rubric's,
            # and a rubric edited by hand may name one otherwise than discovery's a00, a01 ... (read as a<digits>,
            # such an anchor was left out of the mean, and a group of only such anchors failed in polars)
            anchor_cols = [c for c, t in df.schema.items() if c not in LABEL_META and t.is_numeric()]
            if anchor_cols:  # a group with no anchor has no mean to fit on
                means.append(df.select("record_id", y=pl.mean_horizontal(anchor_cols).cast(pl.Float64)))
        if not means:
            raise ConfigError(f"{labels}: no labels for the single_rubric baseline")
        if emb["embedding"].null_count():
            raise ConfigError(f"{emb['embedding'].null_count()} corpus records have no embedding (re-run embed)")
        # in record_id order: the join's row order followed the shards' (and a parallel join's own), and the fit's
        # sums with it, so the scores moved in their last bits with the corpus's line order
        train = pl.concat(means).join(emb, on="record_id").sort("record_id")
        return baselines.single_rubric_scores(_features(train), train["y"].to_numpy(), _features(emb))
    raise ValueError(f"unknown baseline {method!r}")


def materialize(corpus: Path, manifest: pl.DataFrame, fmt: str, out: Path) -> dict[str, int]:
    """Write the kept records, per source, as shards a trainer reads directly: record_id, source, text, n_tokens,
    meta and epochs (the passes a trainer should make over the record: above 1 where a weight upsamples)."""
    kept = manifest.filter(pl.col("kept")).select("record_id", "epochs")
    counts = {}
    for shard in corpus_shards(corpus):
        rows = read_parquet(shard, columns=["record_id", "source", "text", "n_tokens", "meta"]).join(
            kept, on="record_id", how="inner", maintain_order="left")
        if rows.height == 0:
            continue
        source = shard.parent.name
        target = out / source / f"{shard.stem}.{'jsonl' if fmt == 'jsonl' else 'parquet'}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            with atomic_path(target) as tmp:
                rows.write_ndjson(tmp)
        else:
            write_parquet(rows, target)
        counts[source] = counts.get(source, 0) + rows.height
    return counts


def kept_texts(corpus: Path, manifest: pl.DataFrame) -> Iterator[tuple[str, str]]:
    """(source, text) of every kept record, shard by shard in the corpus's order (one shard in memory)."""
    kept = manifest.filter(pl.col("kept")).select("record_id")
    for shard in corpus_shards(corpus):
        rows = read_parquet(shard, columns=["record_id", "source", "text"]).join(kept, on="record_id", how="semi",
                                                                                maintain_order="left")
        yield from rows.select("source", "text").iter_rows()


def export_kept(corpus: Path, manifest_path: Path, fmt: str, out: Path, *, tokenizer: Path, commit: str | None,
                params_digest: str, rubrics: Path, final: Path | None = None, provenance: dict | None = None,
                eod_token: str = "", prefix_root: str = "") -> dict:
    """The kept records of a manifest as a trainer reads them, under `out`, with a lineage.json beside them:
    JSONL or Parquet shards per source (`materialize`), or Megatron-LM's indexed datasets and blend
    (`megatron.materialize_megatron`, tokenized with `tokenizer`, sources weighted by their epochs).

    The lineage names what made the export: the commit (and `provenance`: the DVC experiment, whether params.yaml
    was the committed one), `params_digest` (config.params_digest of the sections the selection depends on), the
    manifest's digest, and each group's rubric version.
    `final`: where `out` will end up when it is written aside (atomic_dir): the blend's prefixes must name that
    place, not the temporary one, unless `prefix_root` names where the trainer reads it. `eod_token`: the
    Megatron export's end-of-document token ("" : the tokenizer's own). Returns {"records": per source (and, for
    megatron, the tokens)}.
    """
    manifest = read_checked(manifest_path, MANIFEST)
    fields = {"commit": commit, "params_digest": params_digest,
              "rubric_versions": {g: r.version for g, r in load_rubrics(rubrics).items()},
              "manifest_digest": file_digest(manifest_path)}
    kept_rows = manifest.filter(pl.col("kept"))
    kept = dict(kept_rows.group_by("source").len().iter_rows())
    if fmt == "megatron":
        epochs = dict(kept_rows.group_by("source").agg(pl.col("epochs").max()).iter_rows())
        record = materialize_megatron(kept_texts(corpus, manifest), tokenizer, out, epochs=epochs,
                                      prefix_root=prefix_root or str(Path(final or out).resolve()),
                                      eod_token=eod_token or None, provenance=provenance, **fields)
        datasets = record["datasets"]
        _check_exported(kept, {s: d["documents"] + d["skipped_empty"] for s, d in datasets.items()}, manifest_path)
        _check_tokens(kept_rows, datasets, record["append_eod"], manifest_path, tokenizer)
        skipped = {s: d["skipped_empty"] for s, d in datasets.items() if d["skipped_empty"]}
        return {"records": {s: d["documents"] for s, d in datasets.items()}, "tokens": record["tokens"],
                **({"skipped_empty": skipped} if skipped else {})}
    counts = materialize(corpus, manifest, fmt, out)
    _check_exported(kept, counts, manifest_path)
    write_lineage(out / "lineage.json", **fields, **(provenance or {}), format=fmt, records=counts)
    return {"records": counts}


def _check_tokens(kept_rows: pl.DataFrame, datasets: dict[str, dict], append_eod: bool, manifest_path: Path,
                  tokenizer: Path) -> None:
    """The export's tokens per source are the manifest's n_tokens (counted at ingest) plus one EOD per document: the
    budget, `trained_tokens` and the blend's weights are then in one tokenizer. A tokenizer.json replaced since ingest
    counted (and `mira stage select` run alone) otherwise exported silently in another."""
    counted = dict(kept_rows.group_by("source").agg(pl.col("n_tokens").sum()).iter_rows())
    expected = {s: int(counted.get(s, 0)) + (d["documents"] if append_eod else 0) for s, d in datasets.items()}
    diff = {s: (expected[s], d["tokens"]) for s, d in sorted(datasets.items()) if d["tokens"] != expected[s]}
    if diff:
        raise InvariantError(f"{manifest_path}: the export's tokens differ from the manifest's n_tokens plus one EOD "
                             f"per record (source: expected, written): {diff}; {tokenizer} is not the tokenizer that "
                             "counted them at ingest (re-run the pipeline from ingest)")


def _check_exported(kept: dict[str, int], written: dict[str, int], manifest_path: Path) -> None:
    """Every record the manifest keeps is in the export (or counted as skipped): a kept id the corpus lacks, or a
    record written twice, would otherwise change what a trainer reads without a word."""
    written = {s: n for s, n in written.items() if n}
    if written != kept:
        diff = {s: (kept.get(s, 0), written.get(s, 0)) for s in sorted(kept.keys() | written.keys())
                if kept.get(s, 0) != written.get(s, 0)}
        raise InvariantError(f"{manifest_path}: the export does not hold the records the manifest keeps "
                             f"(source: kept, exported): {diff}")
