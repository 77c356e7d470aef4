"""The distill stage's work for one group: gather inputs for the labeled records, fit, measure agreement.

The student is fitted on the train split and measured on val against the teacher, per anchor and per
(source, anchor), beside the constant predictor (the train mean) and the teacher's own self-agreement
on the repeat subset. Those figures are what the selection stage's reliability mask reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import DistillParams, EmbedParams
from mira_core.errors import ConfigError
from mira_core.io import read_json, write_json
from mira_core.reliability import label_constancy, self_agreement, student_report
from mira_core.rubric import Rubric
from mira_core.schema import CORPUS, check_parquet
from mira_core.students import make_student
from mira_core.students.base import TRAINED_ON, Inputs, Student, clip, student_version

PLOT = {"record_id": pl.String, "source": pl.String, "anchor": pl.String, "teacher": pl.Float64,
        "student": pl.Float64}


def encoder_fingerprint(embedding_shards: list[Path]) -> dict | None:
    """The encoder that made these embeddings, from the shards' stamps (None when there are none). Every stamp is
    read: a student is fitted on the labeled records of all the shards, so shards made otherwise (an embed run
    killed halfway through a change of encoder) would mix two encoders' vectors in one fit, under the first
    shard's fingerprint alone, and score would pass the shards stamped like it."""
    first: tuple[Path, dict] | None = None
    for shard in embedding_shards:
        side = shard.with_suffix(".json")
        if not side.exists():
            continue
        made = read_json(side)["stamp"]["encoder"]
        if first is None:
            first = (shard, made)
        elif made != first[1]:
            diff = sorted(k for k in set(made) | set(first[1]) if made.get(k) != first[1].get(k))
            raise ConfigError(f"{first[0]} and {shard} were embedded otherwise (they differ in {', '.join(diff)}); "
                              "a student cannot be fitted on both: re-run embed")
    if first:
        from mira_core.embedding import check_current

        check_current(*first)  # all alike: statistics of another mira's would be fitted under this one's
    return first[1] if first else None


def gather_inputs(ids: list[str], need: str, corpus_shards: list[Path], embedding_shards: list[Path]) -> Inputs:
    """Texts and/or embeddings of `ids`, in that order, with their document statistics when the embed stage
    made them, read from the group's shards."""
    want = pl.DataFrame({"record_id": ids, "_i": np.arange(len(ids))})
    wanted = pl.col("record_id").is_in(pl.Series(ids).implode())  # pushed into the scan: only labeled rows are read
    out = Inputs()
    if embedding_shards:
        found = pl.concat([pl.scan_parquet(s, glob=False).filter(wanted) for s in embedding_shards], how="diagonal_relaxed"
                          ).collect().join(want, on="record_id").sort("_i")
        _check_found(ids, found, "embedding")
        if need in ("embedding", "both"):
            out.embeddings = found["embedding"].to_numpy().astype(np.float32, copy=False)
        if "stats" in found.columns:
            out.stats = found["stats"].to_numpy().astype(np.float32, copy=False)
    elif need in ("embedding", "both"):
        raise ConfigError("the student reads embeddings, but there are no embedding shards (run embed first)")
    if need in ("text", "both"):
        for shard in corpus_shards:  # a stale or foreign shard fails with its name
            check_parquet(shard, {c: CORPUS[c] for c in ("record_id", "text")})
        found = (pl.scan_parquet(list(corpus_shards), glob=False).select("record_id", "text").filter(wanted).collect()
                 .join(want, on="record_id").sort("_i"))
        _check_found(ids, found, "text")
        out.texts = found["text"].to_list()
    return out


def _check_found(ids: list[str], found: pl.DataFrame, col: str) -> None:
    if found.height != len(ids):
        missing = sorted(set(ids) - set(found["record_id"]))[:5]
        raise ConfigError(f"{len(ids) - found.height} labeled records have no {col} (e.g. {missing}): the corpus or "
                          "the embeddings changed after labeling; re-run the pipeline from embed")


def distill_group(labels: pl.DataFrame, repeats: pl.DataFrame, rubric: Rubric, p: DistillParams, embed: EmbedParams,
                  corpus_shards: list[Path], embedding_shards: list[Path], out: Path, base_model: Path | None = None
                  ) -> tuple[dict, pl.DataFrame]:
    """Fit the group's student, save it to `out`, and report its agreement with the teacher on val.
    `base_model`: the generative student's base folder as found (params keep the path as the user wrote it, so
    the checkpoint's config, and its version, do not depend on where the project lives)."""
    ids = rubric.anchor_ids()
    for name, df in (("labels", labels), ("repeats", repeats)):
        # anchor ids (a00, a01 ...) name other dimensions under another rubric: scores labeled under the old one would
        # be fitted, silently, as the new one's (`mira stage discover` then `mira stage distill`, label not re-run)
        made = sorted(set(df["rubric_version"].drop_nulls())) if "rubric_version" in df.columns else []
        if made and made != [rubric.version]:
            raise ConfigError(f"group {rubric.group}: its {name} were made under rubric {', '.join(made)}, and the "
                              f"rubric is now {rubric.version}; run the label stage again (dvc repro does)")
    train, val = labels.filter(pl.col("split") == "train"), labels.filter(pl.col("split") == "val")
    if train.height < 2 or val.height < 2:
        raise ConfigError(f"group {rubric.group}: {train.height} train and {val.height} val labels; too few to "
                          "distill (raise label.records_per_group)")
    # the label stage writes none; a hand-edited table gave a bare ValueError naming neither group nor file
    bad = [a for a in ids if not np.isfinite(train[a].cast(pl.Float64).fill_null(np.nan).to_numpy()).all()]
    if bad:
        raise ConfigError(f"group {rubric.group}: train labels missing or not finite for anchor(s) {', '.join(bad)} "
                          f"(data/labels/{rubric.group}.parquet edited by hand?); run the label stage again, or fix it")
    scale = (rubric.scale.min, rubric.scale.max)
    fingerprint = encoder_fingerprint(embedding_shards)
    student: Student = make_student(p, ids, scale, embed, fingerprint)
    if base_model is not None and hasattr(student, "base_dir"):
        student.base_dir = Path(base_model)
    x_train = gather_inputs(train["record_id"].to_list(), student.needs, corpus_shards, embedding_shards)
    x_val = gather_inputs(val["record_id"].to_list(), student.needs, corpus_shards, embedding_shards)
    y_train = train.select(ids).to_numpy().astype(np.float32)
    # A generative student also learns to write the teacher's one-line rationales (the label table's JSON column).
    rationales = {"rationales": train["rationales"].to_list()} if getattr(student, "reads_rationales", False) else {}
    info = student.fit(x_train, y_train, **rationales)
    student.save(out)
    if fingerprint is not None:  # what made its inputs, for every kind: score refuses shards made otherwise
        write_json({"encoder": fingerprint}, Path(out) / TRAINED_ON)
    ranked = student.predict(x_val, clipped=False)  # what selection ranks: the mask judges this order
    pred = clip(ranked, scale)  # on the teacher's scale, for MAE (one prediction: a generative student is slow)
    report = student_report(val, pred, ids, y_train.mean(axis=0), ranked)
    report["self_agreement"] = self_agreement(labels, repeats, ids) if repeats.height else {}
    report["label_constancy"] = label_constancy(labels, ids)  # the mask's evidence for a source with few val records
    if "choice" in info:  # the auto student: which kind won each anchor, and every candidate's CV figures
        report["choice"] = info["choice"]
        report["cv"] = info["cv"]
    report.update(group=rubric.group, student=student.kind, student_version=student_version(out),
                  rubric_version=rubric.version, n_train=train.height, n_val=val.height, training=info,
                  anchor_names={a.id: a.name for a in rubric.anchors})
    truth = val.select(ids).to_numpy()
    plot = pl.DataFrame({
        "record_id": np.repeat(val["record_id"].to_numpy(), len(ids)),
        "source": np.repeat(val["source"].to_numpy(), len(ids)),
        "anchor": np.tile([f"{a.id} {a.name}" for a in rubric.anchors], val.height),
        "teacher": truth.reshape(-1).astype(float), "student": ranked.reshape(-1).astype(float),
    }, schema=PLOT)
    return report, plot
