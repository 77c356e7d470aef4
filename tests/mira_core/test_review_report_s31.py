"""The report and `mira summary` on what a run may hold: unscored records in a group's histogram, a damaged mask or
score file, a proxy arm that diverged; and a seeded check that the report's tables say what metrics/select.json
and the MIRA manifest say, over many tiny random selections."""

from __future__ import annotations

import html
import json
import random
import re

import numpy as np
import polars as pl
import pytest

from mira_core.config import ReportParams
from mira_core.errors import MiraError
from mira_core.layout import Layout
from mira_core.report import ReportInputs, load_inputs, plots, render
from mira_core.schema import MANIFEST, NOT_SELECTABLE
from mira_core.selection import overlap, summary


def _titles(monkeypatch, groups: dict) -> list[str]:
    """The panel titles of the score histograms drawn for `groups`."""
    seen = []
    monkeypatch.setattr(plots, "to_png", lambda fig, dpi: seen.append(fig) or b"")
    plots.score_histograms(groups, 40, 50)
    return [ax.get_title() for ax in seen[0].axes if ax.get_title()]


def test_a_groups_unscored_records_count_among_its_selectable_ones(monkeypatch):
    # an unscored record (NaN score) is selectable: the budget is a share of its tokens too. The panel counted only
    # the records it could draw, so "1 of 1 selectable kept" for a group of one kept, one dropped and one unscored
    nan = float("nan")
    titles = _titles(monkeypatch, {"g0": {"kept": np.array([1.0]), "dropped": np.array([0.5, nan]),
                                          "filtered": np.array([2.0]), "held out": np.array([])}})
    assert titles == ["g0: 1 of 3 selectable kept"]


@pytest.mark.parametrize("rel", ["data/selection/mask.parquet", "data/scores/g0/s/part-00000.parquet"])
def test_a_damaged_mask_or_score_file_is_named_not_a_traceback(tmp_path, rel):
    # the other inputs were read through read_checked, which names a file polars cannot read; these two were first
    # read by a bare scan, whose ComputeError ("The file must end with PAR1") named no file and failed the report
    root = tmp_path / "run [2] x"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_bytes(b"PAR1 cut off")
    with pytest.raises(MiraError, match=re.escape(f"{root / rel}: not a readable Parquet file")):
        load_inputs(Layout(root))


def test_summary_says_a_diverged_arm_diverged(tmp_path):
    # the report says "not finite (a run diverged)"; the summary printed "mira nan±nan"
    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps({"enabled": True, "within_noise": [], "arms": {
        "mira": {"loss_mean": float("nan"), "loss_std": float("nan"), "seeds": [{"seed": 0, "loss": float("nan")},
                                                                                  {"seed": 1, "loss": 2.0}]},
        "random": {"loss_mean": 2.0, "loss_std": 0.01, "seeds": [{"seed": 0, "loss": 2.0}, {"seed": 1, "loss": 2.0}]}}}))
    line = next(x for x in summary_lines(tmp_path) if x.startswith("evaluation"))
    assert "nan" not in line
    assert "mira not finite (a run diverged), random 2.000±0.010" in line


# ------------------------------------------------------------------------------------ seeded invariant check

REASONS = ["kept", "kept", "over_budget", "below_threshold", "unscored", "near_duplicate", "contaminated"]


def _random_run(rng: random.Random) -> tuple[ReportInputs, dict]:
    """One to three sources in one or two groups, a few records each (a source may hold none, or be held out), MIRA
    and up to two baselines; select.json made by the select stage's own summary."""
    sources = rng.sample(["a", "b.c", "x-1", "Z_9"], rng.randint(1, 3))
    group = {s: f"g{i % rng.randint(1, 2)}" for i, s in enumerate(sources)}
    held = {s for s in sources[1:] if rng.random() < 0.3}
    rows = []
    for s in sources:
        for i in range(rng.randint(0, 6)):
            reason = "held_out" if s in held else rng.choice(REASONS)
            rows.append({"record_id": f"{s}/{i}", "source": s, "group": group[s], "n_tokens": rng.randint(0, 300),
                         "score": float("nan") if reason == "unscored" else rng.gauss(0, 1), "kept": reason == "kept",
                         "reason": reason, "method": "mira", "epochs": float(reason == "kept")})
    manifests = {"mira": pl.DataFrame(rows, schema=MANIFEST)}
    for m in rng.sample(["random", "length"], rng.randint(0, 2)):
        flip = [r if r["reason"] in NOT_SELECTABLE else {**r, "kept": (k := rng.random() < 0.5), "method": m,
                                                          "reason": "kept" if k else "over_budget"} for r in rows]
        manifests[m] = pl.DataFrame(flip, schema=MANIFEST)
    sel = json.loads(json.dumps({"budget": 0.5, "granularity": "group", "budget_tokens": 1,
                                 "methods": {m: summary(df, 1) for m, df in manifests.items()},
                                 "overlap": overlap(manifests)}))
    mira = manifests["mira"]
    return ReportInputs(select=sel, mira=mira.select("source", "group", "score", "kept", "reason"),
                        groups=pl.DataFrame({"source": sources, "group": [group[s] for s in sources]})), sel


def _rows(page: str, section: str) -> dict[str, list[str]]:
    body = page[page.index(f'<section id="{section}">'):]
    body = body[:body.index("</section>")].split("<h3>")[0]  # the first table
    cells = ([html.unescape(re.sub("<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
             for tr in re.findall(r"<tr>(.*?)</tr>", body))
    return {c[0]: c[1:] for c in cells if c}


def test_the_reports_tables_say_what_select_json_and_the_manifest_say(monkeypatch):
    drawn = []  # the histograms' figures, built but not drawn (the other figures are left out: they cost time)
    for name in ("retention_chart", "reliability_heatmap", "overlap_heatmap", "evaluation_chart"):
        monkeypatch.setattr(plots, name, lambda *a, **k: b"")
    monkeypatch.setattr(plots, "to_png", lambda fig, dpi: drawn.append(fig) or b"")
    for seed in range(80):
        inp, sel = _random_run(random.Random(seed))
        drawn.clear()
        page = render(inp, ReportParams(dpi=50)).html
        assert page.isascii() and page == render(inp, ReportParams(dpi=50)).html, seed  # the same bytes again
        mira, m = inp.mira, sel["methods"]["mira"]
        assert (f"{m['kept_records']:,} of {m['records']:,} records; {m['kept_tokens']:,} of "
                f"{m['selectable_tokens']:,} selectable tokens") in page, seed
        held = set(mira.filter(pl.col("reason") == "held_out")["source"])
        methods = sorted(sel["methods"], key=lambda x: (x != "mira", x))
        retention = _rows(page, "retention-per-source")
        for s, v in m["by_source"].items():
            shares = ["held out" if s in held else f"{100 * sel['methods'][x]['by_source'][s]['kept_token_share']:.1f}%"
                      for x in methods]
            assert retention[s][1:] == ["–" if s in held else f"{v['selectable_tokens']:,}", *shares], seed
        baselines = _rows(page, "baselines-and-overlap")
        for x in methods:
            v = sel["methods"][x]
            assert baselines[x] == [f"{v['kept_records']:,}", f"{v['kept_tokens']:,}",
                                    f"{100 * v['kept_token_share']:.1f}%"], seed
        titles = [ax.get_title() for fig in drawn for ax in fig.axes if ax.get_title()]
        # each panel: its group's kept records, of its selectable ones (unscored records among them)
        want = [f"{g}: {d['kept'].sum():,} of {d.filter(~pl.col('reason').is_in(NOT_SELECTABLE)).height:,} "
                "selectable kept" for (g,), d in sorted(mira.group_by("group"), key=lambda x: x[0])]
        assert titles == want * 2, (seed, titles, want)
