"""The stage graph for the CLI: the records of `mira_core.stages`, and each stage's flow module.

`mira --help`, `mira run` and `mira stage` read the stages from here; the records themselves (what each
stage reads, writes and depends on) live in mira_core/stages.py, where the report can use them too.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mira_core.stages import BY_NAME, STAGES, Stage, table

__all__ = ["BY_NAME", "STAGES", "Stage", "flow_module", "table"]


def flow_module(stage: Stage) -> ModuleType:
    """The flow module `flows.<name>`, which has `run(params, root)` and `main(argv)`."""
    return importlib.import_module(f"flows.{stage.name}")
