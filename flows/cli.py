"""The `mira` command line: run one stage, the whole graph, or inspect the configuration.

Flows are imported only when a command needs them, so `mira --help` answers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.stages import BY_NAME, STAGES, flow_module, table

HELP = f"""mira: source-aware data selection for LLM mid-training (the MIRA method).

Stages, in graph order (each is `mira stage NAME`, a Prefect flow and a dvc.yaml stage):

\b
{table()}
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  context_settings={"max_content_width": 110})
Root = Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")]


def _register_subcommands() -> None:
    from flows import compare, estimate, summary, ui
    from flows import init as init_command
    from flows.base_model import app as base_model_app
    from flows.planted import app as planted_app
    from flows.rubrics import app as rubrics_app

    app.add_typer(base_model_app, name="base-model")
    app.add_typer(planted_app, name="planted")
    app.add_typer(rubrics_app, name="rubrics")
    app.command(name="compare")(compare.command)
    app.command(name="estimate")(estimate.command)
    app.command(name="init")(init_command.command)
    app.command(name="summary")(summary.command)
    app.command(name="ui")(ui.command)


_register_subcommands()


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of mira's own errors "
                                                 "(same as MIRA_DEBUG=1).")] = False) -> None:
    from flows.common import DEBUG_ENV

    if debug:  # an environment variable, so stage processes and Dask workers started from here see it too
        os.environ[DEBUG_ENV] = "1"


def _check_stage(name: str | None) -> None:
    from mira_core.errors import ConfigError

    if name is not None and name not in BY_NAME:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}")


@app.command()
def stage(name: Annotated[str, typer.Argument(help="Stage name: " + ", ".join(s.name for s in STAGES))],
          root: Root = Path(".")) -> None:
    """Run one stage's Prefect flow against the project at --root."""
    from flows.common import run_stage

    _check_stage(name)
    # the flow module is imported after the project's Prefect server is set: Prefect reads its settings once
    run_stage(root.resolve(), lambda: flow_module(BY_NAME[name]).run, name)


@app.command()
def run(root: Root = Path("."),
        first: Annotated[str | None, typer.Option("--from", help="First stage to run.")] = None,
        last: Annotated[str | None, typer.Option("--to", help="Last stage to run.")] = None) -> None:
    """Run the whole graph (or --from/--to a part of it) as one Prefect flow."""
    from flows.common import run_stage

    _check_stage(first)
    _check_stage(last)
    order = [s.name for s in STAGES]
    if first and last and order.index(first) > order.index(last):  # before any server starts (plan checks again)
        from mira_core.errors import ConfigError

        raise ConfigError(f"--from {first} comes after --to {last} in the graph: nothing to run")

    from flows.params import load_params
    from flows.stages import plan

    # the range this project runs (no demo_corpus when it is off), refused before run_stage starts the server
    stages = plan(first, last, demo=load_params(root.resolve() / "params.yaml").demo_corpus.enabled)

    def load():
        from flows.pipeline import pipeline_flow

        return lambda params, root: pipeline_flow(str(root), stages)

    run_stage(root.resolve(), load)


@app.command()
def params(root: Root = Path(".")) -> None:
    """Validate params.yaml and print every knob with its value and description."""
    from flows.params import load_params

    for line in describe(load_params(root.resolve() / "params.yaml")):
        typer.echo(line)


def describe(model, prefix: str = "") -> list[str]:
    """Lines of `key = value  # description` for a params model, recursively."""
    from pydantic import BaseModel

    from mira_core.redact import redact_credentials

    lines = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            lines.append(f"{key}:  # {field.description}")
            lines += describe(value, key + ".")
        elif isinstance(value, tuple | list) and value and isinstance(value[0], BaseModel):
            lines.append(f"{key}:  # {field.description}")
            for i, item in enumerate(value):
                lines += describe(item, f"{key}[{i}].")
        else:  # URL credentials starred, as in the report and MLflow's params: the output lands in terminals and CI
            lines.append(f"{key} = {redact_credentials(repr(value))}  # {field.description}")
    return lines


def _utf8_mode() -> None:
    """Run again in Python's UTF-8 mode when the locale's encoding is not UTF-8 (PYTHONUTF8=0 under LANG=C, a
    Latin-1 locale): paths in params.yaml and file names on disk are UTF-8, which an ASCII interpreter cannot
    open or write, and a Latin-1 one reads as mojibake."""
    if sys.flags.utf8_mode or sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return
    os.environ["PYTHONUTF8"] = "1"  # stage processes, Dask workers and the servers started from here inherit it
    os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.orig_argv[1:]])


def main() -> None:
    """The `mira` console script: mira's own errors print their message alone (see flows/common.py)."""
    _utf8_mode()
    import flows  # noqa: F401  (quiet, offline environment defaults before any heavy import)
    from flows.common import user_errors

    with user_errors("mira"):
        app(prog_name="mira")


if __name__ == "__main__":
    sys.exit(main())
