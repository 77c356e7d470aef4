"""A stage on Dask keeps Dask's INFO lines off the console (some thirty per cluster, and prefect-dask's "dashboard
is available" link to a dashboard that needs bokeh, which is not installed); MIRA_DEBUG or the user's own
DASK_LOGGING__DISTRIBUTED keeps them. Checked in a real LocalCluster's worker process."""

from __future__ import annotations

import logging
import os

import pytest

from flows.common import DASK_LOG_ENV, task_runner
from mira_core.config import RunnerParams


def _worker_level() -> int:
    return logging.getLogger("distributed.worker").getEffectiveLevel()


@pytest.fixture
def clean_env(monkeypatch):
    """No MIRA_DEBUG, no DASK_LOGGING__DISTRIBUTED, the runner's logger at its default; all restored after."""
    for name in ("MIRA_DEBUG", DASK_LOG_ENV):
        monkeypatch.setenv(name, "")  # recorded, so that what task_runner sets is undone
        monkeypatch.delenv(name)
    loggers = [logging.getLogger(name) for name in ("distributed", "prefect.task_runner.miradask")]
    levels = [logger.level for logger in loggers]
    for logger in loggers[1:]:
        logger.setLevel(logging.NOTSET)
    yield monkeypatch
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.slow
def test_dask_info_lines_are_kept_off_the_console_in_the_workers_too(clean_env):
    runner = task_runner(RunnerParams(kind="dask", max_workers=1))
    assert runner.logger.getEffectiveLevel() == logging.WARNING
    with runner:
        (level,) = runner.client.run(_worker_level).values()
    assert level == logging.WARNING


def test_debug_keeps_dask_lines(clean_env):
    clean_env.setenv("MIRA_DEBUG", "1")
    logging.getLogger("distributed").setLevel(logging.INFO)
    runner = task_runner(RunnerParams(kind="dask", max_workers=1))
    assert DASK_LOG_ENV not in os.environ
    assert runner.logger.level == logging.NOTSET  # left to Prefect's logging config
    assert logging.getLogger("distributed").level == logging.INFO


def test_a_users_own_dask_log_level_wins(clean_env):
    clean_env.setenv(DASK_LOG_ENV, "info")
    logging.getLogger("distributed").setLevel(logging.INFO)
    task_runner(RunnerParams(kind="dask", max_workers=1))
    assert os.environ[DASK_LOG_ENV] == "info"
    assert logging.getLogger("distributed").level == logging.INFO
