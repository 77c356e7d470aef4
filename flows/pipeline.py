"""The whole graph as one Prefect flow: each stage runs as a subflow, in order.

`dvc repro` runs the same stages one process each and skips the unchanged ones; `mira run` runs
them all in one process (Prefect's task cache still skips unchanged shards).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.params import load_params
from flows.stages import BY_NAME, STAGES, flow_module


@flow(name="mira")
def pipeline_flow(root: str, stages: list[str]) -> list[str]:
    """Run `stages` in graph order against the project at `root`."""
    params = load_params(Path(root) / "params.yaml")
    done = []
    for name in stages:
        flow_module(BY_NAME[name]).run(params, Path(root))
        done.append(name)
    return done


def plan(first: str | None = None, last: str | None = None, demo: bool = True) -> list[str]:
    """Stage names from `first` to `last` inclusive, in graph order."""
    names = [s.name for s in STAGES if demo or s.name != "demo_corpus"]
    lo = names.index(first) if first else 0
    hi = names.index(last) + 1 if last else len(names)
    return names[lo:hi]
