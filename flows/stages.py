"""The stage graph for the CLI: the records of `mira_core.stages`, and each stage's flow module.

`mira --help`, `mira run` and `mira stage` read the stages from here (`plan` is `mira run`'s range, checked before
Prefect is imported or a server starts); the records themselves (what each stage reads, writes and depends on) live
in mira_core/stages.py, where the report can use them too.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mira_core.stages import BY_NAME, STAGES, Stage, table

__all__ = ["BY_NAME", "STAGES", "Stage", "flow_module", "plan", "table"]


def flow_module(stage: Stage) -> ModuleType:
    """The flow module `flows.<name>`, which has `run(params, root)` and `main(argv)`."""
    return importlib.import_module(f"flows.{stage.name}")


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
