"""The teacher request cache: SQLite, keyed by a hash of the canonical request.

Answers and failures are both stored, with token usage, so a crash or a re-run never pays twice
and every error stays inspectable (`sqlite3 .mira/teacher_cache.sqlite 'select error from requests'`).
A failure never overwrites an answer stored under the same key (two tasks asking the same text at once):
an answer, once paid for, stays. A stored answer whose bytes do not read back (damaged) is asked again.
WAL mode lets several processes (Dask workers) share one file, and `Teacher` commits each answer
as it arrives (one small transaction per answer), so a killed process loses only what was in flight.
A request being asked is claimed in the file (`claim`), so another run asking it at that moment (a project
sharing the file, a queued DVC experiment) reads its answer rather than paying for it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mira_core.errors import ConfigError, MiraError
from mira_core.io import pid_exists
from mira_core.teachers.base import Outcome, Request

log = logging.getLogger(__name__)
_DAMAGED = object()  # a stored answer that does not read back

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    ok INTEGER NOT NULL,
    data TEXT,
    error TEXT,
    error_kind TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""

# A request being asked, so that another run asking it at once (two projects on one cache file, queued DVC
# experiments) waits for its answer rather than paying for it again. A claim of a process that is gone, or older
# than CLAIM_STALE_S (a pid reused), is no claim.
CLAIMS = "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, " \
         "at REAL NOT NULL)"
CLAIM_STALE_S = 3600.0


_INIT = threading.Lock()
# A new outcome replaces a stored failure (a transient one asked again), never a stored answer: a later failure
# for the same key (another task, a duplicate text) must not throw away an answer that was paid for.
_UPSERT = ("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in ("kind", "record_id", "ok", "data", "error", "error_kind",
                                                      "prompt_tokens", "completion_tokens", "calls", "created"))
           + " WHERE requests.ok = 0")


def open_wal(path: Path | str, statements: tuple[str, ...], synchronous_normal: bool = False,
             isolation_level: str | None = "", named: tuple[str, str] = ("teacher.cache_path", "the teacher's answers")
             ) -> sqlite3.Connection:
    """A connection to a SQLite file in WAL mode, with `statements` (its schema) run once it is.

    Switching a new file to WAL needs it to themselves, and SQLite answers "database is locked" at once, without
    waiting out its busy timeout, when another connection is switching it too (to avoid a deadlock): so the tasks of
    a process take turns (a lock), and a connection of another process is waited out (a short retry loop).
    A file SQLite cannot use (damaged, cut short, not SQLite, a folder) is a ConfigError naming it; `named`: the
    knob that sets the file and what it holds, for the messages.
    """
    try:
        con = sqlite3.connect(path, check_same_thread=False, timeout=60, isolation_level=isolation_level)
    except sqlite3.DatabaseError as e:  # a folder, or a folder it may not write in
        raise unusable(path, e, *named) from None
    with _INIT:
        for attempt in range(100):
            try:
                con.execute("PRAGMA journal_mode=WAL")
                if synchronous_normal:
                    con.execute("PRAGMA synchronous=NORMAL")
                for stmt in statements:
                    con.execute(stmt)
                con.commit()
                return con
            except sqlite3.DatabaseError as e:
                if not _locked(e) or attempt == 99:
                    con.close()
                    if not _locked(e):
                        raise unusable(path, e, *named) from None
                    raise
                time.sleep(0.05)  # another process holds the lock for a moment
    raise AssertionError("unreachable")


def _locked(e: sqlite3.Error) -> bool:
    return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)


def unusable(path: Path | str, e: sqlite3.Error, knob: str = "teacher.cache_path",
             what: str = "the teacher's answers") -> MiraError:
    """The error for a cache file SQLite cannot read or write: a bare "file is not a database" named no file. Only a
    file that may be damaged is to be moved aside: one on a full disk, or in a read-only place, is whole, and moving
    it aside throws away every answer paid for in it."""
    text = str(e).lower()
    if "disk is full" in text:
        return MiraError(f"{path}: SQLite could not store {what} ({e}): out of disk space; free some and run the "
                         "stage again (those stored so far are kept)")
    if ("readonly" in text or "unable to open" in text) and not Path(path).is_dir():
        return ConfigError(f"{path}: SQLite cannot write there ({e}): the file or its folder is read-only or not "
                           f"writable (the file is not damaged); make them writable, or point {knob} at a writable "
                           "place")
    return ConfigError(f"{path}: SQLite cannot open or read this file ({e}); if it is damaged, move it aside with the "
                       "-wal and -shm files beside it to start an empty one (the requests it held are then asked again)")


class RequestCache:
    """A thread-safe SQLite map from request key to Outcome."""

    def __init__(self, path: Path | str, knob: str = "teacher.cache_path", what: str = "the teacher's answers") -> None:
        self.path = Path(path)
        self.knob, self.what = knob, what  # named by the errors: the generative student's replies have a cache too
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # In WAL mode a commit without fsync still survives a killed process (the OS holds it); only a power loss
        # can drop the last commits. That makes a commit per answer cheap.
        self._con = open_wal(self.path, (SCHEMA, CLAIMS), synchronous_normal=True, named=(knob, what))
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, Outcome]:
        """The stored outcomes of these keys. A row whose answer does not read back (its bytes damaged: not UTF-8,
        not JSON, an answer that is no object) is deleted and left out, so it is asked again and the new answer
        stored (a failure never replaces an answer): it was json's traceback on every run, naming no file, or
        SQLite's decoding error, whose advice was to set aside the whole file and every answer paid for in it."""
        out, damaged = {}, []
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                try:
                    # the answer as bytes: SQLite decodes TEXT as it fetches, and one bad byte failed the whole read
                    rows = self._con.execute(
                        f"SELECT key, record_id, ok, CAST(data AS BLOB), error, error_kind, prompt_tokens, "
                        f"completion_tokens, calls FROM requests WHERE key IN ({','.join('?' * len(chunk))})",
                        chunk).fetchall()
                except sqlite3.DatabaseError as e:  # a damaged page shows only when it is read
                    if _locked(e):
                        raise
                    raise unusable(self.path, e, self.knob, self.what) from None
                for k, rid, ok, data, err, ekind, pt, ct, calls in rows:
                    try:
                        value = json.loads(data.decode()) if data else None
                    except (UnicodeDecodeError, ValueError):
                        value = _DAMAGED
                    if value is _DAMAGED or (ok and not isinstance(value, dict)):
                        damaged.append(k)
                        continue
                    out[k] = Outcome(rid, bool(ok), value, err, ekind, pt, ct, calls)
            if damaged:
                self._con.executemany("DELETE FROM requests WHERE key = ?", [(k,) for k in damaged])
                self._con.commit()
        if damaged:
            log.warning("teacher cache %s: %d stored answer(s) did not read back (damaged); they are asked again",
                        self.path, len(damaged))
        return out

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails for want of space or rights names the file (sqlite3's bare "database or disk is full"
        was some 490 lines of traceback); a lock held too long stays as it is."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if _locked(e):
                raise
            with contextlib.suppress(sqlite3.Error):
                self._con.rollback()
            raise unusable(self.path, e, self.knob, self.what) from None

    def put_many(self, items: list[tuple[str, Request, Outcome]]) -> None:
        now = time.time()
        rows = [(k, r.kind, o.record_id, int(o.ok), json.dumps(o.data) if o.data is not None else None, o.error,
                 o.error_kind, o.prompt_tokens, o.completion_tokens, o.calls, now) for k, r, o in items]
        with self._lock, self._writing():
            self._con.executemany(_UPSERT, rows)
            self._con.commit()

    def put_data(self, kind: str, items: list[tuple[str, str, dict]]) -> None:
        """Store answers that are not teacher requests (key, record_id, data): the generative student's served
        replies, in a file of their own."""
        now = time.time()
        with self._lock, self._writing():
            self._con.executemany("INSERT OR REPLACE INTO requests (key, kind, record_id, ok, data, created) "
                                  "VALUES (?,?,?,1,?,?)", [(k, kind, rid, json.dumps(d), now) for k, rid, d in items])
            self._con.commit()

    def claim(self, keys: list[str], owner: str) -> set[str]:
        """Claim for `owner` each of `keys` that no other live asker has claimed; return those others hold (being
        asked elsewhere: wait for their answers, then `claim` what is still missing)."""
        now, pid, others = time.time(), os.getpid(), set()
        with self._lock, self._writing():
            self._con.execute("BEGIN IMMEDIATE")  # read and claim in one step: two askers never both get a key
            try:
                for i in range(0, len(keys), 500):
                    chunk = keys[i : i + 500]
                    rows = self._con.execute(f"SELECT key, owner, pid, at FROM claims WHERE key IN "
                                             f"({','.join('?' * len(chunk))})", chunk).fetchall()
                    stale = [k for k, o, p, at in rows if o != owner and (now - at > CLAIM_STALE_S or not pid_exists(p))]
                    others |= {k for k, o, _, _ in rows if o != owner and k not in stale}
                    self._con.executemany("INSERT OR REPLACE INTO claims VALUES (?,?,?,?)",
                                          [(k, owner, pid, now) for k in chunk if k not in others])
                self._con.commit()
            except BaseException:
                self._con.rollback()
                raise
        return others

    def release(self, keys: list[str], owner: str) -> None:
        """Drop `owner`'s claims on `keys` (their answers are stored, or they failed)."""
        with self._lock, self._writing():
            self._con.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", [(k, owner) for k in keys])
            self._con.commit()

    def count(self, ok: bool | None = None) -> int:
        q = "SELECT COUNT(*) FROM requests" + ("" if ok is None else f" WHERE ok = {int(ok)}")
        with self._lock:
            return self._con.execute(q).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()
