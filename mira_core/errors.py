"""The four error classes that tell the orchestrator what to do.

`ConfigError` stops a stage before any work or spend; `RetryableError` is retried by Prefect tasks;
`RecordError` quarantines one record with a reason and the stage goes on. Everything else that goes
wrong is a `MiraError` (or a plain bug) and fails the stage.
"""

from __future__ import annotations


class MiraError(Exception):
    """Base class of every error mira raises on purpose."""


class ConfigError(MiraError):
    """A bad setting, a missing input or a broken precondition: fail before any spend."""


class RetryableError(MiraError):
    """A transient failure (network, rate limit, flaky storage) that a retry may fix."""


class SchemaError(MiraError):
    """A table that does not match its contract in `mira_core.schema`."""


class RecordError(MiraError):
    """One bad input record: it is quarantined with `reason` and counted, and the stage continues."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
