"""The figures the README and the docs quote from the benchmarks: each pattern still finds its sentence, and a
sync rewrites numbers, keeps the text around them, and reports claims that no longer hold."""

import re

import pytest

from bench import doc_figures
from bench.doc_figures import REPO, Figure, regex, sync


@pytest.mark.parametrize("figure", doc_figures.FIGURES, ids=lambda f: f"{f.path}:{f.pattern[:40]}")
def test_every_pattern_finds_its_sentence_once(figure):
    # a doc reworded without its pattern would silently stop being synced: this is the test that notices
    text = (REPO / figure.path).read_text()
    assert len(regex(figure.pattern).findall(text)) == 1, figure.pattern


def _doc(tmp_path, text):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(text)
    return tmp_path / "docs" / "a.md"


def test_sync_rewrites_numbers_across_a_line_wrap_and_keeps_the_rest(tmp_path):
    doc = _doc(tmp_path, "Intro.\nMIRA keeps 6.4 % of the\n  broken tokens and 65.1 % of the good. Tail 6.4 %.\n")
    fig = Figure("docs/a.md", "MIRA keeps {} % of the broken tokens and {} % of the good.",
                 lambda r: [f"{r['broken']:.1f}", f"{r['good']:.1f}"])
    report = sync({"broken": 5.25, "good": 70.0}, [fig], repo=tmp_path)
    assert doc.read_text() == "Intro.\nMIRA keeps 5.2 % of the\n  broken tokens and 70.0 % of the good. Tail 6.4 %.\n"
    assert report.changed == [f"docs/a.md: 6.4 / 65.1 -> 5.2 / 70.0 in {fig.pattern!r}"]
    assert report.problems == [] and report.skipped == []
    # a second sync from the same results changes nothing
    assert sync({"broken": 5.25, "good": 70.0}, [fig], repo=tmp_path).changed == []


def test_check_mode_reports_without_writing(tmp_path):
    doc = _doc(tmp_path, "loss 5.562 here\n")
    fig = Figure("docs/a.md", "loss {} here", lambda r: ["5.600"])
    report = sync({}, [fig], repo=tmp_path, write=False)
    assert report.changed and doc.read_text() == "loss 5.562 here\n"


def test_a_claim_that_no_longer_holds_is_reported_and_its_numbers_still_synced(tmp_path):
    doc = _doc(tmp_path, "MIRA's mean is 0.010 above the full corpus's.\n")
    fig = Figure("docs/a.md", "MIRA's mean is {} above the full corpus's.", lambda r: [f"{r['mira'] - r['full']:.3f}"],
                 claim=lambda r: r["mira"] > r["full"], why="mira above full")
    report = sync({"mira": 5.50, "full": 5.52}, [fig], repo=tmp_path)
    assert "-0.020 above" in doc.read_text()
    assert len(report.problems) == 1 and "no longer true" in report.problems[0] and "mira above full" in report.problems[0]


def test_a_pattern_that_matches_twice_or_never_is_reported_and_nothing_written(tmp_path):
    doc = _doc(tmp_path, "keeps 1 % and keeps 2 %\n")
    twice = Figure("docs/a.md", "keeps {} %", lambda r: ["9"])
    never = Figure("docs/a.md", "drops {} %", lambda r: ["9"])
    report = sync({}, [twice, never], repo=tmp_path)
    assert [p.split(":")[1].strip() for p in report.problems] == [
        "the pattern matches 2 times, not once", "the pattern matches 0 times, not once"]
    assert doc.read_text() == "keeps 1 % and keeps 2 %\n"


def test_a_figure_whose_section_was_not_measured_is_skipped(tmp_path):
    doc = _doc(tmp_path, "loss 5.562 here\n")
    fig = Figure("docs/a.md", "loss {} here", lambda r: [f"{r['ablations']['mira']:.3f}"])
    report = sync({"planted": {}}, [fig], repo=tmp_path)
    assert report.skipped and not report.changed and doc.read_text() == "loss 5.562 here\n"


def test_a_figure_with_the_wrong_number_of_values_is_a_problem_not_a_skip(tmp_path):
    # e.g. a sentence written for two seeds read from a run of three: reported beside the others, the doc untouched
    doc = _doc(tmp_path, "a 1 b 2\n")
    report = sync({}, [Figure("docs/a.md", "a {} b {}", lambda r: ["1", "2", "3"])], repo=tmp_path)
    assert report.problems == ["docs/a.md: 'a {} b {}' has 2 slots but the run gives 3 values"]
    assert not report.skipped and doc.read_text() == "a 1 b 2\n"


def test_relation_reads_the_evaluation_note():
    arm = {"note": "within noise of mira, random; lower loss than mira_source, mira_no_mask (beyond noise); "
                   "higher loss than mira_raw_scale (beyond noise)"}
    assert doc_figures.relation(arm, "random") == "within"
    assert doc_figures.relation(arm, "mira_no_mask") == "lower"
    assert doc_figures.relation(arm, "mira_raw_scale") == "higher"
    with pytest.raises(KeyError):
        doc_figures.relation(arm, "mira_trimmed_mean")  # a name that is a prefix of nothing listed


def test_number_slots_take_signs_and_thousands():
    m = regex("gap {} points, {} records").search("gap -0.8 points, 1,200 records")
    assert m and m.groups() == ("-0.8", "1,200")
    assert not re.fullmatch(doc_figures.NUMBER, "abc")


def test_any_run_of_whitespace_matches_any_other():
    # a sentence rewrapped by hand still matches its pattern: a line break and its indent, or one space
    assert regex("kept by\n  MIRA too ({} %)").search("kept by MIRA too (5 %)")
    assert regex("kept by MIRA too ({} %)").search("kept by\n  MIRA\ttoo (5 %)")
    assert not regex("kept by MIRA").search("kept byMIRA")  # whitespace where the pattern has it
    assert regex("a.b {}").search("a.b 1") and not regex("a.b {}").search("axb 1")  # the words stay literal


def test_the_docs_say_what_the_recorded_run_measured():
    # bench/figures.json is written by the same bench run that rewrites BENCHMARKS.md; a figure edited by hand
    # in a doc, or a run whose figures were not synced into the docs, fails here
    import json

    report = sync(json.loads(doc_figures.RECORD.read_text()), doc_figures.FIGURES, write=False,
                  blocks=doc_figures.BLOCKS)
    assert report.changed == [] and report.problems == [] and report.skipped == []


def test_extract_keeps_what_the_figures_read_and_nothing_else():
    import json

    recorded = json.loads(doc_figures.RECORD.read_text())
    assert doc_figures.extract(recorded) == recorded  # an extract of an extract is itself
    assert set(recorded) <= {"measured_at", "commit", "section_measured", "planted", "pipeline", "ablations"}


def test_a_partial_run_keeps_the_figures_of_the_sections_it_did_not_run(tmp_path):
    # a fresh checkout has no bench/.work/results.json: `bench.run --only planted` there must not drop the
    # pipeline's and the ablations' figures that the docs quote
    import json

    path = tmp_path / "figures.json"
    old = {"commit": "aaa", "pipeline": {"quality": {"g0": 1}}, "ablations": {"arms": {}, "retention": {}},
           "planted": {"arms": {"default": "old"}, "seconds": 1},
           "section_measured": {"pipeline": {"commit": "aaa"}, "planted": {"commit": "aaa"}}}
    path.write_text(json.dumps(old))
    doc_figures.record({"commit": "bbb", "planted": {"arms": {}, "seconds": 2},
                        "section_measured": {"planted": {"commit": "bbb"}, "embedding": {"commit": "bbb"}}}, path)
    new = json.loads(path.read_text())
    assert new["pipeline"] == old["pipeline"] and new["ablations"] == old["ablations"]
    # a run's own sections are its own, even when empty: recorded empty, so their figures are problems, not skips
    assert new["commit"] == "bbb" and new["planted"] == {"arms": {}, "seconds": 2}
    # each section says when it was measured: the carried one keeps its old stamp under the new header
    assert new["section_measured"] == {"planted": {"commit": "bbb"}, "pipeline": {"commit": "aaa"}}


def test_a_failed_arm_in_a_measured_section_is_a_problem_not_a_skip(tmp_path):
    # a failed arm has no figures: its sentence would keep its old numbers unchecked
    doc = _doc(tmp_path, "the trimmed mean keeps 7.9 % here\n")
    fig = Figure("docs/a.md", "the trimmed mean keeps {} % here",
                 lambda r: [doc_figures.p1(r["planted"]["arms"]["trimmed_mean"]["broken_kept"])])
    report = sync({"planted": {"arms": {"default": {}}}}, [fig], repo=tmp_path)
    assert report.skipped == [] and len(report.problems) == 1 and "trimmed_mean" in report.problems[0]
    assert doc.read_text() == "the trimmed mean keeps 7.9 % here\n"
    assert sync({"pipeline": {}}, [fig], repo=tmp_path).skipped != []  # the section was not measured: a skip


def test_a_planted_section_whose_every_arm_failed_is_recorded_and_its_figures_are_problems(tmp_path):
    doc = _doc(tmp_path, "MIRA keeps 7.9 % here\n")
    fig = Figure("docs/a.md", "MIRA keeps {} % here", lambda r: [doc_figures.p1(doc_figures._method(r, "mira")["broken_kept"])])
    recorded = doc_figures.extract({"planted": {"arms": {"default": {"failed": "RuntimeError: stage label"}}}})
    report = sync(recorded, [fig], repo=tmp_path)
    assert report.skipped == [] and len(report.problems) == 1 and "default" in report.problems[0]
    assert doc.read_text() == "MIRA keeps 7.9 % here\n"


def test_a_failed_planted_seed_is_a_problem_not_a_skip(tmp_path):
    # a skipped figure keeps its old sentence silently; a seed whose run failed must be reported instead
    doc = _doc(tmp_path, "seed one keeps 7.9 % here\n")
    fig = Figure("docs/a.md", "seed one keeps {} % here",
                 lambda r: [doc_figures.p1(doc_figures._seed(r, "1")["mira"]["broken_kept"])])
    report = sync({"planted": {"seeds": {"1": {"failed": "RuntimeError: stage label"}}}}, [fig], repo=tmp_path)
    assert report.skipped == [] and len(report.problems) == 1 and "seed 1 failed" in report.problems[0]
    assert doc.read_text() == "seed one keeps 7.9 % here\n"
    ok = sync({"planted": {"seeds": {"1": {"mira": {"broken_kept": 0.0812}}}}}, [fig], repo=tmp_path)
    assert ok.problems == [] and doc.read_text() == "seed one keeps 8.1 % here\n"


def _repo_copy(tmp_path):
    import shutil

    (tmp_path / "docs").mkdir(parents=True)
    for rel in sorted({f.path for f in doc_figures.FIGURES} | {b.path for b in doc_figures.BLOCKS}):
        shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def test_a_partial_run_syncs_the_docs_from_the_recorded_figures_not_from_its_own_sections(tmp_path):
    # `bench.run --only planted` in a fresh clone: results hold no pipeline section, the figures.json does, and the
    # targets table reads both; synced from the results alone it was skipped and kept saying "met"
    import copy
    import json

    repo = _repo_copy(tmp_path / "repo")
    path = tmp_path / "figures.json"
    recorded = json.loads(doc_figures.RECORD.read_text())
    path.write_text(json.dumps(recorded))
    planted = copy.deepcopy(recorded["planted"])
    planted["seeds"]["1"]["mira"]["broken_kept"] = 0.1234
    report = doc_figures.record_and_sync({"planted": planted, "section_measured": {"planted": {"commit": "x"}}},
                                         path, repo)
    assert report.skipped == []  # (its problems: claims the made-up figure breaks, reported for a rewrite)
    row = next(x for x in (repo / "README.md").read_text().splitlines() if "of the broken tokens |" in x)
    assert "**missed on 1 of 3 corpora**" in row and "12.3" in row
    assert sync(json.loads(path.read_text()), doc_figures.FIGURES, repo=repo, write=False,
                blocks=doc_figures.BLOCKS).changed == []  # and --check agrees with what was written


def test_the_targets_table_renders_a_seed_whose_teacher_arm_failed():
    # bench.planted records a failed teacher_scores arm and goes on; its None figures crashed the table, which then
    # kept its old cells
    import copy
    import json

    from bench import targets

    recorded = json.loads(doc_figures.RECORD.read_text())
    recorded["planted"]["seeds"]["1"]["low_over"] = {"truncated": {"mira": 0.25, "teacher": 0.3}}  # one to judge
    before = targets.render(recorded)
    seed = copy.deepcopy(recorded)
    s1 = seed["planted"]["seeds"]["1"]
    s1["teacher"] = s1["removal_kept_all"] = None
    s1["by_kind"]["teacher"] = None
    for v in s1["low_over"].values():
        v["teacher"] = None
    after = targets.render(seed)
    row = next(x for x in after.splitlines() if "the teacher scores low" in x)
    assert row.split(" | ")[1] == next(x for x in before.splitlines() if "the teacher scores low" in x).split(" | ")[1]
    assert "not measured on seed 1" in row


def test_report_only_without_saved_results_says_so(tmp_path, monkeypatch):
    import sys

    from bench import run

    monkeypatch.setattr(run, "WORK", tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench.run", "--report-only"])
    with pytest.raises(SystemExit, match="no saved results"):
        run.main()
