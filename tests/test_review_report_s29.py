"""The report, `mira compare` and `mira summary` on what a run may legitimately hold: an anchor named with dollar
signs (matplotlib's mathtext), a MIRA manifest with no record, a small fractional budget, non-ASCII text under an
ASCII locale (params.yaml, a rubric, the stale-stage check), a project folder whose name holds brackets read at a
git revision, a select.json from an older mira, a proxy evaluation run with one seed, and the within-noise rule
the report states."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from mira_core.config import ReportParams
from tests.conftest import tool_env

REPO = Path(__file__).resolve().parents[1]
ACCENTED = "Sélection ≥ ½"


def _ascii_run(script: str, *args: str) -> str:
    """`script` under an ASCII locale without Python's UTF-8 mode, where text read without an encoding is ASCII."""
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", "import locale\nassert locale.getpreferredencoding(False).lower() "
                          "in ('ascii', 'ansi_x3.4-1968')\n" + script, *args], env=env, capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr[-800:]
    return res.stdout.strip()


def test_an_anchor_named_with_dollar_signs_is_drawn_as_written():
    # the anchor names are the teacher's words; a pair of '$' was read as mathtext, and "$\LaTeX$" (an unknown
    # symbol) failed the whole report stage with matplotlib's ValueError
    from mira_core.report.plots import literal, reliability_heatmap

    for name in ("LaTeX math ($\\LaTeX$)", "inline math like $...$ or $$"):
        png = reliability_heatmap(["web (n=3)"], [f"a00 {name}"], np.array([[0.5]]), np.array([[0.3]]),
                                  np.array([[True]]), 50)
        assert png.startswith(b"\x89PNG")
    assert literal("costs $5 or $10") == r"costs \$5 or \$10"  # drawn with its dollars, not "5 or " in italics


def test_a_mira_manifest_with_no_record_is_said_not_a_crash():
    # a figure with no panel was matplotlib's "Number of rows must be a positive integer", failing the report
    from mira_core.report import ReportInputs, render

    empty = pl.DataFrame(schema={"source": pl.String, "group": pl.String, "score": pl.Float64, "kept": pl.Boolean,
                                 "reason": pl.String})
    rep = render(ReportInputs(mira=empty), ReportParams(dpi=50))
    section = rep.html.split("<h2>Score distributions per group</h2>")[1].split("<h2>")[0]
    assert "No record in data/selection/mira/manifest.parquet: nothing was scored or selected." in section


def test_a_fractional_budget_is_shown_with_the_digits_it_needs():
    # select.budget 0.004 read "0% of the selectable tokens = 72,733 tokens", and 0.125 read 12%
    from mira_core.report.sections import _budget_text

    text = _budget_text({"budget": 0.004, "granularity": "group", "budget_tokens": 72733})
    assert text == "0.4% of the selectable tokens = 72,733 tokens, per group"
    assert _budget_text({"budget": 0.125, "granularity": "global", "budget_tokens": 8}).startswith("12.5% of")
    assert _budget_text({"budget": 0.5, "granularity": "group", "budget_tokens": 8}).startswith("50% of")


def test_the_report_reads_params_yaml_as_utf8_under_an_ascii_locale(tmp_path):
    # params.yaml was read in the locale's encoding: a title or a comment with an accent failed the report stage
    (tmp_path / "params.yaml").write_bytes(f"report:\n  title: {ACCENTED}\n".encode())
    out = _ascii_run("import sys\nfrom pathlib import Path\nfrom mira_core.layout import Layout\n"
                     "from mira_core.report import load_inputs\n"
                     "print(ascii(load_inputs(Layout(Path(sys.argv[1]))).params_text))\n", str(tmp_path))
    assert out == ascii(f"report:\n  title: {ACCENTED}\n")


def test_compare_reads_a_rubric_with_non_ascii_text_under_an_ascii_locale(tmp_path):
    # discover writes rubrics as UTF-8 (non-ASCII kept as is); `mira compare` and `mira rubrics` read them in the
    # locale's encoding, a UnicodeDecodeError's traceback under an ASCII one
    from mira_core.rubric import Anchor, Rubric

    (tmp_path / "data" / "rubrics").mkdir(parents=True)
    rubric = Rubric(group="g0", anchors=[Anchor(id="a00", name=ACCENTED, description="d", exemplar_reason="e",
                                                support=1)], teacher="rules", prompt_version="p", sources=["a"])
    (tmp_path / "data" / "rubrics" / "g0.json").write_bytes(
        json.dumps(rubric.model_dump(), ensure_ascii=False).encode())
    out = _ascii_run("import sys\nfrom pathlib import Path\nfrom flows.rubrics import rubrics_at\n"
                     "print(ascii(rubrics_at(Path(sys.argv[1]), 'workspace')['g0'].anchors[0].name))\n",
                     str(tmp_path))
    assert out == ascii(ACCENTED)
    (tmp_path / "data" / "rubrics" / "g1.json").write_bytes(b'{"group": "g1 \xe9"}')  # Latin-1: named, not a traceback
    from flows.revisions import read_texts
    from mira_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^data/rubrics/g1\.json at 'workspace': not UTF-8 text \(byte 14\); re-run"):
        read_texts(tmp_path, "workspace", "data/rubrics/*.json")


def test_summary_sees_a_stale_stage_under_an_ascii_locale(tmp_path):
    # params.yaml and dvc.lock were read as locale text: an accent in a comment made them "unreadable" and the
    # summary dropped its stale warning without a word
    metrics = tmp_path / "metrics" / "select.json"
    metrics.parent.mkdir()
    metrics.write_text('{"stage": "select"}')
    lock = {"schema": "2.0", "stages": {"select": {"cmd": "mira stage select",
                                                   "params": {"params.yaml": {"select.budget": 0.5}},
                                                   "outs": [{"path": "metrics/select.json",
                                                             "md5": hashlib.md5(metrics.read_bytes()).hexdigest()}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "params.yaml").write_bytes(f"# {ACCENTED}\nselect:\n  budget: 0.25\n".encode())
    out = _ascii_run("import sys\nfrom pathlib import Path\nfrom flows.summary import stale_stages\n"
                     "print(stale_stages(Path(sys.argv[1])))\n", str(tmp_path))
    assert out == "{'select': ['select.budget']}"


def test_a_project_folder_named_with_brackets_reads_its_rubrics_at_a_revision(tmp_path):
    # the folder under the git top level went into DVC's glob as a pattern: "proj [1]" matched nothing, and
    # `mira compare` / `mira rubrics show --rev` read no rubric at any revision, without a word
    from flows.revisions import read_texts

    proj = tmp_path / "proj [1]"
    (proj / "data" / "rubrics").mkdir(parents=True)
    (proj / "data" / "rubrics" / "g0.json").write_text("{}")
    for cmd, cwd in ((["git", "init", "-q"], tmp_path), (["dvc", "init", "-q", "--subdir"], proj),
                     (["git", "add", "-A"], tmp_path), (["git", "commit", "-qm", "one"], tmp_path)):
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=tool_env())
    assert read_texts(proj, "HEAD", "data/rubrics/*.json") == {"data/rubrics/g0.json": "{}"}


def test_summary_reads_an_older_select_json_and_a_one_seed_evaluation(tmp_path):
    # a select.json from before selectable_tokens and kept_token_share (the report degrades on it) was a KeyError's
    # traceback; one seed printed "±0.000", a spread of none where the report says there is no spread to give
    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    select = {"budget": 0.5, "granularity": "group", "overlap": {"mira": {"mira": 1.0}},
              "methods": {"mira": {"records": 10, "kept_records": 4, "kept_tokens": 1200}}}
    evaluate = {"enabled": True, "within_noise": [],
                "arms": {"mira": {"loss_mean": 5.5, "loss_std": 0.0, "seeds": [{"seed": 0, "loss": 5.5}]},
                         "random": {"loss_mean": 5.6, "loss_std": 0.01, "seeds": [{"seed": 0, "loss": 5.59},
                                                                                  {"seed": 1, "loss": 5.61}]}}}
    (tmp_path / "metrics" / "select.json").write_text(json.dumps(select))
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps(evaluate))
    lines = summary_lines(tmp_path)
    assert ("selection   MIRA kept 4 records, 1,200 of n/a selectable tokens (n/a), group budget 0.5   "
            "data/selection/mira/manifest.parquet") in lines
    assert "evaluation  held-out loss: mira 5.500 (one seed), random 5.600±0.010" in lines


def test_the_demo_shaped_report_keeps_its_budget_line():
    """The default budget (0.5) reads as before."""
    from mira_core.report import build_report
    from tests.mira_core.test_report import tiny_inputs

    html = build_report(dataclasses.replace(tiny_inputs(), similarity_png=None), ReportParams(dpi=50))
    assert "50% of the selectable tokens = 1,000 tokens, per group" in html


def test_the_within_noise_list_states_the_rule_the_stage_applied():
    # "differences smaller than the seed-to-seed spread": the rule is k standard errors of the difference of the
    # means (2 * sqrt(2/3) sd with three seeds each), so a gap larger than either arm's spread can be within noise
    from mira_core.report import build_report
    from tests.mira_core.test_report import EVALUATE, tiny_inputs

    rule = "within noise: |mean_a - mean_b| < 2 * sqrt(sd_a^2/n_a + sd_b^2/n_b), sd over seeds (ddof 1), n seeds per arm"
    html = build_report(tiny_inputs({**EVALUATE, "noise_rule": rule}), ReportParams(dpi=50))
    assert "Within noise (|mean_a - mean_b| &lt; 2 * sqrt(sd_a^2/n_a + sd_b^2/n_b), sd over seeds" in html
    assert "seed-to-seed spread" not in html
    html = build_report(tiny_inputs(EVALUATE), ReportParams(dpi=50))  # a file without the rule
    assert "Within noise (a gap under evaluate.noise_sigmas standard errors of the difference" in html


def test_summary_lists_mira_first_and_counts_the_records_left_out_for_holding_a_target(tmp_path):
    # evaluate.json's keys are sorted: the line read "full ..., mira ..., random ...", MIRA lost in the middle
    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    arm = lambda loss: {"loss_mean": loss, "loss_std": 0.01, "seeds": [{"seed": 0, "loss": loss}, {"seed": 1, "loss": loss}]}  # noqa: E731
    evaluate = {"enabled": True, "within_noise": [], "target": {"holding_left_out": 1234},
                "arms": {"full": arm(5.4), "length": arm(5.7), "mira": arm(5.5), "random": arm(5.6)}}
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps(evaluate, sort_keys=True))
    (line,) = [x for x in summary_lines(tmp_path) if x.startswith("evaluation")]
    assert line == ("evaluation  held-out loss: mira 5.500±0.010, random 5.600±0.010, full 5.400±0.010, length "
                    "5.700±0.010; 1,234 training records holding a target record left out of every arm")
