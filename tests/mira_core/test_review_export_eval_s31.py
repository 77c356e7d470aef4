"""Review of the Megatron export and the proxy evaluation (session 31): edge cases that failed before their fix, and
seeded randomized checks of the invariants both keep (shards read back as written, counts balance, a re-run gives
the same bytes; the target's scored-record count; the WSD phases)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from mira_core.errors import ConfigError
from mira_core.evaluation.data import pack, prepare, target_windows
from mira_core.evaluation.schedule import wsd_lr, wsd_phases
from mira_core.megatron import materialize_megatron, write_indexed_dataset
from tests.megatron_reader import read_indexed
from tests.mira_core.test_evaluation import tiny_params, tiny_project


def _word_level(size: int) -> Tokenizer:
    """A whitespace word-level tokenizer of `size` entries: [UNK] 0, <|endoftext|> 1 (a plain entry), w0.. after."""
    vocab = {w: i for i, w in enumerate(["[UNK]", "<|endoftext|>", *(f"w{i}" for i in range(size - 2))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.encode_special_tokens = True  # as the export wants it, so it is not copied at every call
    return tok


# --- the Megatron export -----------------------------------------------------------------------------------------


def test_a_prefix_root_of_slash_names_the_datasets_at_the_root(tmp_path: Path) -> None:
    """`megatron_prefix_root: /` (the trainer reads the export at the filesystem's root) was stripped to "" and
    refused as a prefix Megatron "splits on whitespace", which it holds none of; the blend names "/web" now. An empty
    prefix_root still names no folder."""
    common = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    record = materialize_megatron([("web", "hello world")], "minilm", tmp_path / "out", prefix_root="/", **common)
    assert record["blend"] == "1.0 /web" and (tmp_path / "out" / "blend.txt").read_text() == "1.0 /web\n"
    with pytest.raises(ConfigError, match="would start with ''"):
        materialize_megatron([("web", "hello")], "minilm", tmp_path / "other", prefix_root="", **common)


@pytest.mark.parametrize("size", [300, 65_499, 65_500, 70_000])  # both sides of Megatron's uint16 threshold
def test_random_documents_read_back_as_written_and_a_rerun_gives_the_same_bytes(tmp_path: Path, size: int) -> None:
    """Seeded random inputs: 0, 1 or many documents, empty ones, ids up to the vocabulary's last, the EOD id inside a
    record's text, any batch size. Megatron's layout read back by the independent reader holds the encoded ids; the
    counts balance (documents + skipped = texts); the digests are the files'; a re-run in other batches gives the
    same bytes."""
    tok = _word_level(size)
    top = [f"w{size - 3}", f"w{size - 4}"]  # the largest ids of the vocabulary
    for case in range(25):
        rng = random.Random(case)
        words = [*top, "w0", "<|endoftext|>", "unknown", "ü"]
        texts = [" ".join(rng.choice(words) for _ in range(rng.choice([0, 0, 1, 3, 30])))
                 for _ in range(rng.choice([0, 1, 2, 17]))]
        eod = rng.random() < 0.6
        prefix = tmp_path / f"case{case}"
        stats = write_indexed_dataset(texts, tok, prefix, append_eod=eod, batch_size=rng.choice([1, 2, 1024]))
        want = [ids for t in texts if (ids := tok.encode(t, add_special_tokens=False).ids + ([1] if eod else []))]
        got = read_indexed(prefix)
        assert got["docs"] == want, case
        assert got["code"] == (8 if size < 65_500 else 4) and got["idx_size"] == got["idx_end"], case
        assert stats["documents"] + stats["skipped_empty"] == len(texts), case
        assert stats["tokens"] == sum(map(len, want)), case
        files = [Path(f"{prefix}.bin").read_bytes(), Path(f"{prefix}.idx").read_bytes()]
        assert [hashlib.sha256(b).hexdigest() for b in files] == [stats["bin_sha256"], stats["idx_sha256"]], case
        write_indexed_dataset(texts, tok, prefix, append_eod=eod, batch_size=rng.choice([1, 7, 1024]))
        assert [Path(f"{prefix}.bin").read_bytes(), Path(f"{prefix}.idx").read_bytes()] == files, case


def test_random_exports_balance_their_counts_and_weights(tmp_path: Path) -> None:
    """Seeded random exports: interleaved sources, records of no token, epochs per source. Each source's dataset
    holds its records in order, documents + skipped = its records, a source of no token is left out of the blend and
    the folder, and the blend's weights are tokens x epochs and add up to one."""
    tok = _word_level(60)
    common = {"commit": None, "params_digest": "p", "rubric_versions": {}, "manifest_digest": "m"}
    for case in range(30):
        rng = random.Random(case)
        sources = rng.sample(["web", "code", "docs", "a.b"], rng.randint(1, 3))
        records = [(rng.choice(sources), " ".join(f"w{rng.randrange(58)}" for _ in range(rng.choice([0, 1, 4]))))
                   for _ in range(rng.choice([1, 3, 25]))]
        eod = rng.random() < 0.7
        epochs = {s: rng.choice([1.0, 1.5, 2.0]) for s in sources}
        out = tmp_path / f"case{case}"
        if not any(t for _, t in records) and not eod:
            with pytest.raises(ConfigError, match="no kept record has any token"):
                materialize_megatron(records, tok, out, append_eod=eod, epochs=epochs, **common)
            continue
        record = materialize_megatron(records, tok, out, append_eod=eod, epochs=epochs,
                                      batch_size=rng.choice([1, 2, 1024]), **common)
        weighted = sum(d["tokens"] * d["epochs"] for d in record["datasets"].values())
        for source, d in record["datasets"].items():
            texts = [t for s, t in records if s == source]
            assert d["documents"] + d["skipped_empty"] == len(texts), case
            want = [ids for t in texts if (ids := tok.encode(t).ids + ([1] if eod else []))]
            if d["tokens"]:
                assert read_indexed(out / source)["docs"] == want, case
                assert d["weight"] == pytest.approx(d["tokens"] * epochs[source] / weighted), case
            else:
                assert d["prefix"] is None and not (out / f"{source}.bin").exists(), case
        assert sum(d["weight"] for d in record["datasets"].values()) == pytest.approx(1.0), case


# --- the proxy evaluation ----------------------------------------------------------------------------------------


def test_a_truncated_corpus_shard_is_named_by_the_evaluation(tmp_path: Path) -> None:
    """The evaluation read the texts with polars' own scan, whose "expected parquet magic bytes" error names no file:
    a corpus shard cut short (a disk full, a partial `dvc pull`) failed the stage with a traceback that did not say
    which of the shards to fetch again. It is a ConfigError naming that shard, and only that one."""
    shards, manifests = tiny_project(tmp_path)
    shards[1].write_bytes(shards[1].read_bytes()[:40])
    with pytest.raises(ConfigError, match=r"^[^,]*prose/part-00000\.parquet: not a readable Parquet file"):
        prepare(shards, {"mira": manifests["mira"]}, ["qa"], tiny_params(arms=["mira"]))


class _Words:
    """A stand-in proxy tokenizer: one id per whitespace word, EOS 0."""

    eos_id = 0
    dtype = np.uint16

    def encode(self, texts: list[str], threads: int = 0) -> list[np.ndarray]:
        return [np.array([1 + len(w) for w in t.split()], dtype=np.uint16) for t in texts]


def test_random_targets_count_the_records_their_windows_score() -> None:
    """Seeded random targets (empty records, one record, records longer than the whole window set, any context and
    eval_tokens): the windows are the packed stream's first tokens, within eval_tokens, and the scored-record count
    is the number of records with a token or their EOS among them, encoded in chunks or not."""
    tok = _Words()
    for case in range(300):
        rng = random.Random(case)
        texts = [" ".join("a" * rng.randint(1, 3) for _ in range(rng.choice([0, 1, 5, 90])))
                 for _ in range(rng.randint(1, 150))]
        context = rng.choice([2, 3, 8, 64])
        max_tokens = rng.choice([context, 2 * context + 1, 100, 3000])
        stream = pack(tok.encode(texts), 0, np.uint16)
        if min(len(stream), max(max_tokens, context)) < context:
            with pytest.raises(ConfigError, match="fewer than one window"):
                target_windows(tok, texts, context, max_tokens, 1)
            continue
        windows, scored = target_windows(tok, texts, context, max_tokens, 1)
        covered = windows.size
        assert covered <= max_tokens and np.array_equal(windows.reshape(-1), stream[:covered]), case
        assert len(windows) == min(len(stream) // context, max_tokens // context), case
        starts = np.cumsum([0] + [len(t.split()) + 1 for t in texts])[:-1]
        assert scored == int((starts < covered).sum()), case


def test_random_wsd_runs_split_their_steps_and_end_where_the_docstring_says() -> None:
    """Seeded random schedules: the phases add up to the run, a positive share keeps a step, warmup ends on the peak,
    and a run that decays ends at final_ratio x peak on its last step."""
    for case in range(400):
        rng = random.Random(case)
        total = rng.choice([1, 2, 3, 5, 7, 60, 120])
        warmup, decay = rng.choice([0, 0.01, 0.1, 0.5, 1.0, rng.random()]), rng.choice([0, 0.2, 0.5, rng.random()])
        if warmup + decay > 1:
            continue
        final, shape = rng.choice([0.0, 0.1, 1.0]), rng.choice(["linear", "1-sqrt"])
        w, s, d = wsd_phases(total, warmup, decay)
        lrs = [wsd_lr(i, total, 1.0, warmup, decay, final, shape) for i in range(total)]
        assert w + s + d == total and min(w, s, d) >= 0, case
        assert all(0 < x <= 1 for x in lrs[:w]) and all(0 <= x <= 1 for x in lrs), case
        if w:
            assert lrs[w - 1] == 1.0, case
        if decay > 0 and total > 1:
            assert d >= 1 and lrs[-1] == pytest.approx(final), case
