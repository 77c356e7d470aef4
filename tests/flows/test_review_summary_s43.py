"""Review s43 of `mira summary`: inputs that changed under a stage, not only its params.

`dvc repro distill` (or `-s`) left select's dvc.lock entry naming the old metrics/students.json, and the summary
printed the new students beside the old selection; `mira stage ingest` after select left two corpora on the page.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from flows.summary import stale_inputs, summary_lines

SELECT = {"budget": 0.5, "granularity": "group", "records_read": 120, "quarantined": 20,
          "methods": {"mira": {"kept_records": 10, "kept_tokens": 100, "selectable_tokens": 200,
                               "kept_token_share": 0.5, "trained_tokens": 100}}}
INGEST = {"sources": {"s": {}}, "total": {"read": 120, "kept": 100, "quarantined": 20, "n_tokens": 1000}}


def _write(root: Path, name: str, obj: dict) -> str:
    f = root / "metrics" / name
    f.parent.mkdir(exist_ok=True)
    f.write_text(json.dumps(obj))
    return hashlib.md5(f.read_bytes()).hexdigest()


def _lock(root: Path, students: str, read_by_select: str, select: str) -> None:
    lock = {"schema": "2.0", "stages": {
        "distill": {"cmd": "mira stage distill", "outs": [{"path": "metrics/students.json", "md5": students}]},
        "select": {"cmd": "mira stage select", "deps": [{"path": "metrics/students.json", "md5": read_by_select}],
                   "outs": [{"path": "metrics/select.json", "md5": select}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "params.yaml").write_text("select:\n  budget: 0.5\n")


def test_a_stage_whose_input_was_written_again_is_stale(tmp_path):
    students = _write(tmp_path, "students.json", {})
    select = _write(tmp_path, "select.json", SELECT)
    _lock(tmp_path, students, students, select)
    assert stale_inputs(tmp_path) == {}
    _lock(tmp_path, students, hashlib.md5(b"the students select read").hexdigest(), select)
    assert stale_inputs(tmp_path) == {"select": ["metrics/students.json"]}
    text = "\n".join(summary_lines(tmp_path))
    assert "ran again after `dvc repro` ran them" in text and "select (metrics/students.json)" in text
    # distill run outside DVC, then `dvc repro -s select`: select read the students.json there now, and distill's
    # own entry is not current (its md5 is no longer the file's): nothing stale
    newer = _write(tmp_path, "students.json", {"g": {}})
    _lock(tmp_path, students, newer, select)
    assert stale_inputs(tmp_path) == {}
    # a select.json written some other way (`mira stage select`) is not judged by dvc.lock
    _lock(tmp_path, newer, students, select)
    assert stale_inputs(tmp_path) == {"select": ["metrics/students.json"]}
    _write(tmp_path, "select.json", {**SELECT, "budget": 0.4})
    assert stale_inputs(tmp_path) == {}


def test_a_selection_of_another_corpus_than_ingests_is_flagged(tmp_path):
    _write(tmp_path, "select.json", SELECT)
    assert "stale: select read" not in "\n".join(summary_lines(tmp_path))  # no ingest.json: nothing to compare
    _write(tmp_path, "ingest.json", INGEST)
    _write(tmp_path, "select.json", SELECT)
    assert "stale: select read" not in "\n".join(summary_lines(tmp_path))
    _write(tmp_path, "select.json", {**SELECT, "records_read": 50, "quarantined": 5})
    text = "\n".join(summary_lines(tmp_path))
    assert "stale: select read a corpus of 50 records (5 quarantined), ingest's is 120 (20 quarantined)" in text
