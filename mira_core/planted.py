"""The planted-defect benchmark: real records with defects planted at a known rate, and what a selection keeps of them.

`build_planted_corpus` writes four sources in the formats ingest reads (code, QA, docs, agent traces),
made from this machine's Python installation the way `mira_core.demo_corpus` does, and plants a
defect in an exact, seeded share of each source's records (a quarter by default). There are 14
kinds, each one a mid-training filter must catch: code that does not parse, minified code,
generated protobuf modules, numeric tables dumped as code; QA pairs whose answer is a placeholder,
the question echoed, or another function's code; docs full of spam, web boilerplate, cut
mid-word, or garbled; agent traces with invalid tool-call JSON, a loop of the same call, or no final
answer. A defect keeps a record within a few times its original length in tokens (truncated docs,
placeholder and echoed answers are shorter; the median planted-to-original ratio on seed 0 is 2.2 for
generated modules, 1.9 for spam, 1.7 for tool loops, 1.6 for garbled pages, 1.3 for data tables, whose
minimum of 20 rows makes a small module up to 8.5 times longer), so broken tokens make up about the
defect rate of each source (15 to 31 % at a rate of 25 %). Length alone does not find them: the `length`
baseline keeps more of the broken tokens than `random` does. `truth.parquet` says which record is which.
The defect generators themselves are in `mira_core.planted_defects`.

`evaluate` reads selection manifests against that truth and reports, per method, the share of
broken and of good tokens kept, per defect kind and per source, beside two perfect selectors at
the same budget (`perfect`: each source its share; `perfect_group`: each group its share, as MIRA's
default granularity); with the select stage's oracle table it also reports how much of the teacher's
own removal of broken tokens the students keep. Nothing here trains or calls a model.
"""

from __future__ import annotations

import math
import random
import re
from glob import escape as glob_escape
from pathlib import Path

import polars as pl

from mira_core.config import DemoCorpusParams
from mira_core.demo_corpus import (
    Roots,
    _doc_refs,
    _is_test,
    _order,
    _write_jsonl,
    code_records,
    doc_records,
    python_files,
    qa_records,
    trace_records,
)
from mira_core.errors import ConfigError
from mira_core.ingest.render import render_messages, render_qa
from mira_core.io import read_parquet, write_json, write_parquet

# The defect generators and what they paste in live in planted_defects.py; the names below are re-exported
# (`X as X`) so that `from mira_core.planted import ...` keeps working for the benchmark and its tests.
from mira_core.planted_defects import DEFECTS, Record, _parses, is_stub
from mira_core.planted_defects import PLACEHOLDERS as PLACEHOLDERS
from mira_core.planted_defects import PROMOS as PROMOS
from mira_core.planted_defects import _asked_name as _asked_name
from mira_core.planted_defects import _def_name as _def_name
from mira_core.sampling import keyed_order, keyed_uniform
from mira_core.schema import NOT_SELECTABLE
from mira_core.selection import budget_share

# name -> (file, format, fields besides the id); the formats and fields are those of SourceSpec
SOURCES = {
    "code": ("code.jsonl", "code", ("text",)),
    "qa": ("qa.jsonl", "qa", ("question", "answer")),
    "docs": ("docs.jsonl", "text", ("text",)),
    "traces": ("traces.jsonl", "agent", ("messages",)),
}
KINDS = {
    "code": ("syntax_error", "minified", "generated", "data_table"),
    "qa": ("empty_answer", "echoed_answer", "wrong_answer"),
    "docs": ("spam", "boilerplate", "truncated", "garbled"),
    "traces": ("broken_tool_json", "tool_loop", "no_final_answer"),
}
GOOD = "good"
TRUTH = {"record_id": pl.String, "source": pl.String, "kind": pl.String, "defect": pl.Boolean}
MANIFEST = {"record_id": pl.String, "source": pl.String, "n_tokens": pl.Int64, "kept": pl.Boolean, "reason": pl.String}
ORACLE = {"record_id": pl.String, "source": pl.String, "n_tokens": pl.Int64, "kept_teacher": pl.Boolean,
          "kept_student": pl.Boolean}

# Bounds on the files read: modules up to 12 kB stay near the teacher's 12,000-character view and a
# few encoder windows; docs are cut into sections (there are only ~400 doc files in a venv).
MAX_FILE_BYTES = 12_000
MIN_FILE_BYTES = 400
DOC_SECTION_CHARS = (600, 4000)
GENERATED_MARK = re.compile(r"do not edit|generated (?:by|from|with)|@generated|auto-?generated|"
                            r"automatically generated", re.I)


# ---------------------------------------------------------------- good records from this installation
def _params(seed: int, n: int) -> DemoCorpusParams:
    # read a margin beyond n: some files are dropped below (generated, unparsable, duplicates)
    return DemoCorpusParams(max_records_per_source=2 * n + 20, max_file_bytes=MAX_FILE_BYTES,
                            min_file_bytes=MIN_FILE_BYTES, seed=seed)


def _sections(text: str, lo: int, hi: int) -> list[str]:
    """A doc cut at paragraph boundaries into sections of lo..hi characters (a short tail joins the last).

    Never inside a fenced code block, so no good section starts or ends in the middle of one.
    """
    out, cur = [], ""
    for para in re.split(r"\n\s*\n", text.strip()):
        closed = cur.count("```") % 2 == 0
        if cur and closed and (len(cur) + len(para) > hi or (len(cur) >= lo and para.lstrip().startswith("#"))):
            out.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        if out and len(cur) < lo:
            out[-1] += "\n\n" + cur
        else:
            out.append(cur)
    return [s for s in out if len(s) >= lo]


def good_records(roots: Roots, seed: int, n: int) -> dict[str, list[Record]]:
    """Up to n real records per source, each with an `id` and its rendered fields, free of the planted defects."""
    return {name: rows[:n] for name, rows in _good_and_spare(roots, seed, n).items()}


def _good_and_spare(roots: Roots, seed: int, n: int) -> dict[str, list[Record]]:
    """Every good record read per source, in corpus order: the first n make the corpus (`good_records`), the rest
    are spares (`wrong_answer` draws its answers from QA's).

    Code and QA come from disjoint halves of the modules (a seeded split, by a hash of each module's name, so a
    package added to the installation moves no other module across it), so no answer is a slice of a
    code record, except where a package vendors another's module (pip's copy of pygments: 3 answers on seed 1,
    none on seeds 0 and 2). Modules that do not parse or announce they are generated are left out, and so are
    QA answers that are stubs (an abstract method's docstring and `raise NotImplementedError`, the `empty_answer`
    defect's shape): they are defects the truth would call good.
    """
    p = _params(seed, n)
    modules = [r for r in python_files(roots) if r.rel.endswith(".py") and not _is_test(r)]
    ordered = _order(modules, seed)
    to_qa = keyed_uniform([r.rel for r in ordered], f"{seed}:code-or-qa") >= 0.5
    code = [{"id": r["id"], "text": r["text"]}
            for r in code_records([m for m, q in zip(ordered, to_qa, strict=True) if not q], p)
            if _parses(r["text"]) and not GENERATED_MARK.search(r["text"][:3000])]
    qa = [{"id": r["id"], "question": r["question"], "answer": r["answer"]}
          for r in qa_records([m for m, q in zip(ordered, to_qa, strict=True) if q], p)
          if _parses(r["answer"]) and not is_stub(r["answer"])]
    docs = [{"id": f"{r['id']}#{i}", "text": s}
            for r in doc_records(roots, DemoCorpusParams(max_records_per_source=max(1, len(_doc_refs(roots))), seed=seed,
                                                         min_file_bytes=MIN_FILE_BYTES))
            for i, s in enumerate(_sections(r["text"], *DOC_SECTION_CHARS))]
    # sections of many files, not all of the first few; keyed by id, so a file added moves no other section
    docs = [docs[i] for i in keyed_order([d["id"] for d in docs], f"{seed}:docs-order")]
    traces = [{"id": r["id"], "messages": r["messages"]} for r in trace_records(modules, p)]
    return {name: _unique(name, rows) for name, rows in {"code": code, "qa": qa, "docs": docs, "traces": traces}.items()}


def rendered(source: str, rec: Record) -> str:
    """The text ingest will make of a record (used to keep every record's text distinct: ingest drops duplicates)."""
    if source == "qa":
        return render_qa(rec["question"], rec["answer"])
    if source == "traces":
        return render_messages(rec["messages"])
    return rec["text"]


def _unique(source: str, rows: list[Record]) -> list[Record]:
    seen, ids, out = set(), set(), []
    for r in rows:
        text = rendered(source, r)
        if text in seen or r["id"] in ids:
            continue
        seen.add(text)
        ids.add(r["id"])
        out.append(r)
    return out


# ---------------------------------------------------------------- the corpus
def plant(source: str, rows: list[Record], seed: int, rate: float,
          pool: list[Record] | None = None) -> tuple[list[Record], list[str]]:
    """The rows with a defect planted in round(rate * n) of them (seeded), and each row's kind.

    Kinds go round-robin over the defective rows in their keyed order, so each kind gets an equal share (within one).
    A defect whose text would repeat another record's (ingest would drop it) is drawn again. `pool` is what a
    defect that borrows another record's content draws from (`wrong_answer`), each record once; the rows themselves
    when not given.
    """
    # keyed by id: a record added to the source moves no other record between good and broken, nor its kind,
    # beyond the one at the edge of the defective share
    order = keyed_order([r["id"] for r in rows], f"{seed}:{source}:plant")
    chosen = order[: round(rate * len(rows))]
    kinds = [GOOD] * len(rows)
    for j, i in enumerate(chosen):
        kinds[i] = KINDS[source][j % len(KINDS[source])]
    out = list(rows)
    pool = list(rows if pool is None else pool)  # a copy: a defect takes what it borrows out of it
    seen = {rendered(source, r) for r in rows}
    for i in sorted(chosen):
        rrng = random.Random(f"{seed}:{source}:{rows[i]['id']}")
        for _ in range(5):
            rec = DEFECTS[kinds[i]](rows[i], rrng, pool)
            text = rendered(source, rec)
            if text not in seen and text.strip():
                break
        else:
            raise AssertionError(f"{source}/{rows[i]['id']}: {kinds[i]} keeps repeating another record's text")
        seen.add(text)
        out[i] = rec
    return out, kinds


def build_planted_corpus(out: Path, seed: int = 0, defect_rate: float = 0.25, records_per_source: int = 400,
                         relative_to: Path | None = None, roots: Roots | None = None) -> dict:
    """Write the four sources, `truth.parquet` and `planted.json` under `out`; return what planted.json holds.

    The returned `sources` are params.yaml entries; their paths are relative to `relative_to` when
    given (the project folder), absolute otherwise.
    """
    if not 0 <= defect_rate < 1:
        raise ConfigError(f"defect_rate = {defect_rate}: must be at least 0 and below 1")
    if records_per_source < 1:
        raise ConfigError(f"records_per_source = {records_per_source}: must be at least 1")
    # checked here, not left to DemoCorpusParams: its pydantic ValidationError named a model the user never wrote
    if not 0 <= seed <= 2**32 - 1:
        raise ConfigError(f"seed = {seed}: must be from 0 to 2**32 - 1, as demo_corpus.seed")
    out = Path(out).resolve()
    # a file where the folder (or a folder above it) should be failed with FileExistsError or NotADirectoryError
    # once the sources were planted
    blocked = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocked:
        raise ConfigError(f"{blocked}: a file, not a folder; the planted corpus is written to the folder {out}")
    good = _good_and_spare(roots or Roots.of_this_interpreter(), seed, records_per_source)
    # wrong answers come from QA records left out of the corpus: one drawn from the corpus made a near-copy of a
    # good record, and dedup kept one of the pair (by record_id), sometimes the broken one. A small installation
    # with no spare QA record falls back on the corpus's own, and planted.json says which.
    spare_qa = good["qa"][records_per_source:]
    pools = {"qa": spare_qa or None}
    truth, sources, counts = [], [], {}
    for name, (file, fmt, _fields) in SOURCES.items():
        rows, kinds = plant(name, good[name][:records_per_source], seed, defect_rate, pools.get(name))
        _write_jsonl(rows, out / file)
        truth += [{"record_id": f"{name}/{r['id']}", "source": name, "kind": k, "defect": k != GOOD}
                  for r, k in zip(rows, kinds, strict=True)]
        counts[name] = {k: kinds.count(k) for k in (GOOD, *KINDS[name])}
        path = out / file
        shown = path.relative_to(Path(relative_to).resolve()) if relative_to else path
        # ingest reads a source's path as a glob: under a folder like "runs [2]" the path as written matched nothing
        sources.append({"name": name, "path": glob_escape(shown.as_posix()), "format": fmt, "id_field": "id"})
    write_parquet(pl.DataFrame(truth, schema=TRUTH), out / "truth.parquet")
    # a small installation (few modules, no docs) yields fewer records than asked: say how many each source got
    written = {name: sum(counts[name].values()) for name in SOURCES}
    info = {"seed": seed, "defect_rate": defect_rate, "records_per_source": records_per_source,
            "records_by_source": written, "records": len(truth), "defects": sum(t["defect"] for t in truth),
            "counts": counts, "wrong_answers_from": "spare QA records" if spare_qa else "the corpus's QA records",
            "sources": sources}
    write_json(info, out / "planted.json")
    return info


# ---------------------------------------------------------------- evaluation
def _check(df: pl.DataFrame, columns: dict, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{what}: missing column(s) {', '.join(missing)} (has {', '.join(df.columns)})")


def check_truth(truth: pl.DataFrame, what: str = "truth") -> None:
    """A truth every share can be read against: its columns, `defect` a boolean, and every record named once and
    labeled (a record with no `defect` or `kind` would count in the corpus's tokens and in neither the broken nor
    the good, and a record named twice would count its tokens twice). ConfigError naming `what` otherwise."""
    _check(truth, TRUTH, what)
    # an id of another type (a number, as a hand-made truth may hold) failed the join with polars' SchemaError
    if truth.schema["record_id"] not in (pl.String, pl.Categorical) and not isinstance(truth.schema["record_id"], pl.Enum):
        raise ConfigError(f"{what}: column record_id is {truth.schema['record_id']}, not String (the ids ingest gives, "
                          "'<source>/<id>')")
    if truth.schema["defect"] != pl.Boolean:
        raise ConfigError(f"{what}: column defect is {truth.schema['defect']}, not Boolean (true for a record "
                          "with a defect)")
    unlabeled = {c: truth[c].null_count() for c in TRUTH if truth[c].null_count()}
    if unlabeled:
        raise ConfigError(f"{what}: every record needs a label; null in column(s) "
                          + ", ".join(f"{c} ({n} of {truth.height} records)" for c, n in unlabeled.items()))
    twice = truth.filter(pl.col("record_id").is_duplicated())["record_id"].unique().sort()
    if twice.len():
        raise ConfigError(f"{what}: {twice.len()} record_id(s) more than once in column record_id, e.g. "
                          + ", ".join(twice.head(3).to_list()))
    # kind "good" is the good records' and only theirs: a good kind marked defect put broken tokens in the good row,
    # and a good record with another kind (a typo) was read as a defect kind
    disagree = truth.filter(pl.col("defect") != (pl.col("kind").cast(pl.String) != GOOD))
    if disagree.height:
        raise ConfigError(f"{what}: kind and defect disagree for {disagree.height} record(s) (kind {GOOD!r} is for a "
                          f"record without a defect, any other kind for one with a defect), e.g. "
                          + ", ".join(f"{r} (kind {k!r}, defect {d})" for r, k, d in
                                      disagree.select("record_id", "kind", "defect").head(3).iter_rows()))


def _labels(truth: pl.DataFrame) -> pl.DataFrame:
    """The truth's own four columns, names as String. Another column of a hand-made truth (its own n_tokens, kept or
    reason) took the place of the manifest's in every join, and the shares were read off it."""
    return truth.select(pl.col(c).cast(pl.String) if c != "defect" else pl.col(c) for c in TRUTH)


def check_manifest(manifest: pl.DataFrame, what: str) -> None:
    """A manifest every share can be read from: its columns, `kept` a boolean, `n_tokens` an integer, each record once
    (a record listed twice counted its tokens twice). ConfigError naming `what` otherwise."""
    _check(manifest, MANIFEST, what)
    if manifest.schema["kept"] != pl.Boolean or not manifest.schema["n_tokens"].is_integer():
        raise ConfigError(f"{what}: column kept is {manifest.schema['kept']} and n_tokens {manifest.schema['n_tokens']}; "
                          "they must be Boolean and an integer")
    twice = manifest.filter(pl.col("record_id").is_duplicated())["record_id"].unique().sort()
    if twice.len():
        raise ConfigError(f"{what}: {twice.len()} record_id(s) more than once, e.g. "
                          + ", ".join(map(str, twice.head(3).to_list())))


def _share(num: float, den: float) -> float | None:
    # unrounded: the targets' bars and the per-source comparison read these, and a share rounded first could meet
    # a bar it misses (0.10004 as 0.1); the tables round when they print
    return num / den if den else None


def figures(df: pl.DataFrame, kept: str = "kept") -> dict:
    """Token shares kept of a frame with record_id, source, kind, defect, n_tokens and a bool `kept` column."""
    df = df.with_columns(_k=pl.col(kept).fill_null(False), _t=pl.col("n_tokens").cast(pl.Int64))
    tok = int(df["_t"].sum())
    kept_tok = int(df.filter("_k")["_t"].sum())

    def part(d: pl.DataFrame) -> tuple[int, int]:
        return int(d["_t"].sum()), int(d.filter("_k")["_t"].sum())

    bt, bk = part(df.filter("defect"))
    gt, gk = part(df.filter(~pl.col("defect")))
    by_kind = {}
    for (kind,), d in sorted(df.group_by("kind"), key=lambda x: str(x[0][0])):
        t, k = part(d)
        by_kind[kind] = _share(k, t)
    by_source = {}
    for (source,), d in sorted(df.group_by("source"), key=lambda x: str(x[0][0])):
        st, sk = part(d)
        sbt, sbk = part(d.filter("defect"))
        sgt, sgk = part(d.filter(~pl.col("defect")))
        by_source[source] = {"tokens": st, "corpus_share": _share(st, tok), "kept_share": _share(sk, kept_tok),
                             "kept": _share(sk, st), "broken_kept": _share(sbk, sbt), "good_kept": _share(sgk, sgt)}
    return {"records": df.height, "tokens": tok, "kept_tokens": kept_tok, "kept": _share(kept_tok, tok),
            "good_kept": _share(gk, gt), "broken_kept": _share(bk, bt), "broken_share_of_kept": _share(bk, kept_tok),
            "by_kind": by_kind, "by_source": by_source}


def _check_sources(truth: pl.DataFrame, manifest: pl.DataFrame, method: str) -> None:
    """Refuse a truth that puts a record in another source than the manifest does: the shares per source, and the
    perfect selector's budget per source, are read off the truth's, so a renamed or mislabeled source was measured
    against a split of the budget the selection never made."""
    both = _labels(truth).join(manifest.select("record_id", pl.col("source").cast(pl.String).alias("_manifest")),
                               on="record_id")
    wrong = both.filter(pl.col("source") != pl.col("_manifest"))
    if wrong.height:
        raise ConfigError(f"truth: column source disagrees with the manifest of {method} for {wrong.height} record(s), "
                          "e.g. " + ", ".join(f"{r} ({t!r} in the truth, {m!r} in the manifest)" for r, t, m in
                                              wrong.select("record_id", "source", "_manifest").head(3).iter_rows())
                          + ": name each record's source as params.yaml's sources do")


def _selectable(truth: pl.DataFrame, manifest: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Truth joined with a manifest, minus what no method may keep; and the counts of what was left out.

    Left out: records quarantined by ingest (in the truth, in no manifest), held out, and dropped by a filter
    stage (near-duplicates, contaminated: no selection may keep them, the perfect selector included). Counted
    as selectable and not kept, they would lower every method's kept shares alike, most of all for a kind whose
    planting makes near-copies (a wrong answer copied from another record).
    """
    truth = _labels(truth)
    cols = ["record_id", "n_tokens", "kept", "reason", *(["group"] if "group" in manifest.columns else [])]
    joined = truth.join(manifest.select(cols), on="record_id", how="left")
    quarantined = joined.filter(pl.col("reason").is_null())  # in the truth, never made it into the corpus
    held = joined.filter(pl.col("reason") == "held_out")
    dropped = joined.filter(pl.col("reason").is_in([r for r in NOT_SELECTABLE if r != "held_out"]))
    unknown = manifest.join(truth, on="record_id", how="anti").height
    excluded = {"quarantined_records": quarantined.height, "held_out_records": held.height,
                "held_out_tokens": int(held["n_tokens"].sum()), "dropped_records": dropped.height,
                "dropped_tokens": int(dropped["n_tokens"].sum()), "not_in_truth_records": unknown}
    return joined.filter(pl.col("reason").is_not_null() & ~pl.col("reason").is_in(list(NOT_SELECTABLE))), excluded


def _keepable(df: pl.DataFrame) -> pl.Expr:
    """Not dropped by a filter stage: a record no selection may keep, so no perfect one keeps it either (a frame
    without the manifest's reasons keeps every record)."""
    return ~pl.col("reason").is_in(list(NOT_SELECTABLE)) if "reason" in df.columns else pl.lit(True)


def perfect(selectable: pl.DataFrame, budget: float) -> pl.DataFrame:
    """The perfect source-preserving selector: per source, good records only, up to the source's share of the budget.

    Each source gets budget x its tokens (the allocation a source-preserving selector makes); its good
    records are taken in record_id order, each one that still fits (first fit, so whole records
    fill the share closely). Budget a source cannot fill with good records stays unspent rather than
    moving to another source. When every source has more good tokens than its share (broken tokens
    under half of each source at a budget of 0.5), its `good_kept` is close to the most any selector can keep:
    first fit packs whole records, so another selection may fill a share a little more closely (the exact bound,
    the budget over the good tokens, is the corpus's `good_bound`). The shares are of the tokens no filter stage
    dropped, as MIRA's budget is (`selection.unit_budgets`).
    """
    pool = selectable.filter(_keepable(selectable))  # the budget is a share of these tokens, as MIRA's is
    frac = budget_share(budget, int(pool["n_tokens"].sum()))
    room = {(s,): frac * t for s, t in pool.group_by("source").agg(pl.col("n_tokens").sum()).iter_rows()}
    return _first_fit(selectable, pool.filter(~pl.col("defect")), room, ["source"])


def _first_fit(selectable: pl.DataFrame, good: pl.DataFrame, room: dict[tuple, float], by: list[str]) -> pl.DataFrame:
    """`selectable` with `kept`: the `good` records in record_id order, each one that still fits its unit's `room`
    (units keyed by the values of the `by` columns)."""
    keep = []
    for rid, n, *unit in good.sort("record_id").select("record_id", "n_tokens", *by).iter_rows():
        if n <= room[tuple(unit)]:
            keep.append(rid)
            room[tuple(unit)] -= n
    return selectable.with_columns(kept=pl.col("record_id").is_in(pl.Series(keep, dtype=pl.String).implode()))


def perfect_group(selectable: pl.DataFrame, budget: float) -> pl.DataFrame:
    """The perfect group-level selector: per group, good records only, up to the group's share of the budget.

    This is the allocation MIRA's default `select.granularity: group` makes: a group's budget is shared by rank, so
    a source with fewer broken tokens than its neighbours rightly takes more of it. The group's share is split
    between its sources in proportion to their good tokens (a selector that ranks every good record alike), each
    filled first fit in record_id order as `perfect` does. Its per-source shares are the ones a perfect selector at
    MIRA's granularity ends with: the reference for whether MIRA keeps every source's share. (MIRA sets apart a
    source with no reliable anchor, or none shared with its group, with its own share; this reference does not
    know the mask, and `perfect` is the reference for such a source.) Records a filter stage dropped
    (near-duplicates, contaminated) are not MIRA's to keep, and not this selector's either.
    """
    pool = selectable.filter(_keepable(selectable))  # the budget is a share of these tokens, as MIRA's is
    frac = budget_share(budget, int(pool["n_tokens"].sum()))
    group_tokens = dict(pool.group_by("group").agg(pl.col("n_tokens").sum()).iter_rows())
    good = pool.filter(~pl.col("defect"))
    good_tokens = dict(good.group_by("group").agg(pl.col("n_tokens").sum()).iter_rows())
    # a group with fewer good tokens than its share keeps all of them; otherwise each source its part of the share
    room = {(g, s): min(good_tokens[g], frac * group_tokens[g]) * t / good_tokens[g] if good_tokens[g] else 0.0
            for g, s, t in good.group_by("group", "source").agg(pl.col("n_tokens").sum()).iter_rows()}
    return _first_fit(selectable, good, room, ["group", "source"])


def evaluate(truth: pl.DataFrame, manifests: dict[str, pl.DataFrame], budget: float = 0.5,
             oracle: pl.DataFrame | None = None) -> dict:
    """Per method: the share of broken and of good tokens kept, per defect kind and per source; plus `perfect`, and
    `perfect_group` when the manifests carry each record's group.

    Token counts are the manifests' n_tokens. Records held out, dropped by a filter stage (near-duplicates,
    contaminated), or quarantined by ingest (in the truth but in no manifest) are excluded from every share and
    counted under `excluded`. `budget` is a
    fraction of the selectable tokens (<= 1) or a token count, as `select.budget`, for `perfect`.
    With the select stage's oracle table, `oracle` compares the teacher's own cut (kept_teacher)
    with the students' (kept_student) on the labeled records.
    """
    check_truth(truth)
    if not (budget > 0 and math.isfinite(budget)) or (budget > 1 and budget != int(budget)):
        # as select.budget: a perfect selector and a bound at no budget, or below it, mean nothing, and a budget
        # above 1 is a token count (1.5 was read as one and a half tokens)
        raise ConfigError(f"budget = {budget}: must be above 0 (a fraction of the selectable tokens up to 1, or a "
                          "whole token count above it, as select.budget)")
    if not manifests:
        raise ConfigError("no manifests to evaluate")
    methods, reference = {}, None
    for method in sorted(manifests):
        check_manifest(manifests[method], f"manifest of {method}")
        selectable, excluded = _selectable(truth, manifests[method])
        if excluded["quarantined_records"] == truth.height:
            raise ConfigError(f"truth: none of its {truth.height} record_id(s) is in the manifest of {method}, e.g. "
                              f"{', '.join(map(str, truth['record_id'].head(2)))} against the manifest's "
                              f"{', '.join(map(str, manifests[method]['record_id'].head(2)))} (ingest's ids are "
                              "'<source>/<id>')")
        _check_sources(truth, manifests[method], method)
        methods[method] = {**figures(selectable), "excluded": excluded}
        if reference is None or method == "mira":
            reference = (selectable, excluded, manifests[method])
    selectable, excluded, manifest = reference
    # The budget is the selection's: a share of every record it could keep, those the truth does not name included
    # (a labeled sample of a larger corpus). A token count is made that share here, of the manifest's tokens, so the
    # perfect selectors keep the same share of the truth's tokens whichever way the budget is written.
    pool = int(manifest.filter(~pl.col("reason").is_in(list(NOT_SELECTABLE)))["n_tokens"].sum())
    frac = budget_share(budget, pool)
    methods["perfect"] = {**figures(perfect(selectable, frac)), "excluded": excluded}
    if "group" in selectable.columns and selectable["group"].null_count() == 0:
        methods["perfect_group"] = {**figures(perfect_group(selectable, frac)), "excluded": excluded}
    corpus = figures(selectable.with_columns(kept=pl.lit(True)))
    good_tokens = int(selectable.filter(~pl.col("defect"))["n_tokens"].sum())
    # No selection within the budget keeps more good tokens than the budget holds, whatever it keeps where; it may
    # hold more than the same share of the truth's tokens.
    bound = min(1.0, frac * pool / good_tokens) if good_tokens else 1.0
    result = {"budget": budget, "corpus": {"records": corpus["records"], "tokens": corpus["tokens"],
                                           "broken_token_share": _share(
                                               int(selectable.filter("defect")["n_tokens"].sum()), corpus["tokens"]),
                                           "good_bound": bound,
                                           "by_source": {s: v["corpus_share"] for s, v in corpus["by_source"].items()},
                                           "excluded": excluded,
                                           # named: an id the corpus does not have reads as a record ingest quarantined
                                           "in_no_manifest": _labels(truth).join(manifest, on="record_id", how="anti")
                                           ["record_id"].sort().head(3).to_list()},
              "methods": methods}
    if oracle is not None:
        result["oracle"] = evaluate_oracle(truth, oracle)
    if TEACHER_ALL in manifests and "mira" in manifests:
        result["teacher_all"] = record_overlap(truth, manifests["mira"], manifests[TEACHER_ALL])
    return result


def record_overlap(truth: pl.DataFrame, mira: pl.DataFrame, teacher: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per defect kind, the broken records MIRA and the teacher's scores of every record keep: both, MIRA only (the
    students let them through) and the teacher's scores only (the students drop them). Kinds neither keeps are left
    out."""
    a, _ = _selectable(truth, mira)
    b, _ = _selectable(truth, teacher)
    df = a.filter("defect").select("record_id", "kind", m=pl.col("kept").fill_null(False)).join(
        b.select("record_id", t=pl.col("kept").fill_null(False)), on="record_id", how="inner")
    out = {}
    for (kind,), d in sorted(df.group_by("kind"), key=lambda x: str(x[0][0])):
        both, m_only = d.filter(pl.col("m") & pl.col("t")).height, d.filter(pl.col("m") & ~pl.col("t")).height
        t_only = d.filter(~pl.col("m") & pl.col("t")).height
        if both or m_only or t_only:
            out[kind] = {"both": both, "mira_only": m_only, "teacher_only": t_only, "records": d.height}
    return out


PERFECT = ("perfect_group", "perfect")  # the reference selectors, not methods a run makes
# A manifest of this name is select run on the teacher's own scores of every record (the planted benchmark writes it,
# bench/planted.py): the whole-corpus teacher oracle, where the oracle table covers only the labeled records.
TEACHER_ALL = "teacher_scores"
TEACHER_LOW = 0.2  # a kind "the teacher scores low": its own cut keeps at most this share of it (issue 10's bar)


def evaluate_oracle(truth: pl.DataFrame, oracle: pl.DataFrame) -> dict:
    """Teacher oracle against students on the labeled records; and how much of the teacher's broken-token removal survives.

    `broken_removal_kept` = (1 - broken_kept of the students) / (1 - broken_kept of the teacher): 1.0 when
    the students drop as many broken tokens as the teacher's own labels would, 0 when they drop none.
    """
    _check(oracle, ORACLE, "oracle")
    split = ["split"] if "split" in oracle.columns else []  # the select stage writes it; a hand-made table may not
    truth = _labels(truth)
    joined = truth.join(oracle.select(*ORACLE, *split), on=["record_id"], how="inner", suffix="_oracle")

    def cuts(df: pl.DataFrame) -> dict:
        teacher, student = figures(df, "kept_teacher"), figures(df, "kept_student")
        bt, bs = teacher["broken_kept"], student["broken_kept"]
        retained = removal_kept(bs, bt)
        agree = df.select((pl.col("kept_teacher") == pl.col("kept_student")).mean()).item() if df.height else None
        return {"records": df.height, "teacher": teacher, "student": student, "broken_removal_kept": retained,
                "agreement": None if agree is None else round(float(agree), 4)}

    # The students were fitted on the train labels, so on those records they can repeat the teacher nearly by
    # heart; the val records are the out-of-sample part of the comparison.
    out = {**cuts(joined), "not_in_truth_records": oracle.join(truth, on="record_id", how="anti").height,
           "labeled_by_kind": dict(sorted(joined.group_by("kind").len().iter_rows()))}
    if split:
        val = cuts(joined.filter(pl.col("split") == "val"))
        out["val"] = {"records": val["records"], "teacher_broken_kept": val["teacher"]["broken_kept"],
                      "student_broken_kept": val["student"]["broken_kept"],
                      "broken_removal_kept": val["broken_removal_kept"], "agreement": val["agreement"]}
    return out


def teacher_drops(result: dict, at_most: float = TEACHER_LOW) -> dict[str, dict]:
    """The defect kinds the teacher scores low: its own cut on the labeled records (the oracle), or select run on
    its own scores of every record (`teacher_scores`), keeps at most `at_most` of their tokens. For each: what the
    oracle keeps (None for a kind with no labeled record), what MIRA keeps of the whole corpus's tokens of it, and
    what `teacher_scores` keeps.

    A kind the teacher's own scores keep is the teacher's judgment, not lost by the students; this is the set a
    student pipeline is accountable for. Either reading counts: the labeled cut alone holds a handful of records
    per kind (one kept wrong answer of four is 25 %), so a kind the teacher scores low everywhere could drop out of
    the set by one labeled record, and the set would then flatter the students."""
    o = result.get("oracle")
    if not o or "mira" not in result["methods"]:
        return {}
    mira = result["methods"]["mira"]["by_kind"]
    every = result["methods"].get(TEACHER_ALL, {}).get("by_kind")
    labeled = o.get("labeled_by_kind")  # absent from figures saved before it was counted
    cut = o["teacher"]["by_kind"]
    low = {k for k, v in cut.items() if v is not None and v <= at_most}
    low |= {k for k, v in (every or {}).items() if v is not None and v <= at_most}
    return {k: {"teacher_kept": cut.get(k), "mira_kept": mira.get(k), "labeled": labeled.get(k, 0) if labeled else None,
                **({"teacher_all_kept": every.get(k)} if every else {})}
            for k in sorted(low - {GOOD})}


def teacher_low_kept(result: dict) -> list[str]:
    """The kinds the teacher scores low (`teacher_drops`) that MIRA keeps more than `TEACHER_LOW` of: what issue 10's
    "no kind the teacher scores low survives above 20 %" counts."""
    return [k for k, v in teacher_drops(result).items() if v["mira_kept"] is not None and v["mira_kept"] > TEACHER_LOW]


def load_selection(folder: Path) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None]:
    """The manifests under a data/selection folder (<method>/manifest.parquet), and oracle.parquet when present."""
    folder = Path(folder)
    # io.read_parquet: a file that is not Parquet (or cut short) is a ConfigError naming it, not polars' traceback
    manifests = {f.parent.name: read_parquet(f) for f in sorted(folder.glob("*/manifest.parquet"))}
    if not manifests:
        raise ConfigError(f"{folder}: no <method>/manifest.parquet (run the select stage first)")
    oracle = folder / "oracle.parquet"
    return manifests, (read_parquet(oracle) if oracle.exists() else None)


# ---------------------------------------------------------------- markdown
def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def method_order(methods: dict) -> list[str]:
    """mira first, the perfect references last, the baselines between in name order."""
    rest = sorted(m for m in methods if m not in ("mira", *PERFECT))
    return [m for m in ("mira", *rest, *PERFECT) if m in methods]


def render_markdown(result: dict) -> str:
    """The results of `evaluate` as markdown: the headline per method, then per defect kind and per source."""
    c, methods = result["corpus"], result["methods"]
    order = method_order(methods)
    ex = c["excluded"]
    lines = [f"{c['records']:,} selectable records, {c['tokens']:,} tokens, {pct(c['broken_token_share'])} of them broken; "
             f"budget {result['budget']}; excluded: {ex['held_out_records']} held out, "
             f"{ex.get('dropped_records', 0)} dropped as near-duplicates or contaminated, {ex['quarantined_records']} "
             f"in the truth and in no manifest (quarantined by ingest, or not in the corpus"
             + (f": {', '.join(c['in_no_manifest'])}" if c.get("in_no_manifest") else "")
             + f"), {ex['not_in_truth_records']} not in the truth.", ""]
    lines += md_table(["method", "tokens kept", "good kept", "broken kept", "broken share of kept"],
                      [[f"`{m}`", pct(methods[m]["kept"]), pct(methods[m]["good_kept"]), pct(methods[m]["broken_kept"]),
                        pct(methods[m]["broken_share_of_kept"])] for m in order])
    kinds = sorted(methods[order[0]]["by_kind"], key=lambda k: (k != GOOD, _kind_source(k), k))
    o = result.get("oracle")
    extra = ["labeled: teacher oracle / students"] if o else []
    lines += ["", "Share of each kind's tokens kept" + (" (the last column: on the labeled records, the teacher's own "
              "cut and the students', with the number of labeled records)" if o else "") + ":", ""]
    lines += md_table(["kind", *[f"`{m}`" for m in order], *extra],
                      [[k, *[pct(methods[m]["by_kind"].get(k)) for m in order],
                        *([f"{pct(o['teacher']['by_kind'].get(k))} / {pct(o['student']['by_kind'].get(k))} "
                           f"({o['labeled_by_kind'].get(k, 0) if 'labeled_by_kind' in o else '-'})"] if o else [])]
                       for k in kinds])
    low = teacher_drops(result)
    if low:
        over = teacher_low_kept(result)
        lines += ["", f"Kinds the teacher scores low (its own cut of the labeled records, or select on its own "
                  f"scores of every record, keeps at most {TEACHER_LOW:.0%} of their tokens): {', '.join(low)}. "
                  f"Of them, MIRA keeps more than {TEACHER_LOW:.0%} of: "
                  + (", ".join(f"{k} ({pct(low[k]['mira_kept'])}" + (
                      f"; `{TEACHER_ALL}` {pct(low[k]['teacher_all_kept'])}" if "teacher_all_kept" in low[k] else "")
                      + ")" for k in over) or "none") + "."]
    if TEACHER_ALL in methods and "mira" in methods:
        lines += ["", *render_teacher_all(methods["mira"], methods[TEACHER_ALL], result.get("teacher_all"))]
    lines += ["", "Per source: broken kept / good kept (the source's share of all kept tokens; its share of the "
              "corpus is beside its name):", ""]
    sources = sorted(methods[order[0]]["by_source"])
    lines += md_table(["source (corpus share)", *[f"`{m}`" for m in order]],
                      [[f"{s} ({pct(c['by_source'].get(s))})",
                        *[_source_cell(methods[m]["by_source"].get(s)) for m in order]] for s in sources])
    lines += share_gaps(methods)
    if "oracle" in result:
        lines += ["", *render_oracle(result["oracle"])]
    return "\n".join(lines) + "\n"


def over_single(mira: dict[str, float], single: dict[str, float]) -> list[str]:
    """The sources where MIRA keeps broken tokens and not fewer than `single_rubric` (per source, the share of its
    broken tokens each keeps): the done-when's "fewer broken tokens than single_rubric in every source" holds when
    there is none."""
    return [src for src, x in mira.items() if x and not x < single[src]]


def removal_kept(student_broken: float | None, teacher_broken: float | None) -> float | None:
    """The share of the teacher's removal of broken tokens that the students keep: (1 - theirs) / (1 - the teacher's)."""
    if student_broken is None or teacher_broken is None or teacher_broken >= 1:
        return None
    return _share(1 - student_broken, 1 - teacher_broken)


def render_teacher_all(mira: dict, teacher: dict, overlap: dict | None = None) -> list[str]:
    """MIRA against select run on the teacher's own scores of every record, kind by kind where they differ, and
    (with `record_overlap`) the broken records one keeps and the other drops."""
    differ = [k for k in sorted(mira["by_kind"]) if k != GOOD and mira["by_kind"][k] is not None
              and teacher["by_kind"].get(k) is not None and abs(mira["by_kind"][k] - teacher["by_kind"][k]) >= 0.005]
    lines = [f"`{TEACHER_ALL}` is select run on the teacher's own scores of every record, with MIRA's mask, "
             "aggregation and budget: the whole-corpus teacher oracle. It keeps "
             f"{pct(teacher['good_kept'])} of the good tokens and {pct(teacher['broken_kept'])} of the broken; MIRA "
             f"keeps {pct(removal_kept(mira['broken_kept'], teacher['broken_kept']))} of its removal of broken tokens "
             "on every record. Kinds where they differ (MIRA / the teacher's scores): "
             + (", ".join(f"{k} {pct(mira['by_kind'][k])} / {pct(teacher['by_kind'][k])}" for k in differ) or "none")
             + "."]
    if overlap:
        def records(key: str) -> str:
            return ", ".join(f"{k} {v[key]} of {v['records']}" for k, v in overlap.items() if v[key]) or "none"
        lines += ["", "Broken records by who keeps them: the students let through (MIRA keeps, the teacher's scores "
                  f"drop): {records('mira_only')}; the students drop (the teacher's scores keep): "
                  f"{records('teacher_only')}; both keep: {records('both')}."]
    return lines


def share_gap(methods: dict, ref: str) -> tuple[str, float] | None:
    """The source where MIRA's share of the kept tokens is farthest from `ref`'s, and the gap in points."""
    gaps = {s: 100 * (v["kept_share"] - methods[ref]["by_source"][s]["kept_share"])
            for s, v in methods["mira"]["by_source"].items()
            if v["kept_share"] is not None and methods[ref]["by_source"].get(s, {}).get("kept_share") is not None}
    if not gaps:
        return None
    worst = max(gaps, key=lambda s: abs(gaps[s]))
    return worst, gaps[worst]


def share_gaps(methods: dict) -> list[str]:
    """A line: how far MIRA's share of the kept tokens is, per source, from each perfect reference's."""
    if "mira" not in methods:
        return []
    parts = []
    for ref in (r for r in PERFECT if r in methods):
        gap = share_gap(methods, ref)
        if gap:
            parts.append(f"against `{ref}` the largest gap is {gap[1]:+.1f} points ({gap[0]})")
    return ["", "MIRA's share of the kept tokens, per source: " + "; ".join(parts) + "."] if parts else []


def _kind_source(kind: str) -> str:
    return next((s for s, ks in KINDS.items() if kind in ks), "")


def _source_cell(s: dict | None) -> str:
    return "-" if not s else f"{pct(s['broken_kept'])} / {pct(s['good_kept'])} ({pct(s['kept_share'])})"


def render_oracle(o: dict) -> list[str]:
    """The teacher-oracle comparison as markdown lines."""
    rows = [[name, pct(f["kept"]), pct(f["good_kept"]), pct(f["broken_kept"]), pct(f["broken_share_of_kept"])]
            for name, f in (("teacher oracle (`kept_teacher`)", o["teacher"]), ("student (`kept_student`)", o["student"]))]
    return [f"On the {o['records']:,} labeled records of the oracle table (teacher and student agree on "
            f"{pct(o['agreement'])} of them):", "",
            *md_table(["cut", "tokens kept", "good kept", "broken kept", "broken share of kept"], rows), "",
            f"The students keep {pct(o['broken_removal_kept'])} of the teacher's removal of broken tokens "
            "((1 - broken kept by the student) / (1 - broken kept by the teacher)).", *_render_val(o.get("val"))]


def _render_val(v: dict | None) -> list[str]:
    """The same comparison on the val records alone: the students were fitted on the rest."""
    if not v or not v.get("records"):
        return []
    return ["", f"On the {v['records']:,} val records alone (the students were fitted on the other labeled records, "
            f"so these are the out-of-sample part): the teacher's cut keeps {pct(v['teacher_broken_kept'])} of their "
            f"broken tokens, the students' {pct(v['student_broken_kept'])}; the students keep "
            f"{pct(v['broken_removal_kept'])} of the teacher's removal, and the two cuts agree on "
            f"{pct(v['agreement'])} of the records."]
