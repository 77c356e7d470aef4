"""Tests of atomic writes and digests."""

from __future__ import annotations

import pytest

from mira_core.io import atomic_path, tree_digest, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("crash")
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600


def test_tree_digest_sees_content_and_names(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("1")
    first = tree_digest(tmp_path / "d")
    (tmp_path / "d" / "a.txt").write_text("2")
    second = tree_digest(tmp_path / "d")
    (tmp_path / "d" / "a.txt").rename(tmp_path / "d" / "b.txt")
    third = tree_digest(tmp_path / "d")
    assert len({first, second, third}) == 3
    assert tree_digest(tmp_path / "missing") == "missing"
