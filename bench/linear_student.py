"""`linear` student scoring speed: docs/s on one core over ~2 KB records.

Records are 2,000-character chunks of the demo corpus's code and text. The student is fitted on a
few hundred of them (random labels: prediction speed does not depend on them) and then predicts
all of them, with torch, BLAS and
numpy pinned to one thread, as the score stage's per-shard worker would use one core.

Child mode: `python -m bench.linear_student RECORDS.parquet` prints its figures.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench.common import emit, peak_rss_mb  # noqa: E402

CHUNK = 2000
N_ANCHORS = 15
REPEATS = 3


def chunks(texts: list[str], n: int) -> list[str]:
    """n chunks of CHUNK characters, taken in order from the texts."""
    out = []
    for t in texts:
        for i in range(0, len(t) - CHUNK + 1, CHUNK):
            out.append(t[i : i + CHUNK])
            if len(out) == n:
                return out
    return out


def main(records: str, n: str = "20000") -> None:
    import polars as pl

    from mira_core.config import LinearParams
    from mira_core.students.base import Inputs
    from mira_core.students.linear import LinearStudent

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, whatever the libraries think
    docs = chunks(pl.read_parquet(records)["text"].to_list(), int(n))
    y = np.random.default_rng(0).uniform(1, 5, (500, N_ANCHORS))  # speed does not depend on the labels
    student = LinearStudent(LinearParams(), [f"a{i:02d}" for i in range(N_ANCHORS)], (1, 5))
    student.fit(Inputs(texts=docs[:500]), y)
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        pred = student.predict(Inputs(texts=docs))
        rates.append(len(docs) / (time.perf_counter() - start))
    assert pred.shape == (len(docs), N_ANCHORS)
    emit({"docs": len(docs), "mean_chars": float(np.mean([len(d) for d in docs])), "docs_per_s": rates,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main(*sys.argv[1:3])
