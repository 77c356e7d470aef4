"""Task of the demo_corpus stage: the embedded default corpus, built from this Python installation."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from mira_core.config import DemoCorpusParams
from mira_core.demo_corpus import build_demo_corpus


@task(name="build-demo-corpus")
def build_demo(p: DemoCorpusParams, out: Path) -> dict[str, int]:
    """Write the demo sources under `out`; returns records per source."""
    return build_demo_corpus(out, p)
