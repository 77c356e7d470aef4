"""`mira estimate`: the teacher stages' requests, tokens and cost, printed before any request is sent.

It needs what the stages need to know their samples: the corpus and the groups (`mira stage group`)
for discover, and the rubrics for label (before discover has run, label is estimated with
placeholder anchors of a typical size, and says so). No flow runs and no request is sent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mira_core.config import Params
    from mira_core.estimate import Calibration, StageEstimate


def lines(rows: list[StageEstimate], cal: Calibration, notes: list[str], params: Params) -> list[str]:
    t = params.teacher
    out = [f"teacher {t.provider}/{t.model}; tokens: {cal.basis}", "",
           f"{'stage':<10}{'requests':>10}{'cached':>9}{'to send':>9}{'input tokens':>15}{'output tokens':>15}"
           f"{'cost USD':>11}"]
    for r in rows:
        cost = "n/a" if r.cost_usd is None else f"{r.cost_usd:.4f}"
        out.append(f"{r.stage:<10}{r.requests:>10}{r.cached:>9}{r.to_send:>9}{r.input_tokens:>15,}"
                   f"{r.output_tokens:>15,}{cost:>11}")
    if t.provider == "rules":
        out.append("(the rules teacher runs here and costs nothing: the figures are what an LLM teacher would be asked)")
    elif rows and rows[0].cost_usd is None:
        out.append("(set teacher.price_input_per_1m and teacher.price_output_per_1m for a cost)")
    return out + notes


def command(root: Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")] = Path("."),
            as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False) -> None:
    """Estimate the teacher stages' requests, tokens and cost before sending any request."""
    from flows.params import load_params
    from mira_core.estimate import estimate_project

    root = root.resolve()
    params = load_params(root / "params.yaml")  # a bad key or value: the CLI prints the message alone
    rows, cal, notes = estimate_project(params, root, os.environ)
    if as_json:
        typer.echo(json.dumps({"calibration": cal.basis, "notes": notes, "stages": [
            {**r.__dict__, "to_send": r.to_send} for r in rows]}, indent=1))
        return
    for line in lines(rows, cal, notes, params):
        typer.echo(line)
