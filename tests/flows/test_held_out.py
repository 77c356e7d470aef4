"""Held-out sources (select.held_out_sources) cost no teacher request: discover and label sample only the sources
a selection may keep, `mira estimate` counts the same, and a group of held-out sources only gets no rubric, labels,
student or scores while select and report still run and hold its records out."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from flows import discover, distill, label, report, score, select
from flows.params import load_params
from mira_core.estimate import estimate_project
from mira_core.schema import NEAR_DUPLICATES

pytestmark = pytest.mark.slow


def _params(root, base: dict, held_out: list[str]):
    cfg = {**base, "discover": {"records_per_group": 20, "n_anchors": 4}, "label": {"records_per_group": 20},
           "select": {"held_out_sources": held_out}, "cache": {"enabled": False},
           "mlflow": {"tracking_uri": "sqlite:///mlflow.db"}}
    (root / "params.yaml").write_text(yaml.safe_dump(cfg))
    return load_params(root / "params.yaml")


def _sources(path) -> set[str]:
    return set(pl.read_parquet(path, columns=["source"])["source"].to_list())


def test_a_held_out_source_is_neither_judged_nor_labeled_in_its_group(tmp_path, grouped_project):
    """code and prose share group g0; prose is held out. Before, the stratified samples took half their records
    from prose (10 of 20 judged, 10 of 20 labeled)."""
    params = _params(tmp_path, grouped_project("one_group"), ["prose"])
    # ten code records made the kept copies of near-duplicate clusters that hold a prose record: select drops them
    # (a near-copy of the target), so the teacher must not be paid for them either
    corpus = pl.read_parquet(tmp_path / "data" / "corpus" / "*" / "*.parquet", columns=["record_id", "source"])
    code = sorted(corpus.filter(pl.col("source") == "code")["record_id"])[:10]
    prose = sorted(corpus.filter(pl.col("source") == "prose")["record_id"])[:10]
    dropped = tmp_path / "data" / "dedup" / "dropped.parquet"
    pl.concat([pl.read_parquet(dropped), pl.DataFrame(
        {"record_id": prose, "source": "prose", "cluster": code, "jaccard": 0.9, "rank": 1, "reason": "near_duplicate"},
        schema=NEAR_DUPLICATES)]).write_parquet(dropped)
    before, _, _ = estimate_project(params, tmp_path, {})
    assert before[0].requests == 20  # all 20 of code's 30 records that a selection may keep
    discover.run(params, tmp_path)
    metrics = label.run(params, tmp_path)
    judged = pl.read_parquet(tmp_path / "data" / "rubrics" / "judgments" / "g0.parquet")
    assert _sources(tmp_path / "data" / "rubrics" / "judgments" / "g0.parquet") == {"code"}
    labels = pl.read_parquet(tmp_path / "data" / "labels" / "g0.parquet")
    assert _sources(tmp_path / "data" / "labels" / "g0.parquet") == {"code"} and labels.height == 20
    assert not set(code) & (set(labels["record_id"]) | set(judged["record_id"]))
    assert metrics["groups"]["g0"]["labeled"] == 20
    rubric = json.loads((tmp_path / "data" / "rubrics" / "g0.json").read_text())
    assert rubric["sources"] == ["code"]
    after, _, _ = estimate_project(params, tmp_path, {})
    assert [r.to_send for r in after] == [0, 0]  # the estimate samples exactly what the stages asked

    for stage in (distill, score, select):
        stage.run(params, tmp_path)
    scores = pl.read_parquet(tmp_path / "data" / "scores" / "g0" / "*" / "*.parquet")
    assert scores.height == 60  # the held-out source is still scored by its group's student (the report shows it)
    mira = pl.read_parquet(tmp_path / "data" / "selection" / "mira" / "manifest.parquet")
    prose = mira.filter(pl.col("source") == "prose")
    assert prose.height == 30 and prose["reason"].to_list() == ["held_out"] * 30 and not prose["kept"].any()
    assert mira.filter(pl.col("source") == "code")["kept"].any()


def test_a_group_of_held_out_sources_gets_no_rubric_labels_student_or_scores(tmp_path, grouped_project):
    """code and prose are each alone in a group; prose is held out, so its group costs nothing and the rest of
    the pipeline runs without it."""
    params = _params(tmp_path, grouped_project("two_groups_sharded"), ["prose"])
    groups = dict(pl.read_parquet(tmp_path / "data" / "groups" / "groups.parquet").select("source", "group").iter_rows())
    assert groups["code"] != groups["prose"]
    code_g, prose_g = groups["code"], groups["prose"]
    estimated, _, _ = estimate_project(params, tmp_path, {})
    assert estimated[0].requests == 20  # one group judged, not two
    (tmp_path / "data" / "rubrics").mkdir(parents=True)
    (tmp_path / "data" / "rubrics" / f"{prose_g}.json").write_text("{}")  # left by a run before prose was held out
    found = discover.run(params, tmp_path)
    assert set(found["groups"]) == {code_g} and found["held_out_groups"] == [prose_g]
    assert sorted(p.name for p in (tmp_path / "data" / "rubrics").glob("*.json")) == [f"{code_g}.json"]
    labeled = label.run(params, tmp_path)
    assert set(labeled["groups"]) == {code_g} and labeled["skipped_groups"] == []
    distill.run(params, tmp_path)
    assert not (tmp_path / "data" / "students" / prose_g).exists()
    import mlflow  # the students' MLflow run names what was held out of their labels

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["mira"], output_format="list")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["select.held_out_sources"] == '["prose"]'
    scored = score.run(params, tmp_path)
    assert scored["records"] == 40 and scored["held_out_groups"] == [prose_g]
    assert not (tmp_path / "data" / "scores" / prose_g).exists()
    select.run(params, tmp_path)
    mira = pl.read_parquet(tmp_path / "data" / "selection" / "mira" / "manifest.parquet")
    prose = mira.filter(pl.col("source") == "prose")
    assert prose.height == 40 and set(prose["reason"].to_list()) == {"held_out"} and not prose["kept"].any()
    assert mira.filter(pl.col("source") == "code")["kept"].any()
    report.run(params, tmp_path)
    assert (tmp_path / "reports" / "report.html").stat().st_size > 0
