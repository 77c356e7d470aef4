"""End to end: the generative student as a DVC experiment beside the default run, on a small corpus of a user's own
(`mira init`, outside the repository), with a tiny causal LM built here as its base; `mira compare` shows both.

The tiny model proves the wiring (distill fits it, score generates with it, select masks it like any student),
not quality: on real data use a real base model (docs/students.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import tool_env, write_jsonl
from tests.mira_core.students.test_generative import build_tiny_lm

pytestmark = pytest.mark.slow


def _sh(cmd: list[str], cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout + res.stderr


def test_a_generative_student_experiment_runs_beside_the_default_and_compare_shows_both(tmp_path):
    words = ["data", "model", "token", "budget", "source", "group", "anchor", "rubric", "student", "teacher"]
    prose = [{"text": " ".join(f"The {words[(i + j) % 10]} of note {i} is plain in line {j}." for j in range(2 + i % 5))}
             for i in range(40)]
    qa = [{"question": f"What does the {words[i % 10]} do in step {i}?",
           "answer": f"In step {i} it " + " and ".join(words[: 1 + i % 5]) + "."} for i in range(40)]
    write_jsonl(tmp_path / "in" / "prose.jsonl", prose)
    write_jsonl(tmp_path / "in" / "qa.jsonl", qa)
    _sh(["mira", "init", "proj", "--source", f"prose={tmp_path / 'in' / 'prose.jsonl'}",
         "--source", f"qa={tmp_path / 'in' / 'qa.jsonl'}"], tmp_path)
    root = tmp_path / "proj"
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["discover"].update(records_per_group=16, n_anchors=3)
    params["label"]["records_per_group"] = 40
    params["select"].update(baselines=["random"], ablations=[])
    params["distill"]["student"] = "head"
    # 384 + 128 = the tiny model's 512 positions: at 128 the prompt held none of a record's text (the prompt of an
    # empty record was sent then; now that is an error)
    params["distill"]["generative"].update(model=str(build_tiny_lm(tmp_path / "tiny_lm", positions=512)), epochs=2,
                                           lr=3e-3, max_new_tokens=128, max_input_tokens=384, rationale_chars=24,
                                           device="cpu")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _sh(["git", "add", "-A"], root)
    _sh(["git", "commit", "-qm", "small project"], root)
    _sh(["dvc", "repro"], root)
    _sh(["git", "add", "-A"], root)
    _sh(["git", "commit", "-qm", "head run"], root)

    out = _sh(["dvc", "exp", "run", "-n", "generative", "-S", "distill.student=generative"], root)
    ran = {s for s in yaml.safe_load((root / "dvc.yaml").read_text())["stages"] if f"Running stage '{s}'" in out}
    assert {"distill", "score", "select"} <= ran and "discover" not in ran, out  # only what the student touches
    students = json.loads((root / "metrics" / "students.json").read_text())
    assert {r["student"] for r in students.values()} == {"generative"}
    for r in students.values():  # the same reliability figures as any student: per anchor, per source
        assert r["anchors"] and all("mae" in a and "unscored" in a for a in r["anchors"].values())
    select = json.loads((root / "metrics" / "select.json").read_text())
    m = select["methods"]["mira"]
    assert sum(m["reasons"].values()) == m["records"] == 80 - json.loads(
        (root / "metrics" / "ingest.json").read_text())["total"]["quarantined"]

    compared = _sh(["mira", "compare", "HEAD", "generative"], root)
    assert "head" in compared and "generative" in compared, compared
