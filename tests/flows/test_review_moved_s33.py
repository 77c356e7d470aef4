"""Review (session 33, helper h7): a project that moves.

Found by running mira on a small corpus of one's own in /tmp/s33h7/proj, then `mv proj proj2`, `cp -a`, and
`git clone` + `dvc pull` of it, and running `dvc repro`, `mira run`, `mira stage report` in the new place. Each
test failed before its fix (flows.tracking._rebase_artifacts, the root in .mira/ui.json, summary.blend_elsewhere).
"""

from __future__ import annotations

import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

PARAMS = "sources:\n  - {name: a, path: a.jsonl, format: text}\nmlflow:\n  tracking_uri: sqlite:///mlflow.db\n"


def _artifacts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "mlruns").rglob("*.txt")) if root.exists() else []


def test_a_moved_or_copied_project_logs_its_mlflow_artifacts_in_its_own_folder(tmp_path):
    import mlflow

    from flows.params import load_params
    from flows.tracking import pipeline_run

    old, new = tmp_path / "proj", tmp_path / "proj2"
    old.mkdir()
    (old / "params.yaml").write_text(PARAMS)
    params = load_params(old / "params.yaml")
    with pipeline_run(params, old):  # the first run, in the place the project was made
        mlflow.log_text("first", "report/first.txt")
    assert _artifacts(old) and all(a.startswith("mlruns/") for a in _artifacts(old))

    shutil.copytree(old, new, symlinks=True)  # `cp -a proj proj2` (mlflow.db and mlruns/ go with it)
    (new / "params.yaml").write_text(PARAMS + "report:\n  title: moved\n")  # a new configuration: a new parent run
    before = _artifacts(old)
    with pipeline_run(load_params(new / "params.yaml"), new):
        mlflow.log_text("second", "report/second.txt")
    assert _artifacts(old) == before, "the copy's run wrote into the original project's mlruns/"
    assert any(a.endswith("second.txt") for a in _artifacts(new))


def test_a_ui_json_copied_with_the_project_is_not_taken_for_the_copys_mira_ui(tmp_path, monkeypatch):
    import flows.servers as servers
    import flows.ui as ui
    import mira_core.io as mio

    old, new = tmp_path / "proj", tmp_path / "proj2"
    for d in (old, new):
        (d / ".mira").mkdir(parents=True)
        (d / "params.yaml").write_text(PARAMS)

    @contextmanager
    def fake_server(*a, **k):
        yield {"api": "http://127.0.0.1:9/api", "started_here": False, "port": 4200}

    @contextmanager
    def fake_mlflow_ui(*a, **k):
        yield "http://127.0.0.1:5000"

    real_write = mio.write_json

    def write_and_copy(obj, path):  # `cp -a proj proj2` while `mira ui` runs in proj: its ui.json goes along
        out = real_write(obj, path)
        if Path(path).name == "ui.json":
            shutil.copy2(path, new / ".mira" / "ui.json")
        return out

    done = threading.Event()
    done.set()  # `mira ui` stops at once, its own ui.json removed; the copy's stays, its pid (ours) alive
    monkeypatch.setattr(servers, "project_server", fake_server)
    monkeypatch.setattr(servers, "mlflow_ui", fake_mlflow_ui)
    monkeypatch.setattr(servers, "stop_orphaned_mlflow", lambda state: [])
    monkeypatch.setattr(mio, "write_json", write_and_copy)
    monkeypatch.setattr(ui, "threading", SimpleNamespace(Event=lambda: done))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        ui.command(root=old)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert (new / ".mira" / "ui.json").exists()
    assert ui.live_ui(new) is None, "the copy's stages would report to the original's `mira ui`"


def test_summary_says_when_the_megatron_blend_names_another_folder_than_the_projects_export(tmp_path):
    import json

    from flows.summary import summary_lines

    export = tmp_path / "data" / "selection" / "mira" / "megatron"
    export.mkdir(parents=True)
    old = "/tmp/somewhere-else/proj/data/selection/mira/megatron"  # where the project was when select ran
    (export / "blend.txt").write_text(f"0.4 {old}/code 0.6 {old}/web\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "select.json").write_text(json.dumps({
        "methods": {"mira": {"kept_records": 2, "kept_tokens": 10, "selectable_tokens": 20, "kept_token_share": 0.5}},
        "granularity": "group", "budget": 0.5, "overlap": {"mira": {}},
        "materialized": {"format": "megatron", "path": "data/selection/mira/megatron",
                         "records": {"code": 1, "web": 1}}}))
    lines = summary_lines(tmp_path)
    assert any("blend.txt" in line and old in line for line in lines), "\n".join(lines)
