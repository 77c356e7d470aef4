"""Review of `mira compare` and the revisions it reads: a git repository with no commit yet, a folder that is no
project (a subfolder of one, a mistyped --root), and a branch or experiment whose name holds a pair of '$' or
starts with '_'."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from mira_core.errors import ConfigError
from tests.conftest import tool_env


def test_a_revision_of_a_repository_with_no_commit_is_a_config_error(tmp_path):
    # scmrepo's own SCMError ("Empty git repo") is no DvcException: any name but HEAD (a branch, HEAD~1, an
    # experiment's) was its traceback from `mira compare` and `mira rubrics diff`
    from flows.revisions import read_bytes

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True, env=tool_env())
    for rev in ("HEAD~1", "fewer-anchors"):
        with pytest.raises(ConfigError, match=f"{tmp_path}: cannot read revision '{rev}': Empty git repo"):
            read_bytes(tmp_path, rev, "params.yaml")


def test_compare_outside_a_project_says_so(tmp_path):
    # run from a subfolder of the project, every revision read as empty: "A and B have none (select has not run
    # there)", exit 0, and a .mira folder left there
    from flows.cli import app

    r = CliRunner().invoke(app, ["compare", "workspace", "workspace", "--root", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert f"mira compare: {tmp_path / 'params.yaml'}: not found (run mira from the project folder" in r.output
    assert not (tmp_path / ".mira").exists()


@pytest.mark.parametrize("args", [["rubrics", "diff", "HEAD"], ["rubrics", "show"]])
def test_rubrics_outside_a_project_says_so(tmp_path, args):
    # `mira rubrics diff HEAD` there printed "rubrics HEAD -> workspace" with nothing under it, exit 0
    from flows.cli import app

    r = CliRunner().invoke(app, [*args, "--root", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert f"mira rubrics: {tmp_path / 'params.yaml'}: not found (run mira from the project folder" in r.output


def test_the_plot_draws_a_revision_named_with_dollar_signs(tmp_path):
    # `git check-ref-format --branch 'x$_$y'` passes; matplotlib read the pair of '$' as mathtext and the plot, drawn
    # after the text was printed, failed with a ParseSyntaxException
    from flows.compare import plot

    c = {"revs": ["HEAD", "x$_$y"], "retention": {"s": [0.5, 0.3]},
         "students": {"g0": {"median_spearman": [0.1, None]}}}
    assert plot(c, tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")


def test_the_plot_names_both_revisions_in_its_legends(tmp_path, monkeypatch):
    # matplotlib leaves a label that starts with '_' out of a legend: against a branch "_wip", the plot named A alone
    from matplotlib.figure import Figure

    from flows.compare import plot

    legends, savefig = [], Figure.savefig

    def spy(fig, *args, **kwargs):
        legends.extend([t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    plot({"revs": ["HEAD", "_wip"], "retention": {"s": [0.5, 0.3]}, "students": {"g0": {"median_spearman": [0.1, 0.2]}}},
         tmp_path / "p.png")
    assert legends == [["HEAD", "_wip"], ["HEAD", "_wip"]]
