"""Scenario s30 (mid-training output): a held-out source, an absolute and then a fractional budget, select.weights with
max_epochs above 1 and a Megatron export.

The export itself held up on a real project (the .bin/.idx ids are the kept records' ids plus one EOD each, the blend
weights are tokens x epochs, select.json's counts match); the first test pins the blend/epochs rule at the megatron
level, where no other test reads `epochs`. The other tests are what the run showed to be missing: with a weight that
upsamples a unit, the report and `mira summary` say only "kept X% of the selectable tokens" beside the budget, and
never the trained tokens (kept x epochs) that metrics/select.json carries, so a 30% budget spent on repeats reads as
a 15% selection.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mira_core.config import ReportParams
from mira_core.megatron import load_tokenizer, materialize_megatron
from tests.megatron_reader import read_indexed


def test_megatron_blend_weights_are_tokens_times_epochs(tmp_path: Path) -> None:
    records = [("qa", "What is a black hole? A region of space."), ("web", "Plate tectonics moves continents."),
               ("qa", "Why do bees swarm? To found a new colony."), ("web", "Sourdough rises slowly overnight.")]
    rec = materialize_megatron(records, "minilm", tmp_path / "m", commit=None, params_digest="p",
                               rubric_versions={}, manifest_digest="d", epochs={"qa": 2.5})
    tok = load_tokenizer("minilm")
    eod = rec["eod_id"]
    tokens = {}
    for source in ("qa", "web"):
        docs = read_indexed(tmp_path / "m" / source)["docs"]
        want = [tok.encode(t, add_special_tokens=False).ids + [eod] for s, t in records if s == source]
        assert docs == want
        tokens[source] = sum(map(len, docs))
    weighted = {"qa": tokens["qa"] * 2.5, "web": tokens["web"] * 1.0}
    blend = (tmp_path / "m" / "blend.txt").read_text().split()
    got = {Path(blend[i + 1]).name: float(blend[i]) for i in range(0, len(blend), 2)}
    assert got == pytest.approx({s: w / sum(weighted.values()) for s, w in weighted.items()})
    lineage = json.loads((tmp_path / "m" / "lineage.json").read_text())
    assert lineage["datasets"]["qa"]["epochs"] == 2.5 and lineage["datasets"]["web"]["epochs"] == 1.0


# metrics/select.json as the scenario's third run wrote it (budget 0.3, granularity source, weights {qa: 0.9,
# code: 0.05}, max_epochs 3), cut to what the summary reads: qa keeps all its 4,239 tokens at 2.156 epochs
SELECT = {
    "budget": 0.3, "budget_tokens": 10156, "granularity": "source", "records_read": 245, "quarantined": 5,
    "methods": {"mira": {"records": 240, "kept_records": 55, "kept_tokens": 5071, "trained_tokens": 9973,
                         "selectable_tokens": 33854, "kept_token_share": 0.1498, "budget_tokens": 10156,
                         "by_source": {}, "by_group": {},
                         "reasons": {"kept": 55, "over_budget": 140, "held_out": 40, "near_duplicate": 5}}},
    "overlap": {"mira": {"mira": 1.0}},
    "materialized": {"format": "megatron", "path": "data/selection/mira/megatron",
                     "records": {"chat": 1, "code": 3, "qa": 50, "web": 1}, "tokens": 5126},
}


def test_report_summary_shows_trained_tokens_when_a_weight_upsamples() -> None:
    from mira_core.report import sections
    from mira_core.report.inputs import ReportInputs

    html = str(sections.summary(ReportInputs(select=SELECT), ReportParams(dpi=50)))
    assert "9,973" in html  # the tokens a trainer sees: 5,071 kept, qa's repeated 2.156 times


def test_mira_summary_shows_trained_tokens_when_a_weight_upsamples(tmp_path: Path) -> None:
    from flows.summary import summary_lines

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "select.json").write_text(json.dumps(SELECT))
    text = "\n".join(summary_lines(tmp_path))
    assert "5,071 of 33,854" in text  # what it says today
    assert "9,973" in text
