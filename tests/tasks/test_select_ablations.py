"""The MIRA ablations of the select stage change exactly one knob of the select params each."""

from __future__ import annotations

import pytest

from mira_core.config import SelectParams
from tasks.select import ablation_params


@pytest.mark.parametrize(("name", "changed"), [("global", {"granularity": "global"}),
                                                ("source", {"granularity": "source"}),
                                                ("group", {"granularity": "group"}),
                                                ("no_mask", {"mask": False}),
                                                ("raw_scale", {"standardize": False}),
                                                ("trimmed_mean", {"worst_weight": 0.0}),
                                                ("spearman_mask", {"agreement": "spearman"}),
                                                ("pooled_unshared", {"unshared_own_budget": False})])
def test_each_ablation_changes_one_knob(name, changed):
    base = SelectParams(granularity="group", budget=0.4, trim=0.2)
    got = ablation_params(base, name).model_dump()
    diff = {k: v for k, v in got.items() if v != base.model_dump()[k]}
    assert diff == {k: v for k, v in changed.items() if base.model_dump()[k] != v}
    assert got["budget"] == 0.4 and got["trim"] == 0.2


def test_an_evaluate_arm_may_name_an_ablation_and_nothing_else():
    from mira_core.config import parse_params
    from mira_core.errors import ConfigError

    raw = {"sources": [{"name": "s", "path": "x.jsonl", "format": "text"},
                       {"name": "t", "path": "y.jsonl", "format": "text"}],
           "select": {"held_out_sources": ["t"], "ablations": ["source"]},
           "evaluate": {"enabled": True, "arms": ["mira", "mira_source", "full"]}}
    assert parse_params(raw).evaluate.arms == ["mira", "mira_source", "full"]
    raw["evaluate"]["arms"] = ["mira_no_mask"]
    with pytest.raises(ConfigError, match="mira_no_mask"):
        parse_params(raw)
