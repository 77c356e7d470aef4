"""The commit a benchmark names: prose the benchmark rewrites itself does not make it `+changes`, code does."""

from __future__ import annotations

import subprocess

import bench.run


def test_a_rewritten_doc_is_not_a_change_to_the_measured_code(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "bench").mkdir()
    for name in ("a.py", "README.md", "bench/figures.json"):
        (tmp_path / name).write_text("one\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(bench.run, "REPO", tmp_path)
    head = bench.run._commit()
    assert head and not head.endswith("+changes")
    (tmp_path / "README.md").write_text("two\n")
    (tmp_path / "bench" / "figures.json").write_text("two\n")
    assert bench.run._commit() == head
    (tmp_path / "a.py").write_text("two\n")
    assert bench.run._commit() == head + "+changes"
