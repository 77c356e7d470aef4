"""Task of the decontaminate stage: every corpus record against the benchmark items in params."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.decontaminate import run_decontaminate
from mira_core.filter_params import DecontaminateParams
from mira_core.io import atomic_dir


@task(name="decontaminate-corpus")
def decontaminate_all(corpus: Path, p: DecontaminateParams, benchmark_files: list[Path], root: str, out: Path
                      ) -> dict:
    """Writes dropped.parquet, counts.parquet and benchmarks.parquet under `out` (all or nothing). `benchmark_files`
    are the files `p.benchmarks` name (their content keys the cache); `root` is where relative ones are read from."""
    with atomic_dir(out) as tmp:
        return run_decontaminate(corpus, p, Path(root), tmp)
