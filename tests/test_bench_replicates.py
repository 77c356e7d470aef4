"""BENCHMARKS section 8's selection replicates: MIRA's demo selection made again with other label and distill seeds,
each evaluated as an arm, and the proxy verdict read over every selection's training seeds as one arm."""

from __future__ import annotations

import copy
import json
import subprocess

import polars as pl
import pytest

from bench import replicates
from bench.doc_figures import extract
from bench.targets import _selections
from mira_core.evaluation.stats import noise_note, relation, summarize, within_noise

SIGMAS = 2.0


def _arm(losses: list[float]) -> dict:
    return {**summarize(losses), "seeds": [{"seed": i, "loss": x} for i, x in enumerate(losses)]}


def _noted(arms: dict) -> dict:
    pairs = within_noise(arms, SIGMAS)
    return {a: {**v, "note": noise_note(a, arms, pairs)} for a, v in arms.items()}


def _demo_arms() -> dict:
    # the default selection's seeds sit tight and 0.02 above full; the two replicates land either side of it
    return _noted({"mira": _arm([5.564, 5.565, 5.566]), "mira_rep1": _arm([5.540, 5.541, 5.542]),
                   "mira_rep2": _arm([5.575, 5.576, 5.577]), "random": _arm([5.560, 5.562, 5.564]),
                   "full": _arm([5.544, 5.545, 5.546])})


def test_the_pooled_arm_holds_every_seed_of_every_selection():
    p = replicates.pooled_arm(_demo_arms(), ["mira", "mira_rep1", "mira_rep2"])
    # the draws are the selections: three means, their sd, and the nine runs' spread beside
    assert p["runs"] == 9 and p["selections"] == 3 and len(p["seeds"]) == 3
    assert p["selection_means"] == [5.565, 5.541, 5.576]
    assert p["loss_mean"] == pytest.approx((5.565 + 5.541 + 5.576) / 3)
    assert p["loss_std"] == pytest.approx(pl.Series([5.565, 5.541, 5.576]).std())
    assert p["run_std"] < p["loss_std"]
    assert replicates.pooled_arm(_demo_arms(), ["mira", "mira_rep3"]) is None
    diverged = {**_demo_arms(), "mira_rep1": _arm([5.5, float("nan"), 5.6])}
    assert replicates.pooled_arm(diverged, ["mira", "mira_rep1"]) is None


def test_a_verdict_on_one_selection_can_change_over_its_replicates():
    arms = _demo_arms()
    assert relation(arms["mira"], "full") == "higher"  # the default selection alone: above full beyond the noise
    got = replicates.reading(arms, SIGMAS)
    assert got["note"] == "within noise of random, full"  # the selections spread more than the training seeds
    # nine runs read as nine draws would call it beyond the noise: the understatement pooled_arm avoids
    runs = {**_arm([s["loss"] for a in ("mira", "mira_rep1", "mira_rep2") for s in arms[a]["seeds"]])}
    side = {"pooled": runs, "full": arms["full"]}
    assert relation({"note": noise_note("pooled", side, within_noise(side, SIGMAS))}, "full") == "higher"


def test_split_reads_the_replicates_apart_from_the_other_arms():
    others, reps = replicates.split(_demo_arms(), SIGMAS)
    assert set(others) == {"mira", "random", "full"} and set(reps) == {"mira_rep1", "mira_rep2"}
    assert "mira_rep" not in json.dumps({a: v["note"] for a, v in others.items()})
    assert "random" not in reps["mira_rep1"]["note"] and "mira_rep2" in reps["mira_rep1"]["note"]


def test_seeds_are_set_on_a_copy_and_a_missing_seed_is_named():
    params = {"label": {"seed": 1, "records_per_group": 800}, "distill": {"seed": 0}}
    got = replicates._set_seeds(params, {"label": 2, "distill": 1})
    assert got == {"label": {"seed": 2, "records_per_group": 800}, "distill": {"seed": 1}}
    assert params["label"]["seed"] == 1
    with pytest.raises(KeyError, match="score.seed"):
        replicates._set_seeds({"score": {}}, {"score": 3})


def test_kept_overlap_is_a_token_jaccard_of_the_kept_records():
    a = pl.DataFrame({"record_id": ["x", "y", "z"], "n_tokens": [10, 30, 60], "kept": [True, True, False]})
    b = pl.DataFrame({"record_id": ["x", "y", "z"], "n_tokens": [10, 30, 60], "kept": [False, True, True]})
    assert replicates.kept_overlap(a, b) == pytest.approx(30 / 100)
    assert replicates.kept_overlap(a, a) == 1.0


def test_the_section_lines_and_the_targets_sentence():
    arms = _demo_arms()
    others, rep_arms = replicates.split(arms, SIGMAS)
    reps = {"default": {"label_seed": 1, "distill_seed": 0, "mask_on": 49, "kept_records": 4200},
            "replicates": {"mira_rep1": {"label_seed": 2, "distill_seed": 1, "mask_on": 47, "kept_records": 4100,
                                         "kept_token_overlap_with_default": 0.81},
                           "mira_rep2": {"label_seed": 3, "distill_seed": 2, "mask_on": 50, "kept_records": 4300,
                                         "kept_token_overlap_with_default": 0.79}},
            "seconds": 300.0, "arms": rep_arms, "pooled": replicates.reading(arms, SIGMAS)}
    text = "\n".join(replicates.lines(reps, others["mira"]))
    assert "**MIRA over 3 selections.**" in text
    assert "| `mira_rep2` | 3 | 2 | 50 | 4,300 | 0.790 | 5.5760 ± 0.0010 |" in text
    assert "one draw of the method, 5.5650 / 5.5410 / 5.5760, 5.5607 ± 0.0179 over the 3" in text
    assert ("it is within noise of random, full (to `random` a gap of 0.0013 against a bar of 0.0208; to `full` a "
            "gap of 0.0157 against a bar of 0.0207).") in text
    assert replicates.lines({"replicates": {}}, others["mira"]) == []
    # the README's targets row says the same, from the figures' extract
    r = extract({"ablations": {"arms": others, "retention": {}, "replicates": reps}})
    sentence = _selections(r)
    assert sentence.startswith("over 3 selections") and "MIRA's means are 5.565 / 5.541 / 5.576, 5.561" in sentence
    assert sentence.endswith("within the noise of `random` and within the noise of `full`")  # far from the bars
    edge = copy.deepcopy(r)
    edge["ablations"]["replicates"]["pooled"]["bars"]["full"] = {"gap": 0.0095, "bar": 0.0100}
    assert _selections(edge).endswith("within the noise of `full` (at the bar's edge: a gap of 0.0095 against 0.0100)")
    assert _selections({"ablations": {"arms": others}}) == ""


def _project(root) -> dict:
    """A project as the pipeline benchmark leaves it: params, the four stages' outputs, metrics, distill plots."""
    (root / "params.yaml").write_text("label: {seed: 1}\ndistill: {seed: 0}\n")
    for name in replicates.OUTS:
        (root / "data" / name).mkdir(parents=True)
        (root / "data" / name / "kept.txt").write_text(name)
    _manifest(root, [True, False])
    (root / "plots" / "distill").mkdir(parents=True)
    (root / "plots" / "distill" / "g0.csv").write_text("record_id,anchor\n")
    (root / "metrics").mkdir()
    for name in replicates.METRICS:
        (root / "metrics" / name).write_text(json.dumps({"mask": {"on": 3}, "name": name}))
    return _files(root)


def _manifest(root, kept: list[bool]) -> None:
    pl.DataFrame({"record_id": ["a", "b"], "n_tokens": [5, 7], "kept": kept}).write_parquet(
        root / "data" / "selection" / "mira" / "manifest.parquet", mkdir=True)


def _files(root) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _fake_stages(monkeypatch, fail_on: int | None = None) -> list:
    """A stage runner that does what a stage does to the files (rewrites its outputs, metrics and plots), and fails
    on its `fail_on`-th call: the restore is what is tested, the stages themselves run in the benchmark."""
    calls = []

    def stage(root, name):
        calls.append((name, (root / "params.yaml").read_text()))
        if len(calls) == fail_on:
            raise subprocess.CalledProcessError(1, ["mira", "stage", name])
        for out in replicates.OUTS:
            (root / "data" / out / "kept.txt").write_text(f"replicate {len(calls)}")
        for m in replicates.METRICS:
            (root / "metrics" / m).write_text(json.dumps({"mask": {"on": 40 + len(calls)}}))
        (root / "plots" / "distill" / "g0.csv").write_text(f"replicate {len(calls)}")
        _manifest(root, [len(calls) % 2 == 0, True])

    monkeypatch.setattr(replicates, "_stage", stage)
    return calls


def test_the_replicates_run_with_their_seeds_and_the_default_run_is_put_back(tmp_path, monkeypatch):
    before = _project(tmp_path)
    calls = _fake_stages(monkeypatch)
    out = replicates.run(tmp_path)
    assert [c[0] for c in calls] == list(replicates.STAGES) * len(replicates.REPLICATES)
    assert "seed: 2" in calls[0][1] and "seed: 3" in calls[len(replicates.STAGES)][1]
    assert out["default"] == {"label_seed": 1, "distill_seed": 0, "mask_on": 3, "kept_records": 1}
    assert set(out["replicates"]) == {"mira_rep1", "mira_rep2"}
    assert (tmp_path / replicates.manifest(1)).exists() and (tmp_path / replicates.manifest(2)).exists()
    after = _files(tmp_path)
    assert {k: after[k] for k in before} == before and not (tmp_path / replicates.SAVED).exists()


def test_a_replicate_that_fails_midway_puts_the_default_run_back(tmp_path, monkeypatch):
    before = _project(tmp_path)
    _fake_stages(monkeypatch, fail_on=len(replicates.STAGES) + 2)  # the second replicate's distill
    with pytest.raises(subprocess.CalledProcessError):
        replicates.run(tmp_path)
    after = _files(tmp_path)
    assert {k: after[k] for k in before} == before and not (tmp_path / replicates.SAVED).exists()


def test_a_save_left_by_a_killed_run_is_put_back_before_the_next(tmp_path, monkeypatch):
    before = _project(tmp_path)
    replicates._save(tmp_path, tmp_path / replicates.SAVED)
    # killed mid-replicate: params at a replicate's seeds, its outputs in place, the save left behind
    (tmp_path / "params.yaml").write_text("label: {seed: 2}\ndistill: {seed: 1}\n")
    (tmp_path / "data" / "labels" / "kept.txt").write_text("replicate")
    _manifest(tmp_path, [False, True])
    _fake_stages(monkeypatch)
    out = replicates.run(tmp_path)
    assert out["default"]["label_seed"] == 1 and out["default"]["kept_records"] == 1  # not the replicate's
    after = _files(tmp_path)
    assert {k: after[k] for k in before} == before


def test_a_save_cut_short_is_discarded_not_restored(tmp_path, monkeypatch):
    before = _project(tmp_path)
    (tmp_path / replicates.SAVED / "labels").mkdir(parents=True)  # no DONE marker: the copy never finished
    _fake_stages(monkeypatch)
    replicates.run(tmp_path)
    after = _files(tmp_path)
    assert {k: after[k] for k in before} == before


def test_the_selections_must_have_run_as_many_training_seeds():
    arms = {**_demo_arms(), "mira_rep2": _arm([5.57, 5.58])}
    with pytest.raises(ValueError, match="different numbers of training seeds"):
        replicates.pooled_arm(arms, ["mira", "mira_rep1", "mira_rep2"])


def test_report_only_derives_the_reading_again_from_the_recorded_losses():
    others, rep_arms = replicates.split(_demo_arms(), SIGMAS)
    ablations = {"arms": others, "replicates": {"arms": rep_arms, "pooled": {"stale": True}, "sigmas": SIGMAS}}
    replicates.rederive(ablations)
    assert ablations["replicates"]["pooled"] == replicates.reading(_demo_arms(), SIGMAS)
    assert ablations["replicates"]["pooled"]["bars"]["full"]["gap"] == pytest.approx(abs(5.5607 - 5.545), abs=1e-4)
    nothing = {"arms": others}
    replicates.rederive(nothing)  # a run without replicates is left as it was
    assert nothing == {"arms": others}
