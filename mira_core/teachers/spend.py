"""Spending caps for one stage run (`teacher.max_requests`, `teacher.max_cost`), shared by all its tasks.

The label stage runs its chunks as parallel tasks (threads, or Dask worker processes), each with its own
teacher, so a cap per teacher would not cap the stage. The ledger is two tables in the request cache's
SQLite file, keyed by a run id the stage hands every task; every change is one `BEGIN IMMEDIATE`
transaction, so concurrent processes see and update one total.

Before a provider request is sent it takes a *hold*: one request and its worst-case cost (prompt
tokens bounded by the prompt's UTF-8 bytes plus a per-message allowance, completion by `max_tokens`).
When the reply comes, the hold is replaced by the cost the provider reported. A request is refused
when the spend already settled plus its own worst case would pass `max_cost`, or when `max_requests`
holds were taken; it waits (briefly, polling) while only other requests' holds stand in the way, as
they usually settle below their worst case. So the cap is never passed (as far as the provider's
token counts stay within those bounds), and the stage stops less than one request's worst case
below it. Every attempt is a request of its own, retries of a 429/5xx/timeout included, with its own
hold: an error status is settled at nothing (not billed); an attempt that timed out, lost its connection,
was cancelled or answered with a body that is not a completion is settled at its worst case, as the
provider may have billed it.

A refused request is an outcome of kind "capped" (never cached); `cap_error` turns a stage's summed
teacher stats into the message the stage fails with.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

from mira_core.teachers.cache import open_wal

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spend (run_id TEXT PRIMARY KEY, requests INTEGER NOT NULL DEFAULT 0, "
    "cost REAL NOT NULL DEFAULT 0, updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS spend_holds (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, "
    "cost REAL NOT NULL, created REAL NOT NULL)",
)
TOKENS_PER_MESSAGE = 16  # chat-template tokens around each message, generously
WAIT = "wait"  # try_hold's answer while other requests' holds stand in the way


class CapReached(Exception):
    """A request refused by a spending cap; the message says which cap and what to do."""


class SpendLedger:
    """The caps of one run over a SQLite file; thread-safe, and shared by processes through the file."""

    def __init__(self, path: Path | str, run_id: str | None, max_requests: int | None, max_cost: float | None,
                 price_in: float | None, price_out: float | None, max_tokens: int, stale_s: float = 3600) -> None:
        self.run_id = run_id or uuid.uuid4().hex  # no run id: a cap per teacher
        self.max_requests, self.max_cost = max_requests, max_cost
        self.price_in, self.price_out = (price_in or 0.0) / 1e6, (price_out or 0.0) / 1e6
        self.max_tokens = max_tokens
        self.stale_s = stale_s  # a hold older than this belongs to a killed process: not counted
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are the explicit BEGIN IMMEDIATE ... COMMIT below. Opened as the request
        # cache opens the same file: the chunks of a stage open it at once, and switching a new file to WAL fails
        # at once ("database is locked") for all but one of them
        self._con = open_wal(path, SCHEMA, isolation_level=None)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ costs
    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.price_in + completion_tokens * self.price_out

    def worst_case(self, messages: list[dict]) -> float:
        """An upper bound of a request's cost: a token covers at least one byte of the prompt."""
        prompt = sum(len(str(m.get("content", "")).encode()) + TOKENS_PER_MESSAGE for m in messages)
        return self.cost(prompt, self.max_tokens)

    # ------------------------------------------------------------ holds
    def try_hold(self, worst: float) -> int | str:
        """A hold id for one request, WAIT while others' holds block it; raises CapReached when over a cap."""
        with self._lock, self._transaction():
            requests, settled = self._totals()
            if self.max_requests is not None and requests >= self.max_requests:
                raise CapReached(f"teacher.max_requests reached ({requests} of {self.max_requests} requests); "
                                 "answers so far are cached; raise the cap and re-run")
            if self.max_cost is not None:
                if settled + worst > self.max_cost:
                    raise CapReached(f"teacher.max_cost reached (${settled:.4f} spent of ${self.max_cost:g}; the next "
                                     f"request may cost up to ${worst:.4f}); answers so far are cached; raise the cap "
                                     "and re-run")
                held = self._con.execute("SELECT COALESCE(SUM(cost), 0) FROM spend_holds WHERE run_id = ? AND "
                                         "created > ?", (self.run_id, time.time() - self.stale_s)).fetchone()[0]
                if settled + held + worst > self.max_cost:
                    return WAIT
            cur = self._con.execute("INSERT INTO spend_holds (run_id, cost, created) VALUES (?, ?, ?)",
                                    (self.run_id, worst, time.time()))
            self._con.execute("UPDATE spend SET requests = requests + 1, updated = ? WHERE run_id = ?",
                              (time.time(), self.run_id))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def settle(self, hold: int, cost: float) -> None:
        """Replace a hold by what the request cost."""
        with self._lock, self._transaction():
            self._con.execute("DELETE FROM spend_holds WHERE id = ?", (hold,))
            self._con.execute("UPDATE spend SET cost = cost + ?, updated = ? WHERE run_id = ?",
                              (cost, time.time(), self.run_id))

    def totals(self) -> tuple[int, float]:
        """(requests, settled cost) of this run so far."""
        with self._lock, self._transaction():
            return self._totals()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _totals(self) -> tuple[int, float]:
        self._con.execute("INSERT OR IGNORE INTO spend (run_id, updated) VALUES (?, ?)", (self.run_id, time.time()))
        requests, cost = self._con.execute("SELECT requests, cost FROM spend WHERE run_id = ?",
                                           (self.run_id,)).fetchone()
        return int(requests), float(cost)

    def _transaction(self):
        return _Immediate(self._con)


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken first, so the check and the
    increment are one atomic step across processes."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            self.con.execute("ROLLBACK")


def cap_error(stats: dict, max_requests: int | None, max_cost: float | None) -> str | None:
    """The message a stage fails with when its teacher stats (`TeacherStats.as_dict`, summed over tasks) show
    requests refused by a cap; None when no request was."""
    refused = (stats.get("failures") or {}).get("capped", 0)
    if not refused:
        return None
    caps = [f"teacher.max_requests = {max_requests}" if max_requests is not None else "",
            f"teacher.max_cost = ${max_cost:g}" if max_cost is not None else ""]
    spent = f" (${stats['cost_usd']:.4f} spent)" if stats.get("cost_usd") is not None else ""
    return (f"the teacher's spending cap was reached ({' and '.join(c for c in caps if c)}): {refused} request(s) "
            f"not sent after {stats.get('calls', 0)} provider requests{spent}; answers so far are cached; raise the "
            "cap and re-run")
