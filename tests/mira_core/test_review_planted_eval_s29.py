"""Review of the planted-defect benchmark (session 29): a hand-made truth's extra columns or numeric ids, a manifest
that lists a record twice or holds other column types, a truth or manifest that is not Parquet, and the `sources:`
entries `mira planted build` prints for a folder whose name holds brackets."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import ingest_source
from mira_core.planted import evaluate

runner = CliRunner()

TRUTH = pl.DataFrame({"record_id": ["a/1", "a/2"], "source": ["a", "a"], "kind": ["good", "spam"],
                      "defect": [False, True]})
MANIFEST = pl.DataFrame({"record_id": ["a/1", "a/2"], "source": ["a", "a"], "n_tokens": [100, 300],
                         "kept": [True, False], "reason": ["kept", "over_budget"]})


def _mira(truth: pl.DataFrame, manifest: pl.DataFrame = MANIFEST) -> dict:
    return evaluate(truth, {"mira": manifest}, 0.5)["methods"]["mira"]


@pytest.mark.parametrize("extra", [{"n_tokens": [1, 1]}, {"kept": [False, True]}, {"reason": ["held_out", "kept"]}])
def test_a_truths_own_columns_never_stand_in_for_the_manifests(extra: dict) -> None:
    """Only record_id, source, kind and defect are the truth's: its own n_tokens made the shares of 2 tokens, not 400;
    its kept was read as the selection's (broken_kept 1.0 for 0.0); its reason held a kept record out."""
    expected = _mira(TRUTH)
    assert (expected["tokens"], expected["kept"], expected["broken_kept"]) == (400, 0.25, 0.0)
    assert _mira(TRUTH.with_columns(**{k: pl.Series(v) for k, v in extra.items()})) == expected


def test_a_truth_whose_ids_are_not_text_is_named_and_categorical_ids_are_read() -> None:
    """Numeric ids failed the join with polars' SchemaError (a traceback from `mira planted eval`)."""
    with pytest.raises(ConfigError, match="record_id is Int64, not String"):
        _mira(TRUTH.with_columns(record_id=pl.Series([1, 2])))
    cat = TRUTH.with_columns(pl.col("record_id", "kind", "source").cast(pl.Categorical))
    assert _mira(cat) == _mira(TRUTH)


def test_a_manifest_that_lists_a_record_twice_or_holds_other_types_is_named() -> None:
    """A record listed twice counted its tokens twice (500 tokens for 400); a kept of 0/1 or text token counts were
    polars' InvalidOperationError."""
    with pytest.raises(ConfigError, match="manifest of mira: 1 record_id.* more than once, e.g. a/1"):
        _mira(TRUTH, pl.concat([MANIFEST, MANIFEST.head(1)]))
    with pytest.raises(ConfigError, match="manifest of mira: column kept is Int64"):
        _mira(TRUTH, MANIFEST.with_columns(pl.col("kept").cast(pl.Int64)))
    with pytest.raises(ConfigError, match="n_tokens String"):
        _mira(TRUTH, MANIFEST.with_columns(pl.col("n_tokens").cast(pl.String)))


def test_mira_planted_eval_names_a_truth_or_manifest_that_is_not_parquet(tmp_path) -> None:
    """polars' ComputeError, and for a folder given as the truth its "expanded paths were empty", ended the command
    with a traceback; now each is the command's message naming the path."""
    truth, sel = tmp_path / "truth.parquet", tmp_path / "sel"
    TRUTH.write_parquet(truth)
    (sel / "mira").mkdir(parents=True)
    MANIFEST.write_parquet(sel / "mira" / "manifest.parquet")
    csv = tmp_path / "truth.csv"
    csv.write_text("record_id,source,kind,defect\n")
    folder = tmp_path / "truth_dir.parquet"
    folder.mkdir()
    bad_sel = tmp_path / "bad"
    (bad_sel / "mira").mkdir(parents=True)
    (bad_sel / "mira" / "manifest.parquet").write_text("junk\n")
    for t, s, says in ((csv, sel, str(csv)), (folder, sel, f"{folder}: no such file"),
                       (truth, bad_sel, str(bad_sel / "mira" / "manifest.parquet"))):
        res = runner.invoke(app, ["planted", "eval", "--truth", str(t), "--selection", str(s)])
        assert res.exit_code == 2, (res.output, res.exception)
        assert "mira planted: ConfigError" in res.output and says in res.output, res.output
    ok = runner.invoke(app, ["planted", "eval", "--truth", str(truth), "--selection", str(sel)])
    assert ok.exit_code == 0, ok.output


def test_build_under_a_bracketed_folder_prints_sources_that_read_back_and_ingest(tmp_path, monkeypatch) -> None:
    """Under "proj [2]" the entries were printed as `{name: code, path: raw [v2]/code.jsonl, ...}`: not YAML (a flow
    mapping cannot hold a bare `[`), and the path, were it quoted, is a glob to ingest whose `[v2]` matches "raw 2".
    Now the path is glob-escaped (in planted.json too) and each entry is written by PyYAML."""
    project = tmp_path / "proj [2]"
    project.mkdir()
    monkeypatch.chdir(project)
    res = runner.invoke(app, ["planted", "build", "raw [v2]", "--records", "4"])
    assert res.exit_code == 0, res.output
    block = res.output[res.output.index("sources:"):]
    sources = yaml.safe_load(block)["sources"]
    info = json.loads((project / "raw [v2]" / "planted.json").read_text())
    assert sources == info["sources"] and sources[0]["path"] == "raw [[]v2]/code.jsonl"
    truth = pl.read_parquet(project / "raw [v2]" / "truth.parquet", glob=False)
    for s in sources[:2]:  # code and qa: each source's path names its file
        r = ingest_source(SourceSpec(**s), IngestParams(), project, tmp_path / "c" / s["name"], tmp_path / "q" / s["name"])
        assert r["kept"] == truth.filter(pl.col("source") == s["name"]).height, (s, r)
