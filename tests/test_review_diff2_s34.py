"""Review (session 34, helper d2) of the changes ee6934a..HEAD: 23771eb (teacher scales: label refuses a rubric on
another scale, the prompts' example score is the scale's middle, the DVC resolution of tracked params moved to
flows/params.py, evaluate's base locks beside the bases), ae1c947 (docs: the generative student's `read: expected`)
and e6a9b3e (the teacher's request cache keyed on the anchors as the prompt shows them, select's warning of a weight
on a positional group name, docs/scale-out.md's housekeeping section).

What did not hold:

- docs/scale-out.md's housekeeping section tells the user to free the MLflow history with
  `mlflow gc --backend-store-uri sqlite:///mlflow.db`; with the pinned MLflow (3.17.2) that command stops with
  "Tracking URL is not set. Please set MLFLOW_TRACKING_URI environment variable or provide --tracking-uri cli
  option." and removes nothing (it needs `--tracking-uri sqlite:///mlflow.db` as well).
- the prompt templates' edit (`"score": 3` -> `"score": $example_score`) renders the same bytes on the default 1..5
  scale, yet the teacher's prompt version is a hash of the templates' source: every request an LLM teacher
  answered before the upgrade, discover's judgments and label's scores alike, misses the request cache and is paid
  for again, for prompts identical to the byte (what e6a9b3e set out to stop for renamed sources); and the rubrics
  are refused by label until discover re-runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _docs_gc_command() -> list[str]:
    """The `mlflow gc ...` command docs/scale-out.md's housekeeping section gives, as argv."""
    text = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    found = re.findall(r"`(mlflow gc [^`]*)`", text)
    assert found, "docs/scale-out.md gives no `mlflow gc` command"
    return found[0].split()


@pytest.mark.slow
def test_the_documented_mlflow_gc_command_frees_a_deleted_runs_artifacts(tmp_path):
    import mlflow

    # a project's store as flows/tracking.py makes it: sqlite mlflow.db, artifacts under mlruns/
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("mira", artifact_location=(tmp_path / "mlruns").resolve().as_uri())
    run = client.create_run(exp, run_name="mira-0000")
    (tmp_path / "report.html").write_text("<html>a report</html>")
    client.log_artifact(run.info.run_id, str(tmp_path / "report.html"))
    client.set_terminated(run.info.run_id)
    artifacts = tmp_path / "mlruns" / run.info.run_id / "artifacts"
    assert (artifacts / "report.html").exists()
    client.delete_run(run.info.run_id)  # what "delete runs in the MLflow UI" does

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run(_docs_gc_command(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    # was: exit 1, "mlflow.exceptions.MlflowException: Tracking URL is not set. Please set MLFLOW_TRACKING_URI
    # environment variable or provide --tracking-uri cli option."; the run and its artifacts stay
    assert done.returncode == 0, done.stderr[-500:]
    assert not (artifacts / "report.html").exists()


def test_an_upgrade_that_sends_the_same_prompts_is_answered_from_the_request_cache(tmp_path, monkeypatch):
    from mira_core.config import TeacherParams
    from mira_core.teachers import make_teacher, prompts
    from mira_core.teachers.base import Doc, Request
    from tests.fake_openai import FakeOpenAI

    new = {n: prompts.template(n) for n in (prompts.SYSTEM, prompts.JUDGE, prompts.SCORE)}
    # ee6934a's templates: 23771eb changed one line of each, a fixed `"score": 3` in the example reply
    old = {n: t.replace("$example_score", "3") for n, t in new.items()}
    assert old != new
    doc = Doc("prose/1", "prose", "text", "A short page that explains the colour blue in plain words.")
    req = Request("judge", doc)
    monkeypatch.setattr(prompts, "template", old.__getitem__)
    before = prompts.messages(req, (1, 5), 12_000, 8)
    monkeypatch.setattr(prompts, "template", new.__getitem__)
    assert prompts.messages(req, (1, 5), 12_000, 8) == before  # on the default scale: the same bytes

    def judge(server: FakeOpenAI, templates: dict[str, str]) -> None:
        monkeypatch.setattr(prompts, "template", templates.__getitem__)
        teacher = make_teacher(TeacherParams(provider="openai", model="fake", base_url=server.base_url,
                                             api_key_env=None, max_retries=0, timeout_s=10, concurrency=1), tmp_path, {})
        try:
            assert all(o.ok for o in teacher.judge([doc]))
        finally:
            teacher.close()

    with FakeOpenAI() as server:
        judge(server, old)  # discover before the upgrade: the teacher is paid for the judgment
        judge(server, new)  # and after it, the same prompt
        sent = [r.body for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(sent) >= 1
    assert sent[0]["messages"] == before
    # was: 2 requests, the second byte-identical to the first (the cache key's prompt version changed)
    assert len(sent) == 1, f"{len(sent)} requests sent for one prompt: {sent[0]['messages'] == sent[-1]['messages']}"


def test_a_judge_request_keeps_the_key_it_had_before_the_anchors_were_keyed(tmp_path):
    # the anchors' wording replaced the rubric version in the key of a score request; a judge request (no rubric,
    # no anchors) must keep its key, or every discover answer of an LLM teacher is paid for again after the upgrade
    import hashlib

    from mira_core.teachers.base import Doc, Request, Teacher
    from mira_core.teachers.cache import RequestCache
    from mira_core.teachers.rules import RulesBackend

    t = Teacher(RulesBackend(), RequestCache(tmp_path / "c.sqlite"), "p1", {"temperature": 0}, (1, 5))
    req = Request("judge", Doc("s/1", "s", "code", "def f(): pass\n"))
    before = {"provider": "rules", "model": "rules-v1", "prompt": "p1", "kind": "judge", "format": "code",
              "text": "def f(): pass\n", "repeat": 0, "rubric_version": None, "anchors": [], "scale": [1, 5],
              "settings": {"temperature": 0}}  # the body of session 33's key
    assert t.key(req) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
