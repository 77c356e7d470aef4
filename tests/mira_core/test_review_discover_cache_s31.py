"""Review of rubric discovery, the teacher's request cache and its spend ledger (session 31): `mira rubrics` refuses
a rubric file whose group is not its name (as the stages do), a damaged stored answer is asked again instead of
json's traceback (or SQLite's advice to set the whole cache aside); seeded random checks of the ledger's caps and
counts, of a rubric's version through a save and a hand reformat, and of the cache's "an answer stays" rule."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from mira_core.errors import ConfigError
from mira_core.rubric import Anchor, Rubric, Scale, diff_lines, diff_rubrics, load_rubric, parse_rubric, save_rubric
from mira_core.teachers.base import Doc, Outcome, Request
from mira_core.teachers.cache import RequestCache
from mira_core.teachers.spend import WAIT, CapReached, SpendLedger

REQ = Request("judge", Doc("s/1", "s", "text", "a record"))


def _rubric(group: str, source: str) -> Rubric:
    return Rubric(group=group, teacher="t", prompt_version="p", sources=[source],
                  anchors=[Anchor(id="a00", name="n", description="d", exemplar_reason="e", support=1)]).with_version()


def test_mira_rubrics_refuses_a_rubric_file_whose_group_is_not_its_name(tmp_path):
    """rubrics_at keyed rubrics by the group inside each file: a copy of g0.json saved as g1.json replaced g0's
    rubric in `mira rubrics show` and `diff` (g0 shown with g1's file, g1 missing), while the stages read g1.json as
    g1's rubric (load_rubrics refuses it)."""
    from flows.rubrics import rubrics_at

    folder = tmp_path / "data" / "rubrics"
    folder.mkdir(parents=True)
    save_rubric(_rubric("g0", "a"), folder / "g0.json")
    save_rubric(_rubric("g1", "b"), folder / "g1.json")
    assert {g: r.sources for g, r in rubrics_at(tmp_path, "workspace").items()} == {"g0": ["a"], "g1": ["b"]}
    save_rubric(_rubric("g0", "b"), folder / "g1.json")
    with pytest.raises(ConfigError, match=r"^data/rubrics/g1\.json at 'workspace': holds the rubric of group 'g0', "
                       r"not 'g1' \(a copy of g0\.json\?\); re-run the discover stage"):
        rubrics_at(tmp_path, "workspace")


@pytest.mark.parametrize("damage", ["'{\"judgm'", "CAST(x'7bff7d' AS TEXT)", "'null'"],
                         ids=["cut-json", "not-utf8", "no-object"])
def test_a_damaged_stored_answer_is_asked_again(tmp_path, damage, caplog):
    """A stored answer whose bytes do not read back was json's traceback on every run (naming no file), or for a bad
    byte SQLite's error, whose advice was to set the whole cache aside; and as a failure never replaces an answer,
    a fresh answer could not replace it either. Now it is left out (asked again), and the new answer stored."""
    path = tmp_path / "cache.sqlite"
    cache = RequestCache(path)
    cache.put_many([("k1", REQ, Outcome("s/1", True, {"judgments": []})),
                    ("k2", REQ, Outcome("s/1", True, {"judgments": []}))])
    cache.close()
    con = sqlite3.connect(path)
    con.execute(f"UPDATE requests SET data = {damage} WHERE key = 'k1'")
    con.commit()
    con.close()
    cache = RequestCache(path)
    assert set(cache.get_many(["k1", "k2"])) == {"k2"}
    assert "1 stored answer(s) did not read back" in caplog.text and str(path) in caplog.text
    cache.put_many([("k1", REQ, Outcome("s/1", True, {"judgments": [1]}))])
    assert cache.get_many(["k1"])["k1"].data == {"judgments": [1]}
    cache.close()


def test_random_cache_writes_keep_the_first_answer_and_the_last_failure(tmp_path):
    for seed in range(40):
        rnd = random.Random(seed)
        cache = RequestCache(tmp_path / f"c{seed}.sqlite")
        want: dict[str, Outcome] = {}
        for _ in range(rnd.randint(1, 10)):
            items = []
            for _ in range(rnd.randint(1, 4)):
                k = f"k{rnd.randint(0, 4)}"
                o = (Outcome("s/1", True, {"v": rnd.random(), "t": "e\u0301 🙂"}) if rnd.random() < 0.5
                     else Outcome.failure("s/1", f"e{rnd.random()}", rnd.choice(["transient", "permanent"])))
                items.append((k, REQ, o))
                if k not in want or not want[k].ok:
                    want[k] = o
            cache.put_many(items)
        got = cache.get_many([f"k{i}" for i in range(5)])
        assert {k: (o.ok, o.data, o.error) for k, o in got.items()} == {
            k: (o.ok, o.data, o.error) for k, o in want.items()}, seed
        cache.close()


def test_random_holds_and_settles_keep_the_ledger_within_its_caps(tmp_path):
    """Requests counted once per hold, the settled cost the sum of what was settled, and the settled cost plus
    what is still held never past max_cost (settles at or below their worst case), whatever the order."""
    for seed in range(40):
        rnd = random.Random(seed)
        max_requests = rnd.choice([None, rnd.randint(1, 8)])
        max_cost = rnd.choice([None, rnd.uniform(1e-4, 1e-2)])
        ledger = SpendLedger(tmp_path / f"l{seed}.sqlite", "run", max_requests, max_cost, rnd.uniform(0.1, 5),
                             rnd.uniform(0.1, 20), rnd.randint(1, 500))
        holds: dict[int, float] = {}
        sent, settled = 0, 0.0
        for _ in range(30):
            if holds and rnd.random() < 0.5:
                hold = rnd.choice(list(holds))
                worst = holds.pop(hold)
                cost = rnd.choice([0.0, worst, rnd.uniform(0, worst)])
                ledger.settle(hold, cost)
                settled += cost
            else:
                worst = ledger.worst_case([{"role": "user", "content": "é" * rnd.randint(0, 200)}])
                try:
                    hold = ledger.try_hold(worst)
                except CapReached:
                    continue
                if hold != WAIT:
                    holds[int(hold)], sent = worst, sent + 1
            requests, cost = ledger.totals()
            assert requests == sent and cost == pytest.approx(settled, abs=1e-12), seed
            assert max_requests is None or requests <= max_requests, seed
            assert max_cost is None or cost + sum(holds.values()) <= max_cost + 1e-12, seed
        ledger.close()


_CHARS = "abXY _-é½≥🙂\u0301\t\n\"\\[]{}"


def _random_rubric(rnd: random.Random) -> Rubric:
    def text(lo: int = 0) -> str:
        return "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(lo, 8)))

    names = sorted({text(1) for _ in range(rnd.randint(0, 4))})
    return Rubric(group="g0", teacher=text(1), prompt_version=text(1), sources=sorted(text(1) for _ in range(2)),
                  scale=Scale(min=rnd.randint(-3, 2), max=rnd.randint(3, 9)), n_sampled=rnd.randint(0, 9),
                  anchors=[Anchor(id=f"a{i:02d}", name=n, description=text(), exemplar_reason=text(),
                                  support=rnd.randint(0, 10**12)) for i, n in enumerate(names)]).with_version()


def test_random_rubrics_keep_their_version_through_a_save_and_a_hand_reformat(tmp_path):
    for seed in range(100):
        rnd = random.Random(seed)
        rubric = _random_rubric(rnd)
        save_rubric(rubric, tmp_path / "g0.json")
        assert load_rubric(tmp_path / "g0.json") == rubric, seed
        raw = json.loads((tmp_path / "g0.json").read_text(encoding="utf-8"))
        again = parse_rubric(json.dumps(raw, indent=rnd.choice([None, 4]), ensure_ascii=rnd.random() < 0.5))
        assert again.version == rubric.version, seed
        same = diff_rubrics({"g0": rubric}, {"g0": again})["g0"]
        assert same["status"] == "same" and not diff_lines(same), seed
        other = _random_rubric(rnd)
        d = diff_rubrics({"g0": rubric}, {"g0": other})["g0"]
        assert (d["status"] == "changed") == (other.version != rubric.version), seed


def test_a_dimension_name_in_another_unicode_form_is_the_same_name():
    # a decomposed accent read as a separator ('Cafe\u0301' -> 'cafe', 'Café' -> 'café'), full-width letters kept as
    # they were: one dimension in two forms became two anchors (found by a review)
    from mira_core.teachers.base import normalize_name

    assert normalize_name("Cafe\u0301 Quality") == normalize_name("Café quality") == "café_quality"
    assert normalize_name("ＣＯＤＥ Readability") == normalize_name("code readability") == "code_readability"


def test_a_teachers_close_closes_its_cache_and_its_spend_ledger(tmp_path):
    # discover's and label's tasks closed the cache only when they succeeded, and the spend ledger never: each task
    # (label has one per chunk) left SQLite connections open; they now close the teacher on every path
    from mira_core.config import TeacherParams
    from mira_core.teachers import make_teacher

    p = TeacherParams(provider="openai", model="m", base_url="http://127.0.0.1:9/v1", api_key_env=None, max_cost=1.0,
                      price_input_per_1m=1.0, price_output_per_1m=1.0, cache_path="c.sqlite")
    t = make_teacher(p, tmp_path, {}, run_id="r")
    assert t.backend.budget is not None
    t.close()
    for con in (t.cache._con, t.backend.budget._con):
        with pytest.raises(sqlite3.ProgrammingError):  # "Cannot operate on a closed database"
            con.execute("SELECT 1")
