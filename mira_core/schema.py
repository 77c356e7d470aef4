"""Column names and dtypes of every table that passes between stages (DESIGN section 3).

Each stage checks its input against these with `check`, so a stale or foreign file fails with the
file's name and the column at fault instead of a KeyError three functions later.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import polars as pl

from mira_core.errors import SchemaError
from mira_core.io import read_parquet, unreadable_parquet

CORPUS = {
    "record_id": pl.String,  # "<source>/<native id or content hash>", assigned once at ingest
    "source": pl.String,
    "format": pl.String,  # text | code | qa | chat | agent
    "text": pl.String,  # canonical rendering
    "n_tokens": pl.Int64,
    "n_chars": pl.Int64,
    # JSON object: what the source had besides the rendered fields (NaN and inf as null), and where the record was
    # read (`locator`; `mira_locator` where the record has a `locator` field of its own)
    "meta": pl.String,
}

REJECTED = {
    "source": pl.String,
    "locator": pl.String,  # file:line, file#row or a path inside a folder source
    "reason": pl.String,  # a QuarantineReason
    "detail": pl.String,
}

GROUPS = {"source": pl.String, "group": pl.String, "method": pl.String}

JUDGMENTS = {  # data/rubrics/judgments/<group>.parquet: the discover stage's free-form judgments, one per point
    "record_id": pl.String, "group": pl.String, "source": pl.String, "name": pl.String, "description": pl.String,
    "score": pl.Int64, "reason": pl.String, "teacher": pl.String}
JUDGE_FAILURES = {  # data/rubrics/failures/<group>.parquet: the requests of discover that got no judgment
    "record_id": pl.String, "group": pl.String, "source": pl.String, "error": pl.String, "error_kind": pl.String,
    "teacher": pl.String}

# data/labels/<group>.parquet: these columns, then one Int64 column per anchor (a00, a01 ...; see labels.py)
LABEL_META = {"record_id": pl.String, "source": pl.String, "group": pl.String, "split": pl.String,
              "rationales": pl.String, "teacher": pl.String, "rubric_version": pl.String, "prompt_hash": pl.String}
LABEL_FAILURES = {  # data/labels/failures/<group>.parquet: label requests that got no usable answer
    "record_id": pl.String, "source": pl.String, "group": pl.String, "repeat": pl.Int64, "error": pl.String,
    "error_kind": pl.String, "teacher": pl.String}

# data/dedup/dropped.parquet: the near-duplicates dropped, each with its cluster's kept representative
NEAR_DUPLICATES = {"record_id": pl.String, "source": pl.String,
                   "cluster": pl.String,  # record_id of the cluster's representative, the record that is kept
                   "jaccard": pl.Float64,  # estimated Jaccard similarity to the representative
                   # place in the cluster's keep order (1: next after the representative), so that a cluster whose
                   # representative decontaminate drops keeps its best clean copy (`exclusions.near_duplicate_ids`)
                   "rank": pl.Int64,
                   "reason": pl.String}
# data/decontaminate/dropped.parquet: one row per dropped record, naming the item it shares the most n-grams with
CONTAMINATED = {"record_id": pl.String, "source": pl.String, "benchmark": pl.String,
                "item": pl.String,  # the item's id field, or its 1-based line number in the benchmark file
                "n_matches": pl.Int64,  # distinct n-grams the record shares with that item
                "reason": pl.String}
# data/decontaminate/benchmarks.parquet: what each benchmark held and how many records it caught
BENCHMARK_SUMMARY = {"benchmark": pl.String, "items": pl.Int64,
                     "items_unmatchable": pl.Int64,  # items with fewer n-grams than decontaminate.min_matches: never matched
                     "ngrams": pl.Int64, "records_dropped": pl.Int64}
# data/{dedup,decontaminate}/counts.parquet: per source, records_in = records_dropped + records that pass
FILTER_COUNTS = {"source": pl.String, "records_in": pl.Int64, "records_dropped": pl.Int64, "tokens_in": pl.Int64,
                 "tokens_dropped": pl.Int64}

# data/scores/<group>/<source>/part-N.parquet: these columns, then one Float32/64 column per anchor (and, for a
# generative student, `rationales`: JSON anchor -> its one-line reason, null where the reply did not parse)
SCORE_META = {"record_id": pl.String, "group": pl.String}
# a score shard's Parquet footer key: the BLAKE2b (io.file_digest) of the corpus shard it scored, which select checks
CORPUS_DIGEST = "mira.corpus_shard_digest"
TEACHER_SCORED = "teacher:"  # a score shard's student_version prefix when it holds a teacher's own scores (oracle arms)

# data/selection/mask.parquet: one row per (group, source, anchor), on or off, and why
MASK = {"group": pl.String, "source": pl.String, "anchor": pl.String, "name": pl.String, "n_val": pl.Int64,
        "basis": pl.String, "mae": pl.Float64, "spearman": pl.Float64, "somers_d": pl.Float64, "on": pl.Boolean,
        "why": pl.String}
# data/selection/<method>/manifest.parquet: every corpus record once, with whether it is kept and why
MANIFEST = {"record_id": pl.String, "source": pl.String, "group": pl.String, "n_tokens": pl.Int64,
            "score": pl.Float64, "kept": pl.Boolean, "reason": pl.String, "method": pl.String,
            "epochs": pl.Float64}  # passes a trainer makes over the record: 1 when kept, more when upsampled, 0 not kept
# data/selection/oracle.parquet: the teacher-oracle reference on the labeled records
ORACLE = {"record_id": pl.String, "source": pl.String, "group": pl.String, "split": pl.String, "n_tokens": pl.Int64,
          "teacher_score": pl.Float64, "student_score": pl.Float64, "kept_teacher": pl.Boolean,
          "kept_student": pl.Boolean}


class SelectionReason(StrEnum):
    """Why a manifest keeps or drops a record; every record has exactly one, counted in metrics/select.json."""

    KEPT = "kept"
    OVER_BUDGET = "over_budget"
    BELOW_THRESHOLD = "below_threshold"
    UNSCORED = "unscored"
    HELD_OUT = "held_out"
    NEAR_DUPLICATE = "near_duplicate"  # dropped by the dedup stage (a near-copy of a record that is kept)
    CONTAMINATED = "contaminated"  # dropped by the decontaminate stage (overlaps a benchmark item)


# The reasons of records outside the budget's base: no selection may keep them, and their tokens are not selectable.
NOT_SELECTABLE = (SelectionReason.HELD_OUT.value, SelectionReason.NEAR_DUPLICATE.value,
                  SelectionReason.CONTAMINATED.value)


class QuarantineReason(StrEnum):
    """Why ingest set a record aside; each is counted per source in metrics/ingest.json."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    EMPTY_TEXT = "empty_text"
    INVALID_MESSAGES = "invalid_messages"
    TOO_LONG = "too_long"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_CONTENT = "duplicate_content"
    UNREADABLE = "unreadable"
    NUL_CHARACTER = "nul_character"


def empty(schema: dict) -> pl.DataFrame:
    """An empty frame with the given schema."""
    return pl.DataFrame(schema=schema)


def check(actual: pl.Schema | dict, expected: dict, where: str | Path, exact: bool = False) -> None:
    """Raise SchemaError naming `where` when a column is missing, has another dtype, or (exact) is extra."""
    actual = dict(actual)
    problems = []
    for col, dtype in expected.items():
        if col not in actual:
            problems.append(f"missing column {col!r}")
        elif actual[col] != dtype:
            problems.append(f"column {col!r} is {actual[col]}, expected {dtype}")
    if exact:
        problems += [f"unexpected column {c!r}" for c in actual if c not in expected]
    if problems:
        raise SchemaError(f"{where}: " + "; ".join(problems))


def check_parquet(path: Path, expected: dict, exact: bool = False) -> None:
    """Check a Parquet file's schema without reading its rows. The path is a name, not a glob pattern (a project
    under "runs [2]" read nothing), and a file polars cannot read (truncated, not Parquet) is named."""
    try:
        schema = pl.scan_parquet(path, glob=False).collect_schema()
    except pl.exceptions.PolarsError as e:  # a missing file stays FileNotFoundError, as before
        raise SchemaError(unreadable_parquet([path], e)) from e
    check(schema, expected, path, exact=exact)


def read_checked(path: Path | list[Path], expected: dict, columns: list[str] | None = None) -> pl.DataFrame:
    """Read Parquet file(s) written by another stage, after checking each one's schema against `expected`
    (only the columns read, when `columns` is given), so a stale or foreign file fails with its name."""
    paths = path if isinstance(path, list) else [path]
    want = {c: expected[c] for c in columns if c in expected} if columns is not None else expected
    for p in paths:
        check_parquet(p, want)
    return read_parquet(path, columns=columns)


def read_group_corpus(shards: list, columns: tuple[str, ...] = ("record_id", "source", "format", "text"),
                      exclude: pl.Series | None = None) -> pl.DataFrame:
    """A group's corpus records (their `columns`), without the ids in `exclude` (the filter stages' drops); what
    discover samples and label plans on."""
    # No shard (a group map older than the corpus names a source ingest no longer holds): no record, with the
    # columns the samplers select, which a frame without columns failed on
    corpus = (read_checked(list(shards), CORPUS, list(columns)) if shards
              else pl.DataFrame(schema={c: CORPUS[c] for c in columns}))
    if exclude is not None and len(exclude) and corpus.height:
        corpus = corpus.filter(~pl.col("record_id").is_in(exclude.implode()))
    return corpus
