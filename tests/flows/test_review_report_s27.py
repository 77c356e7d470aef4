"""`mira compare`, `mira summary` and the report on what a run may hold: URL credentials in params.yaml, a file that
does not parse at one revision (a merge conflict's markers), a student with no val MAE, a proxy run that diverged."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from typer.testing import CliRunner

from flows.compare import compare, format_text, gather
from mira_core.errors import ConfigError

CONFLICT = "<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n"


def _project(root, params: str = "select:\n  budget: 0.5\n"):
    (root / "metrics").mkdir(parents=True)
    (root / "params.yaml").write_text(params)
    return root


def test_compare_shows_params_with_url_credentials_starred(tmp_path):
    # `mira params`, the report and MLflow star them; compare printed both URLs whole, keys and all, to the terminal
    a = _project(tmp_path / "a", "teacher:\n  base_url: https://alice:sk-live-42@api.example.com/v1\n")
    b = _project(tmp_path / "b", "teacher:\n  base_url: https://h/v1?api-key=sk-live-43\n"
                                 "sources:\n- {name: s, path: 'https://h/s.jsonl?token=sk-live-44'}\n")
    c = compare(gather(a, "workspace"), gather(b, "workspace"))
    text, as_json = format_text(c), json.dumps(c, default=str)
    assert "sk-live" not in text and "sk-live" not in as_json
    assert "teacher.base_url: https://***:***@api.example.com/v1 -> https://h/v1?api-key=***" in text
    assert "https://h/s.jsonl?token=***" in text  # the sources list holds dicts
    # a change to the credentials alone is still listed, starred on both sides
    same = _project(tmp_path / "c", "teacher:\n  base_url: https://alice:sk-live-45@api.example.com/v1\n")
    assert list(compare(gather(a, "workspace"), gather(same, "workspace"))["params"]) == ["teacher.base_url"]


@pytest.mark.parametrize(("path", "text", "says"), [
    ("metrics/students.json", CONFLICT, "metrics/students.json at 'workspace': not valid JSON (line 1"),
    ("metrics/select.json", "[1, 2]", "metrics/select.json at 'workspace': holds an array, not a JSON object"),
    ("params.yaml", "teacher:\n" + CONFLICT,
     "params.yaml at 'workspace': not valid YAML (line 3: could not find expected ':'); it holds git merge-conflict"),
    ("data/selection/mira/manifest.parquet", "version https://git-lfs.github.com/spec/v1\n",
     "data/selection/mira/manifest.parquet at 'workspace': not a selection manifest"),
    ("data/rubrics/g0.json", CONFLICT, "data/rubrics/g0.json at 'workspace': not a rubric"),
])
def test_compare_names_the_revision_and_file_that_does_not_parse(tmp_path, path, text, says):
    # json.loads / yaml / polars / pydantic raised their own errors: a traceback naming neither run nor file
    root = _project(tmp_path)
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)
    with pytest.raises(ConfigError) as e:
        gather(root, "workspace")
    assert str(e.value).startswith(says), str(e.value)


def test_compare_at_a_git_revision_names_it_and_exits_2(tmp_path):
    from flows.cli import app

    root = _project(tmp_path)
    (root / "metrics" / "select.json").write_text(CONFLICT)
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (root / "metrics" / "select.json").write_text("{}")
    r = CliRunner().invoke(app, ["compare", "HEAD", "workspace", "--root", str(root)])
    assert r.exit_code == 2, r.output
    assert "mira compare: metrics/select.json at 'HEAD': not valid JSON" in r.output
    assert "re-run the select stage there" in r.output


def test_rubrics_show_and_diff_name_a_rubric_that_does_not_parse(tmp_path):
    # `mira rubrics` read the same files through the same rubrics_at, and printed pydantic's traceback
    from flows.cli import app

    root = _project(tmp_path)
    (root / "data" / "rubrics").mkdir(parents=True)
    (root / "data" / "rubrics" / "g0.json").write_text(CONFLICT)
    for args in (["rubrics", "show"], ["rubrics", "diff", "workspace", "workspace"]):
        r = CliRunner().invoke(app, [*args, "--root", str(root)])
        assert r.exit_code == 2, r.output
        assert "mira rubrics: data/rubrics/g0.json at 'workspace': not a rubric" in r.output
        assert "re-run the discover stage there" in r.output


def test_summary_names_a_metrics_file_that_does_not_parse(tmp_path):
    from flows.summary import summary_lines

    root = _project(tmp_path)
    (root / "metrics" / "select.json").write_text(CONFLICT)
    with pytest.raises(ConfigError, match=r"metrics/select\.json: not valid JSON .*merge-conflict markers"):
        summary_lines(root)


def test_summary_says_n_a_for_a_student_without_a_val_mae(tmp_path):
    # mae() is None when the student scored no val record: the line read "val MAE None vs constant None"
    from flows.summary import summary_lines

    root = _project(tmp_path)
    (root / "metrics" / "students.json").write_text(json.dumps(
        {"g0": {"student": "generative", "mean_mae": None, "const_mean_mae": None, "median_spearman": None},
         "g1": {"student": "head", "mean_mae": 0.3456, "const_mean_mae": 0.61, "median_spearman": 0.5}}))
    line = next(x for x in summary_lines(root) if x.startswith("students"))
    assert "None" not in line
    assert "g0 generative (val MAE n/a vs constant n/a" in line
    assert "g1 head (val MAE 0.3456 vs constant 0.61" in line  # figures as distill wrote them


def _proxy_section(evaluate: dict) -> str:
    import dataclasses

    from mira_core.config import ReportParams
    from mira_core.report import ReportInputs, render

    html = render(dataclasses.replace(ReportInputs(), evaluate=evaluate), ReportParams(dpi=50)).html
    section = html[html.index('<section id="proxy-evaluation">'):]
    return section[:section.index("</section>")]


def test_report_says_a_diverged_arm_diverged_and_one_seed_has_no_spread():
    # a diverged run's loss is NaN (evaluate.json holds it as NaN): the mean read "–", as if never measured; one
    # seed has no sd (the stage writes 0.0), which read "0.0000", a spread of exactly nothing
    nan = float("nan")
    section = _proxy_section(json.loads(json.dumps({"enabled": True, "within_noise": [], "arms": {
        "mira": {"loss_mean": nan, "loss_std": nan, "ppl_mean": nan, "seeds": [{"seed": 0, "loss": nan},
                                                                                {"seed": 1, "loss": nan}]},
        "random": {"loss_mean": 2.0, "loss_std": 0.0, "ppl_mean": 7.39, "seeds": [{"seed": 0, "loss": 2.0}]},
        "length": {"loss_mean": 2.1, "loss_std": 0.05, "ppl_mean": 8.2, "seeds": [{"seed": 0, "loss": 2.05},
                                                                                   {"seed": 1, "loss": 2.15}]}}})))
    rows = {r[0]: r[1:] for r in (re.findall(r"<td[^>]*>(.*?)</td>", tr)
                                  for tr in re.findall(r"<tr>(.*?)</tr>", section)) if r}
    assert rows["mira"][0] == "not finite (a run diverged)"
    assert rows["random"][:2] == ["2.0000", "n/a (one seed)"]
    assert rows["length"][:2] == ["2.1000", "0.0500"]
