"""Session 44: a score shard names the corpus shard it scored, and select refuses scores of another version of it.
`mira stage ingest` after score, then `mira stage select`: a record whose text changed under the same record_id was
ranked on the old text's score, and select exited 0 (`check_scored` caught only a record with no score row)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.errors import ConfigError
from mira_core.io import file_digest
from mira_core.manifests import check_scored_corpus
from mira_core.schema import CORPUS_DIGEST
from tests.mira_core.test_dedup import write_corpus


def _student(tmp_path, texts):
    from mira_core.config import DistillParams, EmbedParams
    from mira_core.students import make_student
    from mira_core.students.base import Inputs

    student = make_student(DistillParams(student="linear", linear={"stats": False}), ["a00"], (1, 5), EmbedParams(),
                           None)
    student.fit(Inputs(texts=texts), np.array([[1 + i % 5] for i in range(len(texts))], dtype=np.float32))
    student.save(tmp_path / "student")
    return tmp_path / "student"


def test_select_refuses_scores_of_a_corpus_shard_ingested_again(tmp_path):
    from mira_core.scoring import score_shard

    rows = [(f"r{i}", f"word{i % 3} text {i}") for i in range(12)]
    lay = write_corpus(tmp_path / "p", {"a": rows}, shard_size=12)
    (shard,) = lay.corpus_shards()
    student = _student(tmp_path, [t for _, t in rows])
    out = lay.scores / "g" / "a" / shard.name
    score_shard(shard, lay.embedding_shard(shard), student, "g", out, 64)
    assert pl.read_parquet_metadata(out)[CORPUS_DIGEST] == file_digest(shard)
    check_scored_corpus(lay.scores, lay.corpus)  # current: passes

    write_corpus(tmp_path / "p", {"a": [(i, t + " changed" if i == "r3" else t) for i, t in rows]}, shard_size=12)
    with pytest.raises(ConfigError, match=r"1 score shard\(s\) scored another version .*part-00000\.parquet.*"
                                          r"ingest ran again after score; run score again"):
        check_scored_corpus(lay.scores, lay.corpus)
    score_shard(shard, lay.embedding_shard(shard), student, "g", out, 64)  # score again: current once more
    check_scored_corpus(lay.scores, lay.corpus)


def _one_record(tmp_path):
    """A corpus of one record in source a, and the path of its score shard (folder made)."""
    lay = write_corpus(tmp_path / "p", {"a": [("r1", "one two three")]}, shard_size=4)
    (shard,) = lay.corpus_shards()
    scores = lay.scores / "g" / "a" / shard.name
    scores.parent.mkdir(parents=True)
    return lay, scores


def test_shards_without_the_digest_or_without_their_corpus_shard_are_not_checked(tmp_path):
    lay, old = _one_record(tmp_path)
    pl.DataFrame({"record_id": ["a/r1"], "a00": [1.0]}).write_parquet(old)  # an older mira's: no footer key
    gone = lay.scores / "g" / "b" / "part-00000.parquet"  # source b is no longer in the corpus
    gone.parent.mkdir(parents=True)
    pl.DataFrame({"record_id": ["b/r1"], "a00": [1.0]}).write_parquet(gone, metadata={CORPUS_DIGEST: "x"})
    check_scored_corpus(lay.scores, lay.corpus)
    pl.DataFrame({"record_id": ["a/r1"], "a00": [1.0]}).write_parquet(old, metadata={CORPUS_DIGEST: "x"})
    with pytest.raises(ConfigError, match="scored another version"):
        check_scored_corpus(lay.scores, lay.corpus)


def test_a_damaged_score_shard_is_named(tmp_path):
    lay, bad = _one_record(tmp_path)
    bad.write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"part-00000\.parquet: not a readable Parquet file"):
        check_scored_corpus(lay.scores, lay.corpus)
