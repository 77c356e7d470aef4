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
    """Stage names from `first` to `last` inclusive, in graph order; a ConfigError for a range that names a stage
    this project does not run (demo_corpus with demo_corpus.enabled false) or runs backwards (nothing would run)."""
    from mira_core.errors import ConfigError

    names = [s.name for s in STAGES if demo or s.name != "demo_corpus"]
    for option, name in (("--from", first), ("--to", last)):
        if name is not None and name not in names:
            raise ConfigError(f"{option} {name}: not a stage of this project"
                              + (" (demo_corpus.enabled is false)" if name == "demo_corpus" else
                                 f"; stages: {', '.join(names)}"))
    lo = names.index(first) if first else 0
    hi = names.index(last) + 1 if last else len(names)
    if lo >= hi:
        raise ConfigError(f"--from {first} comes after --to {last} in the graph ({' -> '.join(names)}): "
                          "nothing to run")
    return names[lo:hi]
