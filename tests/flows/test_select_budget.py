"""select refuses an impossible budget before it selects anything."""

from __future__ import annotations

import json

import pytest

from flows import select
from mira_core.config import parse_params
from mira_core.errors import ConfigError

pytestmark = pytest.mark.slow


def test_an_absolute_budget_above_the_selectable_tokens_fails_before_any_work(tmp_path, prefect_harness):
    params = parse_params({"sources": [{"name": "a", "path": "raw/a.jsonl", "format": "text"},
                                       {"name": "b", "path": "raw/b.jsonl", "format": "text"}],
                           "select": {"budget": 900, "held_out_sources": ["b"]}})
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "students.json").write_text("{}")
    (tmp_path / "metrics" / "ingest.json").write_text(json.dumps(
        {"sources": {"a": {"n_tokens": 800}, "b": {"n_tokens": 5000}}, "total": {"kept": 2, "read": 2,
                                                                             "quarantined": 0}}))
    with pytest.raises(ConfigError, match="select.budget = 900 tokens, but only 800 tokens are selectable"):
        select.run(params, tmp_path)  # b is held out: only a's 800 tokens can be selected
    assert not (tmp_path / "data" / "selection").exists()  # no method was selected
