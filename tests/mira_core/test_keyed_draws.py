"""Draws keyed by a record's id: a record added to a corpus moves no other record's draw.

Session 45 found that one package more in the installation (ftfy) re-drew the proxy's tokenizer sample and the
planted corpus's split of modules, as both were seeded shuffles of positions; these draws are now keyed by id.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mira_core.evaluation.data import general_slice, repeats, target_records
from mira_core.evaluation.tokenizer import sample_texts
from mira_core.planted import plant
from mira_core.sampling import keyed_order, keyed_uniform

IDS = [f"src/{i:03d}" for i in range(200)]
NEW = "src/new"  # inserted at the front: a shuffle of positions shifted every other record by one


def test_keyed_uniform_is_in_0_1_stable_and_depends_on_the_key_and_salt_only():
    u = keyed_uniform(IDS, "7:x")
    assert u.shape == (200,) and (u >= 0).all() and (u < 1).all()
    assert np.array_equal(u, keyed_uniform(IDS, "7:x"))
    assert np.array_equal(keyed_uniform([NEW, *IDS], "7:x")[1:], u)
    assert not np.array_equal(keyed_uniform(IDS, "8:x"), u)
    assert 0.4 < u.mean() < 0.6  # spread over [0, 1), not a constant
    order = keyed_order(IDS, "7:x")
    assert sorted(order) == list(range(200)) and order != list(range(200))


def test_the_tokenizer_sample_keeps_its_records_when_one_is_added():
    texts = {i: f"text of {i} " * 10 for i in [NEW, *IDS]}
    before = sample_texts(IDS, texts, 5_000, seed=3)
    after = sample_texts([NEW, *IDS], texts, 5_000, seed=3)
    assert 20 <= len(before) < 200  # a sample, not everything
    # the new record can push out at most the last one; every other record stays in, in the same order
    assert [t for t in after if t != texts[NEW]] == before[: len(after) - (texts[NEW] in after)]
    assert sample_texts(IDS, texts, 5_000, seed=4) != before


def test_the_general_slice_and_the_target_order_keep_their_records_when_one_is_added():
    before = general_slice(IDS, 0.25, seed=1)
    after = general_slice([NEW, *IDS], 0.25, seed=1)
    assert len(before) == 50 and before == sorted(before)
    assert len(set(before) ^ (set(after) - {NEW})) <= 1
    manifest = pl.DataFrame({"record_id": [NEW, *IDS], "source": ["held"] * 201})
    with_new = target_records(manifest, ["held"], seed=1)
    without = target_records(manifest.filter(pl.col("record_id") != NEW), ["held"], seed=1)
    assert [i for i in with_new if i != NEW] == without and without != IDS


def test_an_arms_repeats_of_a_record_do_not_depend_on_the_other_records():
    manifest = pl.DataFrame({"record_id": [NEW, *IDS], "epochs": [1.5] * 201})
    before = repeats("mira", manifest, IDS, seed=2)
    after = repeats("mira", manifest, [NEW, *IDS], seed=2)
    assert set(before.tolist()) == {1, 2} and np.array_equal(after[1:], before)


def test_a_record_added_to_a_planted_source_moves_no_other_records_defect():
    rows = [{"id": f"m{i:03d}", "text": f"x_{i} = {i}\n" * 5} for i in range(40)]
    _, kinds = plant("code", rows, seed=0, rate=0.25)
    _, kinds_after = plant("code", [{"id": "new", "text": "y = 1\n" * 5}, *rows], seed=0, rate=0.25)
    assert sum(k != "good" for k in kinds) == 10
    moved = [i for i, (a, b) in enumerate(zip(kinds, kinds_after[1:], strict=True)) if a != b]
    # which records are broken is keyed by id; a kind goes round-robin over that order, so the new record (if
    # broken) shifts the kinds of those after it, but no good record turns broken except at the share's edge
    assert sum((kinds[i] == "good") != (kinds_after[1 + i] == "good") for i in moved) <= 1
