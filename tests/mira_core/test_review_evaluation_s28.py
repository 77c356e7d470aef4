"""Review of the proxy evaluation (session 28): the pooled noise reading with a diverged arm, the base's cache
key, and an arm run whose shared base checkpoint was replaced by another experiment's."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mira_core.errors import MiraError
from mira_core.evaluation.data import prepare
from mira_core.evaluation.stats import pooled, summarize, widest, within_noise
from mira_core.evaluation.train import RunResult
from tests.mira_core.test_evaluation import tiny_params, tiny_project


def _arm(losses: list[float]) -> dict:
    return {**summarize(losses), "seeds": [{"seed": i, "loss": x} for i, x in enumerate(losses)], "train_tokens": 1}


def test_a_diverged_arm_neither_poisons_the_pooled_sd_nor_is_the_widest() -> None:
    """A diverged arm's sd is NaN: pooled() returned (nan, 3), within_noise(sd=nan) then called every pair of the
    healthy arms beyond noise, and widest() returned the diverged arm when it came first."""
    good = {"a": _arm([2.00, 2.04]), "b": _arm([2.01, 2.05])}
    sd, df = pooled(good)
    assert within_noise(good, 2.0, sd=sd) == [["a", "b"]]
    with pytest.warns(RuntimeWarning):
        bad = {"bad": _arm([math.nan, math.nan]), **good, "inf": _arm([math.inf, 2.0])}
    assert pooled(bad) == (sd, df)  # the diverged arms add nothing, not a NaN
    assert within_noise(bad, 2.0, sd=pooled(bad)[0]) == [["a", "b"]]
    assert widest(bad) in good
    assert pooled({"bad": bad["bad"]}) is None


def _fake_train(model, stream, target, p, *, seed, steps, decay_frac, device, on_eval=None):
    """A run that trains nothing (the model stays as initialised) and reports a loss that names its lr."""
    tokens = steps * p.batch_size * p.context
    return RunResult([(0, 5.0), (tokens, p.lr)], tokens, steps, p.lr, 0.0)


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch):
    import tasks.evaluate as te

    monkeypatch.setattr(te, "train_lm", _fake_train)
    shards, manifests = tiny_project(tmp_path)
    p = tiny_params(arms=["mira"], seeds=[0], device="cpu")
    return te, p, prepare(shards, {"mira": manifests["mira"]}, ["qa"], p)


def test_the_base_is_not_retrained_for_a_setting_only_the_arm_runs_read(tmp_path: Path, tiny_data) -> None:
    """The base trains base_steps with no decay, but its key held evaluate.steps and the decay settings: changing
    them retrained a base that came out the same. An arm run's key still changes with them."""
    te, p, data = tiny_data
    out = tmp_path / "base"
    first = te.train_base.fn(p, data, out)
    assert not first["reused"]
    arm_only = p.model_copy(update={"steps": 7, "decay_frac": 0.5, "final_lr_ratio": 0.0, "decay_shape": "1-sqrt"})
    again = te.train_base.fn(arm_only, data, out)
    assert again["reused"]
    assert again["key"] == first["key"]
    assert not te.train_base.fn(p.model_copy(update={"base_steps": 6}), data, out)["reused"]  # the base's own
    assert not te.train_base.fn(p.model_copy(update={"warmup_frac": 0.3}), data, out)["reused"]  # both read it
    stream = data.arms["mira"].stream
    assert te.run_key(p, stream, seed=0, base="k") != te.run_key(arm_only, stream, seed=0, base="k")


def test_an_arm_run_never_continues_a_base_another_experiment_trained(tmp_path: Path, tiny_data) -> None:
    """.mira/evaluate/base is the workspace's, shared by queued DVC experiments. One run beside this stage with
    another lr replaced the base between this stage's base and its arm runs, and the arm runs silently continued
    the other base (the tiny project scored 6.83 for 5.65) and were reported and kept as this stage's. Each base now
    has a folder of its own key: the other experiment's sits beside it, and a folder that holds another base than
    the one named (only by hand) is an error."""
    te, p, data = tiny_data
    bases, runs = tmp_path / "base", tmp_path / "runs"
    mine = te.train_base.fn(p, data, bases)
    other = te.train_base.fn(p.model_copy(update={"lr": 5e-2}), data, bases)  # the other experiment's base
    assert mine["dir"] != other["dir"] and {d.name for d in bases.iterdir()} == {mine["key"], other["key"]}
    run = te.train_arm.fn("mira", 0, p, data, Path(mine["dir"]), runs, mine["key"])
    assert run["loss"] == p.lr and not run["reused"]
    assert te.train_arm.fn("mira", 0, p, data, Path(mine["dir"]), runs)["reused"]  # the key in the folder, by default
    assert te.train_base.fn(p, data, bases)["reused"]  # both kept: going back to a setting trains nothing
    with pytest.raises(MiraError, match=r"holds the base checkpoint .*delete the folder"):
        te.train_arm.fn("mira", 0, p, data, Path(other["dir"]), None, mine["key"])


def test_an_outside_manifest_that_is_not_parquet_is_named_without_a_stage_to_rerun(tmp_path: Path) -> None:
    """read_checked now names a damaged file itself, advising to "re-run the stage that writes it": an
    evaluate.manifests file is made elsewhere, and the message lost the form the key's other errors have."""
    from mira_core.errors import ConfigError
    from mira_core.evaluation.data import load_manifests

    _, manifests = tiny_project(tmp_path)
    sel = tmp_path / "data" / "selection"
    (sel / "mira").mkdir(parents=True)
    manifests["mira"].write_parquet(sel / "mira" / "manifest.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"^evaluate.manifests.bad \(.*bad.parquet\): not a readable Parquet file") as e:
        load_manifests(sel, ["mira"], {"bad": bad})
    assert "stage" not in str(e.value)
