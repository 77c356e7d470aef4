"""Where every stage reads and writes, relative to the project root (the folder holding params.yaml).

These paths are the DVC outs in dvc.yaml; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def project_path(value: str | Path, root: Path | None) -> Path:
    """The file or folder a params value names: `~` is the user's home, and a relative path is read from the project
    folder `root` (as `dvc repro` runs a stage there), not from wherever the command was started."""
    path = Path(value).expanduser()
    return path if path.is_absolute() or root is None else Path(root) / path


def project_home(root: Path) -> Path:
    """The project folder a run belongs to: `root`, or, for a DVC experiment run outside the workspace (`dvc exp run
    --temp`, `--queue`: a copy under .dvc/tmp/exps/ that DVC deletes afterwards, with every git-ignored file left
    out of it), the workspace that holds it."""
    parts = Path(root).resolve().parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return Path(root).resolve()


def corpus_shards(corpus: Path, source: str | None = None) -> list[Path]:
    """The shards under a corpus folder (data/corpus/<source>/part-N.parquet), of one source or of all, sorted.

    Hidden folders are no source (a source name starts with a letter or digit): they are what a killed
    `io.atomic_dir` left (`.<source>.XXXXXXXX.tmp/`, `.<source>.old/`), half or stale copies, and `tree_digest`
    skips them too.
    """
    base = Path(corpus) / source if source else Path(corpus)
    shards = base.glob("part-*.parquet" if source else "*/part-*.parquet")
    return sorted(s for s in shards if source or not s.parent.name.startswith("."))


@dataclass(frozen=True)
class Layout:
    """The data layout of one mira project."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def corpus(self) -> Path:
        return self.root / "data" / "corpus"

    @property
    def quarantine(self) -> Path:
        return self.root / "data" / "quarantine"

    @property
    def dedup(self) -> Path:
        return self.root / "data" / "dedup"

    @property
    def decontaminate(self) -> Path:
        return self.root / "data" / "decontaminate"

    @property
    def embeddings(self) -> Path:
        return self.root / "data" / "embeddings"

    @property
    def groups(self) -> Path:
        return self.root / "data" / "groups"

    @property
    def rubrics(self) -> Path:
        return self.root / "data" / "rubrics"

    @property
    def labels(self) -> Path:
        return self.root / "data" / "labels"

    @property
    def students(self) -> Path:
        return self.root / "data" / "students"

    @property
    def scores(self) -> Path:
        return self.root / "data" / "scores"

    @property
    def selection(self) -> Path:
        return self.root / "data" / "selection"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def state(self) -> Path:
        """Local state that is neither data nor versioned: caches, run logs."""
        return self.root / ".mira"

    @property
    def shared_state(self) -> Path:
        """`state` of the workspace (`project_home`): for the caches keyed by content (evaluate's checkpoints), which
        a queued or temporary DVC experiment should read, and add to, rather than start empty in its copy."""
        return project_home(self.root) / ".mira"

    def metrics_file(self, stage: str) -> Path:
        return self.metrics / f"{stage}.json"

    def run_log(self, stage: str) -> Path:
        """Per-stage log of the last run: task counts, cache hits, wall time (not versioned)."""
        return self.state / "runs" / f"{stage}.json"

    def corpus_shards(self, source: str | None = None) -> list[Path]:
        """The corpus shards, of one source or of all, in a stable order."""
        return corpus_shards(self.corpus, source)

    def embedding_shard(self, corpus_shard: Path) -> Path:
        """The embeddings of a corpus shard: the same <source>/part-N name under data/embeddings."""
        return self.embeddings / corpus_shard.parent.name / corpus_shard.name

    def group_map(self) -> Path:
        return self.groups / "groups.parquet"
