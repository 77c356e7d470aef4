"""The `mira` command line: run one stage, the whole graph, or inspect the configuration.

Flows are imported only when a command needs them, so `mira --help` answers at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from flows.stages import BY_NAME, STAGES, table

HELP = f"""mira: source-aware data selection for LLM mid-training (the MIRA method).

Stages, in graph order (each is `mira stage NAME`, a Prefect flow and a dvc.yaml stage):

\b
{table()}
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  context_settings={"max_content_width": 110})
Root = Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")]


def _register_subcommands() -> None:
    from flows import compare, summary, ui
    from flows.planted import app as planted_app
    from flows.rubrics import app as rubrics_app

    app.add_typer(planted_app, name="planted")
    app.add_typer(rubrics_app, name="rubrics")
    app.command(name="compare")(compare.command)
    app.command(name="summary")(summary.command)
    app.command(name="ui")(ui.command)


_register_subcommands()


def _params(root: Path):
    from flows.params import load_params

    return load_params(root / "params.yaml")


def _fail(e: Exception) -> None:
    typer.echo(f"mira: {type(e).__name__}\n{e}", err=True)
    raise typer.Exit(2)


@contextmanager
def _prefect_api(root: Path, params) -> Iterator[None]:
    """Flow runs in the block go to the project's Prefect server (see flows/servers.py), unless told otherwise."""
    from flows.servers import prefect_api
    from mira_core.errors import MiraError

    with ExitStack() as stack:
        try:
            stack.enter_context(prefect_api(root, params.runner))
        except MiraError as e:
            _fail(e)
        yield


@app.command()
def stage(name: Annotated[str, typer.Argument(help="Stage name: " + ", ".join(s.name for s in STAGES))],
          root: Root = Path(".")) -> None:
    """Run one stage's Prefect flow against the project at --root."""
    from mira_core.errors import ConfigError

    if name not in BY_NAME:
        _fail(ConfigError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}"))
    root = root.resolve()
    try:
        params = _params(root)
    except ConfigError as e:
        _fail(e)
    with _prefect_api(root, params):  # before the flow module is imported: Prefect reads its settings once
        try:
            BY_NAME[name].module().run(params, root)
        except ConfigError as e:
            _fail(e)


@app.command()
def run(root: Root = Path("."),
        first: Annotated[str | None, typer.Option("--from", help="First stage to run.")] = None,
        last: Annotated[str | None, typer.Option("--to", help="Last stage to run.")] = None) -> None:
    """Run the whole graph (or --from/--to a part of it) as one Prefect flow."""
    from flows.pipeline import pipeline_flow, plan
    from mira_core.errors import ConfigError

    root = root.resolve()
    try:
        params = _params(root)
        for name in (first, last):
            if name and name not in BY_NAME:
                raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}")
        stages = plan(first, last, demo=params.demo_corpus.enabled)
        with _prefect_api(root, params):
            pipeline_flow(str(root), stages)
    except ConfigError as e:
        _fail(e)


@app.command()
def params(root: Root = Path(".")) -> None:
    """Validate params.yaml and print every knob with its value and description."""
    from mira_core.errors import ConfigError

    try:
        p = _params(root.resolve())
    except ConfigError as e:
        _fail(e)
    for line in describe(p):
        typer.echo(line)


def describe(model, prefix: str = "") -> list[str]:
    """Lines of `key = value  # description` for a params model, recursively."""
    from pydantic import BaseModel

    lines = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            lines.append(f"{key}:  # {field.description}")
            lines += describe(value, key + ".")
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            lines.append(f"{key}:  # {field.description}")
            for i, item in enumerate(value):
                lines += describe(item, f"{key}[{i}].")
        else:
            lines.append(f"{key} = {value!r}  # {field.description}")
    return lines


def main() -> None:
    import flows  # noqa: F401  (quiet, offline environment defaults before any heavy import)

    app(prog_name="mira")


if __name__ == "__main__":
    sys.exit(main())
