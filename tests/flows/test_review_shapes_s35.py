"""Review s35, degenerate data shapes: tiny, empty, huge and all-alike sources through ingest, select and their
messages (one source of 1 or 2 records, a group of one source, records the target tokenizer reads as nothing, a
5 MB record among small ones, budgets at the edges, weights on a unit with no selectable token, a group whose
teacher labels are all one value).

Each test reproduces one finding on tiny data and fails today (strict xfail); what was checked and found right is
in the session's report.
"""

from __future__ import annotations

import polars as pl
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import ingest_source
from mira_core.selection import select
from tests.conftest import write_jsonl


def test_a_record_the_tokenizer_reads_as_no_token_is_not_kept_as_a_free_record(tmp_path):
    rows = [{"text": "A real sentence of prose, long enough to count."},
            {"text": "\u200b\u200b\u200b"},  # zero-width spaces: not whitespace to str.strip, 0 tokens
            {"text": "\x01\x02"},  # control characters: 0 tokens
            {"text": "\u0301"}]  # a lone combining mark: 0 tokens
    write_jsonl(tmp_path / "s.jsonl", rows)
    spec = SourceSpec(name="s", path="s.jsonl", format="text")
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus" / "s", tmp_path / "q" / "s")
    kept = pl.read_parquet(tmp_path / "corpus" / "s" / "part-*.parquet")
    # Kept, such a record costs 0 of the budget, so every selection keeps it: at select.budget 1e-9 MIRA "keeps 3 of
    # 74 records, 0 tokens" (the teacher's lowest-rated records, whose all-zero embeddings the student scores far
    # below the scale), and the teacher oracle reports a kept overlap of 1.0 on them.
    assert kept["n_tokens"].min() > 0, kept.select("text", "n_tokens").to_dicts()
    assert report["kept"] + report["quarantined"] == report["read"] == 4


def test_a_weight_on_a_source_with_no_selectable_token_is_not_called_an_unknown_unit():
    # source b is a mirror of a: dedup drops all of its records (params validation accepted the weight on b)
    recs = pl.DataFrame({"record_id": ["a/1", "a/2", "b/1", "b/2"], "source": ["a", "a", "b", "b"],
                         "group": ["g0"] * 4, "n_tokens": [10, 10, 10, 10], "score": [1.0, 2.0, 3.0, 4.0],
                         "held_out": [False] * 4, "dropped": [None, None, "near_duplicate", "near_duplicate"]})
    try:
        m = select(recs, 1.0, "source", "mira", weights={"b": 0.5})
    except ConfigError as e:  # an error may stop the run, but must say what happened to b
        assert "not a unit" not in str(e) and "selectable" in str(e), str(e)
    else:  # or b's share stays unspent, as a weight over a unit's tokens does (docs/selection.md)
        assert m.filter(pl.col("kept"))["source"].to_list() == ["a"]


@pytest.mark.slow
def test_the_no_reliable_anchor_warning_names_the_teachers_flat_labels_not_the_students(tmp_path, grouped_project,
                                                                                        capsys):
    from flows import discover, distill, label, score
    from flows import select as select_stage
    from mira_core.config import parse_params
    from mira_core.io import read_parquet

    base = grouped_project("one_group")  # code and prose, 30 records each, one group
    params = parse_params({**base, "discover": {"records_per_group": 8, "n_anchors": 4},
                           "label": {"records_per_group": 60}, "distill": {"student": "head"},
                           "select": {"held_out_sources": [], "baselines": [], "ablations": [], "dsir_target": [],
                                      "materialize": "none"},
                           "cache": {"enabled": False}})
    for stage in (discover, label, distill, score):
        stage.run(params, tmp_path)
    capsys.readouterr()
    metrics = select_stage.run(params, tmp_path)
    err = capsys.readouterr().err
    blind = metrics["no_reliable_anchor"]
    mask = read_parquet(tmp_path / "data" / "selection" / "mask.parquet")
    flat = [s for s in blind if mask.filter(pl.col("source") == s)["why"].str.starts_with(
        "the teacher gives one score to all").all()]
    assert flat, (blind, mask.select("source", "anchor", "why").to_dicts())  # the shape this test is about
    # every anchor of these sources is off because the teacher's labels do not vary, not because a student erred
    assert "disagree with the teacher" not in err and "another student may help" not in err, err
    assert "the teacher gives all its labeled records one score on every anchor" in err, err


def test_a_group_too_small_for_any_split_is_not_told_to_raise_val_fraction(tmp_path):
    from flows.distill import check_enough_labels
    from mira_core.layout import Layout

    lay = Layout(tmp_path)
    lay.labels.mkdir(parents=True)
    # the whole group: one source of 2 records, both labeled, the split hash put both in train
    pl.DataFrame({"record_id": ["two/a", "two/b"], "source": ["two", "two"], "split": ["train", "train"]}
                 ).write_parquet(lay.labels / "pair.parquet")
    with pytest.raises(ConfigError) as e:
        check_enough_labels(lay, "pair")
    msg = str(e.value)
    assert "2 labeled records" in msg
    assert "raise label.val_fraction" not in msg, msg  # no fraction splits 2 records into 2 train and 2 val
