"""Tests of the proxy evaluation's logic: the WSD schedule, arms and windows, a tiny training run, the noise rule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mira_core.config import EvaluateParams, parse_params
from mira_core.errors import ConfigError
from mira_core.evaluation.data import (
    arm_records,
    fixed_windows,
    load_manifests,
    pack,
    prepare,
    sample_windows,
    target_windows,
)
from mira_core.evaluation.schedule import wsd_lr, wsd_phases
from mira_core.evaluation.stats import noise_note, pooled, summarize, table, widest, within_noise
from mira_core.evaluation.train import heldout_loss, new_model, resolve_device, train_lm

# --- the WSD schedule ---------------------------------------------------------------------------------------


def test_wsd_boundaries_warmup_stable_decay():
    lrs = [wsd_lr(s, 100, 1.0, 0.1, 0.2, 0.1) for s in range(100)]
    assert wsd_phases(100, 0.1, 0.2) == (10, 70, 20)
    assert lrs[0] == pytest.approx(0.1)  # step 0 already learns, a tenth of the peak
    assert lrs[9] == lrs[10] == lrs[79] == 1.0  # warmup ends on the peak; the stable phase holds it
    assert all(lrs[i] < lrs[i + 1] for i in range(9))
    assert lrs[80] < 1.0 and all(lrs[i] > lrs[i + 1] for i in range(80, 99))
    assert lrs[99] == pytest.approx(0.1)  # the last step is fully decayed, to final_ratio x peak


def test_wsd_without_warmup_or_decay_and_the_sqrt_shape():
    assert wsd_lr(0, 10, 2.0, 0.0, 0.0, 0.1) == 2.0 and wsd_lr(9, 10, 2.0, 0.0, 0.0, 0.1) == 2.0  # the base's schedule
    sqrt = [wsd_lr(s, 10, 1.0, 0.0, 1.0, 0.0, "1-sqrt") for s in range(10)]
    lin = [wsd_lr(s, 10, 1.0, 0.0, 1.0, 0.0) for s in range(10)]
    assert sqrt[-1] == lin[-1] == 0.0
    assert all(a <= b for a, b in zip(sqrt, lin, strict=True))  # 1-sqrt falls faster than linear
    assert sum(wsd_phases(7, 0.5, 0.5)) == 7  # rounding both halves up cannot overrun the run
    with pytest.raises(ValueError):
        wsd_lr(10, 10, 1.0, 0.1, 0.2, 0.1)
    with pytest.raises(ValueError):
        wsd_phases(10, 0.6, 0.6)


def test_a_positive_share_of_steps_is_never_rounded_away():
    # round() took 0.2 x 2 and 0.1 x 5 to no steps: a run that never decayed, its last step at the peak
    assert wsd_phases(2, 0.1, 0.2) == (1, 0, 1) and wsd_lr(1, 2, 1.0, 0.1, 0.2, 0.1) == pytest.approx(0.1)
    assert wsd_phases(5, 0.1, 0.1) == (1, 3, 1) and wsd_lr(4, 5, 1.0, 0.1, 0.1, 0.1) == pytest.approx(0.1)
    assert wsd_phases(20, 0.1, 0.02)[2] == 1
    assert wsd_phases(15, 0.1, 0.0) == (2, 13, 0) and wsd_phases(25, 0.1, 0.0) == (3, 22, 0)  # halves round up
    assert wsd_phases(120, 0.1, 0.2) == (12, 84, 24) and wsd_phases(60, 0.1, 0.0) == (6, 54, 0)  # the defaults
    # warmup rounded up to fill the run took the decay's one step, and the run ended at the peak
    assert wsd_phases(5, 0.9, 0.1) == (4, 0, 1) and wsd_lr(4, 5, 1.0, 0.9, 0.1, 0.1) == pytest.approx(0.1)
    assert wsd_phases(10, 0.95, 0.05) == (9, 0, 1) and wsd_phases(1, 0.5, 0.5) == (1, 0, 0)


# --- arms, packing and windows --------------------------------------------------------------------------------

SOURCES = {"code": "def f{i}(x):\n    return x + {i}\n" * 3, "prose": "The cat {i} sat on the mat. " * 4,
           "qa": "§ Question {i}? § Answer: ¶ {i} ¶"}  # only the held-out target has non-ASCII characters


def tiny_project(root: Path, n: int = 30) -> tuple[list[Path], dict[str, pl.DataFrame]]:
    """Corpus shards of three sources (qa held out) and two manifests: mira keeps even rows, random odd ones."""
    rows, shards = [], []
    for source, template in SOURCES.items():
        texts = [template.format(i=i) for i in range(n)]
        df = pl.DataFrame({"record_id": [f"{source}/{i}" for i in range(n)], "source": source, "format": "text",
                           "text": texts, "n_tokens": [len(t) // 3 for t in texts], "n_chars": [len(t) for t in texts],
                           "meta": "{}"})
        path = root / "data" / "corpus" / source / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(path)
        shards.append(path)
        rows.append(df.select("record_id", "source", "n_tokens"))
    index = pl.concat(rows).with_row_index("i")
    held = pl.col("source") == "qa"
    manifests = {}
    for method, parity in (("mira", 0), ("random", 1)):
        kept = ~held & ((pl.col("i") % 2) == parity)
        manifests[method] = index.with_columns(
            group=pl.lit("g0"), score=pl.lit(1.0), kept=kept, method=pl.lit(method), epochs=kept.cast(pl.Float64),
            reason=pl.when(held).then(pl.lit("held_out")).when(kept).then(pl.lit("kept"))
            .otherwise(pl.lit("over_budget"))).drop("i")
    return shards, manifests


def tiny_params(**kw) -> EvaluateParams:
    base = {"enabled": True, "arms": ["mira", "random", "full"], "vocab_size": 300, "tokenizer_sample_chars": 20_000,
            "n_layer": 1, "n_head": 2, "n_embd": 32, "context": 16, "batch_size": 4, "steps": 10, "base_steps": 5,
            "eval_tokens": 256, "eval_every": 5, "eval_batch_size": 8, "threads": 1, "seeds": [0, 1]}
    return EvaluateParams(**{**base, **kw})


def test_arm_records_never_take_a_held_out_source_even_from_a_wrong_manifest(tmp_path):
    _, manifests = tiny_project(tmp_path)
    bad = manifests["mira"].with_columns(kept=pl.lit(True))  # a buggy manifest that keeps the target too
    assert not any(r.startswith("qa/") for r in arm_records("mira", bad, ["qa"]))
    full = arm_records("full", manifests["mira"], ["qa"])
    assert len(full) == 60 and set(arm_records("mira", manifests["mira"], ["qa"])) < set(full)


def test_a_manifest_made_for_other_held_out_sources_is_refused(tmp_path):
    # select marks the near-copies of the target for the held-out list it ran with: a manifest made for another
    # list (held_out_sources edited, then `mira stage evaluate`) would leave them in every arm
    shards, manifests = tiny_project(tmp_path)
    other = manifests["mira"].with_columns(reason=pl.when(pl.col("source") == "qa").then(pl.lit("over_budget"))
                                           .otherwise(pl.col("reason")))
    with pytest.raises(ConfigError, match=r"arm 'mira': .*held_out_sources \[\], not \['qa'\].*run select again"):
        prepare(shards, {"mira": other}, ["qa"], tiny_params(arms=["mira"]))
    with pytest.raises(ConfigError, match=r"arm 'random': .* \['qa'\], not \['prose', 'qa'\]"):
        prepare(shards, {"random": manifests["random"]}, ["qa", "prose"], tiny_params(arms=["random"]))


def test_windows_are_equal_per_arm_and_never_hold_target_tokens(tmp_path):
    shards, manifests = tiny_project(tmp_path)
    p = tiny_params()
    data = prepare(shards, {"mira": manifests["mira"], "random": manifests["random"], "full": manifests["mira"]},
                   ["qa"], p)
    tok = data.tokenizer
    target_only = {int(i) for t in tok.encode(["§¶"]) for i in t}  # bytes that only the held-out source has
    for arm, a in {**data.arms, "base": data.base}.items():
        assert not target_only & set(np.unique(a.stream).tolist()), arm
        w = sample_windows(a.stream, p.steps * p.batch_size, p.context, np.random.default_rng(0))
        assert w.shape == (p.steps * p.batch_size, p.context)  # the same tokens per arm, whatever its size
    assert data.arms["full"].records == 60 and data.arms["mira"].records == data.arms["random"].records == 30
    assert len(data.arms["full"].stream) > len(data.arms["mira"].stream)
    assert target_only & set(np.unique(data.target).tolist())  # the check above can fail: the target has them
    assert data.target.shape == (p.eval_tokens // p.context, p.context) and data.target_sources == ["qa"]


def test_a_manifest_made_elsewhere_is_an_arm_with_the_corpus_sources_and_never_the_target(tmp_path):
    _, manifests = tiny_project(tmp_path)
    sel = tmp_path / "data" / "selection"
    (sel / "mira").mkdir(parents=True)
    near = pl.col("record_id") == "code/3"  # a near-duplicate, maybe of a target record: no arm may train on it
    manifests["mira"].with_columns(reason=pl.when(near).then(pl.lit("near_duplicate")).otherwise("reason"),
                                   kept=pl.col("kept") & ~near).write_parquet(sel / "mira" / "manifest.parquet")
    # another tool's selection: its own order, a null kept, the held-out target and a near-duplicate kept by mistake
    ids = ["prose/3", "code/1", "qa/0", "code/2", "code/3"]
    pl.DataFrame({"record_id": ids, "kept": [True, True, True, None, True], "score": [0.1, 0.2, 0.3, 0.4, 0.5]}
                 ).write_parquet(tmp_path / "other.parquet")
    out = load_manifests(sel, ["mira"], {"other": tmp_path / "other.parquet"})
    assert list(out) == ["mira", "other"]
    # in record_id order, as a select manifest: the arm is the kept set, not the order the file lists it in
    assert out["other"]["record_id"].to_list() == sorted(ids)
    assert out["other"]["source"].to_list() == ["code", "code", "code", "prose", "qa"]
    assert arm_records("other", out["other"], ["qa"]) == ["code/1", "prose/3"]  # not the target, null, near-copy
    pl.read_parquet(tmp_path / "other.parquet").reverse().write_parquet(tmp_path / "reversed.parquet")
    both = load_manifests(sel, ["mira"], {"other": tmp_path / "other.parquet", "rev": tmp_path / "reversed.parquet"})
    assert both["other"].equals(both["rev"])

    def fails(df: pl.DataFrame | bytes, match: str) -> None:
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(df) if isinstance(df, bytes) else df.write_parquet(bad)
        with pytest.raises(ConfigError, match=match):
            load_manifests(sel, ["mira"], {"bad": bad})

    fails(pl.DataFrame({"record_id": ["code/1", "nope/9"], "kept": [True, True]}),
          r"evaluate.manifests.bad .*1 of its 2 record ids are not in the corpus, e.g. \['nope/9'\]")
    fails(pl.DataFrame({"record_id": ["code/1", "code/1"], "kept": [True, False]}), r"listed more than once.*code/1")
    fails(pl.DataFrame({"record_id": ["code/1"]}), r"evaluate.manifests.bad: .*missing column 'kept'")
    fails(pl.DataFrame({"record_id": ["code/1"], "kept": [1]}), r"column 'kept' is Int64, expected Boolean")
    fails(b"not parquet", r"evaluate.manifests.bad .*not a readable Parquet file")
    with pytest.raises(ConfigError, match=r"evaluate.manifests.gone .*no such file"):
        load_manifests(sel, ["mira"], {"gone": tmp_path / "gone.parquet"})


def test_pack_separates_records_and_fixed_windows_do_not_overlap():
    s = pack([np.array([1, 2]), np.array([3])], eos_id=0, dtype=np.uint16)
    assert s.tolist() == [1, 2, 0, 3, 0]
    w = fixed_windows(np.arange(10), 3, 7)
    assert w.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ConfigError):
        sample_windows(np.arange(3), 1, 4, np.random.default_rng(0))


# --- training -------------------------------------------------------------------------------------------------


class _CharTokenizer:
    """One token per character (its code point mod 200), EOS 255: a tokenizer whose lengths are easy to count."""

    eos_id, dtype = 255, np.uint16

    def encode(self, texts, threads):
        return [np.array([ord(c) % 200 for c in t], dtype=np.uint16) for t in texts]


def test_the_target_counts_the_records_its_windows_score_not_the_ones_it_encoded():
    # 100 records of 9 tokens + EOS; two 16-token windows cover tokens 0-31, so records 0-3 (starting at 0, 10,
    # 20, 30) reach them; encoding by chunks of 64 read 64 records.
    windows, records = target_windows(_CharTokenizer(), ["abcdefghi"] * 100, context=16, max_tokens=32, threads=1)
    assert windows.shape == (2, 16) and records == 4
    windows, records = target_windows(_CharTokenizer(), ["abcdefghi"] * 100, context=10, max_tokens=20, threads=1)
    assert windows.shape == (2, 10) and records == 2  # the windows end at record 1's EOS: record 2 is not scored


def test_a_tiny_run_learns_a_trivially_learnable_text():
    p = tiny_params(steps=60, lr=1e-2, warmup_frac=0.1, decay_frac=0.3, eval_every=30, context=16)
    stream = np.tile(np.arange(1, 9, dtype=np.uint16), 400)  # 1..8 repeated: the next token is certain
    target = fixed_windows(stream, p.context, 256)
    model = new_model(p, vocab_size=16, eos_id=0, seed=0)
    res = train_lm(model, stream, target, p, seed=0, steps=p.steps, decay_frac=p.decay_frac,
                   device=resolve_device("cpu"))
    assert [t for t, _ in res.curve] == [0, 30 * 4 * 16, 60 * 4 * 16] and res.tokens_seen == 60 * 4 * 16
    assert res.curve[0][1] > 2.0 and res.final_loss < 0.3 * res.curve[0][1]
    assert res.final_loss == pytest.approx(heldout_loss(model, target, 8, resolve_device("cpu")), rel=1e-5)
    assert res.lrs[-1] == pytest.approx(p.lr * p.final_lr_ratio)


# --- the noise rule -------------------------------------------------------------------------------------------


def _arm(losses: list[float], tokens: int = 100) -> dict:
    return {**summarize(losses), "seeds": [{"seed": i, "loss": x, "ppl": math.exp(x)} for i, x in enumerate(losses)],
            "train_tokens": tokens}


def test_within_noise_compares_the_gap_with_two_standard_errors():
    arms = {"mira": _arm([2.00, 2.02]), "random": _arm([2.01, 2.03]), "full": _arm([2.50, 2.51])}
    assert arms["mira"]["loss_std"] == pytest.approx(0.02 / math.sqrt(2))
    assert within_noise(arms, 2.0) == [["mira", "random"]]  # gap 0.01 < 2 * sqrt(2 * 0.0002 / 2) = 0.028
    assert within_noise(arms, 0.5) == []  # ... but not below half a standard error
    _, rows = table(arms, within_noise(arms, 2.0))
    notes = {r[0]: r[-1] for r in rows}
    assert notes["mira"] == "within noise of random; lower loss than full (beyond noise)"
    assert notes["full"] == "higher loss than mira, random (beyond noise)"
    assert rows[0][2] == "2.0100 ± 0.0141"


def test_arms_that_never_vary_are_within_noise_only_when_they_tie():
    # Two arms whose every seed gives the same loss have no spread: equal means are a tie, not "beyond noise"
    # both ways; a different mean is apart.
    arms = {"a": _arm([5.0, 5.0]), "b": _arm([5.0, 5.0]), "c": _arm([5.1, 5.1])}
    assert within_noise(arms, 2.0) == [["a", "b"]]
    _, rows = table(arms, within_noise(arms, 2.0))
    notes = {r[0]: r[-1] for r in rows}
    assert notes["a"] == "within noise of b; lower loss than c (beyond noise)"
    assert notes["b"] == "within noise of a; lower loss than c (beyond noise)"


def test_an_arm_that_diverged_is_compared_with_nothing():
    arms = {"good": _arm([2.0, 2.01]), "bad": _arm([math.nan, math.nan]), "other": _arm([2.5, 2.51])}
    _, rows = table(arms, within_noise(arms, 2.0))
    notes = {r[0]: r[-1] for r in rows}
    assert notes["good"] == "lower loss than other (beyond noise)"  # was: ...; higher loss than bad
    assert notes["bad"].startswith("n/a (the held-out loss is not finite")


def test_a_pooled_sd_reads_every_arms_seeds_as_one_spread():
    # a's two seeds lie 0.04 apart; b's and d's 0.0002 apart, so their own sds call their 0.02 gap beyond noise
    arms = {"a": _arm([2.00, 2.04]), "b": _arm([2.0500, 2.0502]), "d": _arm([2.0700, 2.0702]), "c": _arm([2.5])}
    sd, df = pooled(arms)  # c has one seed: nothing to pool
    assert df == 3 and sd == pytest.approx(math.sqrt((0.04 ** 2 / 2 + 2 * 0.0002 ** 2 / 2) / 3))
    assert ["b", "d"] not in within_noise(arms, 2.0)
    # pooled, every arm spreads by ~0.016: the bar for b against d is 2 * 0.016 = 0.033 > 0.02
    assert within_noise(arms, 2.0, sd=sd) == [["a", "b"], ["b", "d"]]  # a and d: 0.05 apart, beyond it
    assert pooled({"c": _arm([2.5])}) is None
    assert widest(arms) == "a"
    # variances weigh by their degrees of freedom: a 3-seed arm counts twice a 2-seed one
    three = {"a": _arm([2.00, 2.04]), "e": _arm([3.00, 3.01, 3.02])}
    sd3, df3 = pooled(three)
    assert df3 == 3 and sd3 == pytest.approx(math.sqrt((1 * 0.0008 + 2 * 0.0001) / 3))


def test_one_seed_gives_no_noise_estimate():
    arms = {"a": _arm([2.0]), "b": _arm([2.0])}
    assert arms["a"]["loss_std"] == 0.0 and within_noise(arms, 2.0) == []
    assert noise_note("a", arms, []).startswith("n/a")


# --- configuration --------------------------------------------------------------------------------------------

RAW = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}, {"name": "t", "path": "t.jsonl",
                                                                         "format": "qa"}]}


def test_evaluate_needs_a_held_out_target_and_known_arms():
    assert not parse_params(RAW).evaluate.enabled  # off by default, so a minimal params.yaml stays valid
    with pytest.raises(ConfigError, match="held_out_sources is empty"):
        parse_params({**RAW, "evaluate": {"enabled": True}})
    ok = parse_params({**RAW, "evaluate": {"enabled": True}, "select": {"held_out_sources": ["t"]}})
    assert ok.evaluate.arms == ["mira", "random", "full"]
    with pytest.raises(ConfigError, match="'dsir'"):
        parse_params({**RAW, "evaluate": {"enabled": True, "arms": ["mira", "dsir"]},
                      "select": {"held_out_sources": ["t"]}})
    for name, match in (("mira", "'mira', an arm already"), ("random", "'random', an arm already"),
                        ("a b", "'a b': an arm's name must start")):
        with pytest.raises(ConfigError, match=match):
            parse_params({**RAW, "evaluate": {"manifests": {name: "x.parquet"}}})
    extra = parse_params({**RAW, "evaluate": {"manifests": {"other": "x.parquet"}}}).evaluate
    assert extra.all_arms == ["mira", "random", "full", "other"]
    with pytest.raises(ConfigError, match="above 1"):
        parse_params({**RAW, "evaluate": {"warmup_frac": 0.5, "decay_frac": 0.6}})
    with pytest.raises(ConfigError, match="must divide"):
        parse_params({**RAW, "evaluate": {"n_head": 3}})


def test_a_records_own_eos_text_is_text_to_the_proxy_tokenizer():
    """A record quoting "<|endoftext|>" must not put the record separator in the middle of the record."""
    from mira_core.evaluation.tokenizer import EOS, train_bpe

    tok = train_bpe(["plain words and more plain words " * 40], vocab_size=300)
    [ids] = tok.encode([f"one {EOS} two"], threads=1)
    assert tok.eos_id not in ids.tolist()


def test_a_record_kept_for_several_passes_weighs_in_the_stream_as_in_the_export(tmp_path):
    # select.max_epochs > 1 gives an upsampled unit's records epochs > 1; the export repeats them, so must the proxy
    shards, manifests = tiny_project(tmp_path)
    prose = pl.col("kept") & (pl.col("source") == "prose")
    once = manifests["mira"]
    twice, half = (once.with_columns(epochs=pl.when(prose).then(e).otherwise("epochs")) for e in (2.0, 1.5))
    p = tiny_params(arms=["mira", "full"])
    a, b, c = (prepare(shards, {"mira": m, "full": m}, ["qa"], p) for m in (once, twice, half))
    one, two, mid = (len(d.arms["mira"].stream) for d in (a, b, c))
    prose_tokens = two - one  # what the second pass of the prose records adds
    assert prose_tokens > 0 and one < mid < two  # 1.5 passes: every record once, about half of them twice
    assert a.arms["mira"].records == b.arms["mira"].records == 30  # records, not passes
    assert len(b.arms["full"].stream) == len(a.arms["full"].stream)  # full takes every record once
    again = prepare(shards, {"mira": half, "full": half}, ["qa"], p)
    assert np.array_equal(again.arms["mira"].stream, c.arms["mira"].stream)  # seeded


def test_a_selection_older_than_the_corpus_and_a_general_slice_under_one_window_name_their_cause(tmp_path):
    shards, manifests = tiny_project(tmp_path)
    pick = {"mira": manifests["mira"]}
    with pytest.raises(ConfigError, match=r"general slice \(evaluate.base_slice = 0.01\).*one window"):
        prepare(shards, pick, ["qa"], tiny_params(arms=["mira"], base_slice=0.01, context=64))
    df = pl.read_parquet(shards[0])
    df.filter(pl.col("record_id") != "code/0").write_parquet(shards[0])  # re-ingested without a kept record
    with pytest.raises(ConfigError, match=r"1 records of the selection manifests are not in the corpus shards.*"
                                          r"code/0.*run select again"):
        prepare(shards, pick, ["qa"], tiny_params(arms=["mira"]))


# --- training records that hold a target record (containment) --------------------------------------------------

def _words(seed: int, n: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(f"w{int(x)}" for x in rng.integers(0, 10_000, n))


def test_a_record_holding_a_target_inside_a_longer_text_is_found_and_a_shared_header_is_not():
    from mira_core.evaluation.containment import holding_records

    target, header = _words(1, 60), _words(2, 25)
    targets = [f"{header} {target}", "too short to hold a thirteen word gram"]
    train = {"quotes": f"{_words(3, 300)} {target} {_words(4, 300)}",  # 60 of the target's 85 words: 48 of 73 grams
             "header": f"{header} {_words(5, 400)}",  # the header alone: 13 of 73 grams
             "half": f"{_words(6, 50)} {header} {' '.join(target.split()[:24])}"}  # 37 of 73: just over half
    held = holding_records(train, targets, 13, 0.5)
    assert held == {"quotes": 0, "half": 0}
    assert holding_records(train, targets, 13, 0.7) == {}  # 48 / 73 = 0.66
    assert holding_records({"x": targets[1]}, targets, 13, 0.5) == {}  # a target under 13 words matches nothing


def test_the_same_qa_pair_rendered_as_chat_holds_the_qa_rendering():
    from mira_core.evaluation.containment import holding_records
    from mira_core.ingest.render import render_messages, render_qa

    q, a = _words(7, 12), _words(8, 10)  # header lines between them broke every 13-gram before they were left out
    chat = render_messages([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
    assert holding_records({"chat": chat}, [render_qa(q, a)], 13, 0.5) == {"chat": 0}


def test_prepare_leaves_a_record_holding_a_target_out_of_every_stream(tmp_path):
    shards, manifests = tiny_project(tmp_path)
    target = _words(9, 40)
    for path in shards:  # qa/3 becomes a long target; prose/4 (mira's) and prose/5 (random's) quote it whole
        df = pl.read_parquet(path)
        df = df.with_columns(text=pl.when(pl.col("record_id") == "qa/3").then(pl.lit(target))
                             .when(pl.col("record_id").is_in(["prose/4", "prose/5"]))
                             .then(pl.col("text") + " " + target).otherwise(pl.col("text")))
        df.write_parquet(path)
    p = tiny_params()
    data = prepare(shards, {"mira": manifests["mira"], "random": manifests["random"], "full": manifests["mira"]},
                   ["qa"], p)
    assert data.holding == {"prose/4": "qa/3", "prose/5": "qa/3"}
    assert data.arms["full"].records == 58 and data.arms["mira"].records == data.arms["random"].records == 29
    head = data.tokenizer.encode([target])[0][:8].tolist()
    assert len(head) == 8  # the check below can fail: the target's first tokens are a run of 8
    for arm, a in {**data.arms, "base": data.base}.items():  # the target's words reach no stream
        stream = a.stream.tolist()
        assert not any(stream[k:k + 8] == head for k in range(len(stream) - 8)), arm
