"""`mira init DIR --source NAME=PATH[:FORMAT] ...`: a new project folder for your own data (mira_core/init_project.py)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer


def command(
    folder: Annotated[Path, typer.Argument(
        metavar="DIR", help="The project folder to make (new, or one without params.yaml).")],
    source: Annotated[list[str], typer.Option(
        "--source", "-s", metavar="NAME=PATH[:FORMAT]", help="A source (repeat for each): a JSONL or Parquet "
        "file, a glob of them, a folder of files, or a Hugging Face dataset folder (save_to_disk, or Parquet "
        "shards), local or an s3:// URL, glob or prefix (credentials and AWS_ENDPOINT_URL from the environment). "
        "FORMAT is text, code, qa, chat or agent; left out, it and the field names are guessed from the "
        "first records.")],
    held_out: Annotated[list[str] | None, typer.Option(
        "--held-out", metavar="NAME", help="A source never selected (nor judged or labeled by the teacher), the "
        "evaluate stage's target set and the dsir baseline's (repeatable); with one, evaluate is on.")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", metavar="NAME.KEY=VALUE", help="A field name of source NAME (repeatable), taken before any "
        "guess: KEY is text_field, id_field, question_field, answer_field, context_field or messages_field, VALUE "
        "the record's key (e.g. --field qa.question_field=q --field qa.answer_field=a).")] = None,
    scm: Annotated[bool, typer.Option("--scm/--no-scm", help="Run git init and dvc init in the folder.")] = True,
) -> None:
    """Make a project folder for your own data: params.yaml, dvc.yaml, .gitignore, README, git + DVC."""
    from mira_core.init_project import create_project, parse_field, parse_source
    from mira_core.redact import redact_credentials

    made = create_project(folder, [parse_source(s) for s in source], held_out or [], scm=scm,
                          fields=[parse_field(f) for f in field or []])
    typer.echo(f"mira init: {made.root}")
    for spec, guess in zip(made.sources, made.guesses, strict=True):
        fields = "".join(f", {k}: {v}" for k, v in guess.fields.items())
        # params.yaml keeps the URL as written; the terminal (and its scrollback, a CI log) gets it without secrets
        typer.echo(redact_credentials(f"  {spec.name}: {spec.path}\n    reader {guess.reader}, format "
                                      f"{guess.format}{fields}\n    {'guessed' if guess.guessed else 'given'}: "
                                      f"{guess.why}"))
    # only the set-up that ran: a folder that already was a git or DVC repository keeps its own
    typer.echo(f"wrote {', '.join(made.files)}" + (f"; {', '.join(made.ran)}" if made.ran else ""))
    # quoted, so the line can be pasted as it is when the folder's path has spaces or quotes in it
    setup = "" if scm else "git init && dvc init && "  # --no-scm: the project is not a repository yet
    typer.echo(f"next: cd {shlex.quote(str(made.root))} && mira params && {setup}git add -A && git commit -m "
               "'mira project' && dvc repro (check the guesses in params.yaml first)")
