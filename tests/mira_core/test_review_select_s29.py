"""Edge cases of the score and select stages found in review (session 29): each test failed before its fix.

A project under a folder whose name holds brackets ("runs [2]") scores its shards and reads the select tasks'
outputs (polars read each path as a glob pattern); a score shard made under another rubric, or a rubric missing for
a group the students' figures name, is a ConfigError naming it (a polars ColumnNotFoundError, a bare KeyError);
weights of 0 naming every unit are refused rather than keeping nothing.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.config import SelectParams
from mira_core.errors import ConfigError
from mira_core.manifests import mira_scores
from mira_core.selection import select
from tests.mira_core.test_oracle import _scored_project

GOOD = {"mae": 0.1, "somers_d": 0.9, "spearman": 0.9}


def _reports(anchors: list[str], sources: list[str], group: str = "g") -> dict:
    return {group: {"anchors": dict.fromkeys(anchors, GOOD),
                    "sources": {s: {"n_val": 50, "anchors": dict.fromkeys(anchors, GOOD)} for s in sources}}}


def test_a_shard_is_scored_in_a_project_under_a_folder_named_with_brackets(tmp_path):
    """The embedding shard was read with polars' own read_parquet, which takes "[2]" as a class matching "2": the
    file was not found and the score stage failed on every shard."""
    from mira_core.config import DistillParams, EmbedParams
    from mira_core.embedding import embedding_schema
    from mira_core.io import file_digest, read_parquet, write_json
    from mira_core.scoring import score_shard
    from mira_core.students import make_student
    from mira_core.students.base import Inputs
    from tests.mira_core.test_dedup import write_corpus

    root = tmp_path / "runs [2]"
    lay = write_corpus(root, {"a": [(f"r{i}", f"word{i % 3} text {i}") for i in range(12)]}, shard_size=12)
    shard = next(lay.corpus.glob("a/*.parquet"))
    texts = read_parquet(shard)["text"].to_list()
    student = make_student(DistillParams(student="linear", linear={"stats": False}), ["a00"], (1, 5), EmbedParams(),
                           None)
    student.fit(Inputs(texts=texts), np.array([[1 + i % 5] for i in range(12)], dtype=np.float32))
    student.save(root / "student")
    emb = root / "emb.parquet"
    pl.DataFrame({"record_id": read_parquet(shard)["record_id"], "embedding": [[0.0, 1.0]] * 12,
                  "coverage": [1.0] * 12}, schema=embedding_schema(2)).write_parquet(emb)
    write_json({"stamp": {"input": file_digest(shard), "encoder": {"encoder": "static"}}}, emb.with_suffix(".json"))
    assert score_shard(shard, emb, root / "student", "g", root / "s.parquet", 64)["records"] == 12


def test_the_select_stage_reads_its_tasks_outputs_under_a_folder_named_with_brackets(tmp_path):
    """The flow read each manifest, the mask and the oracle table with polars' own read_parquet: in a project under
    "runs [2]" the stage failed after every method had been selected."""
    from flows.select import read_outputs

    out = tmp_path / "runs [2]" / "selection"
    for name in ("mira/manifest.parquet", "random/manifest.parquet", "mask.parquet", "oracle.parquet"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"record_id": [name]}).write_parquet(out / name)
    manifests, mask, oracle = read_outputs(out, ["mira", "random"])
    assert manifests["random"]["record_id"].to_list() == ["random/manifest.parquet"]
    assert mask["record_id"].to_list() == ["mask.parquet"] and oracle.height == 1


@pytest.mark.parametrize("standardize", [True, False])
def test_a_score_shard_without_an_anchor_of_the_rubric_is_named(tmp_path, standardize):
    """Scores made under an older rubric (an anchor added since, select run alone): polars' ColumnNotFoundError
    named no anchor and no stage to re-run."""
    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 2.0, 3.0]}, "b": {"a00": [4.0, 5.0, 3.0]}})
    with pytest.raises(ConfigError, match=r"g/a/part-00000.parquet: no score column for anchor\(s\) a01 .*re-run score"):
        mira_scores(lay.scores, lay.rubrics, _reports(["a00", "a01"], ["a", "b"]), SelectParams(standardize=standardize))


def test_a_group_the_students_figures_name_without_a_rubric_is_named(tmp_path):
    """students.json older than the rubrics (the groups re-made since): a bare KeyError('g2') before."""
    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 2.0, 3.0], "a01": [1.0, 2.0, 3.0]}})
    with pytest.raises(ConfigError, match=r"rubrics: no rubric for group\(s\) g2, .*metrics/students.json"):
        mira_scores(lay.scores, lay.rubrics, _reports(["a00"], ["a"], group="g2"), SelectParams())


def test_weights_of_zero_naming_every_unit_are_refused_not_a_selection_of_nothing():
    """Weights naming every unit are normalised to sum to 1; all 0 cannot be, and every unit got a budget of 0: half
    the corpus asked for, nothing kept, nothing said. A zero weight beside an unnamed unit still means what it says."""
    records = pl.DataFrame({"record_id": ["a/1", "a/2", "b/1", "b/2"], "source": ["a", "a", "b", "b"],
                            "group": ["g1", "g1", "g2", "g2"], "n_tokens": 10, "score": [1.0, 2.0, 1.0, 2.0],
                            "held_out": False})
    with pytest.raises(ConfigError, match="select.weights name every unit .*g1, g2.* all 0"):
        select(records, 0.5, "group", "mira", weights={"g1": 0.0, "g2": 0.0})
    kept = select(records, 0.5, "group", "mira", weights={"g1": 0.0}).filter(pl.col("kept"))
    assert kept["record_id"].to_list() == ["b/1", "b/2"]


def test_a_source_moved_to_another_group_is_not_judged_again_in_its_old_one(tmp_path):
    """After a regroup (mira run, no DVC to clear the outs), score prunes the moved source's shards in its old group
    but leaves their folder. Counted as a source of that group, it was judged on the old group's figures: here none
    passes, so it was named as having no reliable anchor and kept on a budget of its own in its new group."""
    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 2.0, 3.0], "a01": [3.0, 1.0, 2.0]}})
    for s in ("moved", "b"):  # g2: the moved source and another, sharing reliable anchors
        (lay.scores / "g2" / s).mkdir(parents=True)
        pl.DataFrame({"record_id": [f"{s}/{i}" for i in range(3)], "group": "g2", "a00": [1.0, 2.0, 3.0],
                      "a01": [2.0, 3.0, 1.0]}).write_parquet(lay.scores / "g2" / s / "part-00000.parquet")
    g2 = (lay.rubrics / "g.json").read_text().replace('"group": "g"', '"group": "g2"')  # the same anchors
    (lay.rubrics / "g2.json").write_text(g2)
    (lay.scores / "g" / "moved").mkdir()  # the folder its pruned shards were in
    bad = {"mae": 2.0, "somers_d": 0.0, "spearman": 0.0}
    reports = {"g": {"anchors": {"a00": bad, "a01": bad},  # a passes on its own figures, the group's fail
                     "sources": {"a": {"n_val": 50, "anchors": {"a00": GOOD, "a01": GOOD}}}},
               **_reports(["a00", "a01"], ["b", "moved"], group="g2")}
    _, mask, own, _ = mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    assert mask.filter(pl.col("source") == "moved")["group"].unique().to_list() == ["g2"]
    assert own.units == {} and own.named() == {"no_reliable_anchor": [], "no_shared_anchor": []}


def test_scores_attached_to_an_empty_corpus_index_are_nothing_not_an_overflow():
    """The binary search's check gathered row -1 of an empty index: OverflowError."""
    from mira_core.manifests import attach_scores

    index = pl.DataFrame({"record_id": pl.Series([], dtype=pl.String)}).sort("record_id")
    got = attach_scores(index, pl.DataFrame({"record_id": ["a/1"], "score": [1.0]}))
    assert got.height == 0 and got.columns == ["record_id", "score"]


def test_scores_another_student_wrote_are_refused_and_a_teachers_own_pass(tmp_path):
    """Only a missing anchor column was caught: after distill ran again and score did not (`mira stage select`
    alone), the old students' scores were ranked without a word. Shards of a teacher's own scores (the benchmarks'
    oracle arms write them on purpose) and figures from before the version was recorded pass."""
    from mira_core.schema import TEACHER_SCORED

    lay = _scored_project(tmp_path, {"a": {"a00": [1.0, 2.0, 3.0]}, "b": {"a00": [4.0, 5.0, 3.0]}})

    def stamp(source: str, version: str) -> None:
        f = lay.scores / "g" / source / "part-00000.parquet"
        pl.read_parquet(f, glob=False).with_columns(student_version=pl.lit(version)).write_parquet(f)

    stamp("a", "v-new")
    stamp("b", "v-old")
    reports = _reports(["a00"], ["a", "b"])
    reports["g"]["student_version"] = "v-new"
    with pytest.raises(ConfigError, match=r"g/b/part-00000.parquet: scored by student v-old, and group g's student "
                                          r"is now v-new .*re-run score"):
        mira_scores(lay.scores, lay.rubrics, reports, SelectParams())
    stamp("b", f"{TEACHER_SCORED}rules")
    assert mira_scores(lay.scores, lay.rubrics, reports, SelectParams())[0].height == 6
    stamp("b", "v-old")
    del reports["g"]["student_version"]
    assert mira_scores(lay.scores, lay.rubrics, reports, SelectParams())[0].height == 6
