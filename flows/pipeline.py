"""The whole graph as one Prefect flow: each stage runs as a subflow, in order.

`dvc repro` runs the same stages one process each and skips the unchanged ones; `mira run` runs
them all in one process (Prefect's task cache still skips unchanged shards).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.params import load_params
from flows.stages import BY_NAME, flow_module, plan
from mira_core.errors import INTERRUPTED

__all__ = ["pipeline_flow", "plan"]  # plan lives in flows.stages: the CLI calls it before Prefect is imported


@flow(name="mira")
def pipeline_flow(root: str, stages: list[str]) -> list[str]:
    """Run `stages` in graph order against the project at `root`."""
    params = load_params(Path(root) / "params.yaml")
    done = []
    for name in stages:
        if INTERRUPTED.is_set():  # Ctrl-C in the second after a stage ended: Prefect swallowed it, the run went on
            raise KeyboardInterrupt
        flow_module(BY_NAME[name]).run(params, Path(root))
        done.append(name)
    return done
