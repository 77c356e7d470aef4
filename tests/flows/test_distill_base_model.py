"""The generative student's base model folder as the distill flow passes it to its task: read from the project (a
relative params path), and an argument that keys the task cache by the folder's content."""

from __future__ import annotations

from pathlib import Path

from flows.distill import resolve_base_model
from mira_core.config import DistillParams
from tasks.caching import _value


def test_a_relative_base_model_is_read_from_the_project_and_only_for_the_generative_student(tmp_path):
    p = DistillParams(student="generative")  # the default base: models/smollm2-135m-instruct
    assert resolve_base_model(p, tmp_path) == tmp_path / "models" / "smollm2-135m-instruct"
    absolute = DistillParams(student="generative", generative={"model": str(tmp_path / "elsewhere")})
    assert resolve_base_model(absolute, Path("/project")) == tmp_path / "elsewhere"
    assert resolve_base_model(DistillParams(student="head"), tmp_path) is None
    assert resolve_base_model(DistillParams(student="generative", generative={"model": ""}), tmp_path) is None


def test_a_rebuilt_base_model_changes_the_cache_key(tmp_path):
    base = tmp_path / "models" / "lm"
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"model_type": "gpt2"}')
    (base / "model.safetensors").write_bytes(b"weights one")
    before = _value(base)
    (base / "model.safetensors").write_bytes(b"other weights, longer")  # another size: no mtime-resolution luck
    assert _value(base) != before
