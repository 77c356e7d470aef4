"""Anchored teacher labels: a stratified sample per group, scored by the teacher on every anchor.

The sample is split into train and val by a seeded hash of the record id (so a record's split never
changes when the sample grows), and a seeded subset is labeled twice (`repeat=1` is part of the
request key, so the second answer is a fresh request, not a cache hit) to measure how well the
teacher agrees with itself. Failures are kept, with their error, never dropped.

With `label.cover_share` above 0, that share of each source's train records is chosen to cover the source
(mira_core.sampling.cover_order over embeddings and document statistics) instead of at random; the val
records are the same random ones either way, so the val figures compare across settings.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import LabelParams, TeacherParams
from mira_core.errors import ConfigError
from mira_core.io import unreadable_parquet, write_parquet
from mira_core.rubric import Rubric
from mira_core.sampling import cover_features, cover_order, seeded_order, stratified_sample
from mira_core.schema import LABEL_FAILURES, LABEL_META, read_group_corpus
from mira_core.teachers.base import Doc, Teacher


def label_schema(anchor_ids: list[str]) -> dict:
    """The label table: identity and split, one integer column per anchor, rationales as JSON."""
    meta = dict(LABEL_META)
    return {k: meta[k] for k in ("record_id", "source", "group", "split")} | {a: pl.Int64 for a in anchor_ids} | {
        k: meta[k] for k in ("rationales", "teacher", "rubric_version", "prompt_hash")}


def _fraction(seed: int, frac: float) -> pl.Expr:
    return (pl.col("record_id").hash(seed=seed) % 10_000) < int(round(frac * 10_000))


def plan_sample(index: pl.DataFrame, p: LabelParams,
                features: Callable[[list[str]], np.ndarray] | None = None) -> pl.DataFrame:
    """record_id, source, split (train|val), repeat (bool) for the records to label.

    `features` maps record ids to their rows of the covering space (`embedding_features`); it is read only
    when `p.cover_share` is above 0, and required then.
    """
    sample = stratified_sample(index.select("record_id", "source"), p.records_per_group, p.seed)
    sample = sample.with_columns(split=_split(p), repeat=_fraction(p.seed + 202, p.repeat_fraction))
    if p.cover_share > 0:
        if features is None:
            raise ConfigError("label.cover_share is above 0 but no embeddings were given to cover with "
                              "(run the embed stage first)")
        sample = _cover_train(index.select("record_id", "source"), sample, p, features)
    return sample.sort("source", "record_id")


def _split(p: LabelParams) -> pl.Expr:
    return pl.when(_fraction(p.seed + 101, p.val_fraction)).then(pl.lit("val")).otherwise(pl.lit("train"))


def _cover_train(index: pl.DataFrame, sample: pl.DataFrame, p: LabelParams,
                 features: Callable[[list[str]], np.ndarray]) -> pl.DataFrame:
    """The sample with `cover_share` of each source's train records swapped for covering ones.

    Per source, the train records kept are the first of the random sample (seeded order, so a larger share swaps
    the later ones); the covering records are drawn from the source's other records that the split hash does not
    send to val (so every record keeps the split its hash gives it): the first `cover_pool` of them in seeded
    order (never fewer than the k records to pick), which begin with the random records the covering replaces.
    """
    val = _fraction(p.seed + 101, p.val_fraction)
    out = []
    for (src,), rows in sample.group_by("source", maintain_order=True):
        train = rows.filter(pl.col("split") == "train")
        k = round(p.cover_share * train.height)
        if k == 0:
            out.append(rows)
            continue
        keep = train.head(train.height - k)
        # In seeded order the pool begins with the k random records the covering replaces, so it never holds
        # fewer than k: the sample's size per (source, split) does not change.
        pool = (index.filter((pl.col("source") == src) & ~val)
                .join(keep.select("record_id"), on="record_id", how="anti")
                .with_columns(_k=seeded_order(p.seed)).sort("_k", "record_id").head(max(p.cover_pool, k))
                .drop("_k"))
        x = features(keep["record_id"].to_list() + pool["record_id"].to_list())
        picked = pool[cover_order(x[:keep.height], x[keep.height:], k)]
        picked = picked.with_columns(split=pl.lit("train"), repeat=_fraction(p.seed + 202, p.repeat_fraction))
        out += [rows.filter(pl.col("split") == "val"), keep, picked.select(rows.columns)]
    return pl.concat(out) if out else sample  # no record to sample (a group the filter stages emptied)


def label_docs(docs: list[Doc], splits: dict[str, str], rubric: Rubric, teacher: Teacher, repeat: int = 0
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score docs on every anchor: (labels, failures)."""
    anchors = tuple(rubric.anchors)
    ids = rubric.anchor_ids()
    rows, failures = [], []
    for doc, o in zip(docs, teacher.score(docs, anchors, rubric.version, repeat=repeat), strict=True):
        if o.ok:
            scores = o.data["scores"]
            rows.append({"record_id": doc.record_id, "source": doc.source, "group": rubric.group,
                         "split": splits[doc.record_id], **{a: scores[a]["score"] for a in ids},
                         "rationales": json.dumps({a: scores[a]["rationale"] for a in ids}, ensure_ascii=False),
                         "teacher": teacher.name, "rubric_version": rubric.version,
                         "prompt_hash": teacher.prompt_version})
        else:
            failures.append({"record_id": doc.record_id, "source": doc.source, "group": rubric.group,
                             "repeat": repeat, "error": o.error, "error_kind": o.error_kind, "teacher": teacher.name})
    return pl.DataFrame(rows, schema=label_schema(ids)), pl.DataFrame(failures, schema=LABEL_FAILURES)


def embedding_features(embedding_shards: list[Path]) -> Callable[[list[str]], np.ndarray]:
    """A reader of the covering space (mira_core.sampling.cover_features) for given record ids, from the embed
    stage's shards: the embedding, and the document statistics where the shards hold them. The shards are
    checked once, at the first read (a plan with nothing to cover never reads them); each read scans them for
    the ids asked."""
    columns: list[str] = []

    def read(ids: list[str]) -> np.ndarray:
        if not ids:
            return np.zeros((0, 0))
        if not columns:
            missing = [str(s) for s in embedding_shards if not s.exists()]
            if missing:
                raise ConfigError(f"label.cover_share needs the embed stage's output; missing: {', '.join(missing)}")
            schemas = [_embedding_schema(s) for s in embedding_shards]  # each checked, not only up to one without stats
            stats = all("stats" in schema for schema in schemas)
            columns.extend(["record_id", "embedding"] + (["stats"] if stats else []))
        cols, has_stats = columns, "stats" in columns
        try:
            got = (pl.scan_parquet(embedding_shards, glob=False).select(cols).filter(pl.col("record_id").is_in(ids))
                   .collect().unique("record_id", keep="first"))
        except pl.exceptions.PolarsError as e:  # a damaged row group behind a sound footer: name the shard(s)
            bad = [s for s in embedding_shards if not _collects(s, cols)] or embedding_shards
            raise ConfigError(unreadable_parquet(bad, e)) from e
        order = pl.DataFrame({"record_id": ids}).with_row_index("_i")
        got = order.join(got, on="record_id", how="left").sort("_i")
        if got["embedding"].null_count():
            lost = got.filter(pl.col("embedding").is_null())["record_id"].head(3).to_list()
            raise ConfigError(f"label.cover_share: no embedding for record(s) {lost} in {embedding_shards[0].parent.parent}"
                              " (the embed stage is older than the corpus: run it again)")
        emb = got["embedding"].to_numpy()
        return cover_features(emb, got["stats"].to_numpy() if has_stats else None)
    return read


def _embedding_schema(shard: Path) -> pl.Schema:
    """An embed stage shard's schema; a file polars cannot read, or one without the columns the covering reads,
    is a ConfigError naming it (polars' own errors named no file)."""
    try:
        schema = pl.scan_parquet(shard, glob=False).collect_schema()
    except pl.exceptions.PolarsError as e:
        raise ConfigError(unreadable_parquet([shard], e)) from e
    lacking = [c for c in ("record_id", "embedding") if c not in schema]
    if lacking:
        raise ConfigError(f"{shard}: no {' or '.join(map(repr, lacking))} column, so it is no embed stage shard "
                          "(label.cover_share reads the embeddings): run the embed stage again")
    return schema


def _collects(shard: Path, columns: list[str]) -> bool:
    """Whether polars reads `columns` of every row of a shard."""
    try:
        pl.scan_parquet(shard, glob=False).select(columns).collect()
    except pl.exceptions.PolarsError:
        return False
    return True


def write_plan(corpus_shards: list[Path], p: LabelParams, out: Path, exclude: pl.Series | None = None,
               embedding_shards: list[Path] | None = None) -> Path:
    """A group's sample with its split, repeat flag and text (read from its sources' corpus shards), for the
    label tasks to slice; records in `exclude` (the filter stages' drops) are never sampled. `embedding_shards`
    (the embed stage's shards of the same sources) are read only when `p.cover_share` is above 0."""
    corpus = read_group_corpus(corpus_shards, exclude=exclude)
    features = embedding_features(embedding_shards) if embedding_shards is not None else None
    # the plan's order decides each label task's slice: kept by asking for it (polars' default keeps no order)
    plan = plan_sample(corpus.select("record_id", "source"), p, features).join(
        corpus.select("record_id", "format", "text"), on="record_id", how="left", maintain_order="left")
    return write_parquet(plan, out)


def merge_chunks(chunks: Path, out_labels: Path, out_repeats: Path, out_failures: Path,
                 anchor_ids: list[str] | None = None) -> dict:
    """Concatenate a group's label chunks (labels-*, repeats-*, failures-*.parquet under `chunks`) into its three
    tables, remove the chunks, and return the group's counts. A group with no record to label has no chunk: its
    tables are empty, with the label columns of `anchor_ids`."""
    def read(kind: str, schema: dict) -> pl.DataFrame:
        parts = [pl.read_parquet(f, glob=False) for f in sorted(chunks.glob(f"{kind}-*.parquet"))]
        return pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)

    labels = read("labels", label_schema(anchor_ids or []))
    repeats = read("repeats", label_schema(anchor_ids or []))
    failures = read("failures", LABEL_FAILURES)
    write_parquet(labels, out_labels)
    write_parquet(repeats, out_repeats)
    write_parquet(failures if failures.height else pl.DataFrame(schema=LABEL_FAILURES), out_failures)
    if chunks.exists():  # none was made for a group with nothing to label
        shutil.rmtree(chunks)
    split = dict(labels.group_by("split").len().iter_rows())
    return {"labeled": labels.height, "train": split.get("train", 0), "val": split.get("val", 0),
            "repeats": repeats.height, "failed": dict(failures.group_by("error_kind").len().iter_rows()),
            "by_source": dict(sorted(labels.group_by("source").len().iter_rows()))}


def check_rubric_teacher(rubric: Rubric, p: TeacherParams) -> None:
    """Refuse to label with a teacher whose version differs from the one that discovered the rubric, or on another
    scale than the rubric's (`mira stage label` after an edit of teacher.scale_*: labels up to 10 under a 1..5
    rubric, clipped by distill, a mask and selection no fresh run gives). After an
    upgrade of mira (or an edit of the rules or the prompts) a plain `dvc repro` sees no change in discover's deps
    when only a label knob changed: label re-ran over the old rubric and stamped the new version on its labels, a
    mix of two teachers that no run from scratch gives. Another teacher's rubric (a rules rubric labeled by an LLM)
    is the user's choice and passes."""
    if why := rubric_of_other_version(rubric, p):
        raise ConfigError(f"{why}: re-run discover (after upgrading mira, dvc repro --force)")
    # whoever discovered it: labels on another scale than the rubric's were clipped by distill to the rubric's
    if (rubric.scale.min, rubric.scale.max) != (p.scale_min, p.scale_max):
        raise ConfigError(f"rubric {rubric.group} is on the scale {rubric.scale.min}..{rubric.scale.max}, and "
                          f"teacher.scale_min..scale_max is now {p.scale_min}..{p.scale_max}: re-run discover (dvc "
                          "repro does)")


def rubric_of_other_version(rubric: Rubric, p: TeacherParams) -> str | None:
    """Why a rubric is of another version of this teacher (`check_rubric_teacher`, `mira summary`), or None."""
    from mira_core.teachers import teacher_prompt_version

    if rubric.teacher != f"{p.provider}/{p.model}":
        return None
    now = teacher_prompt_version(p)
    if rubric.prompt_version == now:
        return None
    return (f"rubric {rubric.group} was discovered by teacher version {rubric.prompt_version}, the teacher is now "
            f"{now} (mira upgraded, or its rules or prompts edited)")
