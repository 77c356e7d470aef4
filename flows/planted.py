"""`mira planted`: build the planted-defect corpus, and score a run's selections against its truth.

    mira planted build data/raw --records 400          # four sources + truth.parquet + planted.json
    mira planted eval --truth data/raw/truth.parquet --selection data/selection

The logic is in mira_core/planted.py; this module only parses arguments and prints. It imports
nothing heavy at import time, so `mira --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Planted-defect benchmark: a real corpus with defects planted at a known rate, and the "
                  "share of broken and of good tokens each selection keeps.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


def _fail(e: Exception) -> None:
    typer.echo(f"mira planted: {type(e).__name__}\n{e}", err=True)
    raise typer.Exit(2)


@app.command()
def build(out: Annotated[Path, typer.Argument(help="Folder for the sources, truth.parquet and planted.json.")],
          seed: Annotated[int, typer.Option(help="Seed of the record choice and of the defects.")] = 0,
          rate: Annotated[float, typer.Option(help="Share of each source's records given a defect.")] = 0.25,
          records: Annotated[int, typer.Option(help="Records per source (four sources).")] = 400) -> None:
    """Write the four sources with planted defects; print the `sources:` entries for params.yaml."""
    import yaml

    from mira_core.errors import ConfigError
    from mira_core.planted import build_planted_corpus

    cwd = Path.cwd().resolve()
    inside = out.resolve().is_relative_to(cwd)
    try:
        info = build_planted_corpus(out, seed=seed, defect_rate=rate, records_per_source=records,
                                    relative_to=cwd if inside else None)
    except ConfigError as e:
        _fail(e)
    for source, counts in info["counts"].items():
        typer.echo(f"{source:<7} " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    short = {s: n for s, n in info["records_by_source"].items() if n < records}
    if short:  # this Python installation has fewer modules, docs or packages than asked for
        typer.echo(f"fewer records than the {records} asked: " + ", ".join(f"{s} {n}" for s, n in short.items()))
    typer.echo(f"{info['records']} records, {info['defects']} with a defect; truth: {out / 'truth.parquet'}\n")
    typer.echo("sources:   # for params.yaml (with demo_corpus.enabled: false)")
    for s in info["sources"]:
        # written by PyYAML, so a path with "[", "," or ": " is quoted and reads back as itself
        entry = yaml.safe_dump(s, default_flow_style=True, sort_keys=False, width=1 << 20).strip()
        typer.echo(f"  - {entry}")


@app.command(name="eval")
def eval_(truth: Annotated[Path, typer.Option("--truth", help="truth.parquet written by `mira planted build`.")],
          selection: Annotated[Path, typer.Option("--selection", help="A data/selection folder (<method>/manifest."
                                                  "parquet, and oracle.parquet when present).")],
          budget: Annotated[float | None, typer.Option(help="The run's select.budget, for the perfect selector "
                                                       "(default: the budget in metrics/select.json of the project "
                                                       "the selection is in, else 0.5).")] = None,
          json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures here.")] = None) -> None:
    """Print, per method, the share of broken and of good tokens kept, per defect kind and per source."""
    from mira_core.errors import ConfigError
    from mira_core.io import read_json, read_parquet, write_json
    from mira_core.planted import check_truth, evaluate, load_selection, render_markdown

    try:
        if not truth.is_file():
            raise ConfigError(f"{truth}: no such file (run `mira planted build` first)")
        labels = read_parquet(truth)  # a file that is not Parquet is a ConfigError naming it, not a traceback
        check_truth(labels, str(truth))  # named by its file here: evaluate only knows it as "truth"
        manifests, oracle = load_selection(selection)
        run = selection.resolve().parent.parent / "metrics" / "select.json"  # <project>/data/selection
        ran = read_json(run).get("budget") if run.is_file() else None
        if budget is None:
            budget = ran if ran is not None else 0.5
        elif ran is not None and budget != ran:
            typer.echo(f"mira planted: --budget {budget} is not the run's select.budget ({ran}, {run}): the perfect "
                       "selectors are at another budget than the methods", err=True)
        result = evaluate(labels, manifests, budget, oracle)
    except ConfigError as e:
        _fail(e)
    if json_out:
        write_json(result, json_out)
    typer.echo(render_markdown(result), nl=False)
