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
