"""Two small pieces of the flows layer: which outputs a stage prunes as no longer asked for, and a revision that
does not exist named as such."""

from __future__ import annotations

import subprocess

import pytest

from flows.common import named_for, prune
from mira_core.errors import ConfigError


def test_a_group_whose_name_holds_a_dot_keeps_its_outputs(tmp_path):
    # group.pins allows web.en; cut at its first '.', the name read as "web", and discover deleted the rubric it had
    # just written (distill its student the same way)
    files = [tmp_path / n for n in ("web.en.json", "web.json", "gone.json", "web.en.csv")]
    (tmp_path / "judgments").mkdir()
    files += [tmp_path / "judgments" / n for n in ("web.en.parquet", "gone.parquet")]
    for f in files:
        f.write_text("x")
    (tmp_path / "web.en").mkdir()
    gone = prune([*files, tmp_path / "web.en"], named_for(["web.en"], ".json", ".parquet", ".csv"))
    assert sorted(p.name for p in gone) == ["gone.json", "gone.parquet", "web.json"]
    assert (tmp_path / "web.en.json").exists() and (tmp_path / "judgments" / "web.en.parquet").exists()
    assert (tmp_path / "web.en").is_dir() and (tmp_path / "web.en.csv").exists()


def test_a_revision_that_does_not_exist_is_a_config_error_naming_it(tmp_path):
    # DVCFileSystem resolves the revision lazily: the error came at the first glob, outside the check, as a traceback
    from flows.revisions import read_texts

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "data" / "rubrics").mkdir(parents=True)
    (tmp_path / "data" / "rubrics" / "g0.json").write_text("{}")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    assert list(read_texts(tmp_path, "HEAD", "data/rubrics/*.json")) == ["data/rubrics/g0.json"]
    with pytest.raises(ConfigError, match="'no-such-rev' is neither a git revision nor a DVC experiment"):
        read_texts(tmp_path, "no-such-rev", "data/rubrics/*.json")


def test_a_revision_of_a_folder_that_is_no_git_repository_is_a_config_error(tmp_path):
    from flows.revisions import open_rev

    with pytest.raises(ConfigError, match=f"{tmp_path}: cannot read revision 'HEAD'"):
        open_rev(tmp_path, "HEAD")
