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


def excluded_ids(dedup: Path | None, decontaminate: Path | None) -> pl.Series:
    """The record ids either filter stage drops (a folder given as None is not read)."""
    folders = {"dedup": dedup, "decontaminate": decontaminate}
    parts = [_ids(folders[name], schema) for _, name, schema in LISTS if folders[name] is not None]
    return pl.concat(parts).unique() if parts else pl.Series("record_id", [], dtype=pl.String)


def drop_reasons(record_ids: pl.Series, dedup: Path | None, decontaminate: Path | None) -> pl.Series:
    """Per record id, the reason a filter stage drops it (contaminated before near_duplicate), or null."""
    folders = {"dedup": dedup, "decontaminate": decontaminate}
    out = pl.Series("dropped", [None] * len(record_ids), dtype=pl.String)
    for reason, name, schema in reversed(LISTS):  # the first list's reason wins: applied last
        if folders[name] is None:
            continue
        ids = _ids(folders[name], schema)
        out = pl.select(pl.when(record_ids.is_in(ids.implode())).then(pl.lit(reason.value)).otherwise(out)
                        ).to_series().rename("dropped")
    return out
