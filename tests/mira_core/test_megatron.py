"""Tests of the Megatron-LM export: shards read back by an independent reader of the documented format.

`read_indexed` (tests/megatron_reader.py) is written from Megatron-LM's `megatron/core/datasets/indexed_dataset.py` layout
(header, version, dtype code, counts, lengths, pointers, document indices) with numpy only; it shares
no code with `mira_core.megatron`, so a layout slip on either side shows up as a mismatch.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from mira_core.errors import ConfigError
from mira_core.megatron import (
    blend_text,
    dataset_name,
    git_commit,
    materialize_megatron,
    write_blend,
    write_indexed_dataset,
)
from tests.megatron_reader import read_indexed


@pytest.fixture(scope="module")
def minilm() -> Tokenizer:
    """The bundled MiniLM tokenizer, loaded here independently of the module, without truncation."""
    from mira_core.ingest.tokens import minilm_path

    tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def big_vocab() -> Tokenizer:
    """A word-level tokenizer with 70,000 entries (over Megatron's uint16 limit) and an <|endoftext|>."""
    words = [f"w{i}" for i in range(69_998)]
    vocab = {w: i for i, w in enumerate(["[UNK]", "<|endoftext|>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    """A few hundred texts: ordinary, empty and whitespace-only, unicode of several scripts, one long."""
    rng = random.Random(seed)
    words = ["the", "data", "token", "selection", "mid-training", "corpus", "Megatron", "shard", "über",
             "naïve", "日本語", "文本", "emoji🙂", "Ωμέγα", "русский", "e\u0301", "x" * 40, "123", "3.14", "—"]
    specials = ["", " ", "\n\n", "\t", "🙂", "é", "\u200b", "a", "ﬁ", "Z\u0308", "\x00"]
    texts = []
    for i in range(n):
        if i % 25 == 0:
            texts.append(specials[(i // 25) % len(specials)])
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))))
    texts.append(" ".join(rng.choice(words) for _ in range(3000)))  # far past MiniLM's 512 positions
    return texts


def test_a_special_tokens_text_in_a_record_is_text_and_the_eod_comes_only_at_the_end(tmp_path, minilm):
    """A file about tokenizers holds "[SEP]" or "<|endoftext|>": encoded as the special token it would end the
    document in the middle of the record (and the budget's counts would not be the shards' ids)."""
    from mira_core.ingest.tokens import token_counter

    text = "inputs are joined with [SEP] between them"
    sep = minilm.token_to_id("[SEP]")
    assert sep in minilm.encode(text, add_special_tokens=False).ids  # what a plain encode does
    for name, tokenizer in (("by-name", "minilm"), ("object", minilm)):
        write_indexed_dataset([text], tokenizer, tmp_path / name, append_eod=True)
        [doc] = read_indexed(tmp_path / name)["docs"]
        assert doc.count(sep) == 1 and doc[-1] == sep, name
        assert len(doc) - 1 == token_counter("minilm").count([text])[0]  # the budget counted these very ids
    assert not minilm.encode_special_tokens  # the caller's object is left as it was


def test_round_trip_with_eod_matches_the_tokenizer(tmp_path, minilm):
    texts = corpus()
    stats = write_indexed_dataset(texts, "minilm", tmp_path / "ds" / "web", append_eod=True, batch_size=64)
    eod = minilm.token_to_id("[SEP]")
    want = [minilm.encode(t, add_special_tokens=False).ids + [eod] for t in texts]
    got = read_indexed(tmp_path / "ds" / "web")
    assert got["docs"] == want
    assert max(len(d) for d in want) > 3000  # the long text was not truncated
    n = len(texts)
    assert (got["version"], got["code"], got["seq_count"], got["doc_count"]) == (1, 8, n, n + 1)
    assert got["doc_idx"].tolist() == list(range(n + 1))
    lengths = np.array([len(d) for d in want])
    assert got["lengths"].tolist() == lengths.tolist()
    assert got["pointers"].tolist() == (np.concatenate([[0], np.cumsum(lengths)[:-1]]) * 2).tolist()
    assert got["idx_size"] == got["idx_end"] == 34 + n * (4 + 8) + (n + 1) * 8  # no trailing modes
    assert got["bin_size"] == lengths.sum() * 2
    assert stats["documents"] == n and stats["tokens"] == lengths.sum() and stats["eod_id"] == eod
    assert stats["dtype"] == "uint16" and stats["skipped_empty"] == 0
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["web.bin", "web.idx"]


def test_without_eod_empty_records_are_skipped(tmp_path, minilm):
    texts = corpus(120, seed=1)
    stats = write_indexed_dataset(iter(texts), minilm, tmp_path / "plain", append_eod=False)
    want = [ids for t in texts if (ids := minilm.encode(t, add_special_tokens=False).ids)]
    assert 0 < len(want) < len(texts)
    got = read_indexed(tmp_path / "plain")
    assert got["docs"] == want
    assert stats["skipped_empty"] == len(texts) - len(want) and stats["eod_id"] is None


def test_large_vocab_writes_int32_and_uses_its_own_eod(tmp_path, big_vocab):
    texts = ["w1 w69000 w5", "", "w69997 unknown w3"]
    stats = write_indexed_dataset(texts, big_vocab, tmp_path / "big", append_eod=True)
    got = read_indexed(tmp_path / "big")
    assert got["code"] == 4 and got["itemsize"] == 4 and stats["dtype"] == "int32"
    assert got["docs"] == [[3, 69002, 7, 1], [1], [69999, 0, 5, 1]]
    assert got["pointers"].tolist() == [0, 16, 20]
    assert stats["eod_in_text"] == 0
    # its <|endoftext|> is a plain vocabulary entry, not a special token: a record's own text encodes to the EOD id
    stats = write_indexed_dataset(["w1 <|endoftext|> w2", "w3"], big_vocab, tmp_path / "inside", append_eod=True)
    assert read_indexed(tmp_path / "inside")["docs"][0] == [3, 1, 4, 1] and stats["eod_in_text"] == 1


def test_the_eos_of_a_tokenizer_named_comes_from_its_own_folder_not_the_current_one(tmp_path, monkeypatch):
    from mira_core.ingest.tokens import minilm_path
    from mira_core.megatron import configured_eos

    monkeypatch.chdir(tmp_path)  # any project's folder with a tokenizer_config.json of its own
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "[CLS]"}')
    assert configured_eos("minilm") is None  # the bundled MiniLM's config names no eos
    stats = write_indexed_dataset(["hello"], "minilm", tmp_path / "d", append_eod=True)
    assert stats["eod_id"] == 102  # [SEP], the first of EOD_TOKENS MiniLM has; [CLS] is 101
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_text((minilm_path() / "tokenizer.json").read_text())
    (folder / "tokenizer_config.json").write_text('{"eos_token": {"content": "[CLS]"}}')
    assert configured_eos(folder) == configured_eos(folder / "tokenizer.json") == "[CLS]"


def test_explicit_eod_id_and_truncating_tokenizer_object(tmp_path, minilm):
    tok = Tokenizer.from_str(minilm.to_str())
    tok.enable_truncation(8)
    text = "one two three four five six seven eight nine ten eleven twelve"
    write_indexed_dataset([text], tok, tmp_path / "t", append_eod=True, eod_id=0)
    assert read_indexed(tmp_path / "t")["docs"] == [minilm.encode(text, add_special_tokens=False).ids + [0]]
    assert tok.truncation is not None  # the caller's tokenizer is left as it was


def test_tokenizer_by_name_folder_or_file_gives_the_same_shards(tmp_path):
    from mira_core.ingest.tokens import minilm_path

    texts = corpus(40, seed=3)
    digests = {write_indexed_dataset(texts, how, tmp_path / str(i), append_eod=True)["bin_sha256"]
               for i, how in enumerate(["minilm", minilm_path(), minilm_path() / "tokenizer.json"])}
    assert len(digests) == 1


class Boom(RuntimeError):
    pass


def failing(texts: list[str], after: int):
    """Yield `after` texts, then fail like a reader that crashes mid-corpus."""
    for i, t in enumerate(texts):
        if i == after:
            raise Boom("reader crashed")
        yield t


def test_failure_mid_write_leaves_no_dataset(tmp_path):
    with pytest.raises(Boom):
        write_indexed_dataset(failing(corpus(), 200), "minilm", tmp_path / "web", append_eod=True, batch_size=32)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_rewrite_keeps_the_previous_dataset(tmp_path):
    write_indexed_dataset(["first version", "two"], "minilm", tmp_path / "web", append_eod=True)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(Boom):
        write_indexed_dataset(failing(corpus(), 150), "minilm", tmp_path / "web", append_eod=True, batch_size=16)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_blend_text_is_what_data_path_takes(tmp_path):
    text = blend_text({"/shards/web": 0.25, "/shards/code": 0.75})
    assert text == "0.25 /shards/web 0.75 /shards/code"
    # Megatron's get_blend_from_list: an even-length list is weight, prefix, weight, prefix ...
    items = text.split()
    assert [float(w) for w in items[0::2]] == [0.25, 0.75] and items[1::2] == ["/shards/web", "/shards/code"]
    path = write_blend({"/a": 1 / 3, "/b": 2 / 3}, tmp_path / "blend.txt")
    w = path.read_text().split()
    assert path.read_text().endswith("\n") and float(w[0]) == 1 / 3 and float(w[2]) == 2 / 3
    for bad in ({"/a b": 1.0}, {"/a": 0.0}, {"/a": float("nan")}, {}):
        with pytest.raises(ConfigError):
            blend_text(bad)


def test_dataset_names_are_safe_and_distinct():
    assert dataset_name("web") == "web"
    odd = [dataset_name(s) for s in ("news/en", "news en", "news_en", "über")]
    assert len(set(odd)) == 4 and all(" " not in n and "/" not in n for n in odd)


def test_materialize_writes_one_dataset_per_source_the_blend_and_lineage(tmp_path, minilm):
    texts = corpus(400, seed=2)
    sources = ["web", "code", "news/en"]
    records = [(sources[i % 7 % 3], t) for i, t in enumerate(texts)]  # interleaved, uneven
    out = tmp_path / "megatron"
    rec = materialize_megatron(iter(records), "minilm", out, commit="abc123", params_digest="p1",
                               rubric_versions={"web": "r3", "code": "r1"}, manifest_digest="m9", batch_size=50)
    eod = minilm.token_to_id("[SEP]")
    on_disk = json.loads((out / "lineage.json").read_text())
    assert {k: on_disk[k] for k in ("commit", "params_digest", "rubric_versions", "manifest_digest")} == {
        "commit": "abc123", "params_digest": "p1", "rubric_versions": {"web": "r3", "code": "r1"},
        "manifest_digest": "m9"}
    assert on_disk["datasets"] == rec["datasets"] and on_disk["eod_id"] == eod
    tokens = {}
    for source in sources:
        want = [minilm.encode(t, add_special_tokens=False).ids + [eod] for s, t in records if s == source]
        prefix = Path(rec["datasets"][source]["prefix"])
        assert prefix.parent == out.resolve()
        assert read_indexed(prefix)["docs"] == want
        tokens[source] = sum(len(d) for d in want)
    total = sum(tokens.values())
    items = (out / "blend.txt").read_text().split()
    blend = dict(zip(items[1::2], (float(w) for w in items[0::2]), strict=True))
    assert blend == {rec["datasets"][s]["prefix"]: tokens[s] / total for s in sources}
    assert abs(sum(blend.values()) - 1) < 1e-12 and rec["tokens"] == total
    assert sorted(p.name for p in tmp_path.iterdir()) == ["megatron"]  # no temporary folder left


def test_materialize_prefix_root_and_failure_keeps_the_old_export(tmp_path):
    out = tmp_path / "m"
    kw = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    materialize_megatron([("web", "hello world"), ("code", "def f(): pass")], "minilm", out,
                         prefix_root="/mnt/shards", **kw)
    assert (out / "blend.txt").read_text().split()[1::2] == ["/mnt/shards/web", "/mnt/shards/code"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(Boom):
        materialize_megatron(((s, t) for s, t in zip(["a", "b"] * 200, failing(corpus(), 300), strict=False)), "minilm", out,
                             batch_size=8, **kw)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_materialize_refuses_an_export_without_tokens(tmp_path):
    with pytest.raises(ConfigError):
        materialize_megatron([("web", ""), ("web", " ")], "minilm", tmp_path / "m", append_eod=False,
                             commit=None, params_digest="p", rubric_versions={}, manifest_digest="m")
    assert not (tmp_path / "m").exists()


def _no_eod_vocab(tmp_path: Path, eos: str | dict | None) -> Path:
    """A tokenizer.json whose end token is none of EOD_TOKENS (DeepSeek's), with a tokenizer_config.json naming it
    as eos_token when `eos` is given."""
    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "<｜end▁of▁sentence｜>": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tmp_path.mkdir(exist_ok=True)
    tok.save(str(tmp_path / "tokenizer.json"))
    if eos is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": eos}))
    return tmp_path / "tokenizer.json"


def test_no_known_eod_is_an_error_not_records_written_back_to_back(tmp_path):
    kw = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    docs = [("web", "hello world"), ("web", "world hello")]
    bare = _no_eod_vocab(tmp_path / "bare", None)
    with pytest.raises(ConfigError, match="select.megatron_eod_token"):
        materialize_megatron(docs, bare, tmp_path / "m", **kw)
    assert not (tmp_path / "m").exists()
    rec = materialize_megatron(docs, bare, tmp_path / "m", eod_token="<｜end▁of▁sentence｜>", **kw)
    assert rec["eod_id"] == 3 and read_indexed(tmp_path / "m" / "web")["docs"] == [[1, 2, 3], [2, 1, 3]]
    with pytest.raises(ConfigError, match="has no token '</s>'"):  # a named token the vocabulary lacks
        materialize_megatron(docs, bare, tmp_path / "m2", eod_token="</s>", **kw)
    for eos in ("<｜end▁of▁sentence｜>", {"content": "<｜end▁of▁sentence｜>", "special": True}):
        with_config = _no_eod_vocab(tmp_path / "cfg", eos)  # the model's own eos, as Megatron's preprocessing uses
        assert write_indexed_dataset(["hello"], with_config, tmp_path / "cfg" / "d")["eod_id"] == 3


def test_a_blend_prefix_with_a_space_fails_before_tokenizing_and_names_the_knob(tmp_path):
    kw = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    with pytest.raises(ConfigError, match="select.megatron_prefix_root"):
        materialize_megatron([("web", "hello")], "minilm", tmp_path / "my export", **kw)
    assert not (tmp_path / "my export").exists()
    materialize_megatron([("web", "hello")], "minilm", tmp_path / "my export", prefix_root="/data/mira", **kw)
    assert (tmp_path / "my export" / "blend.txt").read_text().split()[1] == "/data/mira/web"


def test_a_source_with_no_token_is_left_out_of_the_blend_and_its_digests(tmp_path):
    kw = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    rec = materialize_megatron([("web", "hello world"), ("blank", ""), ("blank", " ")], "minilm", tmp_path / "m",
                               append_eod=False, **kw)
    blank = rec["datasets"]["blank"]
    assert blank["prefix"] is None and blank["skipped_empty"] == 2 and blank["weight"] == 0
    assert blank["bin_sha256"] is None and blank["idx_sha256"] is None  # no file to digest
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["blend.txt", "lineage.json", "web.bin", "web.idx"]
    assert (tmp_path / "m" / "blend.txt").read_text().split() == ["1.0", str((tmp_path / "m" / "web").resolve())]


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert git_commit(tmp_path) is None
