"""Review s32, a second look at the latest changes (9ab12d2..867b142). Each test failed before its fix."""

from __future__ import annotations

import json

import polars as pl
import pytest

from flows.distill import check_enough_labels
from mira_core.errors import ConfigError
from mira_core.ingest.readers import notebook_text
from mira_core.layout import Layout
from mira_core.teachers.rules.code import parses


def _notebook(*cells: tuple[str, str]) -> str:
    return json.dumps({"cells": [{"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True),
                                  "outputs": []} for kind, src in cells], "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_with_prose_and_magics_reads_as_python_that_parses():
    """Notebooks are code records (init guesses .ipynb as code): a markdown cell, `%matplotlib inline` and `!pip`
    read as Python were a SyntaxError, where the notebook's JSON had passed `parses`."""
    text = notebook_text(_notebook(
        ("markdown", "# Loss curve\n\nWe plot the loss, then fit it."),
        ("code", "%matplotlib inline\n!pip install numpy\nimport math\n\ndef f(a, b):\n    if (a\n            != b):\n"
                 "        return math.sqrt(a)\n    return b\n"),
        ("code", "%%bash\nls -l | wc -l"),
        ("raw", "plain text, not code"),
    ))
    score, why = parses(text)
    assert score == 5, (why, text)
    for kept in ("We plot the loss, then fit it.", "%matplotlib inline", "!pip install numpy", "ls -l | wc -l",
                 "def f(a, b):", "!= b):"):
        assert kept in text


def test_too_few_train_labels_are_not_told_to_raise_val_fraction(tmp_path):
    """The split hash may put most of a small, fully labeled group in val: raising val_fraction then leaves even
    fewer train labels; the message told it anyway (it named the knob for a short val only)."""

    def message(splits: list[str]) -> str:
        lay = Layout(tmp_path / str(len(list(tmp_path.iterdir()))))
        lay.labels.mkdir(parents=True)
        pl.DataFrame({"record_id": [f"s/r{i}" for i in range(len(splits))], "source": ["s"] * len(splits),
                      "split": splits}).write_parquet(lay.labels / "g.parquet")
        with pytest.raises(ConfigError) as e:
            check_enough_labels(lay, "g")
        return str(e.value)

    short_train = message(["train", "val", "val", "val"])
    assert "1 train and 3 val" in short_train
    assert "raise label.val_fraction" not in short_train and "lower label.val_fraction" in short_train
    short_val = message(["train", "train", "train", "val"])
    assert "raise label.val_fraction" in short_val and "lower label.val_fraction" not in short_val
    both = message(["train", "val"])
    assert "val_fraction, or" not in both and "group.pins" in both and "records_per_group" in both
