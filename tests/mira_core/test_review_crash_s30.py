"""Review s30 (crash safety and caching): a task cache record whose result file a kill or a full disk left truncated
is dropped and the task re-run, not served as Prefect's decoding error on every later run."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from mira_core.config import CacheParams
from mira_core.io import read_json, write_json
from tasks.caching import cached, submit

_CALLS: list[int] = []


@task
def _write_one(n: int, out: Path) -> dict:
    _CALLS.append(n)
    write_json({"n": n}, out)
    return {"n": n}


@flow
def _one_flow(n: int, out: str, root: str) -> dict:
    return submit(cached(_write_one, CacheParams(dir=".cache"), Path(root)), n, out=Path(out)).result()


def test_a_truncated_result_record_is_run_again_not_served(tmp_path, prefect_harness):
    out = tmp_path / "o.json"
    assert _one_flow(1, str(out), str(tmp_path)) == {"n": 1}
    assert _one_flow(1, str(out), str(tmp_path)) == {"n": 1} and _CALLS == [1]  # a hit
    (res,) = (tmp_path / ".cache" / "results").iterdir()
    res.write_bytes(res.read_bytes()[:10])  # what a kill or ENOSPC inside Prefect's open-then-write leaves
    assert _one_flow(1, str(out), str(tmp_path)) == {"n": 1} and _CALLS == [1, 1]  # run again
    assert read_json(out) == {"n": 1}
    assert _one_flow(1, str(out), str(tmp_path)) == {"n": 1} and _CALLS == [1, 1]  # and its fresh record a hit
    res.write_bytes(b"")  # emptied (killed right after open)
    assert _one_flow(1, str(out), str(tmp_path)) == {"n": 1} and _CALLS == [1, 1, 1]


def test_a_folder_swap_that_fails_halfway_puts_the_previous_output_back(tmp_path, monkeypatch):
    # atomic_dir moves the old folder aside, then the new one in: when the second rename failed, the old output was
    # left in its hidden .old folder, which the next atomic_dir deletes
    import os

    import pytest

    from mira_core import io

    out = tmp_path / "out"
    with io.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("old")
    real, calls = os.replace, []

    def failing_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", failing_second)
    with pytest.raises(OSError, match="No space"), io.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("new")
    monkeypatch.setattr(io.os, "replace", real)
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_name_too_long_for_the_atomic_writers_is_refused_in_params():
    # a 250-character source name was a legal folder, but `.<name>.XXXXXXXX.tmp` is past a file name's 255 bytes:
    # every output of the source failed with "File name too long" after its work
    import pytest
    from pydantic import ValidationError

    from mira_core.config import SourceSpec
    from mira_core.filter_params import PLAIN_NAME_MAX

    assert SourceSpec(name="a" * PLAIN_NAME_MAX, path="a.jsonl", format="text").name == "a" * PLAIN_NAME_MAX
    with pytest.raises(ValidationError, match=f"at most {PLAIN_NAME_MAX} characters, not 250"):
        SourceSpec(name="a" * 250, path="a.jsonl", format="text")
