"""The evaluate flow end to end on a tiny project: every arm trains on equal tokens; disabled, nothing trains."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
import yaml

from flows import evaluate
from flows.params import load_params
from tests.mira_core.test_evaluation import SOURCES, tiny_params, tiny_project

pytestmark = pytest.mark.slow


def _params(root, **evaluate_kw):
    tiny = tiny_params(**evaluate_kw).model_dump(mode="json")
    cfg = {"sources": [{"name": s, "path": f"raw/{s}.jsonl", "format": "text"} for s in SOURCES],
           "select": {"held_out_sources": ["qa"], "baselines": ["random"]}, "evaluate": tiny}
    (root / "params.yaml").write_text(yaml.safe_dump(cfg))
    return load_params(root / "params.yaml")


def _project_with_manifests(root):
    """The tiny corpus, a manifest per method under data/selection/, and its params."""
    _, manifests = tiny_project(root)
    for method, df in manifests.items():
        (root / "data" / "selection" / method).mkdir(parents=True)
        df.sort("record_id").write_parquet(root / "data" / "selection" / method / "manifest.parquet")  # as select's
    return _params(root)


def test_every_arm_trains_on_equal_tokens_and_is_scored_on_the_held_out_target(tmp_path, prefect_harness):
    import mlflow

    params = _project_with_manifests(tmp_path)
    p = params.evaluate
    returned = evaluate.run(params, tmp_path)

    saved = json.loads((tmp_path / "metrics" / "evaluate.json").read_text())
    assert saved == json.loads(json.dumps(returned))
    assert {"arms", "within_noise", "target", "config"} <= set(saved)
    assert set(saved["arms"]) == {"mira", "random", "full"}
    tokens = p.steps * p.batch_size * p.context
    for arm, a in saved["arms"].items():
        assert {"loss_mean", "loss_std", "ppl_mean", "seeds", "train_records", "train_tokens"} <= set(a), arm
        assert [s["seed"] for s in a["seeds"]] == [0, 1] and all({"seed", "loss", "ppl"} <= set(s) for s in a["seeds"])
        assert a["train_tokens"] == tokens  # the same budget for every arm, whatever its size
        assert a["ppl_mean"] == pytest.approx(sum(math.exp(s["loss"]) for s in a["seeds"]) / 2)
        assert isinstance(a["loss_mean"], float) and isinstance(a["loss_std"], float)
    assert [saved["arms"][a]["train_records"] for a in ("mira", "random", "full")] == [30, 30, 60]
    assert saved["target"]["sources"] == ["qa"] and saved["target"]["tokens"] == p.eval_tokens
    assert all(a in saved["arms"] and b in saved["arms"] for a, b in saved["within_noise"])
    assert saved["config"]["steps"] == p.steps and saved["config"]["tokens_per_run"] == tokens

    curves = pl.read_csv(tmp_path / "plots" / "evaluate" / "curves.csv")
    assert curves.columns == ["arm", "seed", "tokens_seen", "loss"]
    points = p.steps // p.eval_every + 1  # step 0 (the base), then every eval_every steps
    assert curves.height == 3 * 2 * points
    assert curves.group_by("arm", "seed").agg(pl.col("tokens_seen").max())["tokens_seen"].to_list() == [tokens] * 6
    bases = list((tmp_path / ".mira" / "evaluate" / "base").glob("*/model.safetensors"))
    assert [b.parent.name for b in bases] == [json.loads((b.parent / "key.json").read_text())["key"] for b in bases]
    assert len(bases) == 1

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    children = {r.data.tags["mira.arm"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert set(children) == {"mira", "random", "full"}
    history = mlflow.MlflowClient().get_metric_history(children["mira"].info.run_id, "heldout_loss/seed_0")
    assert [m.step for m in history] == [p.eval_every * i * p.batch_size * p.context for i in range(points)]
    assert children["full"].data.metrics["loss_mean"] == pytest.approx(saved["arms"]["full"]["loss_mean"])


def test_a_changed_selection_retrains_only_the_arms_whose_data_changed(tmp_path, prefect_harness):
    params = _project_with_manifests(tmp_path)
    first = evaluate.run(params, tmp_path)
    assert first["reused"] == {"base": False, "runs": 0}

    # what a select.budget change does: the mira arm keeps fewer records, full and random are as they were
    mira = tmp_path / "data" / "selection" / "mira" / "manifest.parquet"
    df = pl.read_parquet(mira)
    kept = df.filter(pl.col("kept")).head(20)["record_id"]
    df.with_columns(kept=pl.col("record_id").is_in(kept.implode())).write_parquet(mira)
    second = evaluate.run(params, tmp_path)
    assert second["reused"] == {"base": True, "runs": 4}  # random and full, two seeds each
    assert second["arms"]["mira"]["train_records"] == 20
    assert second["arms"]["mira"]["loss_mean"] != first["arms"]["mira"]["loss_mean"]
    for arm in ("random", "full"):
        assert second["arms"][arm]["seeds"] == first["arms"][arm]["seeds"]

    off = evaluate.run(params.model_copy(update={"cache": params.cache.model_copy(update={"enabled": False})}),
                       tmp_path)
    assert off["reused"] == {"base": False, "runs": 0}
    assert off["arms"]["full"]["seeds"] == first["arms"]["full"]["seeds"]  # retrained: deterministic, same result

    # an arm from a selection made elsewhere (evaluate.manifests): random's kept records, in a file of its own
    mine = pl.read_parquet(tmp_path / "data" / "selection" / "random" / "manifest.parquet").select("record_id", "kept")
    mine.write_parquet(tmp_path / "elsewhere.parquet")
    extra = params.evaluate.model_copy(update={"manifests": {"elsewhere": "elsewhere.parquet"}})
    third = evaluate.run(params.model_copy(update={"evaluate": extra}), tmp_path)
    assert list(third["arms"]) == ["mira", "random", "full", "elsewhere"]
    assert third["arms"]["elsewhere"]["train_records"] == 30
    # adding an arm retrains none of the others, and the same kept records are the same run as random's
    assert third["reused"] == {"base": True, "runs": 8}
    assert third["arms"]["elsewhere"]["seeds"] == second["arms"]["random"]["seeds"]


def test_disabled_writes_a_stub_and_trains_nothing(tmp_path, prefect_harness):
    params = _params(tmp_path, enabled=False)  # no corpus and no manifests: nothing may be read
    assert evaluate.run(params, tmp_path) == {"enabled": False}
    assert json.loads((tmp_path / "metrics" / "evaluate.json").read_text()) == {"enabled": False}
    assert (tmp_path / "plots" / "evaluate" / "curves.csv").read_text().splitlines() == ["arm,seed,tokens_seen,loss"]
    assert not (tmp_path / ".mira" / "evaluate").exists() and not (tmp_path / "mlflow.db").exists()
