"""The records the filter stages exclude (data/dedup/, data/decontaminate/), for the stages after them.

`select` drops them with their reason; `discover` and `label` leave them out of the teacher's samples, so no
request is paid for a record no selection may keep and no student learns from a benchmark item.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mira_core.schema import CONTAMINATED, NEAR_DUPLICATES, SelectionReason, read_checked

# In order of precedence: a record both lists name is `contaminated`.
LISTS = ((SelectionReason.CONTAMINATED, "decontaminate", CONTAMINATED),
         (SelectionReason.NEAR_DUPLICATE, "dedup", NEAR_DUPLICATES))


def _ids(folder: Path, schema: dict) -> pl.Series:
    return read_checked(Path(folder) / "dropped.parquet", schema, ["record_id"])["record_id"]


def near_duplicate_ids(dedup: Path, contaminated: pl.Series | None = None) -> pl.Series:
    """The near-duplicates dedup lists, less one per cluster whose kept copy is `contaminated`: that cluster's
    first clean record in dedup's keep order (its `rank`) is kept in its place.

    dedup picks the kept copy without knowing what decontaminate drops, and the two run side by side; a page with a
    benchmark item pasted in sorts first (or is the longest) as readily as its clean copy, and every copy was lost.
    """
    dup = read_checked(Path(dedup) / "dropped.parquet", NEAR_DUPLICATES, ["record_id", "cluster", "rank"])
    if contaminated is None or not len(contaminated) or not dup.height:
        return dup["record_id"]
    dirty = contaminated.implode()
    promoted = (dup.filter(pl.col("cluster").is_in(dirty) & ~pl.col("record_id").is_in(dirty))
                .sort("rank", "record_id").group_by("cluster", maintain_order=True).first()["record_id"])
    return dup["record_id"].filter(~dup["record_id"].is_in(promoted.implode()))


def _lists(dedup: Path | None, decontaminate: Path | None) -> dict[str, pl.Series]:
    """The ids each filter stage drops, by stage name (a folder given as None is not read)."""
    out = {}
    if decontaminate is not None:
        out["decontaminate"] = _ids(decontaminate, CONTAMINATED)
    if dedup is not None:
        out["dedup"] = near_duplicate_ids(dedup, out.get("decontaminate"))
    return out


def excluded_ids(dedup: Path | None, decontaminate: Path | None,
                 held_out: list[str] | tuple[str, ...] = ()) -> pl.Series:
    """The record ids either filter stage drops (a folder given as None is not read); with `held_out`, also every
    record of a near-duplicate cluster that holds a held-out record, which select drops too (`drop_reasons`)."""
    parts = list(_lists(dedup, decontaminate).values())
    if dedup is not None and held_out:
        parts.append(near_held_out(dedup, held_out))
    return pl.concat(parts).unique() if parts else pl.Series("record_id", [], dtype=pl.String)


def near_held_out(dedup: Path, held_out: list[str] | tuple[str, ...]) -> pl.Series:
    """The ids of every record in a near-duplicate cluster that holds a record of a held-out source.

    dedup keeps one copy per cluster without knowing which sources select will hold out; were that copy a
    training record while its near-copy is in the evaluation target, the target would leak into training.
    Record ids are `<source>/...`, so a cluster's sources are read off its ids.
    """
    dup = read_checked(Path(dedup) / "dropped.parquet", NEAR_DUPLICATES, ["record_id", "cluster"])
    members = pl.concat([dup.select("record_id", "cluster"),
                         dup.select(record_id=pl.col("cluster"), cluster=pl.col("cluster")).unique()])
    members = members.with_columns(source=pl.col("record_id").str.split("/").list.first())
    tainted = members.filter(pl.col("source").is_in(list(held_out)))["cluster"].unique()
    return members.filter(pl.col("cluster").is_in(tainted.implode()))["record_id"]


def drop_reasons(record_ids: pl.Series, dedup: Path | None, decontaminate: Path | None,
                 held_out: list[str] | tuple[str, ...] = ()) -> pl.Series:
    """Per record id, the reason a filter stage drops it (contaminated before near_duplicate), or null. With
    `held_out`, every record of a cluster that holds a held-out record is a near_duplicate (the held-out ones
    keep their own reason, which comes first in a manifest)."""
    lists = _lists(dedup, decontaminate)
    out = pl.repeat(None, len(record_ids), dtype=pl.String, eager=True).rename("dropped")  # no list of 10 M Nones
    for reason, name, _ in reversed(LISTS):  # the first list's reason wins: applied last
        if name not in lists:
            continue
        ids = lists[name]
        if name == "dedup" and held_out:
            ids = pl.concat([ids, near_held_out(dedup, held_out)]).unique()
        out = pl.select(pl.when(record_ids.is_in(ids.implode())).then(pl.lit(reason.value)).otherwise(out)
                        ).to_series().rename("dropped")
    return out
