"""Review of session 33's changes (helper h8): a test for each bug found in them.

Found by reading `git diff 1783441..HEAD` against every path the changed code takes, not only the tested one.
Each test failed before its fix: the stage lock freed before `run_log`'s clean-up of temporary files
(flows.common.run_log), and an experiment of the user's own in another `mlruns/` folder pointed at the project's
(flows.tracking._rebase_artifacts).
"""

from __future__ import annotations

import sqlite3

import pytest

PARAMS = "sources:\n  - {name: a, path: a.jsonl, format: text}\nmlflow:\n  tracking_uri: sqlite:///mlflow.db\n"


def test_run_logs_clean_up_of_temporary_files_runs_under_the_stage_lock(tmp_path, monkeypatch):
    import mira_core.io as mio
    from flows.common import run_log, stage_lock
    from mira_core.errors import MiraError
    from mira_core.layout import Layout

    lay = Layout(tmp_path)
    real = mio.remove_temp_files
    seen = []

    def second_run_starts_now(folder):
        # a second `mira stage ingest` launched as the first ends its tasks: its live temporary file is in the outs
        try:
            with stage_lock(lay, "ingest"), mio.atomic_path(lay.corpus / "chat" / "part-00000.parquet") as tmp:
                tmp.write_text("second")
                real(folder)  # the first run's clean-up, at this moment: it took the live file for a leftover
        except MiraError:
            seen.append("refused")
        return []

    monkeypatch.setattr(mio, "remove_temp_files", second_run_starts_now)
    with run_log(lay, "ingest"):
        pass
    # before the fix the lock was free here: the second run started and its file was deleted under it (FileNotFoundError)
    assert seen and set(seen) == {"refused"}


def test_an_experiment_of_the_users_own_in_another_mlruns_folder_keeps_its_artifact_location(tmp_path):
    import mlflow

    from flows.params import load_params
    from flows.tracking import pipeline_run, tracking_uri

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "params.yaml").write_text(PARAMS)
    params = load_params(proj / "params.yaml")
    with pipeline_run(params, proj):
        pass
    big = tmp_path / "bigdisk" / "mlruns"  # the user's own experiment in the project's store, artifacts on a big disk
    big.mkdir(parents=True)
    mlflow.set_tracking_uri(tracking_uri(params.mlflow, proj))
    mlflow.create_experiment("mine", artifact_location=big.as_uri())
    mlflow.create_experiment("mine-too", artifact_location=(big / "7").as_uri())
    with pipeline_run(params, proj):  # the next stage, in a project that never moved
        pass
    with sqlite3.connect(proj / "mlflow.db") as con:
        locations = dict(con.execute("SELECT name, artifact_location FROM experiments"))
    assert locations["mine"] == big.as_uri(), "the user's own experiment was pointed at the project's mlruns/"
    assert locations["mine-too"] == (big / "7").as_uri()
    assert locations["mira"] == (proj / "mlruns").resolve().as_uri()


if __name__ == "__main__":
    pytest.main([__file__])
