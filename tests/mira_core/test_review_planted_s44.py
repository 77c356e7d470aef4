"""Session 44: the planted corpus's own near-copies. Boilerplate pages shared one fixed chrome, so two of them (short
sections, a fifth of each kept) were near-duplicates dedup dropped; a wrong answer was another corpus record's
answer, a near-copy of a good record. Each test fails on the old generators."""

from __future__ import annotations

import json
import random

import polars as pl

from mira_core.dedup import shingle_hashes
from mira_core.filter_params import DedupParams
from mira_core.planted import SOURCES, build_planted_corpus, plant
from mira_core.planted_defects import boilerplate, wrong_answer

PAGE = "\n\n".join(f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(14)) for i in range(8))


def _jaccard(a: str, b: str) -> float:
    p = DedupParams()
    x, y = set(shingle_hashes(a, p).tolist()), set(shingle_hashes(b, p).tolist())
    return len(x & y) / len(x | y)


def test_two_boilerplate_pages_are_not_near_copies():
    # two different short pages: what they share is only what the generator pastes in
    other = PAGE.replace("word", "term")
    pages = [boilerplate({"id": str(i), "text": t}, random.Random(f"0:docs:{i}"), [])["text"]
             for i, t in enumerate((PAGE, other))]
    assert _jaccard(PAGE, other) == 0.0
    assert _jaccard(*pages) < 0.5 < DedupParams().threshold
    # within a page the chrome repeats, as a crawl repeats it
    blocks = pages[0].split("\n\n")
    assert blocks.count(blocks[0]) >= 2


def test_chrome_varies_with_the_seeded_generator():
    navs = {boilerplate({"id": "a", "text": PAGE}, random.Random(k), [])["text"].split("\n\n", 1)[0] for k in range(20)}
    assert len(navs) >= 15


def _qa(prefix: str, name: str, n: int) -> list[dict]:
    """n QA records asking for function `<name><i>`, each answered by it."""
    return [{"id": f"{prefix}{i}", "question": f"Write `{name}{i}`.", "answer": f"def {name}{i}(x):\n    return x + {i}\n"}
            for i in range(n)]


def test_plant_draws_wrong_answers_from_the_pool_it_is_given():
    rows, spare = _qa("", "f", 8), _qa("s", "g", 8)
    planted, kinds = plant("qa", rows, seed=0, rate=1.0, pool=spare)
    wrong = [r for r, k in zip(planted, kinds, strict=True) if k == "wrong_answer"]
    assert wrong and all(r["answer"] in {s["answer"] for s in spare} for r in wrong)
    # without a pool, the rows themselves (the old behaviour, kept for a small installation)
    planted, kinds = plant("qa", rows, seed=0, rate=1.0)
    wrong = [r for r, k in zip(planted, kinds, strict=True) if k == "wrong_answer"]
    assert all(r["answer"] in {s["answer"] for s in rows} for r in wrong)
    pool = list(spare)
    rec = wrong_answer(rows[0], random.Random(0), pool)
    assert rec["question"] == rows[0]["question"] and rec["answer"] in {s["answer"] for s in spare}
    assert rec["answer"] not in {s["answer"] for s in pool} and len(pool) == len(spare) - 1  # taken out of the pool


def test_the_built_corpus_has_no_wrong_answer_from_itself(tmp_path):
    info = build_planted_corpus(tmp_path / "p", seed=0, records_per_source=12)
    assert info["wrong_answers_from"] == "spare QA records"
    qa = [json.loads(line) for line in (tmp_path / "p" / SOURCES["qa"][0]).read_text().splitlines()]
    clean = build_planted_corpus(tmp_path / "c", seed=0, defect_rate=0.0, records_per_source=12)
    assert clean["records"] == info["records"]
    good = {json.loads(line)["answer"] for line in (tmp_path / "c" / SOURCES["qa"][0]).read_text().splitlines()}
    truth = {r["record_id"]: r["kind"] for r in
             pl.read_parquet(tmp_path / "p" / "truth.parquet").iter_rows(named=True)}
    wrong = [r for r in qa if truth[f"qa/{r['id']}"] == "wrong_answer"]
    assert wrong and not any(r["answer"] in good for r in wrong)
    assert all(r["answer"].lstrip().startswith(("def ", "async def ", "@")) for r in wrong)


def test_no_two_wrong_answers_borrow_one_answer():
    rows, spare = _qa("", "f", 12), _qa("s", "g", 4)
    planted, kinds = plant("qa", rows, seed=0, rate=1.0, pool=spare)
    wrong = [r["answer"] for r, k in zip(planted, kinds, strict=True) if k == "wrong_answer"]
    assert len(wrong) == 4 and len(set(wrong)) == 4
    assert len(spare) == 4  # the caller's pool is not consumed
