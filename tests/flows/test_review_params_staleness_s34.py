"""Review (session 34, angle h1): a knob changed, stale outputs.

The promise: `dvc repro` re-runs only what changed and every knob is in params.yaml; a stage's dvc.yaml
`params` (its record in mira_core/stages.py) must cover every knob its code reads, and a knob that cannot
change a stage's output should not re-run it (nor miss its Prefect task cache under `mira run`).

The static pass (every flow's `run`, the tasks and the mira_core code they call) and the empirical one (16 knobs
edited one at a time on a `mira init` project, `dvc status` / `dvc repro` / `mira run`) found no knob that a stage
reads without tracking it. What is still wrong:

- a params.yaml that leaves a tracked section, or a tracked dotted key (`embed.static_source`,
  `select.held_out_sources`, `ingest.tokenizer`), to its default by leaving it out is accepted by mira
  (`mira params`, every `mira stage`), but `dvc repro` then fails on the stage that tracks it, after deleting that
  stage's outputs;
- the score task's cache key holds every `score.generative_server` knob, though none of them can change a
  non-generative student's scores (and only base_url/model a served one's): editing the server's timeout
  re-scores every shard, under `dvc repro` and `mira run` alike.
"""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.conftest import tool_env, write_jsonl


@pytest.mark.slow
def test_a_section_left_to_its_defaults_is_refused_by_mira_or_run_by_dvc(tmp_path):
    write_jsonl(tmp_path / "src" / "code.jsonl", [{"text": f"def f{i}(x):\n    return x + {i}\n"} for i in range(5)])
    proj = tmp_path / "proj"
    env = tool_env()
    res = subprocess.run(["mira", "init", str(proj), "-s", f"code={tmp_path / 'src' / 'code.jsonl'}:code"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    params = yaml.safe_load((proj / "params.yaml").read_text())
    del params["ingest"]  # every ingest knob at its default: mira's config model fills them all in
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # DVC does not fill in defaults: `dvc repro` deleted the stage's outputs, then stopped on the missing key. So mira
    # refuses such a file up front (mira params, and every stage), naming the key and its default to paste.
    check = subprocess.run(["mira", "params"], cwd=proj, env=env, capture_output=True, text=True)
    assert check.returncode == 2, check.stdout + check.stderr
    assert "dvc.yaml tracks this key, which params.yaml leaves out" in check.stderr, check.stderr
    assert "- ingest (tracked by dvc.yaml's ingest, select); mira's default:\n    ingest:\n      tokenizer: minilm" \
        in check.stderr, check.stderr
    params["ingest"] = {"tokenizer": "minilm"}  # the section back, with one of its keys: what dvc.yaml tracks is there
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    check = subprocess.run(["mira", "params"], cwd=proj, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


class _Done:
    """A finished future: what `submit` hands back in place of running the task."""

    def __init__(self, value):
        self.value = value
        self.state = types.SimpleNamespace(name="Completed")

    def result(self):
        return self.value


class _NoStore:
    def exists(self, key):
        return False


def _score_keys(root: Path, monkeypatch, score: dict) -> list[str]:
    """The cache key of every score task the score flow submits with these `score` params."""
    import inspect

    import flows.score as score_flow
    from mira_core.config import CacheParams, ScoreParams

    submitted = []

    def fake_submit(task, *args, **kwargs):
        submitted.append((task, args, kwargs))
        return _Done({"records": 0})

    monkeypatch.setattr(score_flow, "submit", fake_submit)
    monkeypatch.setattr(score_flow, "gather", lambda futures, *a, **k: [f.result() for f in futures])
    monkeypatch.setattr(score_flow, "publish_table", lambda *a, **k: None)
    score_flow.score_flow.fn(ScoreParams(**score), CacheParams(), str(root), [])
    keys = []
    for task, args, kwargs in submitted:
        inputs = dict(inspect.signature(task.fn).bind(*args, **kwargs).arguments)
        ctx = types.SimpleNamespace(task=task, result_store=_NoStore())
        keys.append(task.cache_policy.compute_key(ctx, inputs, {}))
    return keys


def test_a_generative_server_knob_does_not_miss_a_head_students_score_cache(tmp_path, monkeypatch):
    from mira_core.io import write_json

    (tmp_path / "data" / "groups").mkdir(parents=True)
    pl.DataFrame({"source": ["code"], "group": ["g0"], "method": ["k"]}).write_parquet(
        tmp_path / "data" / "groups" / "groups.parquet")
    (tmp_path / "data" / "corpus" / "code").mkdir(parents=True)
    pl.DataFrame({"record_id": ["code/1"], "text": ["x = 1"]}).write_parquet(
        tmp_path / "data" / "corpus" / "code" / "part-00000.parquet")
    (tmp_path / "data" / "students" / "g0").mkdir(parents=True)
    write_json({"kind": "head", "anchors": ["a00"]}, tmp_path / "data" / "students" / "g0" / "config.json")

    before = _score_keys(tmp_path, monkeypatch, {})
    # a longer timeout for a server that a head student never asks (base_url is null: there is no server at all)
    after = _score_keys(tmp_path, monkeypatch, {"generative_server": {"timeout_s": 600, "concurrency": 4}})
    assert len(before) == len(after) == 1
    assert before == after
