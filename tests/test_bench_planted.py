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


def _result(mira_spam: float, teacher_spam: float, single_code: float) -> dict:
    """A planted result in evaluate's shape: two sources, spam a kind the teacher's own cut drops."""
    by_src = lambda code, docs: {"code": {"broken_kept": code}, "docs": {"broken_kept": docs}}  # noqa: E731
    kinds = lambda spam: {"good": 0.6, "spam": spam, "garbled": 0.5}  # noqa: E731
    return {
        "methods": {
            "mira": {"good_kept": 0.6, "broken_kept": 0.08, "by_kind": kinds(mira_spam), "by_source": by_src(0.0, 0.2)},
            TEACHER_ALL: {"good_kept": 0.61, "broken_kept": 0.06, "by_kind": kinds(teacher_spam),
                          "by_source": by_src(0.0, 0.15)},
            "single_rubric": {"good_kept": 0.5, "broken_kept": 0.2, "by_kind": kinds(0.3),
                              "by_source": by_src(single_code, 0.3)},
            "perfect": {"good_kept": 0.7, "broken_kept": 0.0},
        },
        # the teacher's own cut on the labeled records drops spam and keeps garbled text
        "oracle": {"broken_removal_kept": 0.98, "teacher": {"by_kind": {"good": 0.6, "spam": 0.1, "garbled": 0.9}}},
    }


def test_the_seed_summary_reads_the_done_when_off_a_result():
    from bench import planted

    # only spam is a kind "the teacher scores low": garbled text, which MIRA keeps half of, is the teacher's choice
    cover = {"result": {"methods": {"mira": {"good_kept": 0.62, "broken_kept": 0.05, "by_kind": {"spam": 0.1}}}}}
    s = planted.seed_summary(_result(mira_spam=0.25, teacher_spam=0.1, single_code=0.0), {"cover": cover})
    assert s["arms"] == {"cover": {"good_kept": 0.62, "broken_kept": 0.05, "by_kind": {"spam": 0.1}}}
    assert s["by_kind"]["mira"]["spam"] == 0.25 and s["by_kind"]["teacher"]["spam"] == 0.1
    assert s["low_over"] == {"spam": {"mira": 0.25, "teacher": 0.1}}
    assert s["fewer_than_single"] is True  # code: neither keeps any broken token; docs: 0.2 < 0.3
    assert abs(s["removal_kept_all"] - 0.92 / 0.94) < 1e-4
    s2 = planted.seed_summary(_result(mira_spam=0.15, teacher_spam=0.1, single_code=0.0))
    assert s2["low_over"] == {}
    worse = _result(mira_spam=0.15, teacher_spam=0.1, single_code=0.0)
    worse["methods"]["mira"]["by_source"]["code"]["broken_kept"] = 0.01  # keeps some where single_rubric keeps none
    assert planted.seed_summary(worse)["fewer_than_single"] is False
    assert planted.seed_summary(worse)["broken_by_source"] == {"mira": {"code": 0.01, "docs": 0.2},
                                                              "single_rubric": {"code": 0.0, "docs": 0.3}}
    assert "| no (code 1.0% / 0.0%) |" in planted.seeds_table({"1": planted.seed_summary(worse)})[2]
    table = planted.seeds_table({"0": s, "1": s2, "2": {"failed": "stage label failed\ntrace"}})
    others = len(planted.SEED_ARMS) - 2  # the seed arms after `cover`: none in this summary, a dash each
    assert table[2].startswith("| 0 | 60.0% | 8.0% | 70.0% | 61.0% / 6.0% | yes | 98.0% | 97.9% | 62.0% / 5.0% | "
                               + "- | " * others + "spam 25.0%")
    assert table[3].endswith("| none |") and "failed: stage label failed |" in table[4]
    assert table[5].startswith("| mean | 60.0% | 8.0% | 70.0% |")
    # four columns of the default arm, one per other seed arm (no mean: seed 1 has none) and the kinds: all blank
    assert table[5].endswith("% |" + "  |" * (4 + len(planted.SEED_ARMS)))


def test_an_arm_after_a_label_change_reruns_from_label():
    from bench.planted import first_stage

    stages = ["ingest", "embed", "label", "distill", "score", "select"]
    assert first_stage({"select.mask": False}, {}, stages) == "select"
    assert first_stage({"distill.student": "head"}, {"select.mask": False}, stages) == "distill"
    # the arm before changed the labels: this arm's labels must be made again under its own params
    assert first_stage({"select.mask": False}, {"label.cover_share": 0.5}, stages) == "label"
