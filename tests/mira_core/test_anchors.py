"""Tests of judgment clustering into anchors, and of rubric versions and diffs."""

from __future__ import annotations

import numpy as np
import polars as pl

from mira_core.anchors import cluster_anchors
from mira_core.rubric import Anchor, Rubric, diff_rubrics
from mira_core.schema import JUDGMENTS


def _judgments(names_reasons):
    return pl.DataFrame([{"record_id": f"r{i}", "group": "g0", "source": "s", "name": n, "description": f"{n} desc",
                          "score": 3, "reason": r, "teacher": "t"} for i, (n, r) in enumerate(names_reasons)],
                        schema=JUDGMENTS)


def test_clusters_become_anchors_with_medoid_and_support():
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8)
    spec = [("docs", 5), ("length", 3), ("parses", 2)]
    rows, vecs = [], []
    for c, (name, n) in enumerate(spec):
        for i in range(n):
            rows.append((name, f"{name} reason {i}"))
            vecs.append(centers[c] + (0.0 if i == 0 else 0.1) * rng.standard_normal(8))
    anchors = cluster_anchors(_judgments(rows), np.vstack(vecs), k=3, seed=0)
    assert [(a.id, a.name, a.support) for a in anchors] == [("a00", "docs", 5), ("a01", "length", 3),
                                                             ("a02", "parses", 2)]
    assert anchors[0].description == "docs desc" and anchors[0].exemplar_reason.startswith("docs reason")


def test_clusters_with_the_same_medoid_name_merge_and_k_is_capped():
    rows = [("style", "a"), ("style", "b"), ("style", "c"), ("naming", "d")]
    vecs = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], dtype=float)
    anchors = cluster_anchors(_judgments(rows), vecs, k=10, seed=0)  # 4 distinct points: k is capped at 4
    assert [(a.id, a.name, a.support) for a in anchors] == [("a00", "style", 3), ("a01", "naming", 1)]


def _rubric(anchors, group="g0"):
    return Rubric(group=group, teacher="rules/rules-v1", prompt_version="p", sources=["s"], anchors=anchors).with_version()


def test_a_rubric_edited_by_hand_reads_with_its_new_content_hash(tmp_path):
    # the teacher's cache key names the rubric's version, not the anchors' wording: a version kept through a hand
    # edit would serve the old answers to the edited prompt
    import json

    from mira_core.rubric import load_rubric, save_rubric

    r = _rubric([Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=3)])
    path = save_rubric(r, tmp_path / "g0.json")
    assert load_rubric(path).version == r.version
    body = json.loads(path.read_text())
    body["anchors"][0]["description"] = "Are the public functions documented, with examples?"
    path.write_text(json.dumps(body))
    edited = load_rubric(path)
    assert edited.version != r.version and edited.version == edited.content_hash()
    assert load_rubric(path, text=path.read_text()).version == edited.version


def test_a_rubric_file_as_written_keeps_its_version_when_the_model_gains_a_field(tmp_path):
    # a field added to Rubric (as n_sampled once was) changes content_hash for every old file: recomputing from the
    # model would re-version every rubric and make every teacher cache entry miss (labels paid for again)
    import json

    from mira_core.rubric import load_rubric, stored_body_hash

    r = _rubric([Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=3)])
    old = {k: v for k, v in r.model_dump(mode="json").items() if k not in ("n_sampled", "n_records", "n_points")}
    old["version"] = stored_body_hash(old)  # as an older mira, without those fields, hashed and wrote it
    path = tmp_path / "g0.json"
    path.write_text(json.dumps(old, indent=2))
    loaded = load_rubric(path)
    assert loaded.version == old["version"] and loaded.content_hash() != old["version"]


def test_version_is_a_content_hash_and_diff_names_what_changed():
    a = Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=3)
    b = Anchor(id="a01", name="length", description="d", exemplar_reason="e", support=2)
    r1 = _rubric([a, b])
    assert r1.version == _rubric([a, b]).version and len(r1.version) == 12
    r2 = _rubric([a.model_copy(update={"support": 4}), Anchor(id="a01", name="parses", description="d",
                                                                 exemplar_reason="e", support=1)])
    assert r2.version != r1.version
    d = diff_rubrics({"g0": r1, "g1": _rubric([a], "g1")}, {"g0": r2})
    assert d["g0"]["added"] == ["parses"] and d["g0"]["removed"] == ["length"]
    assert d["g0"]["changed"] == [{"name": "docs", "fields": {"support": [3, 4]}}]
    assert d["g1"]["status"] == "removed"


def test_the_report_reads_an_edited_rubric_with_the_version_the_stages_read(tmp_path):
    import json

    from mira_core.report.inputs import _rubric as report_rubric
    from mira_core.rubric import load_rubric, save_rubric

    path = save_rubric(_rubric([Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=3)]),
                       tmp_path / "g0.json")
    body = json.loads(path.read_text())
    body["anchors"][0]["name"] = "documentation"
    path.write_text(json.dumps(body))
    assert report_rubric(path, tmp_path)["version"] == load_rubric(path).version != body["version"]
