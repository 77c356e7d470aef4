"""`mira rubrics show` and `mira rubrics diff`: read rubrics in the workspace, at a revision or an experiment."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from pydantic import ValidationError

from flows.params import project_root
from flows.revisions import WORKSPACE, read_texts, unreadable
from mira_core.errors import ConfigError
from mira_core.rubric import Rubric, diff_rubrics, format_diff, format_rubric, parse_rubric, refusal

app = typer.Typer(help="Inspect and compare rubrics (one per group).", no_args_is_help=True, add_completion=False)
Root = Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")]


def rubrics_at(root: Path, rev: str) -> dict[str, Rubric]:
    """The rubrics of every group at a revision (a git rev, a DVC experiment name, or 'workspace'); a rubric that
    does not parse, or whose group is not its file's name, is a ConfigError naming its file and revision."""
    out = {}
    for path, text in read_texts(root, rev, "data/rubrics/*.json").items():
        try:
            r = parse_rubric(text)
        except ValidationError as e:
            raise unreadable(rev, path, f"not a rubric ({refusal(e)})") from None
        # as load_rubrics refuses it: keyed by its group, a copy of g0.json saved as g1.json replaced g0's rubric
        # here (show and diff printed g1's file as g0, and no g1), while label, distill and score read g1.json as g1's
        if r.group != PurePosixPath(path).stem:
            raise unreadable(rev, path, f"holds the rubric of group {r.group!r}, not {PurePosixPath(path).stem!r} "
                             f"(a copy of {r.group}.json?)")
        out[r.group] = r
    return out


@app.command()
def show(group: Annotated[str | None, typer.Argument(help="One group; all when left out.")] = None,
         rev: Annotated[str, typer.Option(help="Git revision or DVC experiment.")] = WORKSPACE,
         root: Root = Path(".")) -> None:
    """Print the anchors of each group's rubric."""
    try:
        rubrics = rubrics_at(project_root(root), rev)
        if not rubrics:
            raise ConfigError(f"no rubrics at {rev} (run `mira stage discover` first)")
        if group is not None and group not in rubrics:
            raise ConfigError(f"no rubric for group {group!r} at {rev}; groups: {', '.join(rubrics)}")
    except ConfigError as e:
        typer.echo(f"mira rubrics: {e}", err=True)
        raise typer.Exit(2) from None
    for g in [group] if group else sorted(rubrics):
        typer.echo(format_rubric(rubrics[g]) + "\n")


@app.command()
def diff(rev_a: Annotated[str, typer.Argument(help="Git revision or DVC experiment ('workspace' for files on disk).")],
         rev_b: Annotated[str, typer.Argument(help="Git revision or DVC experiment.")] = WORKSPACE,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
         root: Root = Path(".")) -> None:
    """Anchors added, removed and changed per group between two revisions."""
    try:
        root = project_root(root)
        a, b = rubrics_at(root, rev_a), rubrics_at(root, rev_b)
    except ConfigError as e:
        typer.echo(f"mira rubrics: {e}", err=True)
        raise typer.Exit(2) from None
    d = diff_rubrics(a, b)
    typer.echo(json.dumps(d, indent=2) if as_json else format_diff(d, rev_a, rev_b))
