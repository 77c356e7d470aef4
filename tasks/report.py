"""Task of the report stage: load every stage's outputs and render the report.

Not cached: rendering takes seconds, and the report also shows the installed package versions,
which no cache key would see; DVC already skips the stage when nothing it reads has changed.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from mira_core.config import ReportParams
from mira_core.layout import Layout
from mira_core.report import Report, load_inputs, render


@task(name="render-report", cache_policy=NO_CACHE, persist_result=False)
def render_report(p: ReportParams, root: str) -> Report:
    """The rendered report of the project at `root` (nothing is written here)."""
    return render(load_inputs(Layout(Path(root))), p)
