"""Which encoder should the demo use? Student fidelity per encoder setting, on the demo's own labels.

Reads a finished demo project (the pipeline benchmark's copy under bench/.work/pipeline: its corpus, groups and
labels), embeds only the labeled records with each encoder setting, and fits each group's students on the train
labels: `head` on the embedding alone (what the encoder carries by itself), `head` with the document statistics,
and `auto` (the default). The figure is the median over anchors of the val Spearman against the teacher, per
group, beside each setting's embedding time for those records and its coverage. The labels, splits and statistics
are the same for every setting, so only the encoder differs.

Child mode: `python -m bench.encoders ROOT SETTING` embeds and fits for one setting and prints its figures.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.common import emit, peak_rss_mb

SETTINGS = {
    "static (whole record)": {"encoder": "static"},
    "minilm torch fp32, head window": {"encoder": "minilm", "backend": "torch", "windows": 1},
    "minilm onnx-int8, head window": {"encoder": "minilm", "backend": "onnx-int8", "windows": 1},
    "minilm onnx-int8, 4 windows": {"encoder": "minilm", "backend": "onnx-int8", "windows": 4},
}
STUDENTS = {"head, embedding only": {"student": "head", "head": {"stats": False}},
            "head + statistics": {"student": "head"},
            "auto (default)": {"student": "auto"}}


def main(root: str, setting: str) -> None:
    import polars as pl

    from mira_core.config import DistillParams, EmbedParams
    from mira_core.docstats import doc_stats_matrix
    from mira_core.embedding import load_encoder
    from mira_core.layout import Layout
    from mira_core.reliability import student_report
    from mira_core.rubric import load_rubrics
    from mira_core.students import make_student
    from mira_core.students.base import Inputs

    lay = Layout(Path(root))
    rubrics = load_rubrics(lay.rubrics)
    corpus = pl.scan_parquet(lay.corpus_shards()).select("record_id", "format", "text").collect()
    enc = load_encoder(EmbedParams(**SETTINGS[setting]), lay.root)  # export / distillation untimed (cached)
    out: dict = {"setting": setting, "groups": {}, "embed_seconds": 0.0, "records": 0}
    covers = []
    for g, rubric in sorted(rubrics.items()):
        labels = pl.read_parquet(lay.labels / f"{g}.parquet")
        rows = labels.select("record_id").join(corpus, on="record_id", how="left", maintain_order="left")
        texts = rows["text"].to_list()
        start = time.perf_counter()
        vectors, cover = enc.encode_records(texts)
        out["embed_seconds"] += time.perf_counter() - start
        out["records"] += len(texts)
        covers.append(cover)
        stats = doc_stats_matrix(rows["format"].to_list(), texts)
        x = Inputs(texts=texts, embeddings=vectors, stats=stats)
        ids = rubric.anchor_ids()
        train, val = (labels["split"] == "train").to_numpy(), (labels["split"] == "val").to_numpy()
        y = labels.select(ids).to_numpy().astype(np.float32)
        per = {}
        for name, cfg in STUDENTS.items():
            s = make_student(DistillParams(**cfg), ids, (rubric.scale.min, rubric.scale.max), EmbedParams(), None)
            s.fit(x.take(np.flatnonzero(train)), y[train])
            rep = student_report(labels.filter(pl.col("split") == "val"), s.predict(x.take(np.flatnonzero(val))),
                                 ids, y[train].mean(axis=0))
            per[name] = {"median_spearman": rep["median_spearman"], "mean_mae": rep["mean_mae"],
                         "const_mae": rep["const_mean_mae"]}
        out["groups"][g] = per
    out["coverage"] = float(np.concatenate(covers).mean()) if covers else None
    out["peak_rss_mb"] = peak_rss_mb()
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
