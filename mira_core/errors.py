"""The error classes that tell the orchestrator what to do.

`ConfigError` stops a stage before any work or spend; `RecordError` quarantines one record with a reason
and the stage goes on; `InvariantError` is a bug caught in the act (counts that do not balance). Everything
else that goes wrong is a `MiraError` (or a plain bug) and fails the stage.

There is no retryable error class on purpose. A transient teacher failure (429, 5xx, a timeout) is retried
inside the teacher client, with backoff, a spend ledger and a per-answer cache (mira_core/teachers), because a
Prefect task retry would resend a whole chunk of requests; CPU tasks that read and write shards
(embed-shard, score-shard) have `retries=1` on the task for a flaky disk.
"""

from __future__ import annotations

import threading


class MiraError(Exception):
    """Base class of every error mira raises on purpose."""


class ConfigError(MiraError):
    """A bad setting, a missing input or a broken precondition: fail before any spend."""


class InvariantError(MiraError):
    """A promise the code makes to itself is broken (counts that do not balance): a bug, never bad input."""


class SchemaError(MiraError):
    """A table that does not match its contract in `mira_core.schema`."""


class RecordError(MiraError):
    """One bad input record: it is quarantined with `reason` and counted, and the stage continues."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# What json.loads raises on a text it will not read: JSONDecodeError (a ValueError) for bad JSON, and for valid
# JSON beyond Python's limits a plain ValueError (an integer of more than 4300 digits) or a RecursionError
# (arrays or objects nested about a thousand deep). JSON from records, users' files and models can be either,
# so every such json.loads catches both, never JSONDecodeError alone: one record must not end a stage.
JSON_REFUSED = (ValueError, RecursionError)


JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "a boolean", type(None): "null"}


def json_type(value: object) -> str:
    """What a value is, in JSON's words ("an array", "a number"), for quarantine details (readers and render)."""
    return JSON_TYPES.get(type(value), f"a {type(value).__name__}")


def json_refusal(e: BaseException) -> str:
    """Why json.loads refused a text, in words, for a quarantine reason or an error message."""
    if isinstance(e, RecursionError):
        return "nested too deep to read"
    msg = getattr(e, "msg", None) or str(e)
    return msg.split(";")[0]  # the digit limit's message ends in advice for programmers, not for users


# Set when the user interrupts a run (Ctrl-C reaches the flow's main thread, flows.common.gather sets it): the
# teacher threads of the thread pool never see the KeyboardInterrupt, so without it every queued request would
# still be sent and paid for before the process ends. A request not yet sent is then dropped ("not sent", never
# cached); the few already in flight finish. Never cleared in a run: an interrupted process ends.
INTERRUPTED = threading.Event()


class Interrupted(MiraError):
    """A long task (a fit, a training run) stopped at its next step after Ctrl-C, so the stage ends in seconds."""


def check_interrupted() -> None:
    """Raise `Interrupted` once the run was interrupted: called once per epoch, step or batch of the long loops,
    which the thread pool would otherwise run to their end (silently, holding the process minutes after Ctrl-C)."""
    if INTERRUPTED.is_set():
        raise Interrupted("interrupted (Ctrl-C)")
