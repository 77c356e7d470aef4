"""Tests of the planted-defect benchmark: the corpus has the advertised defects at the advertised rate, and
`evaluate` gives the figures worked out by hand."""

from __future__ import annotations

import ast
import hashlib
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.errors import ConfigError
from mira_core.ingest.source import ingest_source
from mira_core.planted import (
    KINDS,
    PLACEHOLDERS,
    PROMOS,
    SOURCES,
    _asked_name,
    _def_name,
    build_planted_corpus,
    evaluate,
    perfect_group,
    render_markdown,
    teacher_drops,
)

N = 16  # per source: a quarter is 4 defects, so every kind of every source appears at least once


def _rows(folder: Path, source: str) -> dict[str, dict]:
    lines = (folder / SOURCES[source][0]).read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def _digest(folder: Path) -> str:
    """Of the sources and the truth (planted.json names the folder, so it differs between two folders)."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.name != "planted.json":
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The same seed built twice at a quarter, once with no defect, and another seed."""
    root = tmp_path_factory.mktemp("planted")
    out = {}
    for name, seed, rate in (("a", 0, 0.25), ("again", 0, 0.25), ("clean", 0, 0.0), ("seed1", 1, 0.25)):
        out[name] = (root / name, build_planted_corpus(root / name, seed=seed, defect_rate=rate, records_per_source=N))
    return out


def test_exact_rate_every_kind_and_deterministic(built):
    folder, info = built["a"]
    truth = pl.read_parquet(folder / "truth.parquet")
    assert truth.height == 4 * N == info["records"]
    for source in SOURCES:
        t = truth.filter(pl.col("source") == source)
        assert t.height == N and t["defect"].sum() == N // 4, source
        kinds = Counter(t.filter("defect")["kind"])
        assert set(kinds) == set(KINDS[source]) and max(kinds.values()) - min(kinds.values()) <= 1, kinds
        assert (t["kind"] == "good").sum() == N - N // 4
    assert len({k for ks in KINDS.values() for k in ks}) >= 10
    assert truth.filter(pl.col("defect") != (pl.col("kind") != "good")).height == 0
    assert _digest(folder) == _digest(built["again"][0]) and info["counts"] == built["again"][1]["counts"]
    assert not pl.read_parquet(built["seed1"][0] / "truth.parquet").equals(truth)
    clean = pl.read_parquet(built["clean"][0] / "truth.parquet")
    assert clean["defect"].sum() == 0 and clean["record_id"].to_list() == truth["record_id"].to_list()


def test_good_records_are_untouched_and_defects_change_theirs(built):
    folder, _ = built["a"]
    truth = pl.read_parquet(folder / "truth.parquet")
    for source in SOURCES:
        planted, clean = _rows(folder, source), _rows(built["clean"][0], source)
        assert planted.keys() == clean.keys()
        for row in truth.filter(pl.col("source") == source).iter_rows(named=True):
            native = row["record_id"].split("/", 1)[1]
            assert (planted[native] == clean[native]) != row["defect"], row


def _check_kind(kind: str, rec: dict, orig: dict, others: list[dict]) -> None:
    """Assert that `rec` (planted from `orig`) really has the defect `kind`."""
    if kind == "syntax_error":
        ast.parse(orig["text"])
        with pytest.raises(SyntaxError):
            ast.parse(rec["text"])
    elif kind == "minified":
        assert "\n" not in rec["text"] and "".join(rec["text"].split()) == "".join(orig["text"].split())
    elif kind == "generated":
        assert "DO NOT EDIT" in rec["text"] and "AddSerializedFile(b" in rec["text"]
        assert not {ln for ln in orig["text"].splitlines() if len(ln.strip()) > 30} & set(rec["text"].splitlines())
    elif kind == "data_table":
        rows = rec["text"].split("TABLE = [\n", 1)[1].splitlines()[:-1]
        assert len(rows) >= 20 and all(r.startswith("    (") and r.endswith("),") for r in rows)
        assert all(float(x) is not None for r in rows for x in r.strip(" (),").split(", "))
    elif kind == "empty_answer":
        a = rec["answer"].strip()
        if a not in PLACEHOLDERS:
            fn = ast.parse(a).body[0]
            assert isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and isinstance(fn.body[0], ast.Pass)
            assert len(fn.body) == 1 and fn.name == _def_name(orig["answer"])
    elif kind == "echoed_answer":
        assert rec["answer"] == rec["question"] == orig["question"]
    elif kind == "wrong_answer":
        assert rec["question"] == orig["question"] and rec["answer"] != orig["answer"]
        assert _def_name(rec["answer"]) not in ("", _asked_name(rec["question"]))
        ast.parse(rec["answer"])  # real code, of a QA record left out of the corpus: no near-copy of a good record
        assert rec["answer"] not in {o["answer"] for o in others}
    elif kind == "spam":
        counts = Counter(ln for ln in rec["text"].splitlines() if ln in PROMOS)
        assert sum(counts.values()) >= 5 and max(counts.values()) >= 3  # promotion lines, over and over
        assert all(p in rec["text"] for p in orig["text"].split("\n\n"))
    elif kind == "boilerplate":
        # the page's own site chrome: its first block (menu and cookie banner) and its last (the footer)
        text = rec["text"]
        nav, footer = text.split("\n\n", 1)[0], text.rsplit("\n\n", 1)[1]
        assert text.count(nav) >= 2 and "|" in nav and "Copyright" in footer
        assert (text.count(nav) * len(nav) + text.count(footer) * len(footer)) / len(text) >= 0.5
    elif kind == "truncated":
        cut = len(rec["text"])
        assert orig["text"].startswith(rec["text"]) and 0 < cut <= 0.35 * len(orig["text"])
        assert rec["text"][-1].isalnum() and orig["text"][cut].isalnum()  # in the middle of a word
    elif kind == "garbled":
        a, b = rec["text"], orig["text"]
        assert len(a) == len(b)
        changed = [i for i in range(len(a)) if a[i] != b[i]]
        assert all(b[i].isalpha() for i in changed) and len(changed) >= 0.1 * sum(c.isalpha() for c in b)
    elif kind == "broken_tool_json":
        def args(m):
            return [c["function"]["arguments"] for x in m for c in (x.get("tool_calls") or [])]
        assert all(json.loads(a) is not None for a in args(orig["messages"]))
        bad = 0
        for a in args(rec["messages"]):
            try:
                json.loads(a)
            except json.JSONDecodeError:
                bad += 1
        assert bad >= 1
    elif kind == "tool_loop":
        calls = Counter((c["function"]["name"], c["function"]["arguments"])
                        for m in rec["messages"] for c in (m.get("tool_calls") or []))
        assert max(calls.values()) >= 6
        assert rec["messages"][-1] == orig["messages"][-1]
    elif kind == "no_final_answer":
        assert orig["messages"][-1]["role"] == "assistant" and orig["messages"][-1]["content"]
        assert rec["messages"][-1]["role"] == "tool"
    else:
        raise AssertionError(f"no check for {kind}")


def test_each_defect_kind_is_really_defective(built):
    folder, _ = built["a"]
    truth = pl.read_parquet(folder / "truth.parquet").filter("defect")
    seen = set()
    for source in SOURCES:
        planted, clean = _rows(folder, source), _rows(built["clean"][0], source)
        others = list(clean.values())
        for row in truth.filter(pl.col("source") == source).iter_rows(named=True):
            native = row["record_id"].split("/", 1)[1]
            _check_kind(row["kind"], planted[native], clean[native], others)
            seen.add(row["kind"])
    assert seen == {k for ks in KINDS.values() for k in ks}


def test_the_kind_checks_can_fail(built):
    clean = _rows(built["clean"][0], "code")
    rec = next(iter(clean.values()))
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _check_kind("syntax_error", rec, rec, [])
    with pytest.raises(AssertionError):
        _check_kind("minified", rec, rec, [])


def test_ingest_reads_every_record_with_the_truth_ids(tmp_path):
    raw = tmp_path / "data" / "raw"
    info = build_planted_corpus(raw, seed=3, records_per_source=8, relative_to=tmp_path)
    assert [s["path"] for s in info["sources"]] == [f"data/raw/{f}" for f, _, _ in SOURCES.values()]
    truth = pl.read_parquet(raw / "truth.parquet")
    ids = []
    for s in info["sources"]:
        r = ingest_source(SourceSpec(**s), IngestParams(), tmp_path, tmp_path / "c" / s["name"], tmp_path / "q" / s["name"])
        assert r["quarantined"] == 0 and r["kept"] == 8 and r["truncated"] == 0, (s["name"], r)
        ids += pl.read_parquet(sorted((tmp_path / "c" / s["name"]).glob("part-*.parquet")))["record_id"].to_list()
    assert sorted(ids) == sorted(truth["record_id"].to_list())
    assert json.loads((raw / "planted.json").read_text())["sources"] == info["sources"]


def test_bad_rate_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="defect_rate"):
        build_planted_corpus(tmp_path, defect_rate=1.0, records_per_source=4)


# ---------------------------------------------------------------- evaluate on a hand-made selection
TRUTH = pl.DataFrame({
    "record_id": ["a/1", "a/2", "a/3", "b/1", "b/2", "b/3", "b/4"],
    "source": ["a", "a", "a", "b", "b", "b", "b"],
    "kind": ["good", "good", "syntax_error", "good", "spam", "good", "good"],
    "defect": [False, False, True, False, True, False, False],
})


def _manifest(kept: list[bool]) -> pl.DataFrame:
    # b/3 held out, b/4 quarantined (absent), x/9 not in the truth
    ids = ["a/1", "a/2", "a/3", "b/1", "b/2", "b/3", "x/9"]
    return pl.DataFrame({
        "record_id": ids, "source": [i[0] for i in ids], "group": "g", "n_tokens": [100, 100, 200, 300, 100, 50, 10],
        "score": 0.0, "kept": kept,
        "reason": ["kept" if k else "over_budget" for k in kept[:5]] + ["held_out", "over_budget"], "method": "m",
    })


def test_a_record_a_filter_stage_dropped_is_in_no_share():
    """A near-duplicate no method may keep is not counted as a broken record every method failed to keep."""
    manifest = _manifest([False, False, False, False, True, False, False]).with_columns(
        reason=pl.when(pl.col("record_id") == "a/3").then(pl.lit("near_duplicate")).otherwise(pl.col("reason")))
    m = evaluate(TRUTH, {"mira": manifest}, budget=0.5)["methods"]["mira"]
    assert m["broken_kept"] == 1.0 and m["by_kind"] == {"good": 0.0, "spam": 1.0}  # b/2, the one keepable
    assert m["tokens"] == 600 and m["excluded"]["dropped_records"] == 1 and m["excluded"]["dropped_tokens"] == 200


def test_evaluate_gives_the_figures_worked_by_hand():
    res = evaluate(TRUTH, {"mira": _manifest([True, False, True, False, True, False, False])}, budget=0.5)
    m = res["methods"]["mira"]
    # selectable: a/1 a/2 a/3 b/1 b/2 = 800 tokens, 300 broken (a/3, b/2); kept a/1 a/3 b/2 = 400
    assert (m["tokens"], m["kept_tokens"], m["kept"]) == (800, 400, 0.5)
    assert (m["good_kept"], m["broken_kept"], m["broken_share_of_kept"]) == (0.2, 1.0, 0.75)
    assert m["by_kind"] == {"good": 0.2, "spam": 1.0, "syntax_error": 1.0}
    assert m["by_source"]["a"] == {"tokens": 400, "corpus_share": 0.5, "kept_share": 0.75, "kept": 0.75,
                                   "broken_kept": 1.0, "good_kept": 0.5}
    assert m["by_source"]["b"]["good_kept"] == 0.0 and m["by_source"]["b"]["kept_share"] == 0.25
    assert m["excluded"] == {"quarantined_records": 1, "held_out_records": 1, "held_out_tokens": 50,
                             "dropped_records": 0, "dropped_tokens": 0, "not_in_truth_records": 1}
    # perfect: each source's budget is half its tokens (200); a keeps a/1 + a/2, b's only fitting good record
    # (b/1, 300 tokens) is over its 200
    p = res["methods"]["perfect"]
    assert (p["good_kept"], p["broken_kept"], p["kept_tokens"]) == (0.4, 0.0, 200)
    # a token budget is the same share of the 810 tokens a selection may keep (x/9 included) as the fraction: 405
    # is 0.5; 400 was taken as half of the truth's 800 tokens, another budget than the selection's
    assert evaluate(TRUTH, {"mira": _manifest([False] * 7)}, budget=405)["methods"]["perfect"] == p
    assert evaluate(TRUTH, {"mira": _manifest([False] * 7)}, budget=400)["methods"]["perfect"] != p
    assert res["corpus"]["broken_token_share"] == 0.375 and res["corpus"]["by_source"] == {"a": 0.5, "b": 0.5}
    # the most good tokens a selection keeps is its budget, half of the 810 tokens it may keep (x/9, which the truth
    # does not name, included) over the truth's 500 good ones: 0.81, not half of the truth's 800 (0.8)
    assert res["corpus"]["good_bound"] == 0.81


def test_perfect_group_shares_a_group_budget_by_good_tokens():
    """Group g holds a (400 tokens, 200 of them broken) and b (400, all good): the group's share is 400 tokens, split
    200 : 400 by good tokens, so a gets 133 (a/1 fits, a/2 does not) and b 267 (b/1 and b/2; b/3 does not fit).
    Group h keeps its own share (c/1). The source-preserving `perfect` gives a and b 200 each instead."""
    truth = pl.DataFrame({"record_id": ["a/1", "a/2", "a/3", "b/1", "b/2", "b/3", "c/1", "c/2"],
                          "source": ["a", "a", "a", "b", "b", "b", "c", "c"],
                          "kind": ["good", "good", "spam", "good", "good", "good", "good", "spam"],
                          "defect": [False, False, True, False, False, False, False, True]})
    sel = truth.with_columns(n_tokens=pl.Series([100, 100, 200, 100, 100, 200, 100, 100]),
                             group=pl.Series(["g"] * 6 + ["h"] * 2))
    assert perfect_group(sel, 0.5).filter("kept")["record_id"].to_list() == ["a/1", "b/1", "b/2", "c/1"]
    # a group with fewer good tokens than its share keeps all of them, and nothing broken
    assert perfect_group(sel, 0.9).filter("kept")["record_id"].to_list() == ["a/1", "a/2", "b/1", "b/2", "b/3", "c/1"]
    manifest = sel.with_columns(score=0.0, kept=False, reason=pl.lit("over_budget"), method=pl.lit("m"))
    res = evaluate(truth, {"mira": manifest}, budget=0.5)["methods"]
    assert [res["perfect_group"]["by_source"][s]["kept_share"] for s in "abc"] == [0.25, 0.5, 0.25]
    assert [res["perfect"]["by_source"][s]["kept_share"] for s in "abc"] == [0.4, 0.4, 0.2]
    # a good record a filter stage dropped is no selection's to keep, the perfect ones' included
    dup = manifest.with_columns(reason=pl.when(pl.col("record_id") == "b/1").then(pl.lit("near_duplicate"))
                                .otherwise(pl.col("reason")))
    res = evaluate(truth, {"mira": dup}, budget=0.5)["methods"]
    # b's shares are of its 300 keepable tokens: each perfect selector keeps b/2 (100), not the dropped b/1
    assert res["perfect"]["by_source"]["b"]["kept"] == res["perfect_group"]["by_source"]["b"]["kept"] == pytest.approx(1 / 3)
    # without a group column (a manifest from elsewhere) there is no group reference
    assert "perfect_group" not in evaluate(truth, {"mira": manifest.drop("group")}, budget=0.5)["methods"]


def test_evaluate_the_oracle_against_the_student():
    oracle = pl.DataFrame({
        "record_id": ["a/1", "a/3", "b/2", "b/1", "z/1"], "source": ["a", "a", "b", "b", "z"], "group": "g",
        "n_tokens": [100, 200, 100, 300, 5], "teacher_score": 0.0, "student_score": 0.0,
        "kept_teacher": [True, False, False, True, True], "kept_student": [True, True, False, False, True],
    })
    res = evaluate(TRUTH, {"mira": _manifest([False] * 7)}, 0.5, oracle=oracle)["oracle"]
    assert res["records"] == 4 and res["not_in_truth_records"] == 1 and res["agreement"] == 0.5
    assert (res["teacher"]["broken_kept"], res["teacher"]["good_kept"]) == (0.0, 1.0)
    assert (res["student"]["broken_kept"], res["student"]["good_kept"]) == pytest.approx((2 / 3, 0.25))
    assert res["broken_removal_kept"] == pytest.approx(1 / 3)  # (1 - 2/3) / (1 - 0)
    assert res["labeled_by_kind"] == {"good": 2, "spam": 1, "syntax_error": 1}


def test_kinds_the_teacher_scores_low_are_read_off_its_own_cut():
    """The teacher's cut drops a/3 (syntax_error) and b/2 (spam); MIRA keeps the spam: it is named as over the bar.
    A kind the teacher's own cut keeps is its judgment, and is not listed."""
    oracle = pl.DataFrame({
        "record_id": ["a/1", "a/3", "b/2", "b/1"], "source": ["a", "a", "b", "b"], "group": "g",
        "n_tokens": [100, 200, 100, 300], "teacher_score": 0.0, "student_score": 0.0,
        "kept_teacher": [True, False, False, True], "kept_student": [True, False, True, True],
    })
    res = evaluate(TRUTH, {"mira": _manifest([True, False, False, False, True, False, False])}, 0.5, oracle=oracle)
    low = teacher_drops(res)
    assert low == {"spam": {"teacher_kept": 0.0, "mira_kept": 1.0, "labeled": 1},
                   "syntax_error": {"teacher_kept": 0.0, "mira_kept": 0.0, "labeled": 1}}
    md = render_markdown(res)
    assert "MIRA keeps more than 20% of: spam (100.0%)." in md
    assert "| spam | 100.0% |" in md and "0.0% / 100.0% (1) |" in md
    oracle = oracle.with_columns(kept_teacher=pl.lit(True))  # the teacher keeps everything: nothing to answer for
    assert teacher_drops(evaluate(TRUTH, {"mira": _manifest([False] * 7)}, 0.5, oracle=oracle)) == {}


def test_the_whole_corpus_teacher_oracle_sits_beside_mira_kind_by_kind():
    """A `teacher_scores` manifest (select on the teacher's own scores of every record) keeps a/3's syntax error but
    drops b/2's spam; MIRA keeps both: the spam is named with the teacher's figure, and MIRA's removal is set against
    the teacher's."""
    from mira_core.planted import TEACHER_ALL, removal_kept

    oracle = pl.DataFrame({
        "record_id": ["a/1", "a/3", "b/2", "b/1"], "source": ["a", "a", "b", "b"], "group": "g",
        "n_tokens": [100, 200, 100, 300], "teacher_score": 0.0, "student_score": 0.0,
        "kept_teacher": [True, False, False, True], "kept_student": [True, False, True, True],
    })
    manifests = {"mira": _manifest([True, False, True, False, True, False, False]),
                 TEACHER_ALL: _manifest([True, True, True, False, False, False, False])}
    res = evaluate(TRUTH, manifests, 0.5, oracle=oracle)
    low = teacher_drops(res)
    assert low["spam"] == {"teacher_kept": 0.0, "mira_kept": 1.0, "labeled": 1, "teacher_all_kept": 0.0}
    assert low["syntax_error"]["teacher_all_kept"] == 1.0
    md = render_markdown(res)
    assert f"MIRA keeps more than 20% of: spam (100.0%; `{TEACHER_ALL}` 0.0%), syntax_error (100.0%; " in md
    # the teacher's scores keep a/1 a/2 (200 of the 500 good tokens) and a/3 (200 of the 300 broken); MIRA keeps all
    # 300 broken: none of the teacher's removal
    assert "keeps 40.0% of the good tokens and 66.7% of the broken; MIRA keeps 0.0% of its removal" in md
    assert "Kinds where they differ (MIRA / the teacher's scores): spam 100.0% / 0.0%." in md
    assert res["teacher_all"] == {"spam": {"both": 0, "mira_only": 1, "teacher_only": 0, "records": 1},
                                  "syntax_error": {"both": 1, "mira_only": 0, "teacher_only": 0, "records": 1}}
    assert ("the students let through (MIRA keeps, the teacher's scores drop): spam 1 of 1; the students drop (the "
            "teacher's scores keep): none; both keep: syntax_error 1 of 1.") in md
    assert removal_kept(0.1, 0.2) == 1.125 and removal_kept(0.5, 1.0) is None and removal_kept(None, 0.1) is None
    assert TEACHER_ALL not in render_markdown(evaluate(TRUTH, {"mira": manifests["mira"]}, 0.5, oracle=oracle))


def test_a_kind_the_labeled_cut_keeps_still_counts_when_the_teacher_scores_of_every_record_drop_it():
    """The labeled cut keeps b/2's spam (its one labeled record), but `teacher_scores` drops it: the teacher scores
    spam low, so MIRA keeping it is over the bar. Without `teacher_scores` the labeled cut alone decides."""
    from mira_core.planted import TEACHER_ALL, teacher_low_kept

    oracle = pl.DataFrame({
        "record_id": ["a/1", "a/3", "b/2", "b/1"], "source": ["a", "a", "b", "b"], "group": "g",
        "n_tokens": [100, 200, 100, 300], "teacher_score": 0.0, "student_score": 0.0,
        "kept_teacher": [True, True, True, True], "kept_student": [True, True, True, True],
    })
    mira = _manifest([True, False, True, False, True, False, False])
    res = evaluate(TRUTH, {"mira": mira, TEACHER_ALL: _manifest([True, True, True, True, False, False, False])},
                   0.5, oracle=oracle)
    assert teacher_drops(res) == {"spam": {"teacher_kept": 1.0, "mira_kept": 1.0, "labeled": 1,
                                           "teacher_all_kept": 0.0}}
    assert teacher_low_kept(res) == ["spam"]
    assert teacher_drops(evaluate(TRUTH, {"mira": mira}, 0.5, oracle=oracle)) == {}


def test_evaluate_rejects_a_manifest_without_its_columns():
    with pytest.raises(ConfigError, match="n_tokens"):
        evaluate(TRUTH, {"mira": _manifest([False] * 7).drop("n_tokens")})


def test_markdown_names_every_method_kind_and_source():
    res = evaluate(TRUTH, {"mira": _manifest([True, False, True, False, True, False, False]),
                           "random": _manifest([False, True, False, True, False, False, False])}, budget=0.5)
    md = render_markdown(res)
    assert "| `mira` | 50.0% | 20.0% | 100.0% | 75.0% |" in md
    assert md.index("`mira`") < md.index("`random`") < md.index("`perfect_group`") < md.index("`perfect`")
    # mira keeps a 300 / b 100 tokens; both references keep only a's good records (b/1, 300 tokens, fits neither
    # b's 200 nor its 240 of the group's 400), so a's share is 75 % against 100 %
    assert ("MIRA's share of the kept tokens, per source: against `perfect_group` the largest gap is -25.0 points (a); "
            "against `perfect` the largest gap is -25.0 points (a).") in md
    assert "| syntax_error |" in md and "| a (50.0%) |" in md and "1 in the truth and in no manifest" in md


def test_the_perfect_selectors_budget_is_a_share_of_the_tokens_no_filter_dropped():
    """MIRA's budget is a share of the tokens the filter stages leave; so is the perfect selectors', or the
    ceiling they set would be too high whenever dedup or decontaminate drops anything."""
    from mira_core.planted import perfect

    df = pl.DataFrame({"record_id": ["s/1", "s/2", "s/3", "s/4"], "source": "s", "group": "g",
                       "kind": "good", "defect": False, "n_tokens": 100,
                       "reason": ["over_budget", "over_budget", "near_duplicate", "contaminated"]})
    for selector in (perfect, perfect_group):
        kept = selector(df, 0.5).filter("kept")
        assert kept["n_tokens"].sum() == 100 and kept["record_id"].to_list() == ["s/1"], selector.__name__


def test_a_module_that_says_it_is_generated_is_never_a_good_record(tmp_path):
    # the truth calls what it keeps good: keyword.py's "automatically generated" header slipped past a case-sensitive
    # mark, and the rules teacher scores such files low on autogenerated_markers
    from mira_core.demo_corpus import Roots
    from mira_core.planted import good_records

    std, sp, inc = (tmp_path / x for x in ("std", "sp", "inc"))
    for p in (std, sp, inc):
        p.mkdir()
    body = "".join(f"def func_{i}(value):\n    return value * {i} + len(str(value))\n\n\n" for i in range(12))
    heads = {"kw": '"""Keywords\n\nThis file is automatically generated; please don\'t muck it up!\n"""\n',
             "hf": "# THIS FILE HAS BEEN AUTOGENERATED. To update:\n# 1. modify setup.py\n",
             "ply": "# parser_table.py\n# This file is automatically generated. Do not edit.\n", "plain": "# plain\n"}
    for name, head in heads.items():
        for j in range(4):
            (std / f"{name}_{j}.py").write_text(head + body + f"X_{j} = {j}\n")
    good = good_records(Roots(std, sp, inc), seed=0, n=50)  # no docs at all: no crash either
    assert good["code"] and all(r["id"].rsplit("/", 1)[-1].startswith("plain") for r in good["code"]), \
        sorted(r["id"] for r in good["code"])


def test_a_stub_is_never_a_good_qa_answer(tmp_path):
    # an abstract method (docstring, then raise NotImplementedError) is the empty_answer defect's shape: the truth
    # called it good, and a selector that rightly dropped it lost good tokens (11 of 225 good QA records on seed 0)
    from mira_core.demo_corpus import Roots
    from mira_core.planted import good_records
    from mira_core.planted_defects import is_stub

    std, sp, inc = (tmp_path / x for x in ("std", "sp", "inc"))
    for p in (std, sp, inc):
        p.mkdir()
    for j in range(8):
        funcs = [f'def real_{j}_{i}(value):\n    """Scale the value."""\n    return value * {i} + len(str(value))\n'
                 for i in range(3)]
        funcs += [f'def stub_{j}_{i}(value):\n    """Scale the value (subclasses do)."""\n    {body}\n'
                  for i, body in enumerate(("raise NotImplementedError", "pass", "...", "raise NotImplementedError()"))]
        # a module gives at most 3 answers, its first documented functions: a stub and two real ones here
        pad = "".join(f"\n\ndef helper_{i}(value):\n    return value + {i}\n" for i in range(12))  # past min_file_bytes
        (std / f"mod_{j}.py").write_text("\n\n".join([funcs[3 + j % 4], funcs[0], funcs[1]]) + pad)
    good = good_records(Roots(std, sp, inc), seed=0, n=50)
    assert good["qa"] and not [r["id"] for r in good["qa"] if is_stub(r["answer"])]
    assert all("real_" in r["id"] for r in good["qa"]), sorted(r["id"] for r in good["qa"])


def test_syntax_errors_touch_only_brackets_and_colons_after_a_form_feed():
    import random

    from mira_core.planted_defects import syntax_error

    code = 'def f(a):\n    return a\n\x0c\ndef g(b):\n    return {"k": [b]}\n'
    for seed in range(50):
        out = syntax_error({"id": "x", "text": code}, random.Random(seed), [])["text"]
        removed = Counter(code) - Counter(out)
        assert set(removed) <= set("()[]{}:"), (seed, removed)


def test_shares_are_not_rounded_before_a_bar_reads_them():
    # 10,001 broken tokens kept of 100,000: 10.001 %, over the 10 % bar. Rounded to 4 digits it read 0.1, which
    # the targets' rule (at most 0.10) passed.
    from mira_core.planted import figures

    df = pl.DataFrame({"record_id": ["s/1", "s/2", "s/3"], "source": "s", "kind": ["spam", "spam", "good"],
                       "defect": [True, True, False], "n_tokens": [10_001, 89_999, 50_000],
                       "kept": [True, False, True]})
    f = figures(df)
    assert f["broken_kept"] > 0.10 and f["broken_kept"] == pytest.approx(0.10001)


def test_planted_json_says_how_many_records_each_source_got(tmp_path):
    # A small installation (here: a few modules, no docs, no packages) yields fewer records than asked; planted.json
    # recorded only the number asked, so a user read 400 per source where a source had none.
    from mira_core.demo_corpus import Roots

    std, sp, inc = (tmp_path / x for x in ("std", "sp", "inc"))
    for p in (std, sp, inc):
        p.mkdir()
    for j in range(6):
        (std / f"mod_{j}.py").write_text("".join(f"def func_{i}(v):\n    return v * {i} + {j}\n\n\n" for i in range(12)))
    info = build_planted_corpus(tmp_path / "out", seed=0, records_per_source=50, roots=Roots(std, sp, inc))
    assert info["records_per_source"] == 50
    assert info["records_by_source"] == {s: sum(c.values()) for s, c in info["counts"].items()}
    assert sum(info["records_by_source"].values()) == info["records"] and info["records_by_source"]["docs"] < 50
    assert json.loads((tmp_path / "out" / "planted.json").read_text())["records_by_source"] == info["records_by_source"]
