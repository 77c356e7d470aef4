"""Review of the runners (s33): the same project under threads (1 and 4 workers), a local Dask cluster (2 x 1 and
1 x 2) and a `dask scheduler` + `dask worker`s given as `runner.address` selected the same records with the same
scores, counts and manifests. What a user met on Dask that deserves a message: a `runner.address` where no scheduler
answers failed the stage after Dask's 30 s connect timeout with some 430 lines of traceback (twice: Prefect's log of
the flow run, then the uncaught OSError), none of which names the knob.
"""

from __future__ import annotations

import socket

import pytest

from flows.common import task_runner
from mira_core.config import RunnerParams
from mira_core.errors import ConfigError


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_runner_address_is_a_config_error_naming_the_knob(monkeypatch):
    import dask

    monkeypatch.delenv("MIRA_DEBUG", raising=False)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    runner = task_runner(RunnerParams(kind="dask", address=address))
    # the connect timeout is 30 s by default; 2 s keeps the test short and changes nothing else
    with (dask.config.set({"distributed.comm.timeouts.connect": "2s"}), runner,
          pytest.raises(ConfigError, match=r"runner\.address") as caught):
        runner.client  # noqa: B018  (the first task's submit connects here)
    assert address in str(caught.value)
