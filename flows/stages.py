"""The stage graph: name, what each stage reads and writes, in run order.

`mira --help`, `mira run` and a test that compares this table with dvc.yaml all read it from here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Stage:
    name: str
    reads: str
    writes: str
    about: str

    def module(self) -> ModuleType:
        """The flow module `flows.<name>`, which has `run(params, root)` and `main(argv)`."""
        return importlib.import_module(f"flows.{self.name}")


STAGES: tuple[Stage, ...] = (
    Stage("demo_corpus", "this Python installation (stdlib, site-packages)", "data/raw/",
          "build the embedded default corpus (8 real sources)"),
    Stage("ingest", "the sources in params.yaml", "data/corpus/, data/quarantine/, metrics/ingest.json",
          "render records to canonical text, count tokens, quarantine bad records"),
    Stage("embed", "data/corpus/", "data/embeddings/, metrics/embed.json",
          "one encoder pass over every record (length-sorted, bf16 where native), resumable by shard"),
    Stage("group", "data/embeddings/", "data/groups/ (map, similarity matrix + heatmap), metrics/group.json",
          "cluster sources by the centroids of their embeddings; pins override"),
    Stage("discover", "data/corpus/, data/groups/", "data/rubrics/<group>.json, metrics/discover.json",
          "teacher judges a sample freely; judgments are clustered into each group's anchors"),
    Stage("label", "data/corpus/, data/groups/, data/rubrics/",
          "data/labels/<group>.parquet (+ repeats/, failures/), metrics/label.json",
          "teacher scores a larger sample on every anchor; train/val split; a repeat subset for self-agreement"),
    Stage("distill", "data/labels/, data/rubrics/, data/embeddings/ (or data/corpus/)",
          "data/students/<group>/, metrics/students.json, plots/distill/, an MLflow run",
          "one student per group predicts every anchor; val MAE and Spearman per (source, anchor)"),
    Stage("score", "data/corpus/, data/embeddings/, data/students/", "data/scores/<group>/<source>/, metrics/score.json",
          "every record scored by its group's student, shard by shard (thread pool or Dask)"),
    Stage("select", "data/scores/, data/corpus/, metrics/students.json (+ labels, embeddings for baselines)",
          "data/selection/<method>/manifest.parquet, data/selection/mask.parquet, metrics/select.json",
          "reliability mask, trimmed mean, per-group token budget; random, length, dsir, single-rubric baselines"),
    Stage("evaluate", "data/selection/, data/corpus/",
          "metrics/evaluate.json, plots/evaluate/curves.csv, .mira/evaluate/base/, an MLflow run per arm",
          "proxy mid-training: one base LM continued on each arm for equal tokens, held-out loss on the target"),
    Stage("report", "everything above (metrics/, data/groups/, data/rubrics/, data/selection/, params.yaml)",
          "reports/report.html, metrics/report.json",
          "one self-contained HTML report: retention, scores, anchors and reliability, teacher spend, baselines"),
)

BY_NAME = {s.name: s for s in STAGES}


def table() -> str:
    """The stage graph as aligned text, for --help."""
    width = max(len(s.name) for s in STAGES)
    lines = []
    for s in STAGES:
        lines.append(f"{s.name:<{width}}  {s.about}")
        lines.append(f"{'':<{width}}    reads  {s.reads}")
        lines.append(f"{'':<{width}}    writes {s.writes}")
    return "\n".join(lines)
