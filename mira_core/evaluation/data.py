"""Which records each arm trains on and the target it is scored on, as token streams and windows.

An arm is a selection manifest's kept records (the select stage's, or a file of `evaluate.manifests` made
elsewhere, less what no selection may keep), or `full`: every record a selection may keep.
Held-out sources are removed from every training stream a second time here, by source, and records no
selection may keep (held out, near-duplicates of a held-out record, contaminated: NOT_SELECTABLE) from an
outside manifest: copies of the target in other sources are kept out by dedup's near-duplicate mark, and
records that hold a target record inside a longer text (which whole-record Jaccard does not link) by the
containment check here (`evaluation.containment`), from every stream and the general slice. The target's
record ids are also checked to be disjoint from every training record, a cheap guard against a record id that
two sources share. Each stream is its records' tokens with EOS after each record,
a record kept for more than one pass (the manifest's `epochs`, from `select.weights` and `max_epochs`) repeated
as the export repeats it (`repeats`), so the proxy trains on the mix that is exported; training windows are
sampled uniformly from the stream (token-uniform, so a long record weighs by its length),
the same number per arm, and the target is cut into fixed non-overlapping windows once, shared by every
arm and seed. The general slice (the base model's data) is a seeded sample of all selectable records, so
it holds about `base_slice` of each arm's records, alike for all arms. On the demo corpus, reading every
text takes 0.2 s and encoding it 13-15 s on 2 cores, the bulk of this module's cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mira_core.config import EvaluateParams
from mira_core.errors import ConfigError, MiraError
from mira_core.evaluation.containment import holding_records, unchecked
from mira_core.evaluation.tokenizer import LMTokenizer, build_tokenizer, sample_texts
from mira_core.io import DAMAGED_PARQUET, read_parquet, unreadable_parquet
from mira_core.sampling import keyed_order, keyed_uniform
from mira_core.schema import MANIFEST, NOT_SELECTABLE, SelectionReason, read_checked

FULL = "full"
TARGET_CHUNK = 64  # target records encoded at a time, until eval_tokens are reached


@dataclass(frozen=True)
class ArmData:
    """One arm's packed token stream and the number of records in it."""

    stream: np.ndarray
    records: int


@dataclass(frozen=True)
class EvalData:
    """Everything the training runs share: the tokenizer, the arms, the general slice and the target windows."""

    tokenizer: LMTokenizer
    arms: dict[str, ArmData]
    base: ArmData
    target: np.ndarray  # [windows, context]
    target_records: int
    target_sources: list[str]
    holding: dict[str, str] = field(default_factory=dict)  # training record left out -> the target record it holds
    unchecked: int = 0  # target records under evaluate.target_ngram words, which no containment check can find


def manifest_path(selection: Path, arm: str) -> Path:
    """The manifest an arm is read from; `full` uses MIRA's, which lists every corpus record with its reason."""
    return selection / ("mira" if arm == FULL else arm) / "manifest.parquet"


def load_manifests(selection: Path, arms: Sequence[str], extra: Mapping[str, Path] | None = None
                   ) -> dict[str, pl.DataFrame]:
    """arm -> its manifest; a missing one is a ConfigError naming the select setting that makes it.

    `extra` (`evaluate.manifests`) maps more arms to selections made elsewhere: Parquet files with record_id and
    kept. Each gets the source and reason of its records from the select stage's manifest, and comes after `arms`;
    a record id that is not in the corpus, or one listed twice, is a ConfigError naming the file."""
    out = {}
    for arm in arms:
        path = manifest_path(selection, arm)
        if not path.exists():
            raise ConfigError(f"evaluate arm {arm!r}: no manifest at {path} (run select, with {arm!r} in "
                              f"select.baselines unless it is mira or full)")
        out[arm] = read_checked(path, MANIFEST, ["record_id", "source", "kept", "reason", "epochs"])
    if extra:
        corpus = next(iter(out.values())).select("record_id", "source", "reason")
        for name, path in extra.items():
            out[name] = external_manifest(name, path, corpus)
    return out


def external_manifest(name: str, path: Path, corpus: pl.DataFrame) -> pl.DataFrame:
    """The arm `name` of evaluate.manifests: its file's record_id and kept (null: not kept), with each record's
    source and reason from `corpus` (a select manifest's), one pass each (`epochs` 1), in record_id order as a
    select manifest is: the arm depends on which records the file keeps, not on the order it lists them in.

    A record no selection may keep (held out, a near-duplicate, contaminated) is not kept here either, whatever
    the file says: a near-duplicate may be a near-copy of a target record (`exclusions.near_held_out`), which the
    held-out check by source would not catch. The arm's `train_records` in metrics/evaluate.json counts the rest.
    """
    where = f"evaluate.manifests.{name} ({path})"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        # read here first: read_checked's own message for a file that is not Parquet says to re-run the stage that
        # writes it, and no stage writes this one
        pl.scan_parquet(path, glob=False).collect_schema()
        df = read_checked(path, {"record_id": pl.String, "kept": pl.Boolean}, ["record_id", "kept"])
    except MiraError as e:
        raise ConfigError(f"evaluate.manifests.{name}: {e}") from None
    except Exception as e:  # not Parquet at all: polars' own error, with the key and file named
        raise ConfigError(f"{where}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    twice = df.filter(pl.col("record_id").is_duplicated())["record_id"].unique().sort()
    if len(twice):
        raise ConfigError(f"{where}: {len(twice)} record ids are listed more than once, e.g. {twice.head(3).to_list()}")
    unknown = df.join(corpus, on="record_id", how="anti")["record_id"]
    if len(unknown):
        raise ConfigError(f"{where}: {len(unknown)} of its {df.height} record ids are not in the corpus, e.g. "
                          f"{unknown.head(3).to_list()}")
    df = df.join(corpus, on="record_id", how="left").sort("record_id")
    return df.with_columns(kept=pl.col("kept").fill_null(False) & ~pl.col("reason").is_in(NOT_SELECTABLE),
                           epochs=pl.lit(1.0))


def arm_records(arm: str, manifest: pl.DataFrame, held_out: Sequence[str]) -> list[str]:
    """Record ids an arm trains on, in manifest order (kept records, or every selectable one for full)."""
    # full: every record a selection could keep (not held out, not dropped by dedup or decontaminate)
    rows = manifest.filter(~pl.col("reason").is_in(NOT_SELECTABLE)) if arm == FULL else manifest.filter(pl.col("kept"))
    return rows.filter(~pl.col("source").is_in(list(held_out)))["record_id"].to_list()


def repeats(arm: str, manifest: pl.DataFrame, ids: Sequence[str], seed: int) -> np.ndarray:
    """How many times each of `ids` (an arm's records) enters its stream: its manifest `epochs` e as floor(e)
    copies and one more with probability e - floor(e), seeded, so a unit upsampled by `select.max_epochs` weighs in
    the proxy as in the export (whose blend weights are tokens x epochs). `full` takes every record once."""
    if arm == FULL or "epochs" not in manifest.columns:
        return np.ones(len(ids), dtype=np.int64)
    e = (pl.DataFrame({"record_id": list(ids)}, schema={"record_id": pl.String})
         .join(manifest.select("record_id", "epochs"), on="record_id", how="left", maintain_order="left")
         ["epochs"].to_numpy().astype(np.float64))
    whole = np.floor(e)
    return (whole + (keyed_uniform(ids, f"{seed}:repeats") < e - whole)).astype(np.int64)


def target_records(manifest: pl.DataFrame, held_out: Sequence[str], seed: int) -> list[str]:
    """Record ids of the held-out sources, in a seeded order (so the eval windows are not one file's head)."""
    ids = manifest.filter(pl.col("source").is_in(list(held_out)))["record_id"].to_list()
    return [ids[i] for i in keyed_order(ids, f"{seed}:target")]


def general_slice(ids: Sequence[str], fraction: float, seed: int) -> list[str]:
    """A seeded random sample of `fraction` of the records (at least one), in their original order: those with the
    lowest seeded hash of their id, so a record added elsewhere moves at most the one at the sample's edge."""
    if not ids:
        return []
    n = max(1, round(fraction * len(ids)))
    pick = sorted(keyed_order(ids, f"{seed}:general-slice")[:n])
    return [ids[i] for i in pick]


def pack(tokens: Iterable[np.ndarray], eos_id: int, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """One stream of every record's tokens, each followed by EOS (a window that spans two records sees the seam)."""
    eos = np.array([eos_id], dtype=dtype)
    parts = [p for t in tokens for p in (t.astype(dtype, copy=False), eos)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def sample_starts(stream_tokens: int, n: int, context: int, rng: np.random.Generator) -> np.ndarray:
    """`n` uniform random start positions of `context`-token windows in a stream of `stream_tokens` tokens."""
    if stream_tokens < context:
        raise ConfigError(f"a training stream has {stream_tokens} tokens, fewer than one window of {context}")
    return rng.integers(0, stream_tokens - context + 1, size=n)


def gather(stream: np.ndarray, starts: np.ndarray, context: int) -> np.ndarray:
    """The windows of `stream` starting at `starts`: [len(starts), context]."""
    return stream[starts[:, None] + np.arange(context)]


def sample_windows(stream: np.ndarray, n: int, context: int, rng: np.random.Generator) -> np.ndarray:
    """`n` windows of `context` tokens starting at uniform random positions of `stream`: [n, context]."""
    return gather(stream, sample_starts(len(stream), n, context, rng), context)


def fixed_windows(stream: np.ndarray, context: int, max_tokens: int) -> np.ndarray:
    """Consecutive non-overlapping windows from the start of `stream`, at most `max_tokens` tokens: [k, context]."""
    k = min(len(stream) // context, max_tokens // context)
    return stream[: k * context].reshape(k, context)


def read_texts(shards: Sequence[Path], ids: set[str]) -> dict[str, str]:
    """record_id -> text of the wanted records, read from the corpus shards. A shard polars cannot read (truncated,
    damaged) is a ConfigError naming it: polars' own message ("expected parquet magic bytes") names no file."""
    try:
        df = (pl.scan_parquet(list(shards), glob=False).select("record_id", "text")
              .filter(pl.col("record_id").is_in(list(ids))).collect())
    except DAMAGED_PARQUET as e:
        for shard in shards:  # only on failure: read each alone, and io.read_parquet names the one it cannot read
            read_parquet(shard, columns=["record_id", "text"])
        raise ConfigError(unreadable_parquet(list(shards), e)) from e
    return dict(zip(df["record_id"].to_list(), df["text"].to_list(), strict=True))


def target_windows(tok: LMTokenizer, texts: Sequence[str], context: int, max_tokens: int,
                   threads: int) -> tuple[np.ndarray, int]:
    """(fixed windows of the target, records that reach one): encodes only as many records as `max_tokens` needs."""
    encoded: list[np.ndarray] = []
    n_tokens = 0
    for i in range(0, len(texts), TARGET_CHUNK):
        if n_tokens >= max_tokens:
            break
        chunk = tok.encode(texts[i:i + TARGET_CHUNK], threads)
        encoded += chunk
        n_tokens += sum(len(t) + 1 for t in chunk)
    windows = fixed_windows(pack(encoded, tok.eos_id, tok.dtype), context, max_tokens)
    # The records that reach a scored window: the windows cover the stream's first len(windows) * context
    # tokens, and a record counts when any of its tokens (or its EOS) lies there. Encoding goes by chunks, so
    # len(encoded) can overshoot by up to a chunk.
    if len(windows) == 0:
        raise ConfigError(f"the target set (select.held_out_sources) has {n_tokens} tokens, fewer than one "
                          f"window of evaluate.context = {context}")
    ends = np.cumsum([len(t) + 1 for t in encoded])
    scored = int(np.searchsorted(ends, len(windows) * context, side="left")) + 1
    return windows, min(scored, len(encoded))


def prepare(shards: Sequence[Path], manifests: Mapping[str, pl.DataFrame], held_out: Sequence[str],
            p: EvaluateParams) -> EvalData:
    """Tokenizer, arm streams, general slice and target windows for the arms of `manifests`."""
    if not held_out:
        raise ConfigError("evaluate needs a target: select.held_out_sources is empty")
    any_manifest = next(iter(manifests.values()))
    for arm, m in manifests.items():
        # select marks the near-copies of target records near_duplicate for the held-out list it ran with; a
        # manifest made for another list leaves them in every arm, and the id check below cannot see copies
        marked = set(m.filter(pl.col("reason") == SelectionReason.HELD_OUT.value)["source"].unique())
        present = set(m.filter(pl.col("source").is_in(list(held_out)))["source"].unique())
        if marked != present:
            raise ConfigError(f"evaluate arm {arm!r}: its manifest was made with select.held_out_sources "
                              f"{sorted(marked)}, not {sorted(held_out)}, so the near-copies of the target are "
                              "not marked: run select again (dvc repro does)")
    selectable = arm_records(FULL, any_manifest, held_out)
    ids = {arm: arm_records(arm, m, held_out) for arm, m in manifests.items()}
    base_ids = general_slice(selectable, p.base_slice, p.seed)
    target_ids = target_records(any_manifest, held_out, p.seed)
    train_ids = set(selectable).union(*ids.values(), base_ids)
    leaked = train_ids & set(target_ids)
    if leaked:  # arm_records drops held-out sources, so this is a bug, never a setting
        raise MiraError(f"{len(leaked)} target records are in a training stream, e.g. {sorted(leaked)[:3]}")
    if not target_ids:
        raise ConfigError(f"select.held_out_sources {list(held_out)} has no records in the corpus: nothing to score")
    texts = read_texts(shards, train_ids | set(target_ids))
    missing = sorted((train_ids | set(target_ids)) - texts.keys())
    if missing:
        raise ConfigError(f"{len(missing)} records of the selection manifests are not in the corpus shards, e.g. "
                          f"{missing[:3]}: the selection is older than the corpus; run select again (dvc repro does)")
    # records that hold a target record inside them leave every stream, the general slice's too; the arms and the
    # slice are filtered after they are drawn, so what else they hold is what it was
    found = holding_records({i: texts[i] for i in sorted(train_ids)}, [texts[i] for i in target_ids],
                            p.target_ngram, p.target_containment)
    holding = {i: target_ids[t] for i, t in found.items()}
    if holding:
        selectable = [i for i in selectable if i not in holding]
        ids = {arm: [i for i in arm_ids if i not in holding] for arm, arm_ids in ids.items()}
        base_ids = [i for i in base_ids if i not in holding]
    sample = sample_texts(selectable, texts, p.tokenizer_sample_chars, p.seed)
    tok = build_tokenizer(p.tokenizer, p.vocab_size, sample)
    needed = sorted(set().union(*ids.values(), base_ids))
    tokens = dict(zip(needed, tok.encode([texts[i] for i in needed], p.threads), strict=True))
    copies = {arm: repeats(arm, manifests[arm], arm_ids, p.seed) for arm, arm_ids in ids.items()}
    arms = {arm: ArmData(pack((tokens[i] for i, n in zip(arm_ids, copies[arm], strict=True) for _ in range(n)),
                              tok.eos_id, tok.dtype), len(arm_ids))
            for arm, arm_ids in ids.items()}
    for arm, a in arms.items():
        if len(a.stream) < p.context:
            raise ConfigError(f"evaluate arm {arm!r} keeps {a.records} records, {len(a.stream)} tokens: fewer than "
                              f"one window of evaluate.context = {p.context}")
    base = ArmData(pack((tokens[i] for i in base_ids), tok.eos_id, tok.dtype), len(base_ids))
    if len(base.stream) < p.context:
        raise ConfigError(f"the general slice (evaluate.base_slice = {p.base_slice}) holds {base.records} records, "
                          f"{len(base.stream)} tokens: fewer than one window of evaluate.context = {p.context}; "
                          "raise evaluate.base_slice or lower evaluate.context")
    target, n_target = target_windows(tok, [texts[i] for i in target_ids], p.context, p.eval_tokens, p.threads)
    return EvalData(tok, arms, base, target, n_target, sorted(held_out), holding,
                    unchecked([texts[i] for i in target_ids], p.target_ngram))
