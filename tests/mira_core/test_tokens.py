"""Tests of the target tokenizer (`ingest.tokenizer`): one loader, its identity, its errors, ingest counting with it.

The target tokenizer here is trained in the test (WordLevel on a few sentences), so its counts are
nothing like MiniLM's WordPiece: an unknown word is one [UNK], not a run of sub-word pieces.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from mira_core.config import CacheParams, IngestParams, RunnerParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import ingest_source
from mira_core.ingest.tokens import (
    load_tokenizer,
    minilm_path,
    token_counter,
    tokenizer_file,
    tokenizer_identity,
)
from tests.conftest import write_jsonl

SENTENCES = ["the cat sat on the mat", "a dog ate the bone", "mid training corpora need a target tokenizer",
             "tokens are counted with the model's own vocabulary"]
TEXTS = ["the cat sat on the mat", "unbelievable supercalifragilistic tokenization!", "a dog ate 12345 bones",
         "ünïcödé ωμέγα 日本語"]


def train(sentences: list[str] = SENTENCES, digits: bool = False) -> Tokenizer:
    """A word-level tokenizer of `sentences`; `digits`: every digit is a token of its own."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if digits:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                     pre_tokenizers.Digits(individual_digits=True)])
    tok.train_from_iterator(sentences, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<|endoftext|>"]))
    return tok


@pytest.fixture
def target(tmp_path) -> Path:
    """The trained tokenizer saved as models/target/tokenizer.json under the project folder `tmp_path`."""
    folder = tmp_path / "models" / "target"
    folder.mkdir(parents=True)
    train().save(str(folder / "tokenizer.json"))
    return folder


def own_counts(path: Path, texts: list[str]) -> list[int]:
    """Counts by the tokenizer read back independently of the module under test."""
    tok = Tokenizer.from_file(str(path))
    return [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]


def test_a_trained_tokenizer_counts_its_own_tokens_not_minilms(target):
    counts = token_counter(target / "tokenizer.json").count(TEXTS)
    assert counts == own_counts(target / "tokenizer.json", TEXTS)
    assert counts != token_counter("minilm").count(TEXTS)
    assert counts[1] == 4  # three unknown words, one [UNK] each, and "!"
    assert token_counter("minilm").count(TEXTS)[1] > 4  # WordPiece splits unknown words into pieces


def test_file_folder_and_relative_path_are_the_same_tokenizer(target, tmp_path):
    ways = [target / "tokenizer.json", target, str(target), "models/target", "models/target/tokenizer.json"]
    files = {tokenizer_file(w, tmp_path) for w in ways}
    assert files == {target / "tokenizer.json"}
    idents = [tokenizer_identity(w, tmp_path) for w in ways]
    assert [i["name"] for i in idents] == [str(w) for w in ways]  # the name is the setting as written
    assert len({(i["sha256"], i["vocab_size"]) for i in idents}) == 1
    assert load_tokenizer("models/target", tmp_path).to_str() == load_tokenizer(target).to_str()


def test_the_identity_names_hashes_and_sizes_the_tokenizer(target, tmp_path):
    ident = tokenizer_identity("models/target", tmp_path)
    raw = (target / "tokenizer.json").read_bytes()
    assert ident == {"name": "models/target", "sha256": hashlib.sha256(raw).hexdigest(),
                     "vocab_size": Tokenizer.from_file(str(target / "tokenizer.json")).get_vocab_size(True)}
    assert tokenizer_identity("models/target", tmp_path) == ident  # stable
    copy = tmp_path / "elsewhere" / "tokenizer.json"
    copy.parent.mkdir()
    shutil.copy(target / "tokenizer.json", copy)
    assert tokenizer_identity(copy)["sha256"] == ident["sha256"]  # content, not place
    minilm = tokenizer_identity("minilm")
    assert minilm["name"] == "minilm" and minilm["vocab_size"] == 30522
    assert minilm["sha256"] == hashlib.sha256((minilm_path() / "tokenizer.json").read_bytes()).hexdigest()
    assert minilm["sha256"] != ident["sha256"]


def test_an_edited_tokenizer_file_is_read_again(target):
    path = target / "tokenizer.json"
    before = token_counter(path)
    train([*SENTENCES, "unbelievable supercalifragilistic tokenization"]).save(str(path))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a distinct mtime even on a coarse clock
    after = token_counter(path)
    assert after.identity["sha256"] != before.identity["sha256"]
    assert after.identity["vocab_size"] > before.identity["vocab_size"]
    assert after.count(["supercalifragilistic"]) == [1] and after.count(TEXTS) == own_counts(path, TEXTS)


def test_a_tokenizer_replaced_by_one_of_the_same_size_and_mtime_is_read_again(target, tmp_path):
    # `cp -p` / `rsync -a` of another tokenizer over this one: same size, same mtime, other vocabulary
    path = target / "tokenizer.json"
    before = token_counter(path)
    text = path.read_text()
    word = next(w for w in ("the", "cat", "dog", "bone") if f'"{w}"' in text)
    other = tmp_path / "tokenizer.json"
    other.write_text(text.replace(f'"{word}"', f'"{word[::-1]}"', 1))
    assert other.stat().st_size == path.stat().st_size
    st = path.stat()
    os.replace(other, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = token_counter(path)
    assert after.identity["sha256"] != before.identity["sha256"]


def test_bad_paths_are_config_errors_naming_the_key_and_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.json").write_text('{"not": "a tokenizer"}')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    for name, shown in [("no/such/tokenizer.json", "no/such/tokenizer.json"), ("empty", "holds no tokenizer.json"),
                        ("broken.json", "not a readable tokenizer.json"), ("binary.json", "binary.json"),
                        ("./missing-folder", "missing-folder")]:
        with pytest.raises(ConfigError) as e:
            token_counter(name, tmp_path)
        msg = str(e.value)
        assert msg.startswith(f"ingest.tokenizer = {name!r}") and shown in msg and str(tmp_path) in msg, msg
    with pytest.raises(ConfigError, match="ingest.tokenizer"):
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(ValidationError):
        IngestParams(tokenizer="")


def test_the_default_is_the_bundled_minilm():
    assert IngestParams().tokenizer == "minilm"
    assert tokenizer_file("minilm") == minilm_path() / "tokenizer.json"
    assert token_counter("minilm").count(["hello world"]) == [2]


def test_ingest_counts_with_the_configured_tokenizer(target, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in TEXTS])
    spec = SourceSpec(name="s", path="a.jsonl", format="text")
    p = IngestParams(tokenizer="models/target")  # relative: read from the project folder, not the cwd
    report = ingest_source(spec, p, tmp_path, tmp_path / "corpus" / "s", tmp_path / "q" / "s")
    kept = pl.read_parquet(tmp_path / "corpus" / "s" / "part-*.parquet")
    expected = own_counts(target / "tokenizer.json", kept["text"].to_list())
    assert kept["n_tokens"].to_list() == expected and report["n_tokens"] == sum(expected)
    assert expected != token_counter("minilm").count(kept["text"].to_list())


def test_megatron_uses_the_same_loader_and_records_the_same_digest(target, tmp_path):
    from mira_core.megatron import load_tokenizer as megatron_tokenizer
    from mira_core.megatron import materialize_megatron

    assert megatron_tokenizer(target).to_str() == load_tokenizer(target).to_str()
    with pytest.raises(ConfigError, match="ingest.tokenizer"):
        megatron_tokenizer(tmp_path / "nothing-here")
    lineage = materialize_megatron([("s", t) for t in TEXTS], target, tmp_path / "out", commit=None,
                                   params_digest="p", rubric_versions={}, manifest_digest="m")
    assert lineage["tokenizer_sha256"] == tokenizer_identity(target)["sha256"]


def test_the_ingest_stage_names_its_tokenizer_and_an_edit_reruns_it(target, tmp_path, prefect_harness):
    from flows.ingest import ingest_flow

    write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in TEXTS])
    sources = (SourceSpec(name="a", path="a.jsonl", format="text"),)
    p = IngestParams(tokenizer="models/target")
    first = ingest_flow(sources, p, RunnerParams(), CacheParams(dir=".cache"), str(tmp_path))
    written = json.loads((tmp_path / "metrics" / "ingest.json").read_text())
    assert written["tokenizer"] == first["tokenizer"] == tokenizer_identity("models/target", tmp_path)
    assert first["total"]["n_tokens"] == sum(own_counts(target / "tokenizer.json", TEXTS))

    assert ingest_flow(sources, p, RunnerParams(), CacheParams(dir=".cache"), str(tmp_path)) == first
    assert _task_states(tmp_path) == {"Cached": 1}

    # same path and params, new tokenizer.json: the cached ingest result is not reused
    train(digits=True).save(str(target / "tokenizer.json"))
    again = ingest_flow(sources, p, RunnerParams(), CacheParams(dir=".cache"), str(tmp_path))
    assert _task_states(tmp_path) == {"Completed": 1}
    assert again["tokenizer"]["sha256"] != first["tokenizer"]["sha256"]
    assert again["total"]["n_tokens"] == sum(own_counts(target / "tokenizer.json", TEXTS))
    assert again["total"]["n_tokens"] == first["total"]["n_tokens"] + 4  # "12345" is now five tokens

    with pytest.raises(ConfigError, match="ingest.tokenizer = 'models/nothing'"):
        ingest_flow(sources, IngestParams(tokenizer="models/nothing"), RunnerParams(), CacheParams(enabled=False),
                    str(tmp_path))


def _task_states(root: Path) -> dict:
    return json.loads((root / ".mira" / "runs" / "ingest.json").read_text())["tasks"]
