"""Review s43 of what select trusts: a record that competes for the budget with no score row at all.

It was counted `unscored`, its share of the budget left unspent, and select exited 0: a source no longer held out
(`select.held_out_sources` edited, then `mira stage select`), a source the group map lacks, a shard ingested after
score ran, or no score stage at all. Also: an `atomic_dir` killed mid-way (a half export folder) inside a stage's
out stayed there once `select.materialize` changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import SelectParams
from mira_core.errors import ConfigError
from mira_core.io import remove_temp_files
from mira_core.layout import Layout
from mira_core.manifests import attach_scores, check_scored, competing_ids, corpus_index, mira_scores
from mira_core.rubric import Anchor, Rubric, save_rubric
from mira_core.schema import CORPUS

GOOD = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}


def _project(root: Path, corpus: dict[str, list[str]], scored: dict[str, list[float]]) -> tuple[Layout, dict]:
    """A rubric of group g over source s, corpus shards per source, and score rows for `scored` (source -> a00)."""
    lay = Layout(root)
    anchors = [Anchor(id=f"a0{i}", name=f"n{i}", description="d", exemplar_reason="r", support=1) for i in range(2)]
    rub = Rubric(group="g", teacher="rules", prompt_version="p", sources=["s"], anchors=anchors).with_version()
    save_rubric(rub, lay.rubrics / "g.json")
    for src, ids in corpus.items():
        (lay.corpus / src).mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"record_id": ids, "source": src, "format": "text", "text": "x", "n_tokens": 10, "n_chars": 1,
                      "meta": "{}"}, schema=CORPUS).write_parquet(lay.corpus / src / "part-00000.parquet")
    for src, a00 in scored.items():
        (lay.scores / "g" / src).mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{src}/{i}" for i in range(len(a00))], "group": "g", "a00": a00,
                      "a01": [2.0] * len(a00)}).write_parquet(lay.scores / "g" / src / "part-00000.parquet")
    reports = {"g": {"anchors": {"a00": GOOD, "a01": GOOD}, "rubric_version": rub.version,
                     "sources": {"s": {"n_val": 50, "anchors": {"a00": GOOD, "a01": GOOD}}}}}
    return lay, reports


def _check(lay: Layout, reports: dict, groups: dict[str, str], held_out: list[str] | None = None) -> pl.DataFrame:
    p = SelectParams(held_out_sources=held_out or [], budget=0.5)
    index = corpus_index(lay.corpus, groups, p.held_out_sources, sort=True)
    scored, *_ = mira_scores(lay.scores, lay.rubrics, reports, p, competing_ids(index), groups)
    records = attach_scores(index, scored)
    check_scored(records, lay.scores, reports)
    return records


def ids(src: str, n: int) -> list[str]:
    return [f"{src}/{i}" for i in range(n)]


def test_a_group_without_a_student_is_refused_not_left_unscored(tmp_path):
    # t was held out (its group h neither labeled nor distilled); select.held_out_sources no longer names it
    lay, reports = _project(tmp_path, {"s": ids("s", 4), "t": ids("t", 4)}, {"s": [1.0, 2, 3, 4]})
    _check(lay, reports, {"s": "g", "t": "h"}, held_out=["t"])  # held out: never selected, needs no score
    with pytest.raises(ConfigError, match=r"no score for 4 record\(s\).*t \(h\): 4.*group\(s\) h have no student"):
        _check(lay, reports, {"s": "g", "t": "h"})


def test_a_source_the_group_map_lacks_is_named(tmp_path):
    lay, reports = _project(tmp_path, {"s": ids("s", 4), "t": ids("t", 4)}, {"s": [1.0, 2, 3, 4]})
    with pytest.raises(ConfigError, match=r"no group for source\(s\) t in the group map"):
        _check(lay, reports, {"s": "g"})


def test_records_ingested_after_score_ran_are_refused(tmp_path):
    lay, reports = _project(tmp_path, {"s": ids("s", 8)}, {"s": [1.0, 2, 3, 4]})  # s/4..s/7 have no score row
    with pytest.raises(ConfigError, match=r"no score for 4 record\(s\).*s \(g\): 4.*corpus changed after score ran"):
        _check(lay, reports, {"s": "g"})


def test_no_score_stage_at_all_says_so(tmp_path):
    lay, reports = _project(tmp_path, {"s": ids("s", 4)}, {})
    with pytest.raises(ConfigError, match="the score stage has not run"):
        _check(lay, reports, {"s": "g"})


def test_a_record_its_student_failed_on_is_still_unscored_not_refused(tmp_path):
    # a row with a NaN score (a generative student's unparsed reply): `unscored` in the manifest, as before
    lay, reports = _project(tmp_path, {"s": ids("s", 4)}, {"s": [1.0, np.nan, 3, 4]})
    records = _check(lay, reports, {"s": "g"})
    assert records["score"].is_nan().sum() == 1 and records["score"].null_count() == 0


def test_an_atomic_dirs_leftover_folders_are_removed_from_a_stage_out(tmp_path):
    out = tmp_path / "data" / "selection"
    half = out / "mira" / ".records.k3j9x0ab.tmp" / "s"
    half.mkdir(parents=True)
    (half / "part-00000.parquet").write_bytes(b"x")
    (out / "mira" / ".megatron.old").mkdir()
    (out / "mira" / ".megatron.old" / "a.bin").write_bytes(b"x")
    (out / "mira" / "records").mkdir()  # a live export and a hidden folder of another shape stay
    (out / "mira" / ".keep").mkdir()
    (out / "mira" / "manifest.parquet").write_bytes(b"m")
    gone = remove_temp_files(out)
    assert sorted(p.name for p in gone) == [".megatron.old", ".records.k3j9x0ab.tmp"]
    assert sorted(p.name for p in (out / "mira").iterdir()) == [".keep", "manifest.parquet", "records"]
