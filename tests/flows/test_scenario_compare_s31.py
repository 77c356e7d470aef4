"""Scenario review (session 31): a user comparing rubric versions, student kinds and budgets across DVC experiments.

Baseline (linear student, 6 anchors, budget 0.4) committed, then `dvc exp run -S distill.student=trees`,
`-S discover.n_anchors=4`, `-S select.budget=0.3` (queued), `-S discover.records_per_group=20`, `-S group.k=3`,
`-S distill.student=head`, `--temp -S select.budget=2000`. `mira compare`, `mira rubrics diff`, `dvc exp show`,
`mira summary` and every nested MLflow run matched the experiments' own metrics files; `dvc exp apply` then
`dvc repro` re-ran nothing. What did not hold:

- MLflow: only distill (and evaluate) log params on the pipeline's parent run. An experiment that re-runs only
  select and report (`-S select.budget=0.3`) has a new parent run (its params.yaml digest is new) that carries no
  params at all, and `select.*` is never logged on any run: in the MLflow UI the budget experiment cannot be told
  from the baseline, nor its budget read.
- `mira summary` prints an absolute budget as "group budget 2000.0" (the report says "2,000 tokens, per group").
"""

from __future__ import annotations

import json

import yaml

from flows import report
from flows.params import load_params


def _project(root):
    (root / "raw").mkdir()
    (root / "raw/web.jsonl").write_text(json.dumps({"text": "A page about tides."}) + "\n")
    cfg = {"sources": [{"name": "web", "path": "raw/web.jsonl", "format": "text"}],
           "select": {"budget": 0.3}}
    (root / "params.yaml").write_text(yaml.safe_dump(cfg))
    return load_params(root / "params.yaml")


def test_parent_run_of_a_select_only_experiment_names_its_params(tmp_path):
    import mlflow

    params = _project(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/report.html").write_text("<html></html>")
    # what `dvc exp run -S select.budget=0.3` runs after distill is skipped: select, evaluate (off), report;
    # report is the stage that opens the new configuration's parent run
    report.log_to_mlflow(params, tmp_path)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    assert parents[0].data.params.get("select.budget") == "0.3"


def test_summary_names_an_absolute_budget_in_tokens(tmp_path):
    from flows.summary import summary_lines

    m = {"kept_records": 26, "kept_tokens": 1857, "selectable_tokens": 8544, "kept_token_share": 0.2173,
         "trained_tokens": 1857}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/select.json").write_text(json.dumps(
        {"budget": 2000.0, "budget_tokens": 2000, "granularity": "group", "methods": {"mira": m},
         "overlap": {"mira": {}}}))
    line = next(x for x in summary_lines(tmp_path) if x.startswith("selection"))
    assert "2,000 tokens" in line, line
