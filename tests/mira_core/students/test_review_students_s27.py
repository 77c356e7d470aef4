"""Review tests (session 27) of the students' inputs: what a student is fitted on must come from one encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import DistillParams, EmbedParams
from mira_core.distillation import distill_group
from mira_core.errors import ConfigError
from mira_core.io import read_json, write_json, write_parquet
from mira_core.rubric import Anchor, Rubric
from mira_core.students.base import TRAINED_ON


def _group(tmp_path: Path, weights: tuple[str, str]) -> tuple:
    """Two corpus shards of one source, each with its embedding shard stamped by an encoder of `weights`; labels
    over the records of both."""
    rng = np.random.default_rng(0)
    ids = [f"s/{i:02d}" for i in range(30)]
    shards, embeddings = [], []
    for k, w in enumerate(weights):
        part = ids[15 * k : 15 * (k + 1)]
        shards.append(write_parquet(pl.DataFrame({"record_id": part, "source": "s", "format": "text",
                                                  "text": [f"text {i}" for i in part], "n_tokens": 2, "n_chars": 9,
                                                  "meta": "{}"}), tmp_path / "corpus" / "s" / f"part-{k}.parquet"))
        emb = write_parquet(pl.DataFrame({"record_id": part,
                                          "embedding": rng.standard_normal((15, 8)).astype(np.float32)}),
                            tmp_path / "embeddings" / "s" / f"part-{k}.parquet")
        write_json({"stamp": {"input": f"shard {k}", "encoder": {"encoder": "static", "weights": w, "dim": 8}}},
                   emb.with_suffix(".json"))
        embeddings.append(emb)
    rubric = Rubric(group="g", teacher="rules/rules-v1", prompt_version="p", sources=["s"],
                    anchors=[Anchor(id="a00", name="n", description="n", exemplar_reason="n", support=1)]
                    ).with_version()
    labels = pl.DataFrame({"record_id": ids, "source": "s", "split": ["val" if i % 3 == 0 else "train" for i in range(30)],
                           "a00": rng.integers(1, 6, 30).astype(float), "rubric_version": rubric.version})
    return labels, rubric, shards, embeddings


def test_a_student_is_not_fitted_on_shards_embedded_by_two_encoders(tmp_path):
    # Only the first shard's stamp was read: the head was fitted on both encoders' vectors, its inputs.json named the
    # first, and score then passed every shard stamped like it.
    labels, rubric, shards, embeddings = _group(tmp_path, ("aa", "aa"))
    args = (DistillParams(student="head"), EmbedParams(), shards, embeddings)
    distill_group(labels, labels.head(0), rubric, *args, tmp_path / "ok")
    assert read_json(tmp_path / "ok" / TRAINED_ON)["encoder"]["weights"] == "aa"

    labels, rubric, shards, embeddings = _group(tmp_path / "mixed", ("aa", "bb"))
    args = (DistillParams(student="head"), EmbedParams(), shards, embeddings)
    with pytest.raises(ConfigError, match=r"part-0.parquet and .*part-1.parquet were embedded otherwise \(they differ "
                                          r"in weights\).*re-run embed"):
        distill_group(labels, labels.head(0), rubric, *args, tmp_path / "student")
