"""Rotating Parquet shard writer: bounded records and bytes per shard, each shard written atomically."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mira_core.io import write_parquet


class ShardWriter:
    """Buffers rows and writes `part-00000.parquet`, `part-00001.parquet`, ... into `folder`."""

    def __init__(self, folder: Path, schema: dict, max_records: int, max_bytes: int = 1 << 62) -> None:
        self.folder = Path(folder)
        self.schema = schema
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.rows = 0
        self._buf: dict[str, list] = {c: [] for c in schema}
        self._n = 0
        self._bytes = 0

    def add(self, row: dict, nbytes: int = 0) -> None:
        """Append one row (a dict with every schema column); write a shard when a bound is reached. A row that
        would take the shard past `max_bytes` starts the next one (a row larger than the bound is a shard alone)."""
        if self._n and self._bytes + nbytes > self.max_bytes:
            self.flush()
        for c in self.schema:
            self._buf[c].append(row[c])
        self._n += 1
        self._bytes += nbytes
        if self._n >= self.max_records or self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as the next shard."""
        if not self._n:
            return
        path = self.folder / f"part-{len(self.paths):05d}.parquet"
        write_parquet(pl.DataFrame(self._buf, schema=self.schema), path)
        self.paths.append(path)
        self.rows += self._n
        self._buf = {c: [] for c in self.schema}
        self._n = 0
        self._bytes = 0

    def close(self) -> list[Path]:
        """Write what is left; return every shard written."""
        self.flush()
        return self.paths
