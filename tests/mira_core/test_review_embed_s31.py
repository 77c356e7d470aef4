"""Review of the encoder pass (s31): a damaged embedding shard under a current stamp is embedded again (its resume
failed on polars' bare error), "read whole" is a coverage of 1.0 exactly, and seeded random checks of the window plan
(what coverage says was read is what the windows hold), of a record's vector against its batch-mates and input
order (torch and static encoders), and of a shard's rows, counts and bytes on a re-run."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import EmbedParams
from mira_core.embedding import Encoder, StaticEncoder, embed_shard
from mira_core.schema import CORPUS


def _torch(encoder: Path, **kw) -> EmbedParams:
    return EmbedParams(encoder=str(encoder), dtype="fp32", backend="torch", **kw)


def _corpus(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"record_id": [f"s/{i}" for i in range(len(texts))], "source": "s", "format": "text", "text": texts,
                  "n_tokens": [1] * len(texts), "n_chars": [len(t) for t in texts], "meta": "{}"},
                 schema=CORPUS).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def static(tiny_encoder, tmp_path_factory) -> tuple[EmbedParams, StaticEncoder]:
    """The static encoder distilled from the tiny one, once for the module (a distillation takes seconds)."""
    p = EmbedParams(encoder="static", static_source=str(tiny_encoder), batch_size=1)  # 16 records a model2vec call
    return p, StaticEncoder(p, tmp_path_factory.mktemp("static_cache"))


def _words(enc: Encoder) -> list[str]:
    """Vocabulary words that are one token each, so that a text of distinct ones has distinct token ids."""
    one = [t for t in enc.tokenizer.get_vocab() if t.isascii() and t.isalpha() and t.islower() and len(t) > 2]
    return [t for t in sorted(one) if len(enc.tokenizer(t, add_special_tokens=False)["input_ids"]) == 1]


def _embedded(tiny_encoder, tmp_path) -> tuple:
    """A two-record shard embedded once: (params, encoder, corpus shard, embedding shard, its vectors)."""
    p = _torch(tiny_encoder, max_length=16)
    enc = Encoder(p)
    corpus = _corpus(tmp_path / "corpus" / "s" / "part-00000.parquet", ["hello world", "another short record"])
    out = tmp_path / "emb" / "s" / "part-00000.parquet"
    embed_shard(corpus, out, enc, p)
    return p, enc, corpus, out, pl.read_parquet(out)


def test_a_damaged_shard_under_a_current_stamp_is_embedded_again(tiny_encoder, tmp_path):
    # its resume counted the rows with polars, whose error names no file ("File out of specification"), while group's
    # message about the same shard says to re-run this stage: the stage could not get past its own output
    p, enc, corpus, out, good = _embedded(tiny_encoder, tmp_path)
    out.write_bytes(out.read_bytes()[:100])  # truncated: the stamp beside it is still current
    again = embed_shard(corpus, out, enc, p)
    assert (again["records"], again["resumed"]) == (2, False)
    assert pl.read_parquet(out).equals(good)
    pl.DataFrame({"record_id": ["s/0"]}).write_parquet(out)  # readable, but not the rows the stamp records
    assert embed_shard(corpus, out, enc, p)["resumed"] is False and pl.read_parquet(out).equals(good)
    assert embed_shard(corpus, out, enc, p)["resumed"] is True  # and an intact one is resumed as before


def test_a_record_with_one_token_left_unread_is_not_counted_as_read_whole(tiny_encoder, tmp_path):
    # 64 windows of 16 tokens hold 1,024 of a record's 1,025: coverage 0.99902, counted "read whole" by ">= 0.999"
    p = _torch(tiny_encoder, max_length=18, windows=64)
    corpus = _corpus(tmp_path / "corpus" / "s" / "part-00000.parquet", ["word " * 1025, "word " * 1024])
    got = embed_shard(corpus, tmp_path / "emb" / "s" / "part-00000.parquet", Encoder(p), p)
    cover = pl.read_parquet(tmp_path / "emb" / "s" / "part-00000.parquet")["coverage"].to_list()
    assert cover[0] == pytest.approx(1024 / 1025) and cover[1] == 1.0
    assert got["coverage"]["full"] == 1


def test_the_window_plan_reads_what_coverage_says_over_random_records(tiny_encoder):
    """Seeded: records of 0, 1, body, body + 1, 2 body + 1 and random token counts, under random window settings.
    Every window is [CLS] + a run of the record + [SEP] within max_length; the windows number at most `windows` and
    only as many as the record needs; the first starts at its head and, with several, the last ends at its tail;
    coverage is the share of its tokens in some window; a record the windows can hold whole has coverage 1.0."""
    rng = random.Random(31)
    encoders = {}
    words = None
    for _ in range(300):
        max_length, windows = rng.choice([3, 4, 5, 8, 16]), rng.choice([1, 2, 3, 5, 64])
        enc = encoders.get((max_length, windows)) or encoders.setdefault(
            (max_length, windows), Encoder(_torch(tiny_encoder, max_length=max_length, windows=windows)))
        words = words or _words(enc)
        body = max_length - 2
        sizes = [rng.choice([0, 1, body, body + 1, 2 * body + 1, rng.randint(0, 80)]) for _ in range(rng.randint(1, 6))]
        texts = [" ".join(rng.sample(words, n)) if n else rng.choice(["", " \n\t ", "\U0001f600"]) for n in sizes]
        plan, owner, cover = enc.window_ids(texts)
        full = enc.tokenizer(texts, add_special_tokens=False)["input_ids"]
        for r, ids in enumerate(full):
            mine = [w for w, o in zip(plan, owner, strict=True) if o == r]
            assert 1 <= len(mine) <= min(windows, max(1, -(-len(ids) // body)))
            read = set()
            for w in mine:
                assert len(w) <= max_length and w[0] == enc.tokenizer.cls_token_id and w[-1] == enc.tokenizer.sep_token_id
                inner = w[1:-1]
                if inner:
                    s = ids.index(inner[0])
                    assert ids[s : s + len(inner)] == inner
                    read |= set(range(s, s + len(inner)))
            if ids:
                assert min(read) == 0 and (len(mine) == 1 or max(read) == len(ids) - 1)
            assert cover[r] == pytest.approx(len(read) / len(ids) if ids else 1.0)
            if len(ids) <= windows * body:
                assert cover[r] == 1.0


def test_a_records_vector_does_not_depend_on_its_batch_mates_or_the_input_order(tiny_encoder, static):
    """Seeded: torch fp32 (dynamic padding, several windows) and the static encoder, each record alone against in a
    random batch, and the batch against a shuffle of it."""
    rng = random.Random(7)
    pieces = ["alpha", "beta", "[SEP]", "[PAD]", "zebra", "\u00fc", "\u65e5\u672c", "\U0001f642", "def", "x(", "12345",
              "\u200b", "\n"]
    torch_enc = Encoder(_torch(tiny_encoder, max_length=8, windows=3, batch_size=3))
    for enc, cases, most in ((torch_enc, 15, 8), (static[1], 200, 40)):  # a torch call costs ~50 ms here, a static one 0.2
        for _ in range(cases):
            texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 20))) for _ in range(rng.randint(1, most))]
            order = rng.sample(range(len(texts)), len(texts))
            v, cover = enc.encode_records(texts)
            assert np.isfinite(v).all() and np.isfinite(cover).all()
            alone = np.vstack([enc.encode_records([t])[0] for t in texts])
            np.testing.assert_allclose(v, alone, atol=1e-5)
            np.testing.assert_allclose(enc.encode_records([texts[i] for i in order])[0], v[order], atol=1e-5)


def test_a_shard_keeps_every_record_in_order_and_a_rerun_writes_the_same_bytes(tiny_encoder, static, tmp_path):
    """Seeded: shards of 0, 1 and a few records; rows in = rows out in corpus order, the zero-vector count is the
    shard's all-zero rows, a resume gives the same figures, and embedding it again elsewhere the same bytes."""
    rng = random.Random(3)
    pieces = ["alpha", "beta", "[SEP]", "zebra", "\U0001f642", "def", "x(", "12345"]
    pt = _torch(tiny_encoder, max_length=6, windows=3, batch_size=2)
    encoders = [(pt, Encoder(pt)), static]
    digest = lambda f: hashlib.blake2b(f.read_bytes()).hexdigest()  # noqa: E731
    for case in range(12):
        texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 25))) for _ in range(rng.choice([0, 1, 2, 9]))]
        corpus = _corpus(tmp_path / f"c{case}" / "s" / "part-00000.parquet", texts)
        for k, (p, enc) in enumerate(encoders):
            a, b = (tmp_path / f"e{case}{side}{k}" / "s" / "part-00000.parquet" for side in "ab")
            first, other = embed_shard(corpus, a, enc, p), embed_shard(corpus, b, enc, p)
            resumed = embed_shard(corpus, a, enc, p)
            rows, ids = pl.read_parquet(a), [f"s/{i}" for i in range(len(texts))]
            assert rows["record_id"].to_list() == ids == pl.read_parquet(b)["record_id"].to_list()
            assert first["records"] == resumed["records"] == len(texts) and resumed["resumed"]
            zero = int((~rows["embedding"].to_numpy().any(axis=1)).sum()) if len(texts) else 0
            assert first["zero_vectors"] == resumed["zero_vectors"] == zero
            assert first["coverage"] == resumed["coverage"] == other["coverage"]
            assert digest(a) == digest(b) and a.with_suffix(".json").read_text() == b.with_suffix(".json").read_text()


def test_a_record_longer_than_the_model_gives_no_false_indexing_warning(tiny_encoder, caplog, capfd):
    # each record is tokenized whole to plan its windows, none of which passes max_length: transformers' warning that
    # the sequence "will result in indexing errors" was a false alarm on every record over the model's length
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_warning()
    enc = Encoder(_torch(tiny_encoder, max_length=16, windows=4))
    enc.tokenizer.model_max_length = 32
    enc.tokenizer.deprecation_warnings.clear()  # the warning is given once per tokenizer
    windows, _, _ = enc.window_ids([" ".join(_words(enc)[:200])])
    assert windows and all(len(w) <= 16 for w in windows)
    assert "indexing errors" not in capfd.readouterr().err + caplog.text  # its own handler, or the log's


def _bad_schema(path: Path) -> None:
    """Damage the Arrow schema stored in a Parquet file's footer: polars then raises InvalidOperationError ("unable to
    decode the encoded schema stored in ARROW:schema"), not the ComputeError of a cut file."""
    data = bytearray(path.read_bytes())
    at = data.find(b"ARROW:schema")
    data[at + len(b"ARROW:schema") + 10] = ord("!")
    path.write_bytes(bytes(data))


def test_a_shard_with_a_damaged_schema_is_named_or_embedded_again(tiny_encoder, tmp_path):
    # only a cut file (ComputeError) was caught: a footer whose stored schema does not decode failed with polars'
    # bare InvalidOperationError, in io.read_parquet and in embed's resume (a review flipped footer bytes: 28 in 200)
    from mira_core.errors import ConfigError
    from mira_core.io import read_parquet

    p, enc, corpus, out, good = _embedded(tiny_encoder, tmp_path)
    _bad_schema(out)
    with pytest.raises(ConfigError, match="part-00000.parquet: not a readable Parquet file"):
        read_parquet(out)
    assert embed_shard(corpus, out, enc, p)["resumed"] is False and pl.read_parquet(out).equals(good)
