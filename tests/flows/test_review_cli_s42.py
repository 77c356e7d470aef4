"""Review s42 of the CLI's messages: each test failed before its fix.

Tested here: `mira compare` on a damaged metrics file ("...);; re-run" with two semicolons), a quoted URL whose
query token was starred with its closing quote, and `mira summary` on a select.json of `{}` (passed over in
silence, where `[]` is refused).
"""

from __future__ import annotations

import json

import pytest

from flows.compare import _json
from flows.revisions import WORKSPACE
from mira_core.errors import ConfigError
from mira_core.redact import redact_credentials
from tests.flows.test_cli import SOURCE, _project


@pytest.mark.parametrize("text, conflict", [(b'{"methods": {"mira": "cut', False),
                                            (b'<<<<<<< HEAD\n{"a": 1}\n=======\n{"a": 2}\n>>>>>>> x\n', True)])
def test_a_damaged_metrics_file_is_named_with_one_semicolon_between_the_parts(tmp_path, text, conflict):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "select.json").write_bytes(text)
    with pytest.raises(ConfigError) as err:
        _json(tmp_path, WORKSPACE, "metrics/select.json")
    said = str(err.value)
    assert ";;" not in said and "; re-run the select stage there" in said
    assert ("merge-conflict markers" in said) is conflict


def test_a_starred_query_token_keeps_the_quote_around_the_url():
    said = redact_credentials("teacher.base_url = 'http://u:sk-X@127.0.0.1:9/v1?api_key=sk-Y'  # the endpoint")
    assert said == "teacher.base_url = 'http://***:***@127.0.0.1:9/v1?api_key=***'  # the endpoint"
    assert redact_credentials('"https://h/a.jsonl?token=SECRET&x=1"') == '"https://h/a.jsonl?token=***&x=1"'


def test_the_summary_says_a_select_json_without_figures_is_there(tmp_path):
    from flows.summary import summary_lines

    _project(tmp_path, SOURCE)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "select.json").write_text(json.dumps({}))
    assert "selection   metrics/select.json holds no figures for MIRA: re-run the select stage" in summary_lines(tmp_path)
