"""The stage contract, in one place: one record per stage, in run order.

Each record says what the stage reads and writes (as `Layout` attributes, so the paths are the ones the
code uses), the params.yaml sections it depends on, its metrics file and the mira_core modules that hold
its logic. Everything else that describes a stage is made from these records or checked against them:

- `mira --help` and `mira stage --help` print `table()`;
- the README's stage table is `markdown_table()`, rewritten by `python -m mira_core.stages` (and
  `--check` exits 1 when the README is out of date);
- the report's "run the X stage" hints use `writer_of`;
- tests/test_stage_contract.py fails when dvc.yaml's deps, outs, metrics, plots or params of a stage differ
  from its record, or when a stage is not `flows/<name>.py` -> `tasks/<name>.py` -> its `core` modules.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mira_core.layout import Layout

_REL = Layout(Path("."))  # attributes resolved against "." give the paths relative to the project root


@dataclass(frozen=True)
class Stage:
    name: str
    about: str
    reads: tuple[str, ...]  # Layout attributes of earlier stages' outputs it reads (DVC deps)
    writes: tuple[str, ...]  # Layout attributes it writes (DVC outs)
    params: tuple[str, ...]  # params.yaml sections, or section.key, it reads (DVC params)
    core: tuple[str, ...]  # the mira_core modules that hold its logic (tasks/<name>.py imports them)
    metrics: str = ""  # its metrics file is metrics/<metrics>.json; "" means metrics/<name>.json
    reads_metrics: tuple[str, ...] = ()  # metrics files of earlier stages it reads (DVC deps)
    plots: tuple[str, ...] = ()  # plot files or folders it writes, relative to the root (DVC plots)
    outside: str = ""  # what it reads from outside the project's stage outputs, in words
    persist: bool = False  # its outs survive a failed run (DVC `persist`), so finished shards are resumed
    plot_options: dict[str, dict] = field(default_factory=dict)  # plot path -> DVC's x, y, template

    @property
    def metrics_path(self) -> str:
        return f"metrics/{self.metrics or self.name}.json"

    def read_paths(self) -> list[str]:
        """Every project path it reads (its DVC data deps), relative to the root."""
        return [_rel(a) for a in self.reads] + [f"metrics/{m}.json" for m in self.reads_metrics]

    def write_paths(self) -> list[str]:
        """Every versioned path it writes besides its metrics and plots (its DVC outs), relative to the root."""
        return [_rel(a) for a in self.writes]

    def dvc_outs(self) -> list:
        """Its `outs` as dvc.yaml writes them."""
        return [{p: {"persist": True}} if self.persist else p for p in self.write_paths()]

    def dvc_metrics(self) -> list:
        return [{self.metrics_path: {"cache": False}}]  # metrics are small and read in place: not cached

    def dvc_plots(self) -> list:
        return [{p: {**self.plot_options.get(p, {}), "cache": False}} for p in self.plots]


def _rel(attr: str) -> str:
    return getattr(_REL, attr).as_posix()


STAGES: tuple[Stage, ...] = (
    Stage("demo_corpus", "build the embedded default corpus (8 real sources; the demo only, not in `mira init` projects)",
          reads=(), writes=("raw",), params=("demo_corpus",), core=("mira_core.demo_corpus",),
          outside="this Python installation (stdlib, site-packages)"),
    Stage("ingest", "render records to canonical text, count tokens, quarantine bad records",
          reads=("raw",), writes=("corpus", "quarantine"), params=("sources", "ingest"),
          core=("mira_core.ingest.source",), outside="the sources and the tokenizer (`ingest.tokenizer`) params.yaml names"),
    Stage("dedup", "near-duplicates across sources (MinHash LSH): one copy of each cluster is kept, the others "
          "dropped at select", reads=("corpus",), writes=("dedup",), params=("dedup",), core=("mira_core.dedup",)),
    Stage("decontaminate", "records sharing n-grams with benchmark items (13-grams vs HumanEval by default) are "
          "dropped at select", reads=("corpus",), writes=("decontaminate",), params=("decontaminate",),
          core=("mira_core.decontaminate",), outside="the benchmark files params.yaml names"),
    Stage("embed", "one encoder pass over every record (length-sorted, bf16 where native), resumable by shard",
          reads=("corpus",), writes=("embeddings",), params=("embed",), core=("mira_core.embedding",), persist=True,
          outside="an encoder folder params.yaml names (`embed.encoder`, `embed.static_source`)"),
    Stage("group", "cluster sources by the centroids of their embeddings (held-out sources join the nearest group); "
          "pins override",
          reads=("embeddings",), writes=("groups",), params=("group", "select.held_out_sources"),
          core=("mira_core.grouping",)),
    Stage("discover", "teacher judges a sample freely; judgments are clustered into each group's anchors",
          reads=("corpus", "dedup", "decontaminate", "groups"), writes=("rubrics",),
          params=("teacher", "discover", "embed", "select.held_out_sources"),
          core=("mira_core.discovery", "mira_core.teachers"),
          outside="the teacher (an API, or a local model folder `teacher.model` names); the encoder folder that "
          "embeds the judgments (`embed.encoder`, or `embed.static_source` when static)"),
    Stage("label", "teacher scores a larger sample on every anchor; train/val split; a repeat subset for "
          "self-agreement", reads=("corpus", "dedup", "decontaminate", "groups", "rubrics", "embeddings"), writes=("labels",),
          params=("teacher", "label", "select.held_out_sources"),
          core=("mira_core.labels", "mira_core.teachers"),
          outside="the teacher (an API, or a local model folder `teacher.model` names)"),
    Stage("distill", "one student per group predicts every anchor; val MAE, Somers' D and Spearman per (source, anchor)",
          reads=("labels", "rubrics", "embeddings", "corpus", "groups"), writes=("students",),
          params=("distill", "embed.encoder", "embed.static_source"), core=("mira_core.distillation",),
          metrics="students", plots=("plots/distill",),
          outside="a base model folder params.yaml names (`distill.generative.model`; for finetune `embed.encoder`, "
          "or `embed.static_source` when static)",
          plot_options={"plots/distill": {"x": "teacher", "y": "student", "template": "scatter"}}),
    Stage("score", "every record scored by its group's student, shard by shard (thread pool or Dask)",
          reads=("corpus", "embeddings", "groups", "students"), writes=("scores",), params=("score", "select.held_out_sources"),
          core=("mira_core.scoring",)),
    Stage("select", "reliability mask, trimmed mean, per-group token budget; random, length, dsir, "
          "single-rubric baselines",
          reads=("corpus", "dedup", "decontaminate", "scores", "groups", "rubrics", "labels", "embeddings"),
          writes=("selection",),
          params=("select", "ingest.tokenizer"), core=("mira_core.manifests", "mira_core.selection"),
          reads_metrics=("students", "ingest"),
          outside="the tokenizer (`ingest.tokenizer`) for a Megatron export"),
    Stage("evaluate", "proxy mid-training: one base LM continued on each arm for equal tokens, held-out loss "
          "on the target", reads=("selection", "corpus"), writes=(), params=("evaluate", "select.held_out_sources"),
          core=("mira_core.evaluation.data", "mira_core.evaluation.train"), plots=("plots/evaluate/curves.csv",),
          plot_options={"plots/evaluate/curves.csv": {"x": "tokens_seen", "y": "loss", "template": "linear"}},
          outside="the files of `evaluate.manifests`; its own checkpoint cache in .mira/evaluate/ (not versioned)"),
    Stage("report", "one self-contained HTML report: retention, scores, anchors and reliability, teacher spend, "
          "baselines", reads=("params_file", "decontaminate", "groups", "rubrics", "scores", "selection"),
          writes=("reports",), params=("report",), core=("mira_core.report",),
          reads_metrics=("ingest", "dedup", "decontaminate", "group", "discover", "label", "students", "select",
                         "evaluate")),
)

BY_NAME = {s.name: s for s in STAGES}


def params_not_in_dvc(dvc: object) -> dict[str, list[str]]:
    """{stage: the params its record reads that its entry in a parsed dvc.yaml does not list}: the mark of a dvc.yaml
    written by an older mira (`mira init` writes it once), under which DVC would not re-run the stage when those
    params change. A listed section covers its dotted keys (`select` covers `select.held_out_sources`)."""
    out: dict[str, list[str]] = {}
    stages = dvc.get("stages") if isinstance(dvc, dict) else None
    for name, entry in (stages or {}).items():
        record = BY_NAME.get(name)
        if record is None or not isinstance(entry, dict):
            continue
        listed: list[str] = []
        for item in entry.get("params") or []:  # a name, or {file: [names]}, or {file: None}: all of that file
            if isinstance(item, str):
                listed.append(item)
            elif isinstance(item, dict):
                for file, names in item.items():
                    if file != "params.yaml":  # another file's keys are not params.yaml's
                        continue
                    listed += [k for k in names if isinstance(k, str)] if isinstance(names, list) else [""]
        if "" in listed:  # `- params.yaml:` tracks every param in it
            continue
        missing = [p for p in record.params if not any(p == k or p.startswith(k + ".") for k in listed)]
        if missing:
            out[name] = missing
    return out


def writer_of(path: str) -> str | None:
    """The stage that writes `path` (relative to the root): an out, a metrics file, a plot, or a file in one."""
    for s in STAGES:
        for p in [*s.write_paths(), s.metrics_path, *s.plots]:
            if path == p or path.startswith(p.rstrip("/") + "/"):
                return s.name
    return None


def upstream_params(name: str) -> tuple[str, ...]:
    """The params.yaml sections (or section.keys) a stage's outputs depend on: its own and those of every stage
    whose outputs or metrics it reads, transitively. A lineage digest over these changes whenever DVC would
    re-run the stage for a params change (a digest of all of params.yaml changed with `evaluate` or `report`, which
    select never reads). It also changes with an upstream knob that moves no output (`teacher.concurrency`,
    `embed.threads`): DVC then skips the stage, as the upstream outputs' hashes hold, and the lineage file keeps the
    digest of the run that wrote it."""
    seen, todo, keys = set(), [name], set()
    while todo:
        stage = BY_NAME[todo.pop()]
        if stage.name in seen:
            continue
        seen.add(stage.name)
        keys.update(stage.params)
        wanted = set(stage.read_paths())
        todo += [s.name for s in STAGES if wanted & {*s.write_paths(), s.metrics_path}]
    return tuple(sorted(k for k in keys if k.split(".")[0] == k or k.split(".")[0] not in keys))


def table() -> str:
    """The stage graph as aligned text, for `mira --help`."""
    width = max(len(s.name) for s in STAGES)
    lines = []
    for s in STAGES:
        reads = ", ".join([*s.read_paths(), *([s.outside] if s.outside else [])])
        writes = ", ".join([*s.write_paths(), s.metrics_path, *s.plots])
        lines += [f"{s.name:<{width}}  {s.about}", f"{'':<{width}}    reads  {reads or '-'}",
                  f"{'':<{width}}    writes {writes}"]
    return "\n".join(lines)


def markdown_table() -> list[str]:
    """The README's stage table: one row per stage, with the code it runs."""
    rows = ["| stage | what it does | reads | writes | params | code |", "|---|---|---|---|---|---|"]
    for s in STAGES:
        reads = [f"`{p}`" for p in s.read_paths()] + ([s.outside] if s.outside else [])
        writes = [f"`{p}`" for p in [*s.write_paths(), s.metrics_path, *s.plots]]
        code = [f"`flows/{s.name}.py`", f"`tasks/{s.name}.py`", *(f"`{m}`" for m in s.core)]
        rows.append(f"| `{s.name}` | {s.about} | {', '.join(reads) or '-'} | {', '.join(writes)} | "
                    f"{', '.join(f'`{p}`' for p in s.params)} | {' → '.join(code[:2])} → {', '.join(code[2:])} |")
    return rows


START = "<!-- stages:start -->"
END = "<!-- stages:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND = "python -m mira_core.stages"


def rewrite(text: str) -> str:
    """`text` with the generated stage table between the START and END markers."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {START} ... {END} markers")
    return text[:start + len(START)] + "\n\n" + "\n".join(markdown_table()) + "\n\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description="Rewrite the README's stage table from the stage records.")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README's table is out of date")
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = rewrite(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: the stage table is out of date; run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        from mira_core.io import atomic_path

        with atomic_path(args.readme) as tmp:
            tmp.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
