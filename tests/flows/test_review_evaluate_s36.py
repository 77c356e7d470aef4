"""Review s36 (h5): the proxy evaluation and its arms, read as a sceptical reviewer.

Is every arm what it says, on the same tokens from the same base, scored on a target that no arm trains on, and
are the mean ± figures and the within-noise words what the docs say? The arms, the base, the equal token counts, the
noise rule and the report's and summary's wording hold (see the session report). Found: the held-out target
reached the training streams through two doors, a copy that whole-record Jaccard puts under dedup.threshold (inside a
longer page, or the same QA pair rendered as chat: fixed in session 37, the evaluate stage's containment check) and
any copy at all once dedup is off (params now refuse evaluate without dedup); and the stage's own table printed a one-seed
arm's spread as ± 0.0000 (now n/a).
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from mira_core.config import EvaluateParams, parse_params
from mira_core.dedup import run_dedup
from mira_core.errors import ConfigError
from mira_core.evaluation.containment import holding_records
from mira_core.evaluation.data import FULL, arm_records
from mira_core.evaluation.stats import noise_note, summarize, table
from mira_core.filter_params import DedupParams
from mira_core.ingest.render import render_messages, render_qa
from mira_core.manifests import corpus_index
from mira_core.selection import select

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega")


def _text(i: int, n: int, salt: int) -> str:
    """n seeded random words, a different draw per (i, salt): records that share no 5-gram by chance."""
    rng = random.Random(i * 1000 + salt)
    return " ".join(f"{rng.choice(WORDS)}{rng.randrange(100)}" for _ in range(n))


def _corpus(root: Path, extra_prose: list[str], target0: str | None = None) -> tuple[Path, dict[str, str]]:
    """Corpus shards of two sources: prose (20 records, then `extra_prose`) and target (10 records, held out; the
    first `target0` when given)."""
    target = [f"Target record {i}: " + _text(i, 30, 2) for i in range(10)]
    texts = {"prose": [_text(i, 40, 1) for i in range(20)] + extra_prose,
             "target": [target0 or target[0], *target[1:]]}
    out = {}
    for source, rows in texts.items():
        ids = [f"{source}/{i}" for i in range(len(rows))]
        out.update(zip(ids, rows, strict=True))
        df = pl.DataFrame({"record_id": ids, "source": source, "format": "text", "text": rows,
                           "n_tokens": [len(t.split()) for t in rows], "n_chars": [len(t) for t in rows],
                           "meta": "{}"})
        path = root / "data" / "corpus" / source / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(path)
    return root / "data" / "corpus", out


def _full_arm(root: Path, corpus: Path, dedup: DedupParams) -> list[str]:
    """The records the `full` arm trains on, through the real dedup and select code (budget 1: keep all)."""
    run_dedup(corpus, dedup, root / "data" / "dedup")
    index = corpus_index(corpus, {"prose": "g0", "target": "g0"}, ["target"], root / "data" / "dedup", None,
                         sort=True)
    manifest = select(index.with_columns(score=pl.lit(1.0)), 1.0, "global", "mira")
    return arm_records(FULL, manifest, ["target"])


def _holding_target(train: list[str], texts: dict[str, str], question: str = "") -> list[str]:
    """The training records that hold a target record word for word (or, given, its question and its answer)."""
    targets = [t for i, t in texts.items() if i.startswith("target/")]
    return [i for i in train if any(t in texts[i] for t in targets)
            or (question and question in texts[i] and ANSWER in texts[i])]


QUESTION = "How do I reverse a list in Python without changing the original list object in place?"
ANSWER = ("Use slicing with a negative step, for example items[::-1], which returns a new reversed list and leaves the "
          "original untouched.")


@pytest.mark.parametrize("case", ["inside_a_longer_page", "same_pair_as_chat"])
def test_a_training_record_that_holds_a_target_record_is_not_trained_on(tmp_path, case):
    # Nothing but dedup compares training records with the target (decontaminate reads only
    # decontaminate.benchmarks), and dedup links whole records at Jaccard >= 0.8 of their word 5-grams:
    # - a page that quotes target record 0 whole, then goes on for four times as long: Jaccard about 0.2;
    # - a QA pair held out in a qa source and present in a chat source: the renderings' Jaccard is 0.70.
    if case == "inside_a_longer_page":
        target0 = "Target record 0: " + _text(0, 30, 2)
        extra = target0 + " " + " ".join(_text(100 + j, 40, 3) for j in range(4))
    else:
        target0 = render_qa(QUESTION, ANSWER)
        extra = render_messages([{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}])
    corpus, texts = _corpus(tmp_path, [extra], target0)
    train = _full_arm(tmp_path, corpus, DedupParams())
    assert "prose/20" in train  # the real select code keeps it selectable: in `full`, and in any arm that keeps it
    # the evaluate stage's containment check (evaluation.data.prepare) leaves it out of every stream
    p = EvaluateParams()
    held = holding_records({i: texts[i] for i in train}, [t for i, t in texts.items() if i.startswith("target/")],
                           p.target_ngram, p.target_containment)
    assert sorted(held) == ["prose/20"]
    assert _holding_target([i for i in train if i not in held], texts, QUESTION) == []  # was: ['prose/20']


def test_with_dedup_off_a_copy_of_a_target_record_is_not_trained_on(tmp_path):
    copy = "Target record 3: " + _text(3, 30, 2)  # target/3, word for word, as a record of the prose source
    corpus, texts = _corpus(tmp_path, [copy])
    cfg = {"sources": [{"name": "prose", "path": "raw/prose.jsonl", "format": "text"},
                       {"name": "target", "path": "raw/target.jsonl", "format": "text"}],
           "dedup": {"enabled": False}, "select": {"held_out_sources": ["target"]}, "evaluate": {"enabled": True}}
    try:
        parse_params(cfg)
    except ConfigError:
        return  # one fix: evaluate needs dedup (its near-copy guard) and says so
    # the other fix: the near-copy guard of the target runs whether or not dedup drops anything else
    train = _full_arm(tmp_path, corpus, DedupParams(enabled=False))
    assert _holding_target(train, texts) == []  # today: ['prose/20'] is in `full`


def test_the_stage_table_does_not_print_a_zero_spread_for_one_seed():
    arms = {}
    for arm, loss in (("mira", 5.234), ("full", 5.226)):
        arms[arm] = {**summarize([loss]), "seeds": [{"seed": 0, "loss": loss}], "train_tokens": 640}
    for arm in arms:
        arms[arm]["note"] = noise_note(arm, arms, [])
    header, rows = table(arms, [])
    cell = rows[0][header.index("held-out loss mean ± sd")]
    assert "± 0.0000" not in cell, cell  # today: '5.2340 ± 0.0000'
