"""Review s34 (h5): every knob's description against what the code does with it.

Each test reads one knob through the mira_core function that uses it, on tiny data, and asserts what the knob's
description (mira_core/config.py, docs) says it does; each failed before its fix. (select.min_score's description
said the floor was on the rubric's own scale; it is on the blended score MIRA ranks on, and the description now
says so, with a worked example.)
"""

from __future__ import annotations

import shutil

import pytest

from mira_core.config import EmbedParams, parse_params
from mira_core.errors import ConfigError


def test_relative_encoder_folder_is_read_from_the_project(tiny_encoder, tmp_path, monkeypatch):
    from mira_core.embedding import load_encoder

    project = tmp_path / "project"
    shutil.copytree(tiny_encoder, project / "models" / "enc")
    elsewhere = tmp_path / "elsewhere"  # `mira stage embed --root project`, run from another folder
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    p = EmbedParams(encoder="models/enc", backend="torch", device="cpu", dtype="fp32")
    enc = load_encoder(p, project)  # was: ConfigError "no model folder with config.json at models/enc"
    vectors = enc.encode(["def f(x):\n    return x + 1\n"])
    assert vectors.shape == (1, 32)


def test_rules_teacher_refuses_a_model_it_does_not_run():
    raw = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}],
           "teacher": {"provider": "rules", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8000/v1"}}
    with pytest.raises(ConfigError, match="model"):
        parse_params(raw)



def test_a_cache_path_under_home_is_the_users_home_not_a_folder_named_tilde(tmp_path, monkeypatch):
    from mira_core.config import TeacherParams
    from mira_core.teachers import make_teacher

    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    make_teacher(TeacherParams(cache_path="~/mira/teacher.sqlite"), project, {})
    assert (home / "mira" / "teacher.sqlite").exists() and not (project / "~").exists()
