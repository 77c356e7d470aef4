"""Near-duplicate removal: planted near-copies across and within sources are caught, the rest is kept."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from mira_core.dedup import (
    COUNTS,
    DROPPED,
    DedupParams,
    dedup_corpus,
    gram_owners,
    minhash_shard,
    near_duplicates,
    normalise,
    run_dedup,
    shared_per_item,
    shingle_hashes,
)
from mira_core.layout import Layout
from mira_core.schema import CORPUS

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "shu", "gra", "tor", "ben", "dal", "fey"]


def _vocab(rng: random.Random, size: int = 3000) -> list[str]:
    return sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(size)})


def _text(rng: random.Random, vocab: list[str], n: int = 300) -> str:
    return " ".join(rng.choices(vocab, k=n))


def _edit(rng: random.Random, text: str, changes: int) -> str:
    """`text` with `changes` words replaced by fresh ones (not in the vocabulary), at random places."""
    ws = text.split()
    for i in rng.sample(range(len(ws)), changes):
        ws[i] = f"new{rng.randrange(10**9)}"
    return " ".join(ws)


def write_corpus(root: Path, sources: dict[str, list[tuple[str, str]]], shard_size: int = 7) -> Layout:
    """Corpus shards under root/data/corpus/<source>/part-N.parquet from (record_id suffix, text) pairs."""
    layout = Layout(root)
    for source, rows in sources.items():
        for k in range(0, len(rows), shard_size):
            chunk = rows[k : k + shard_size]
            path = layout.corpus / source / f"part-{k // shard_size:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(
                {
                    "record_id": [f"{source}/{rid}" for rid, _ in chunk],
                    "source": [source] * len(chunk),
                    "format": ["text"] * len(chunk),
                    "text": [t for _, t in chunk],
                    "n_tokens": [len(t.split()) for _, t in chunk],
                    "n_chars": [len(t) for _, t in chunk],
                    "meta": ["{}"] * len(chunk),
                },
                schema=CORPUS,
            ).write_parquet(path)
    return layout


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Layout, dict[str, str]]:
    """Two sources of 30 distinct long texts each, plus planted near-copies; returns the expected drops."""
    rng = random.Random(7)
    vocab = _vocab(rng)
    web = [(f"w{i:02d}", _text(rng, vocab)) for i in range(30)]
    books = [(f"b{i:02d}", _text(rng, vocab)) for i in range(30)]
    # Across sources: web w00..w04 copied into books with 3 of 300 words changed, the case and the layout.
    for i in range(5):
        copy = _edit(rng, web[i][1], 3).upper().replace(" ", "  \n", 20)
        books.append((f"copy{i}", copy))
    # Within a source: b10 has a near-copy in books itself, 2 words changed and 5 added (so it is longer).
    books.append(("b10-again", _edit(rng, books[10][1], 2) + " " + _text(rng, vocab, 5)))
    layout = write_corpus(tmp_path, {"web": web, "books": books})
    # Dropped record_id -> the kept representative. keep="first" keeps the first by (source, record_id):
    # "books" < "web", so the books copy is kept.
    expected = {f"web/w{i:02d}": f"books/copy{i}" for i in range(5)}
    expected["books/b10-again"] = "books/b10"
    return layout, expected


def test_planted_near_copies_are_dropped_and_the_rest_kept(planted) -> None:
    layout, expected = planted
    result = dedup_corpus(layout.corpus_shards(), DedupParams())
    dropped = result.dropped
    assert dict(dropped.schema) == DROPPED
    assert dict(zip(dropped["record_id"], dropped["cluster"], strict=True)) == expected
    assert set(dropped["reason"]) == {"near_duplicate"}
    assert dropped["jaccard"].min() >= 0.8
    assert result.clusters == 6
    assert result.cross_source_clusters == 5

    counts = result.counts
    assert dict(counts.schema) == COUNTS
    rows = {r["source"]: r for r in counts.iter_rows(named=True)}
    assert rows["web"]["records_in"] == 30 and rows["web"]["records_dropped"] == 5
    assert rows["books"]["records_in"] == 36 and rows["books"]["records_dropped"] == 1
    assert counts["records_dropped"].sum() == dropped.height
    assert rows["web"]["tokens_dropped"] == 5 * 300
    assert rows["books"]["tokens_dropped"] == 305


def test_source_priority_and_longest_choose_the_kept_copy(planted) -> None:
    layout, _ = planted
    by_priority = dedup_corpus(layout.corpus_shards(), DedupParams(source_priority=["web"]))
    kept_web = by_priority.dropped.filter(pl.col("source") == "books")
    assert sorted(kept_web["record_id"]) == ["books/b10-again", *[f"books/copy{i}" for i in range(5)]]
    assert set(kept_web.filter(pl.col("record_id") != "books/b10-again")["cluster"]) == {
        f"web/w{i:02d}" for i in range(5)
    }

    # The books copies have as many words as their originals (ties: books first); b10-again has 5 more.
    longest = dedup_corpus(layout.corpus_shards(), DedupParams(keep="longest"))
    assert longest.dropped.filter(pl.col("cluster") == "books/b10-again")["record_id"].to_list() == ["books/b10"]
    assert longest.dropped.height == 6
    with pytest.raises(ValueError, match=r"source_priority lists \['web'\] more than once"):
        DedupParams(source_priority=["web", "books", "web"])  # took its last place, silently


def test_character_shingles_catch_the_same_copies(planted) -> None:
    layout, expected = planted
    result = dedup_corpus(layout.corpus_shards(), DedupParams(shingle="char", shingle_size=7))
    assert set(result.dropped["record_id"]) == set(expected)


def test_clusters_are_transitive(tmp_path: Path) -> None:
    """A chain A0 ~ A1 ~ ... ~ A4 whose ends are far apart is one cluster with one kept record."""
    rng = random.Random(3)
    vocab = [f"v{i}" for i in range(100_000)]
    words = rng.sample(vocab, 300)  # 300 distinct words: exact Jaccard is easy to reason about
    chain = [" ".join(words)]
    places = rng.sample(range(300), 40)
    for step in range(4):  # each link replaces 10 other words: J(link) = 290/310, J(A0, A4) = 260/340
        for i in places[10 * step : 10 * step + 10]:
            words[i] = f"new{step}-{i}"
        chain.append(" ".join(words))
    others = [(f"o{i}", " ".join(rng.sample(vocab, 300))) for i in range(20)]
    layout = write_corpus(tmp_path, {"s": [(f"a{i}", t) for i, t in enumerate(chain)] + others})
    p = DedupParams(shingle_size=1, threshold=0.85, num_perm=256)

    def jaccard(a: str, b: str) -> float:
        sa, sb = set(a.split()), set(b.split())
        return len(sa & sb) / len(sa | sb)

    assert jaccard(chain[0], chain[1]) > 0.93 and jaccard(chain[0], chain[4]) < 0.77
    result = dedup_corpus(layout.corpus_shards(), p)
    assert sorted(result.dropped["record_id"]) == [f"s/a{i}" for i in range(1, 5)]
    assert set(result.dropped["cluster"]) == {"s/a0"}
    # A4 joined A0's cluster through the chain although its own similarity to A0 is below the threshold.
    far = result.dropped.filter(pl.col("record_id") == "s/a4")["jaccard"].item()
    assert far < p.threshold
    assert result.clusters == 1


def test_signatures_are_deterministic_and_streamed_per_shard(planted) -> None:
    layout, expected = planted
    shards = layout.corpus_shards()
    p = DedupParams()
    a, b = minhash_shard(shards[0], p), minhash_shard(shards[0], p)
    assert np.array_equal(a.signatures, b.signatures) and a.signatures.dtype == np.uint32
    assert a.signatures.shape == (len(a.record_id), p.num_perm)
    # near_duplicates takes signatures lazily, one shard after another.
    result = near_duplicates((minhash_shard(s, p) for s in shards), p)
    assert set(result.dropped["record_id"]) == set(expected)
    other_seed = dedup_corpus(shards, DedupParams(seed=5))
    assert set(other_seed.dropped["record_id"]) == set(expected)


def test_normalisation_and_short_texts() -> None:
    p = DedupParams()
    assert normalise("  Hello\n\tWORLD  again ") == "hello world again"
    assert np.array_equal(shingle_hashes("A b  c", p), shingle_hashes("a\nB c", p))
    assert len(shingle_hashes("two words", p)) == 1  # shorter than the shingle: one shingle of the whole text
    assert len(shingle_hashes(" \n ", p)) == 0


def test_short_identical_texts_in_two_sources_cluster(tmp_path: Path) -> None:
    layout = write_corpus(tmp_path, {"x": [("1", "print('hello')")], "y": [("1", "PRINT('hello')\n")],
                                     "z": [("1", "print('bye')")]})
    result = dedup_corpus(layout.corpus_shards(), DedupParams())
    assert result.dropped.select("record_id", "cluster").rows() == [("y/1", "x/1")]
    assert result.counts["records_in"].to_list() == [1, 1, 1]


def test_unicode_forms_do_not_hide_a_copy(tmp_path: Path) -> None:
    # the same page in composed (NFC), decomposed (NFD) and full-width characters: one cluster, two dropped
    import unicodedata

    text = "Le café où l'on déjeune: une fenêtre sur la forêt, naïve et élégante. " * 4
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    assert unicodedata.normalize("NFD", text) != text and wide != text
    layout = write_corpus(tmp_path, {"a": [("1", text)], "b": [("1", unicodedata.normalize("NFD", text))],
                                     "c": [("1", wide)]})
    result = dedup_corpus(layout.corpus_shards(), DedupParams())
    assert sorted(result.dropped.select("record_id", "cluster").rows()) == [("b/1", "a/1"), ("c/1", "a/1")]


def test_a_copy_in_capitals_is_a_copy_where_case_folding_leaves_a_text_unnormalised(tmp_path: Path) -> None:
    # "ΐ" folds to iota + diaeresis + acute; its capital's fold to iota-with-diaeresis + acute: the same text once
    # normalised again, and two texts to a fold without that second NFKC
    text = "Η διαΐστωση του προΐσταμένου: ΐ και ΰ στις λέξεις, ξανά και ξανά. " * 4
    assert normalise(text.upper()) == normalise(text)
    layout = write_corpus(tmp_path, {"a": [("1", text)], "b": [("1", text.upper())]})
    result = dedup_corpus(layout.corpus_shards(), DedupParams())
    assert result.dropped.select("record_id", "cluster").rows() == [("b/1", "a/1")]


@pytest.mark.parametrize(("threshold", "num_perm"), [(1.0, 128), (0.95, 16)])
def test_a_threshold_near_one_finds_exact_copies(tmp_path: Path, threshold: float, num_perm: int) -> None:
    # datasketch finds no banding of two or more bands this close to 1 and raised a bare ValueError
    text = "def f(x):\n    return x + 1\n" * 8
    layout = write_corpus(tmp_path, {"a": [("1", text), ("2", text.replace("x", "y"))], "b": [("1", text)]})
    result = dedup_corpus(layout.corpus_shards(), DedupParams(threshold=threshold, num_perm=num_perm))
    assert result.dropped.select("record_id", "cluster").rows() == [("b/1", "a/1")]


def test_empty_corpus() -> None:
    result = dedup_corpus([], DedupParams())
    assert result.dropped.is_empty() and result.counts.is_empty() and result.clusters == 0


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError):
        DedupParams(shingle="char", shingle_size=2)
    with pytest.raises(ValidationError):
        DedupParams(threshold=0)
    with pytest.raises(ValidationError):
        DedupParams(num_perms=64)  # a typo is an error, not a silently ignored key
    for name, f in DedupParams.model_fields.items():
        assert f.description, name


@pytest.mark.parametrize("enabled", [True, False])
def test_an_empty_corpus_gives_zero_counts_enabled_or_not(tmp_path: Path, enabled: bool) -> None:
    """Disabled, the stage concatenated the shards' records and failed on none ("cannot concat empty list")."""
    (tmp_path / "corpus").mkdir()
    metrics = run_dedup(tmp_path / "corpus", DedupParams(enabled=enabled), tmp_path / "out")
    assert metrics["total"] == {"records_in": 0, "records_dropped": 0, "tokens_in": 0, "tokens_dropped": 0}
    assert pl.read_parquet(tmp_path / "out" / "counts.parquet").schema == pl.Schema(COUNTS)


def test_the_miss_rate_is_exact_and_the_chosen_bands_meet_it() -> None:
    """miss_rate against every way of placing k equal values among 16 (the estimate k/16 at the threshold), and
    the bands lsh_bands picks miss at most max_miss of such pairs, with rows as long as that allows."""
    from itertools import combinations

    from mira_core.dedup import lsh_bands, miss_rate

    n, bands, rows, threshold = 16, 3, 4, 0.7  # k = 12: 12 equal values of 16
    k = 12
    missed = sum(not any(set(range(b * rows, (b + 1) * rows)) <= set(equal) for b in range(bands))
                 for equal in combinations(range(n), k))
    assert miss_rate(bands, rows, n, threshold) == pytest.approx(missed / math.comb(n, k))
    for t in (0.5, 0.8, 0.9, 0.95):
        b, r = lsh_bands(t, 128, 0.01)
        assert b >= 2 and miss_rate(b, r, 128, t) <= 0.01
        assert r == 64 or miss_rate(128 // (r + 1), r + 1, 128, t) > 0.01  # the longest bands that meet it
    assert lsh_bands(0.8, 128, 0.01) == (18, 7)


def test_shared_per_item_counts_each_items_grams_a_record_holds() -> None:
    # item 0 holds grams 1, 2, 3; item 1 holds 2, 3, 4, 5; item 2 none of the record's
    per_item = [np.array([1, 2, 3], dtype=np.uint64), np.array([5, 4, 3, 2], dtype=np.uint64),
                np.array([9], dtype=np.uint64)]
    grams, owner = gram_owners(per_item)
    assert grams.tolist() == sorted(grams.tolist())
    assert sorted(zip(grams.tolist(), owner.tolist(), strict=True)) == sorted(
        (int(g), i) for i, item in enumerate(per_item) for g in item)
    assert owner[grams == 2].tolist() == [0, 1]  # a gram's items stay in the given order
    record = np.array([2, 3, 5, 7], dtype=np.uint64)
    assert shared_per_item(record, grams, owner, 3).tolist() == [2, 3, 0]
    assert shared_per_item(np.array([8], dtype=np.uint64), grams, owner, 3).tolist() == [0, 0, 0]
    empty_grams, empty_owner = gram_owners([])
    assert shared_per_item(record, empty_grams, empty_owner, 0).tolist() == []
