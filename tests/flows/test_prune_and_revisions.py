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


def _run(cmd, cwd):
    from tests.conftest import tool_env

    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=tool_env())


def _rubric_json(n_anchors: int, sources: list[str]) -> str:
    from mira_core.rubric import Anchor, Rubric

    return Rubric(group="g0", anchors=[Anchor(id=f"a{i:02d}", name=f"anchor_{i}", description="d", exemplar_reason="e",
                                              support=1) for i in range(n_anchors)],
                  teacher="rules", prompt_version="p", sources=sources).model_dump_json()


def test_a_project_in_a_subfolder_of_its_git_repository_is_read_at_other_revisions(tmp_path):
    # `dvc init --subdir`: read at the project's folder, DVC found nothing at any revision, and compare and
    # `rubrics diff` printed empty comparisons with exit 0; and a revision whose outputs `dvc gc` removed from the
    # cache was a DVC traceback
    from flows.revisions import read_bytes
    from flows.rubrics import rubrics_at

    proj = tmp_path / "proj"
    (proj / "data" / "rubrics").mkdir(parents=True)
    _run(["git", "init", "-q"], tmp_path)
    _run(["dvc", "init", "-q", "--subdir"], proj)
    for n in (3, 2):
        (proj / "data" / "rubrics" / "g0.json").write_text(_rubric_json(n, ["a", "b"]))
        (proj / "params.yaml").write_text(f"discover: {{n_anchors: {n}}}\n")
        _run(["dvc", "add", "-q", "data/rubrics"], proj)
        _run(["git", "add", "-A"], tmp_path)
        _run(["git", "commit", "-qm", f"{n} anchors"], tmp_path)
    assert len(rubrics_at(proj, "HEAD~1")["g0"].anchors) == 3 and len(rubrics_at(proj, "HEAD")["g0"].anchors) == 2
    assert read_bytes(proj, "HEAD~1", "params.yaml") == b"discover: {n_anchors: 3}\n"
    _run(["dvc", "gc", "-q", "-w", "-f"], proj)  # HEAD~1's rubrics leave the cache
    with pytest.raises(ConfigError, match=r"data/rubrics/\*\.json at 'HEAD~1' is not in the local DVC cache: `dvc pull`"):
        rubrics_at(proj, "HEAD~1")
