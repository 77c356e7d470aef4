"""What a student is fitted on: the labeled records' texts, embeddings and statistics, read from the group's shards
in the labels' order (only those rows are read: a group's shards can hold millions of records)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mira_core.distillation import gather_inputs
from mira_core.embedding import embedding_schema
from mira_core.errors import ConfigError
from tests.mira_core.test_dedup import write_corpus


def test_the_labeled_records_come_back_in_the_labels_order_from_every_shard(tmp_path):
    lay = write_corpus(tmp_path, {"a": [(f"r{i}", f"text {i}") for i in range(20)]}, shard_size=7)
    shards = sorted(lay.corpus.glob("a/*.parquet"))
    emb = []
    for k, shard in enumerate(shards):  # one embedding shard per corpus shard, each record's vector its index
        ids = pl.read_parquet(shard)["record_id"].to_list()
        n = [int(r.split("/r")[1]) for r in ids]
        out = tmp_path / f"emb-{k}.parquet"
        pl.DataFrame({"record_id": ids, "embedding": [[float(i), 0.0] for i in n], "coverage": [1.0] * len(ids),
                      "stats": [[float(i)] for i in n]}, schema=embedding_schema(2, 1)).write_parquet(out)
        emb.append(out)
    wanted = ["a/r13", "a/r2", "a/r19", "a/r7"]  # across shards, out of order
    x = gather_inputs(wanted, "both", shards, emb)
    assert x.texts == ["text 13", "text 2", "text 19", "text 7"]
    np.testing.assert_array_equal(x.embeddings[:, 0], [13, 2, 19, 7])
    np.testing.assert_array_equal(x.stats[:, 0], [13, 2, 19, 7])
    with pytest.raises(ConfigError, match="1 labeled records have no embedding"):
        gather_inputs([*wanted, "a/gone"], "both", shards, emb)


def test_an_empty_shard_encodes_to_no_vector_not_a_crash():
    from mira_core.config import EmbedParams
    from mira_core.embedding import load_encoder

    enc = load_encoder(EmbedParams(encoder="minilm", backend="torch"))
    vectors, cover = enc.encode_records([])
    assert vectors.shape == (0, enc.dim) and cover.shape == (0,)


def test_score_refuses_embeddings_made_from_another_version_of_the_corpus_shard(tmp_path):
    from mira_core.config import DistillParams, EmbedParams
    from mira_core.io import file_digest, write_json
    from mira_core.scoring import score_shard
    from mira_core.students import make_student
    from mira_core.students.base import Inputs

    lay = write_corpus(tmp_path, {"a": [(f"r{i}", f"word{i % 3} text {i}") for i in range(12)]}, shard_size=12)
    shard = next(lay.corpus.glob("a/*.parquet"))
    texts = pl.read_parquet(shard)["text"].to_list()
    student = make_student(DistillParams(student="linear", linear={"stats": False}), ["a00"], (1, 5), EmbedParams(),
                           None)
    student.fit(Inputs(texts=texts), np.array([[1 + i % 5] for i in range(12)], dtype=np.float32))
    student.save(tmp_path / "student")
    ids = pl.read_parquet(shard)["record_id"].to_list()
    emb = tmp_path / "emb.parquet"
    pl.DataFrame({"record_id": ids, "embedding": [[0.0, 1.0]] * 12, "coverage": [1.0] * 12},
                 schema=embedding_schema(2)).write_parquet(emb)
    stamp = {"input": file_digest(shard), "encoder": {"encoder": "static"}}
    write_json({"stamp": stamp}, emb.with_suffix(".json"))
    assert score_shard(shard, emb, tmp_path / "student", "g", tmp_path / "s.parquet", 64)["records"] == 12
    write_json({"stamp": stamp | {"input": "an older shard"}}, emb.with_suffix(".json"))  # re-ingested since
    with pytest.raises(ConfigError, match="made from another version of .* \\(re-run embed\\)"):
        score_shard(shard, emb, tmp_path / "student", "g", tmp_path / "s2.parquet", 64)


def test_score_names_the_shard_a_statistics_reading_text_student_misses_and_lets_one_that_reads_none_pass(tmp_path):
    # A linear student with statistics reads no embedding, so the check for a missing embeddings file passed it by
    # and it failed later with a ValueError naming no file; one without statistics was refused for a change in them.
    from mira_core.config import DistillParams, EmbedParams
    from mira_core.docstats import NAMES, VERSION, doc_stats_matrix
    from mira_core.io import file_digest, write_json
    from mira_core.scoring import score_shard
    from mira_core.students import make_student
    from mira_core.students.base import TRAINED_ON, Inputs

    lay = write_corpus(tmp_path, {"a": [(f"r{i}", f"word{i % 3} text {i}") for i in range(12)]}, shard_size=12)
    shard = next(lay.corpus.glob("a/*.parquet"))
    texts = pl.read_parquet(shard)["text"].to_list()
    ids = pl.read_parquet(shard)["record_id"].to_list()
    fitted_on = {"encoder": "static", "stats": VERSION, "n_stats": len(NAMES)}
    y = np.array([[1 + i % 5] for i in range(12)], dtype=np.float32)
    for stats in (True, False):
        s = make_student(DistillParams(student="linear", linear={"stats": stats}), ["a00"], (1, 5), EmbedParams(), None)
        s.fit(Inputs(texts=texts, stats=doc_stats_matrix(["text"] * 12, texts)), y)
        s.save(tmp_path / f"linear_{stats}")
        write_json({"encoder": fitted_on}, tmp_path / f"linear_{stats}" / TRAINED_ON)
    emb = tmp_path / "emb.parquet"
    with pytest.raises(ConfigError, match=f"{emb}: no document statistics for this shard.*re-run embed"):
        score_shard(shard, emb, tmp_path / "linear_True", "g", tmp_path / "s.parquet", 64)
    # embedded since with embed.stats false: nothing the statistics-free student reads has changed
    pl.DataFrame({"record_id": ids, "embedding": [[0.0, 1.0]] * 12, "coverage": [1.0] * 12},
                 schema=embedding_schema(2)).write_parquet(emb)
    write_json({"stamp": {"input": file_digest(shard), "encoder": fitted_on | {"stats": None, "n_stats": 0}}},
               emb.with_suffix(".json"))
    assert score_shard(shard, emb, tmp_path / "linear_False", "g", tmp_path / "s.parquet", 64)["records"] == 12
    with pytest.raises(ConfigError, match="differ in n_stats, stats"):
        score_shard(shard, emb, tmp_path / "linear_True", "g", tmp_path / "s2.parquet", 64)


def test_labels_made_under_another_rubric_are_refused_not_fitted_as_this_ones(tmp_path):
    # a00 names another dimension under a re-discovered rubric: old scores were fitted as the new anchors' silently
    from mira_core.config import DistillParams, EmbedParams, TeacherParams
    from mira_core.distillation import distill_group
    from mira_core.io import write_parquet
    from mira_core.labels import label_docs
    from mira_core.rubric import Anchor, Rubric
    from mira_core.teachers import make_teacher
    from mira_core.teachers.base import Doc

    rng = np.random.default_rng(0)
    texts = [" ".join(["word"] * int(n)) + "\nsame line" * int(d)
             for n, d in zip(rng.integers(3, 400, 30), rng.integers(0, 4, 30), strict=True)]
    ids = [f"s/{i:02d}" for i in range(30)]
    shard = write_parquet(pl.DataFrame({"record_id": ids, "source": "s", "format": "text", "text": texts,
                                        "n_tokens": 1, "n_chars": [len(t) for t in texts], "meta": "{}"}),
                          tmp_path / "corpus" / "s" / "part-0.parquet")
    emb = write_parquet(pl.DataFrame({"record_id": ids, "embedding": rng.standard_normal((30, 8)).astype(np.float32)}),
                        tmp_path / "embeddings" / "s" / "part-0.parquet")

    def rubric(*names: str) -> Rubric:
        return Rubric(group="g", teacher="rules/rules-v1", prompt_version="p", sources=["s"],
                      anchors=[Anchor(id=f"a{i:02d}", name=n, description=n, exemplar_reason=n, support=1)
                               for i, n in enumerate(names)]).with_version()

    old, new = rubric("word_count", "duplicate_line_fraction"), rubric("duplicate_line_fraction", "word_count")
    teacher = make_teacher(TeacherParams(provider="rules"), tmp_path, {})
    labels, _ = label_docs([Doc(i, "s", "text", t) for i, t in zip(ids, texts, strict=True)],
                           {i: "val" if k % 3 == 0 else "train" for k, i in enumerate(ids)}, old, teacher)
    args = (DistillParams(student="head"), EmbedParams(), [shard], [emb])
    assert distill_group(labels, labels.head(0), old, *args, tmp_path / "ok")[0]["rubric_version"] == old.version
    with pytest.raises(ConfigError, match=f"labels were made under rubric {old.version}.*now {new.version}.*label"):
        distill_group(labels, labels.head(0), new, *args, tmp_path / "student")
