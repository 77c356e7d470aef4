"""Review (session 34, helper h2): a full disk, read-only places, permissions.

What a user sees, and what is left behind, when mira's writes fail: the project on a full disk, a read-only project
(a colleague's copy, a snapshot mount), the stores mira keeps beside its outputs (the teacher's request cache and
MLflow's SQLite store, the project's Prefect server under .mira/). The outputs' own atomic writes (mira_core/io.py)
already name a full disk; these tests are about the writes around them.

The tests that need a small or read-only file system mount a tmpfs (root only) and skip cleanly where that is not
possible, so a CI without privileges stays green. Each failed before its fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

MIRA = Path(sys.executable).parent / "mira"


# ---- small file systems (root only) -----------------------------------------------------------------------------


def _mount(*args: str) -> None:
    res = subprocess.run(["mount", *args], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} refused: {res.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m"):
    """A tmpfs of `size` at `path` (made), unmounted (lazily: a server may still hold a file open) afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) for a small or read-only file system")
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill `folder`'s file system, leaving about `leave` bytes free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / f"filler-{uuid.uuid4().hex[:8]}", "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))


def read_only(path: Path) -> None:
    """Bind-mount `path` on itself read-only (undone by `umount -l path`)."""
    _mount("--bind", str(path), str(path))
    _mount("-o", "remount,ro,bind", str(path))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "OPENBLAS_NUM_THREADS": "1", "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "100",
            **extra}


def tiny_project(root: Path) -> Path:
    """params.yaml and one small JSONL source: enough for `mira stage ingest`."""
    (root / "raw").mkdir(parents=True, exist_ok=True)
    (root / "raw" / "web.jsonl").write_text("".join(json.dumps({"text": f"Record {i} says something."}) + "\n"
                                                    for i in range(20)))
    (root / "params.yaml").write_text("demo_corpus: {enabled: false}\n"
                                      "sources:\n  - {name: web, path: raw/web.jsonl, format: text}\n")
    return root


def short_message(res: subprocess.CompletedProcess) -> str:
    """The stderr of a failed command, checked to be mira's own message and not a traceback."""
    assert res.returncode != 0, res.stdout[-2000:]
    err = res.stderr
    assert "Traceback" not in err and "───" not in err, f"{len(err.splitlines())} lines:\n{err[-3000:]}"
    return err


# ---- 1. a full or read-only project at a stage's start: a traceback of 90-110 lines -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["full", "read-only"])
def test_a_stage_in_a_full_or_read_only_project_says_so_in_one_line(tmp_path, how):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        root = tiny_project(disk / "proj")
        try:
            if how == "full":
                fill(disk)
            else:
                read_only(disk)
            res = subprocess.run([str(MIRA), "stage", "ingest", "--root", str(root)], capture_output=True, text=True,
                                 env=_env(MIRA_PREFECT_SERVER_IDLE_S="5"), timeout=120)
        finally:
            if how == "read-only":
                subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        err = short_message(res)
        assert str(root / ".mira") in err
        assert ("space" if how == "full" else "read-only") in err.lower()
        if how == "full":  # and no temporary file left behind by the write that failed
            assert not [p for p in (root / ".mira").rglob(".*.tmp")]




# ---- 1a. an output in a read-only place: the atomic writers name only a full disk ----------------------------------


def test_an_output_in_a_read_only_folder_is_named_as_the_full_disk_is(tmp_path):
    import polars as pl

    from mira_core.errors import MiraError
    from mira_core.io import write_parquet

    with tmpfs(tmp_path / "data", "1m") as data:  # data/ on a read-only mount (a snapshot, a colleague's share)
        (data / "selection").mkdir()
        read_only(data)
        try:
            with pytest.raises(MiraError) as e:
                write_parquet(pl.DataFrame({"x": [1]}), data / "selection" / "oracle.parquet")
        finally:
            subprocess.run(["umount", "-l", str(data)], capture_output=True)
    msg = str(e.value)
    assert f"{data / 'selection' / 'oracle.parquet'}:" in msg and ".tmp" not in msg, msg
    assert "read-only" in msg.lower(), msg

# ---- 2. the teacher's request cache on a full or read-only disk -------------------------------------------------


def test_teacher_cache_on_a_full_disk_names_the_file_and_the_cause(tmp_path):
    from mira_core.errors import MiraError
    from mira_core.teachers.base import Outcome, Request
    from mira_core.teachers.cache import RequestCache

    with tmpfs(tmp_path / "disk", "1m") as disk:
        cache = RequestCache(disk / "teacher_cache.sqlite")
        try:
            fill(disk, leave=8192)
            with pytest.raises(MiraError) as e:  # a label run storing the teacher's answers as they arrive
                for i in range(100):
                    cache.put_many([(f"k{i}", Request("score", None), Outcome(f"web/{i}", True, {"x": "y" * 4000}))])
        finally:
            cache.close()
    assert "teacher_cache.sqlite" in str(e.value) and "space" in str(e.value)


def test_teacher_cache_in_a_read_only_place_is_not_called_damaged(tmp_path):
    from mira_core.errors import MiraError
    from mira_core.teachers.cache import RequestCache

    with tmpfs(tmp_path / "disk", "4m") as disk:
        RequestCache(disk / "teacher_cache.sqlite").close()  # a good cache, written by an earlier label run
        read_only(disk)
        try:
            with pytest.raises(MiraError) as e:  # `mira estimate` or `mira stage label` opening it
                RequestCache(disk / "teacher_cache.sqlite")
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    msg = str(e.value)
    assert "read-only" in msg.lower() or "permission" in msg.lower(), msg
    assert "move it aside" not in msg, msg


# ---- 3. MLflow's store on a full or read-only disk ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_mlflow_store_on_a_full_or_read_only_disk_says_what_is_wrong(tmp_path, how):
    from flows.tracking import pipeline_run
    from mira_core.config import parse_params
    from mira_core.errors import MiraError

    src = {"sources": [{"name": "web", "path": "raw/web.jsonl", "format": "text"}]}
    with tmpfs(tmp_path / "disk", "4m") as disk:
        uri = f"sqlite:///{disk}/mlflow.db"
        with pipeline_run(parse_params({**src, "mlflow": {"tracking_uri": uri}}), tmp_path):  # the store is made
            pass
        try:
            if how == "full":
                fill(disk)
            else:
                read_only(disk)
            # another configuration: a new parent run must be written (a later `dvc exp run`, an edited budget)
            params = parse_params({**src, "mlflow": {"tracking_uri": uri}, "select": {"budget": 0.3}})
            with pytest.raises(MiraError) as e, pipeline_run(params, tmp_path):
                pass
        finally:
            if how == "read-only":
                subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    msg = str(e.value)
    assert ("full" if how == "full" else "readonly") in msg.replace("read-only", "readonly").replace(" ", ""), msg
    assert "move it aside" not in msg, msg


# ---- without root: the message for an OSError about the place, wherever it is raised ------------------------------


def test_an_oserror_about_the_place_is_one_line_and_any_other_a_traceback(capsys):
    import errno

    from flows.common import user_errors

    with pytest.raises(SystemExit) as e, user_errors("mira stage report"):
        raise OSError(errno.EROFS, "Read-only file system", "/p/.mira/prefect-server.lock")
    assert e.value.code == 1
    assert capsys.readouterr().err == ("mira stage report: /p/.mira/prefect-server.lock: Read-only file system (a "
                                       "read-only file system: run the project from a writable copy; MIRA_DEBUG=1 "
                                       "shows the traceback)\n")
    with pytest.raises(FileNotFoundError), user_errors("mira"):  # not about the place: a bug, with its traceback
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/p/x")


def test_an_oserror_naming_no_file_keeps_its_traceback():
    # (review s34, diff: a semaphore's EACCES names no place; a line saying "make it writable" named nothing)
    import errno

    from flows.common import user_errors

    with pytest.raises(PermissionError), user_errors("mira"):
        raise PermissionError(errno.EACCES, "Permission denied")
