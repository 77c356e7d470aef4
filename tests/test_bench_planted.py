"""Tests of the planted benchmark's whole-corpus teacher-oracle arm (bench/planted.py): it never asks an expensive
teacher about every record, and a failure leaves the students' scores in place for the other arms."""

from __future__ import annotations

import polars as pl
import yaml

from bench.planted import teacher_arm
from mira_core.planted import TEACHER_ALL
from mira_core.scoring import score_schema

PARAMS = {"sources": [{"name": "s", "path": "s.jsonl", "format": "text"}]}


def _project(tmp_path, params: dict):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shard = tmp_path / "data" / "scores" / "g0" / "s" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["s/1"], "group": "g0", "a00": [4.5], "student_version": "v", "coverage": 1.0},
                 schema=score_schema(["a00"])).write_parquet(shard)
    return shard


def test_an_llm_teacher_is_not_asked_about_every_record(tmp_path):
    params = {**PARAMS, "teacher": {"provider": "openai", "model": "m"}}
    shard = _project(tmp_path, params)
    before = shard.read_bytes()
    row, result = teacher_arm(tmp_path, pl.DataFrame(), 0.5, tmp_path / "log", tmp_path / "keep", params, {})
    assert result is None and "`openai`" in row["skipped"] and "result" not in row
    assert shard.read_bytes() == before and not (tmp_path / "keep").exists()


def test_a_failure_is_the_arms_row_and_the_students_scores_are_put_back(tmp_path):
    shard = _project(tmp_path, PARAMS)  # no data/rubrics: the teacher cannot score the group
    before = shard.read_bytes()
    row, result = teacher_arm(tmp_path, pl.DataFrame(), 0.5, tmp_path / "log", tmp_path / "keep", PARAMS, {})
    assert result is None and "no rubric for group g0" in row["failed"]
    assert shard.read_bytes() == before
    assert not (tmp_path / "keep" / TEACHER_ALL).exists() and not (tmp_path / "data" / ".scores-students").exists()
