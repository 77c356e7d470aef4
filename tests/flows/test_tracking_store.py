"""Where the MLflow store is, for a run in the workspace or in a DVC experiment's temporary copy, and a store that
is not an MLflow database named as such."""

from __future__ import annotations

import pytest
import yaml

from flows.params import load_params
from flows.tracking import pipeline_run, tracking_uri
from mira_core.config import MlflowParams
from mira_core.errors import MiraError


def test_a_queued_or_temporary_dvc_experiment_logs_to_the_workspaces_store(tmp_path):
    # DVC runs them in .dvc/tmp/exps/... and deletes that copy afterwards, with the runs written into it
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "standalone" / "tmpab12"
    copy.mkdir(parents=True)
    assert tracking_uri(MlflowParams(), copy) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking_uri(MlflowParams(), tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_a_store_that_is_not_an_mlflow_database_is_named(tmp_path):
    # SQLAlchemy's error named no file, as a traceback after the stage's work was done
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"sources": [{"name": "a", "path": "a.jsonl",
                                                                        "format": "text"}]}))
    (tmp_path / "mlflow.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(MiraError, match=r"MLflow store sqlite:///.*mlflow.db: .*not a database.*move it aside"), \
            pipeline_run(load_params(tmp_path / "params.yaml"), tmp_path):
        pass


def test_an_upgraded_mira_starts_a_new_parent_run(tmp_path, monkeypatch):
    # in a `mira init` project the project's commit and params stay put while mira's code changes under them
    import flows.tracking as tracking

    (tmp_path / "params.yaml").write_text("sources: []\n")
    keys = []
    for version, commit in (("0.1.0", None), ("0.1.0", None), ("0.2.0", None), ("0.2.0", "abc")):
        monkeypatch.setattr(tracking, "code_provenance",
                            lambda v=version, c=commit: {"mira_version": v, "code_commit": c, "code_committed": True})
        key, tags = tracking.pipeline_key(tmp_path)
        assert tags["mira.version"] == version and tags[tracking.PIPELINE_KEY] == key
        keys.append(key)
    assert keys[0] == keys[1] and len(set(keys)) == 3


def test_a_queued_or_temporary_dvc_experiment_shares_the_workspaces_content_keyed_caches(tmp_path):
    # its copy holds no git-ignored file (.mira/ among them) and is deleted afterwards: every teacher answer was
    # paid for again, then lost with the copy, and evaluate retrained the checkpoints the workspace had
    from mira_core.config import TeacherParams
    from mira_core.layout import Layout
    from mira_core.teachers import make_teacher

    copy = tmp_path / ".dvc" / "tmp" / "exps" / "standalone" / "tmpab12"
    copy.mkdir(parents=True)
    teacher = make_teacher(TeacherParams(), copy, {})
    assert teacher.cache.path == tmp_path.resolve() / ".mira" / "teacher_cache.sqlite"
    assert Layout(copy).shared_state == tmp_path.resolve() / ".mira"
    assert Layout(copy).state == copy / ".mira"  # the run logs stay the copy's: the workspace's last run is its own
    assert make_teacher(TeacherParams(), tmp_path, {}).cache.path == tmp_path.resolve() / ".mira" / "teacher_cache.sqlite"
