"""Review of the CLI, the stage task cache and the flows' plumbing (session 29).

- tasks/caching.py: an input `Path` entered the cache key by its bytes alone, so a source file renamed (a glob
  source's match, same content) was a hit, and the corpus kept the old file's name in every record's locator.
- tasks/caching.py: `cache.dir: ~/...` was not expanded (embed.cache_dir is): the cache went to a folder named '~'
  inside the project.
- flows/base_model.py: `mira base-model smollm2 models` (OUT read as "into models/") replaced the folder whole,
  deleting every other model in it, and said it had succeeded.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import mira_core.base_models as base_models
import tasks.caching as caching
from flows.cli import app
from mira_core.config import CacheParams, IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import ingest_source, source_inputs
from mira_core.io import atomic_dir
from tasks.ingest import ingest_one


def _ingest_key(spec: SourceSpec, root: Path) -> str:
    """The cache key of the ingest task for `spec`, with the inputs the ingest flow gives it."""
    ctx = types.SimpleNamespace(task=types.SimpleNamespace(fn=ingest_one.fn))
    inputs = {"spec": spec, "p": IngestParams(), "inputs": source_inputs(spec, 0, root), "root": str(root),
              "out": root / "data" / "corpus" / spec.name, "out_quarantine": root / "data" / "quarantine" / spec.name}
    return caching.StageCache().compute_key(ctx, inputs, {})


def _locators(spec: SourceSpec, root: Path, out: str) -> list[str]:
    ingest_source(spec, IngestParams(), root, root / out, root / f"{out}-quarantine")
    return [json.loads(m)["locator"] for m in pl.read_parquet(root / out / "part-00000.parquet")["meta"]]


def test_a_renamed_source_file_with_the_same_bytes_is_a_new_cache_key(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.jsonl").write_text('{"text": "alpha one"}\n')
    spec = SourceSpec(name="s", path="raw/*.jsonl", format="text")
    key = _ingest_key(spec, tmp_path)
    assert _ingest_key(spec, tmp_path) == key  # nothing changed: the same key
    assert _locators(spec, tmp_path, "before") == ["raw/a.jsonl:1"]

    (tmp_path / "raw" / "a.jsonl").rename(tmp_path / "raw" / "b.jsonl")
    assert _locators(spec, tmp_path, "after") == ["raw/b.jsonl:1"]  # the output names the file it was read from
    assert _ingest_key(spec, tmp_path) != key


def test_a_cache_dir_under_home_is_not_a_folder_named_tilde_in_the_project(tmp_path, monkeypatch):
    from tasks.dedup import dedup_all

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    task = caching.cached(dedup_all, CacheParams(dir="~/.cache/mira-prefect"), tmp_path / "project")
    assert task.cache_policy.outputs_dir == tmp_path / "home" / ".cache" / "mira-prefect" / "outputs"


@pytest.fixture
def fake_conversion(monkeypatch):
    """convert_gguf's write (OUT replaced whole by a folder with config.json), without loading a model."""
    def convert(gguf: Path, out: Path) -> dict:
        with atomic_dir(out) as tmp:
            (tmp / "config.json").write_text("{}")
        return {"parameters": 1, "source": gguf.name, "load_seconds": 0, "seconds": 0}

    monkeypatch.setattr(base_models, "convert_gguf", convert)
    monkeypatch.setattr(base_models, "smollm2_gguf", lambda: Path("smollm2.gguf"))


def test_base_model_refuses_to_replace_a_folder_of_other_models(tmp_path, fake_conversion):
    encoder = tmp_path / "models" / "encoder"
    encoder.mkdir(parents=True)
    (encoder / "config.json").write_text("{}")
    res = CliRunner().invoke(app, ["base-model", "smollm2", "models", "--root", str(tmp_path)])
    assert isinstance(res.exception, ConfigError), res.output
    assert str(res.exception).startswith(f"{tmp_path / 'models'}: a folder that holds no model (no config.json)")
    assert (encoder / "config.json").is_file()  # nothing deleted


def test_base_model_still_replaces_an_earlier_conversion_and_writes_a_new_folder(tmp_path, fake_conversion):
    for _ in range(2):  # a new folder, then the same folder again
        res = CliRunner().invoke(app, ["base-model", "smollm2", "--root", str(tmp_path)])
        assert res.exit_code == 0, res.output
    assert (tmp_path / base_models.SMOLLM2_DIR / "config.json").is_file()
