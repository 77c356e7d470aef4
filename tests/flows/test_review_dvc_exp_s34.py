"""Review (session 34, h3): DVC experiments at full stretch on a `mira init` project (rules teacher).

Queued experiments run two at a time (`dvc exp run --queue -S select.budget=0.3 / -S discover.n_anchors=4 /
-S label.seed=2`, `dvc queue start -j 2`), `dvc exp run --temp`, `dvc exp show`, `exp apply`, `exp branch`,
`exp push` / `exp pull` to a local git + DVC remote, `mira compare` and `mira rubrics diff` between experiments and
in a fresh clone, the MLflow store (one parent run per experiment), and the project's shared state under .mira/
while experiments run in temporary copies. What did not hold:

- `mira compare` reads a revision's selection manifest through `flows.revisions.read_bytes`, which asks DVC's
  filesystem `exists()` first: for a file inside a DVC-tracked folder whose listing is not in the local cache (a
  clone that pulled an experiment but not the baseline, or after `dvc gc`) that answers False, so compare says
  "A has none (select has not run there)" where select did run; rubrics read the same way are a ConfigError
  saying to `dvc pull`.
- evaluate's base checkpoints are the workspace's (`.mira/evaluate/base/<key>`), shared by queued experiments
  running at once, with no lock: two experiments with the same base settings (a budget sweep) both train it, and
  the second's `atomic_dir` takes the first's live temporary folder for a killed run's leftover and deletes it;
  the first's next write makes the folder again, and its rename installs a base holding key.json alone over the
  second's whole one. Every later evaluate "reuses" it (its key matches) and fails to load it, until the folder is
  deleted by hand.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pytest

from mira_core.errors import ConfigError


def _run(cmd: list[str], cwd: Path) -> None:
    from tests.conftest import tool_env

    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=tool_env())


@pytest.mark.slow
def test_compare_says_a_selection_not_in_the_local_cache_is_to_be_pulled(tmp_path):
    # what a fresh clone that ran `dvc exp pull origin EXP` (but no `dvc pull`) holds for HEAD: dvc.lock and the
    # git-tracked metrics name a selection, whose folder listing is not in the local cache
    from flows.compare import gather

    _run(["git", "init", "-q"], tmp_path)
    _run(["dvc", "init", "-q"], tmp_path)
    sel = tmp_path / "data" / "selection" / "mira"
    sel.mkdir(parents=True)
    (tmp_path / "metrics").mkdir()
    for kept in ([True, False], [False, True]):
        pl.DataFrame({"record_id": ["web/0", "web/1"], "kept": kept}).write_parquet(sel / "manifest.parquet")
        (tmp_path / "metrics" / "select.json").write_text(json.dumps({"methods": {"mira": {"kept_records": 1}}}))
        (tmp_path / "params.yaml").write_text(f"select: {{seed: {int(kept[0])}}}\n")
        _run(["dvc", "add", "-q", "data/selection"], tmp_path)
        _run(["git", "add", "-A"], tmp_path)
        _run(["git", "commit", "-qm", "run"], tmp_path)
    # HEAD~1's selection leaves the cache (not read before: DVC's index of a folder it once listed outlives a gc, and
    # the read then fails as it should)
    _run(["dvc", "gc", "-q", "-w", "-f"], tmp_path)
    # was: {"kept": None, ...}, which compare printed as "selections: A has none (select has not run there)"
    with pytest.raises(ConfigError, match=r"data/selection/mira/manifest.parquet at 'HEAD~1' is not in the local "
                                          r"DVC cache: `dvc pull`"):
        gather(tmp_path, "HEAD~1")


def test_two_experiments_training_the_same_shared_base_at_once_both_finish(tmp_path, monkeypatch):
    # `dvc exp run --queue -S select.budget=0.3`, `--queue -S select.budget=0.4`, `dvc queue start -j 2`: the base
    # does not read the budget, so both evaluate stages train the one base under the workspace's
    # .mira/evaluate/base/<key> at once. The interleaving of two processes is played here in one: the other
    # experiment's whole train_base runs while this one is saving its base inside atomic_dir.
    import tasks.evaluate as te
    from mira_core.evaluation.data import prepare
    from tests.mira_core.test_evaluation import tiny_params, tiny_project
    from tests.mira_core.test_review_evaluation_s28 import _fake_train

    monkeypatch.setattr(te, "train_lm", _fake_train)
    shards, manifests = tiny_project(tmp_path)
    p = tiny_params(arms=["mira"], seeds=[0], device="cpu")
    data = prepare(shards, {"mira": manifests["mira"]}, ["qa"], p)
    bases = tmp_path / ".mira" / "evaluate" / "base"

    import threading

    real_write = te.write_json
    other: dict = {}

    def the_other():
        other["result"] = te.train_base.fn(p, data, bases)  # the other queued experiment, start to end

    def write_while_the_other_experiment_runs(obj, path):
        if path.name == "key.json" and not other:  # this base's weights and tokenizer are saved, its key is next
            other["thread"] = threading.Thread(target=the_other)
            other["thread"].start()
            other["thread"].join(timeout=5)  # unlocked, it ran to its end here; locked, it waits for this one
        return real_write(obj, path)

    monkeypatch.setattr(te, "write_json", write_while_the_other_experiment_runs)
    mine = te.train_base.fn(p, data, bases)
    other["thread"].join(timeout=60)
    assert mine["key"] == other["result"]["key"] and other["result"]["reused"]
    # today the other's atomic_dir deleted this one's temporary folder (weights and tokenizer in it) as a killed run's
    # leftover; write_json made the folder again holding key.json alone, and it replaced the other's whole base: a
    # base that is "reused" by every later run (its key.json matches) and that no arm run can load
    assert (Path(mine["dir"]) / "tokenizer.json").exists()
    te.load_model(Path(mine["dir"]))
    assert te.train_base.fn(p, data, bases)["reused"]
