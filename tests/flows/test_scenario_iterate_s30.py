"""Scenario review (session 30): a user iterating on a project over time, adding, renaming and removing sources.

Removing or renaming a source must leave nothing of the old name behind under data/. Ingest prunes the old
source's corpus and quarantine folders, and DVC empties the other stages' outs before each run; but
data/embeddings is a `persist: true` out (DVC leaves it as it is), and embed pruned only the shard files
(`*/part-*.*`), so the removed source's folder stayed behind, empty, under data/embeddings/.
"""

from __future__ import annotations

from flows import embed, ingest
from mira_core.config import parse_params


def test_removed_source_leaves_no_embeddings_folder(grouped_project, tmp_path):
    config = grouped_project("three_sources")
    assert (tmp_path / "data/embeddings/qa").is_dir()
    config["sources"] = [s for s in config["sources"] if s["name"] != "qa"]  # the user removes a source
    params = parse_params({**config, "cache": {"enabled": False}})
    for stage in (ingest, embed):
        stage.run(params, tmp_path)
    assert not (tmp_path / "data/corpus/qa").exists()  # ingest prunes its own output: this part holds
    assert not list((tmp_path / "data/embeddings").glob("qa/*"))  # and its shards are gone
    assert sorted(p.name for p in (tmp_path / "data/embeddings").iterdir()) == ["code", "prose"]
