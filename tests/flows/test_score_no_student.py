"""score names why a group has no student: a rubric with no anchors (label and distill skip the group) is not
"run distill first"."""

from __future__ import annotations

import polars as pl
import pytest

from flows.score import _why_no_student, check_grouped
from mira_core.errors import ConfigError
from mira_core.layout import Layout
from mira_core.rubric import Rubric, save_rubric


def test_a_group_whose_rubric_has_no_anchors_is_named_as_such(tmp_path):
    lay = Layout(tmp_path)
    assert _why_no_student(lay, "g0") == "g0: run distill first"  # no rubric at all
    save_rubric(Rubric(group="g0", teacher="rules", prompt_version="p", sources=["a"], anchors=[]).with_version(),
                lay.rubrics / "g0.json")
    why = _why_no_student(lay, "g0")
    assert why.startswith("g0: its rubric has no anchors, so label and distill skipped it") and "distill first" not in why


def test_a_corpus_source_the_group_map_does_not_name_is_a_config_error_naming_it(tmp_path):
    # a source added after the group stage ran: score failed on a bare KeyError('new')
    lay = Layout(tmp_path)
    for src in ("old", "new"):
        (lay.corpus / src).mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{src}/1"]}).write_parquet(lay.corpus / src / "part-00000.parquet")
    check_grouped(lay, {"old": "g0", "new": "g0"}, lay.corpus_shards())
    with pytest.raises(ConfigError, match=r"no group for source\(s\) new of .*run embed and group again"):
        check_grouped(lay, {"old": "g0"}, lay.corpus_shards())
