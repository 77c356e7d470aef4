"""Stage demo_corpus: build the embedded default corpus from this machine's Python installation.

Reads: the interpreter's standard library and the virtualenv's site-packages.
Writes: data/raw/ (eight sources as JSONL, JSONL.gz, JSONL.zst, Parquet and folders of files).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import run_log, stage_main
from mira_core.config import DemoCorpusParams, Params
from mira_core.demo_corpus import foreign_files
from mira_core.errors import ConfigError
from mira_core.io import clear_dir, write_json
from mira_core.layout import Layout
from tasks.demo_corpus import build_demo


@flow(name="demo_corpus")
def demo_corpus_flow(p: DemoCorpusParams, root: str) -> dict[str, int]:
    """Rebuild data/raw from scratch so no file of an earlier build survives."""
    lay = Layout(Path(root))
    if not p.enabled:  # `mira run` plans it out, but `mira stage demo_corpus` came here and emptied data/raw
        raise ConfigError(f"demo_corpus.enabled is false: this project's sources are its own, and building the demo "
                          f"would empty {lay.raw}; under dvc repro, remove the demo_corpus stage from dvc.yaml "
                          "(README), or set demo_corpus.enabled to true to build the demo corpus there")
    if foreign := foreign_files(lay.raw):  # a project of one's own with the section left out: its data is there
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(f"{lay.raw} holds {shown}, which the demo corpus does not write: building the demo "
                          "empties that folder, so it is not built. If these are your own sources, set "
                          "demo_corpus.enabled: false in params.yaml; to build the demo, move them out first")
    with run_log(lay, "demo_corpus") as log:
        clear_dir(lay.raw)
        counts = build_demo(p, lay.raw)
        write_json({"records": counts, "total": sum(counts.values())}, lay.metrics_file("demo_corpus"))
        log["tasks"] = {"Completed": 1}
    print(f"demo corpus: {sum(counts.values())} records in {len(counts)} sources under {lay.raw}")
    return counts


def run(params: Params, root: Path) -> dict[str, int]:
    return demo_corpus_flow(params.demo_corpus, str(root))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "demo_corpus", argv)


if __name__ == "__main__":
    main()
