"""Review s36 (helper h3): the report and `mira summary` as a user reads them, after tiny real runs (4 sources with a
held-out one and a proxy evaluation; 32 sources), each figure checked against the metrics JSON it comes from, the page
read in headless Chromium (every request it makes is the browser's own: the page fetches nothing), then stressed with
HTML-special record ids (escaped), a 200-character anchor name and 30+ sources.

What did not hold, each fixed and kept here as a test, was in the figures, not in the tables: with the default
select params (MIRA, 3 baselines and 6 ablations) the retention chart draws two pairs of methods in one colour and
its legend runs off the image, and a long anchor name pushes the source names off the reliability heatmap; and `mira
summary` gives dedup's and decontaminate's counts as what select dropped, which they are not once a held-out source
holds copies or benchmark matches.
"""

from __future__ import annotations

import numpy as np

from mira_core.report import plots


def _captured(monkeypatch) -> list:
    """The figures the plots module draws, kept (to_png still renders each, as the report does)."""
    figs: list = []
    real = plots.to_png

    def keep(fig, dpi):
        figs.append(fig)
        return real(fig, dpi)

    monkeypatch.setattr(plots, "to_png", keep)
    return figs


def _drawn(fig):
    """The renderer of `fig` drawn at its own size, its layout applied (as savefig applies it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "constrained_layout not applied": what the tests look at
        fig.canvas.draw()
    return fig.canvas.get_renderer()


def _default_methods() -> list[str]:
    """The methods a default run's select.json holds, in the report's order (MIRA first, then by name)."""
    from mira_core.config import SelectParams

    sp = SelectParams()
    return ["mira", *sorted([*sp.baselines, *(f"mira_{a}" for a in sp.ablations)])]


def test_the_default_methods_get_distinct_colours():
    methods = _default_methods()
    assert len(methods) == 10
    colours = plots.method_colors(methods)
    same = {c: [m for m in methods if colours[m] == c] for c in colours.values()}
    assert all(len(ms) == 1 for ms in same.values()), {c: ms for c, ms in same.items() if len(ms) > 1}


def test_the_retention_legend_fits_in_the_image_with_the_default_methods(monkeypatch):
    figs = _captured(monkeypatch)
    methods = _default_methods()
    sources = ["code", "docs", "qa", "web"]  # the size of a small first project
    shares = {m: dict.fromkeys(sources, 0.5) for m in methods}
    plots.retention_chart(sources, shares, set(), 0.5, 60)
    fig = figs[-1]
    renderer = _drawn(fig)
    legend = fig.axes[0].get_legend()
    shown = {t.get_text(): t.get_window_extent(renderer) for t in legend.get_texts()}
    outside = [name for name, box in shown.items() if box.x1 > fig.bbox.x1 + 1 or box.x0 < fig.bbox.x0 - 1]
    assert not outside, f"legend entries drawn outside the {fig.bbox.width:.0f}px-wide image: {outside}"


def test_a_long_anchor_name_keeps_the_source_names_on_the_reliability_heatmap(monkeypatch):
    figs = _captured(monkeypatch)
    sources = ["docs (n=9)", "qa (n=8)", "web (n=6)"]
    anchors = ["a00 " + "completeness_of_the_answer_" * 7 + "x", "a01 word_count", "a02 markup_noise"]
    assert len(anchors[0]) > 190
    shape = (len(sources), len(anchors))
    plots.reliability_heatmap(sources, anchors, np.full(shape, 0.5), np.full(shape, 0.2), np.ones(shape, bool), 60,
                              "Somers' D")
    fig = figs[-1]
    renderer = _drawn(fig)
    cut = [t.get_text() for ax in fig.axes[:2] for t in ax.get_yticklabels()
           if t.get_text() and t.get_window_extent(renderer).x0 < fig.bbox.x0 - 1]
    assert not cut, f"source labels cut off the image's left edge: {cut}"


def test_the_retention_chart_of_32_sources_stays_legible_at_the_reports_width():
    import io

    from PIL import Image

    from mira_core.report.markup import CSS

    methods = _default_methods()
    sources = [f"source_{k:02d}" for k in range(32)]  # what a real run of 32 sources gave (h3's p3 project)
    shares = {m: {s: 0.3 + 0.01 * k for k, s in enumerate(sources)} for m in methods}
    png = plots.retention_chart(sources, shares, set(), 0.5, 100)
    width, height = Image.open(io.BytesIO(png)).size
    # the page shows every figure at most as wide as its column (img.fig max-width 100% of main: 1180px less padding)
    assert "max-width: 100%" in CSS and "max-width: 1180px" in CSS
    column = 1180 - 2 * 32
    shown = min(1.0, column / width)
    # at dpi 100 the chart's 9-point source labels are 12.5 px tall; a reader needs at least about 6
    assert 12.5 * shown >= 6, f"a {width}x{height} chart is shown {column}x{height * shown:.0f}: its labels " \
                              f"{12.5 * shown:.1f} px tall"


# metrics as a real run wrote them (h3's p4 project: web held out, holding 4 of the 23 near-duplicates and the one
# HumanEval match), cut to what the summary reads
DEDUP = {"enabled": True, "clusters": 6, "total": {"records_dropped": 23, "records_in": 146},
         "sources": {"code": {"records_dropped": 19}, "web": {"records_dropped": 4}}}
DECONTAMINATE = {"enabled": True, "total": {"records_dropped": 1, "records_in": 146},
                 "benchmarks": {"humaneval": {"items": 164, "records_dropped": 1}},
                 "sources": {"web": {"records_dropped": 1}}}
SELECT_HELD_OUT = {
    "budget": 0.5, "budget_tokens": 2004, "granularity": "group", "no_reliable_anchor": ["code", "qa"],
    "methods": {"mira": {"records": 146, "kept_records": 38, "kept_tokens": 1967, "selectable_tokens": 4008,
                         "kept_token_share": 0.4908, "trained_tokens": 1967,
                         "reasons": {"below_threshold": 0, "contaminated": 0, "held_out": 40, "kept": 38,
                                     "near_duplicate": 19, "over_budget": 49, "unscored": 0}}},
    "overlap": {"mira": {"mira": 1.0}},
}


def test_the_summary_says_what_select_dropped_when_a_held_out_source_holds_copies(tmp_path):
    import json

    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    for name, body in (("dedup", DEDUP), ("decontaminate", DECONTAMINATE), ("select", SELECT_HELD_OUT)):
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps(body))
    line = next(x for x in summary_lines(tmp_path) if x.startswith("filters"))
    # select.json's reasons: 19 near-duplicates and no contaminated record dropped (web's are held out), as the
    # report's per-source table says
    assert "19 near-duplicate" in line, line
    assert "1 contaminated record" not in line or "held out" in line, line
