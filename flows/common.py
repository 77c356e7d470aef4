"""What every stage flow shares: the task runner, the run log, and the entry points' error handling.

Errors mira raises on purpose (`MiraError`, `ConfigError` among them) reach the user as their
message alone: `mira: <message>` on stderr, exit code 2 for a ConfigError and 1 for another
MiraError. params.yaml is validated before the Prefect server starts and before any flow runs, so
a bad config starts nothing. A MiraError raised inside a flow fails the flow run as usual (the
Prefect server records it with its traceback), but the console shows only the message. Set
`MIRA_DEBUG=1` (or pass `mira --debug`) for the full traceback; any other exception (a bug) always
shows its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mira_core.errors import INTERRUPTED, ConfigError, MiraError
from mira_core.progress import PROGRESS_ENV, progress_enabled, progress_lines  # noqa: F401 - PROGRESS_ENV re-exported
from mira_core.redact import redact_credentials

if TYPE_CHECKING:  # the CLI imports this module for its error handling: keep it light (no pydantic, no polars)
    from mira_core.config import Params, RunnerParams
    from mira_core.layout import Layout

PLAIN_EVERY_S = 60.0  # without a progress bar, gather prints a line at most this often
DEBUG_ENV = "MIRA_DEBUG"  # set (to anything but 0/empty): tracebacks of MiraErrors are shown, not hidden


@functools.cache
def _warn_once(message: str) -> None:
    """On stderr, once per process: `mira run` makes a task runner for every stage."""
    print(message, file=sys.stderr)


def task_runner(p: RunnerParams):
    """A thread pool by default; Dask (an existing scheduler at `address`, or a local cluster) when asked."""
    if p.kind == "dask":
        quiet_dask()
        from prefect_dask import DaskTaskRunner

        class MiraDaskTaskRunner(DaskTaskRunner):
            """Its workers hide a MiraError's traceback on their console as this process does: a worker is a process
            of its own, which logs a failed task to the terminal without `hide_mira_failures_on_console`."""

            @property
            def client(self):
                new = self._client is None
                try:
                    client = super().client
                except OSError as e:  # no scheduler answers at runner.address: distributed's traceback named no knob
                    if not p.address:
                        raise
                    raise ConfigError(f"runner.address {p.address!r}: no Dask scheduler answers there ({e}); start "
                                      "one (`dask scheduler`, and `dask worker`s), or set runner.address: null for "
                                      "a local cluster") from e
                if new and not debug():
                    client.register_plugin(_hide_mira_failures_plugin(), name="mira-hide-mira-failures")
                return client

        if p.address:
            runner = MiraDaskTaskRunner(address=p.address)
        else:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            if p.max_workers * p.threads_per_worker > cores:  # a typo (200 for 20) started 200 processes
                _warn_once(f"warning: runner.max_workers {p.max_workers} x runner.threads_per_worker "
                           f"{p.threads_per_worker} is more than this machine's {cores} cores: each local Dask "
                           "worker is a process that loads its own models (memory) and the extra ones only wait")
            runner = MiraDaskTaskRunner(cluster_kwargs={"n_workers": p.max_workers, "processes": True,
                                                        "threads_per_worker": p.threads_per_worker,
                                                        "dashboard_address": None})
        if not debug():
            runner.logger.setLevel(logging.WARNING)  # its "dashboard is available" line: see quiet_dask
        return runner
    from prefect.task_runners import ThreadPoolTaskRunner

    if p.address:  # a scheduler named for a run on threads: it was ignored without a word
        _warn_once(f"warning: runner.address {p.address!r} is ignored: runner.kind is threads (set runner.kind: dask "
                   "to run on that scheduler)")
    return ThreadPoolTaskRunner(max_workers=p.max_workers)


DASK_LOG_ENV = "DASK_LOGGING__DISTRIBUTED"  # dask's config for the `distributed` loggers' level (a value set wins)


def quiet_dask() -> None:
    """Keep Dask's own INFO lines (some thirty per cluster: scheduler, nanny, worker banners, connections) and
    prefect-dask's off the console, as the thread pool has none; MIRA_DEBUG shows them. The level goes through
    the environment so the worker processes the cluster starts read it too; this process's loggers are set as
    well, in case `distributed` was imported before. The runner's own INFO lines are quieted where it is made
    (`task_runner`): one of them says "the Dask dashboard is available at …/status", but the dashboard needs
    bokeh, which mira does not install, so the link leads nowhere."""
    if debug() or DASK_LOG_ENV in os.environ:
        return
    os.environ[DASK_LOG_ENV] = "warning"
    logging.getLogger("distributed").setLevel(logging.WARNING)


def _hide_mira_failures_plugin():
    """A Dask worker plugin that installs `_HideMiraFailures` on the worker's console (made here: distributed is
    imported only when a stage runs on Dask)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class HideMiraFailures(WorkerPlugin):
        def setup(self, worker) -> None:
            hide_mira_failures_on_console()
            # A local cluster's workers share the terminal's process group, so Ctrl-C reached each of them too and
            # every one printed its KeyboardInterrupt's traceback (70-240 lines): the main process alone handles it,
            # and stopping the cluster stops them.
            with contextlib.suppress(ValueError):  # not the worker process's main thread: leave it
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            if not debug():
                logging.getLogger("distributed.worker").addFilter(OneLineHeartbeatLoss())

    return HideMiraFailures()


HEARTBEAT_LOST = "Failed to communicate with scheduler during heartbeat"


class OneLineHeartbeatLoss(logging.Filter):
    """A Dask worker's failed heartbeat said in one line, without its traceback (unless MIRA_DEBUG is set).

    After Ctrl-C the main process stops the local cluster, and a worker whose heartbeat was under way when the
    scheduler closed logs this at ERROR with the 25-line traceback of the closed connection (CI saw it once in
    five runs of test_review_interrupts_s34): a shutdown, not a fault of the user's. Where the scheduler is really
    lost, the line and the error's own words still say so."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith(HEARTBEAT_LOST):
            exc = record.exc_info[1]
            record.msg, record.args = f"{HEARTBEAT_LOST} ({type(exc).__name__}: {exc})", ()
            record.exc_info, record.exc_text = None, None
        return True


def states(futures: Iterable) -> dict[str, int]:
    """Count task runs by final state name (Completed, Cached, Failed ...)."""
    out: dict[str, int] = {}
    for f in futures:
        name = f.state.name
        out[name] = out.get(name, 0) + 1
    return out


@contextmanager
def run_log(layout: Layout, stage: str):
    """Record the stage's wall time and task states in .mira/runs/<stage>.json (local, not versioned); once the
    stage's work is done, delete the temporary files a killed earlier run's writes left in its outs. The stage holds
    its lock (`stage_lock`) meanwhile."""
    from mira_core.io import remove_temp_files, write_json
    from mira_core.stages import BY_NAME

    log: dict = {"stage": stage, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "tasks": {}}
    t0 = time.perf_counter()
    with stage_lock(layout, stage):
        yield log
        # every task of the stage has finished here, so no live temporary file is taken for a leftover; still under
        # the lock, or a second run started meanwhile would have its live temporary files deleted by this cleanup
        leftovers = [f for out in BY_NAME[stage].write_paths() for f in remove_temp_files(layout.root / out)]
        if leftovers:
            log["removed_leftovers"] = len(leftovers)
        log["wall_s"] = round(time.perf_counter() - t0, 3)
        write_json(log, layout.run_log(stage))


# Stage locks an interrupted stage still holds: released by `run_stage` once the flow call has returned (see
# `stage_lock`), or by the kernel when the process ends.
_HELD_UNTIL_STOPPED: list = []


@contextmanager
def stage_lock(layout: Layout, stage: str):
    """Hold .mira/locks/<stage>.lock (an flock, freed by the kernel when the process dies) while the stage runs, and
    refuse a second run of the same stage in this project meanwhile. Without it a double launch, or `mira stage
    ingest` while `mira run` was at ingest, crashed: the second run took the first's live temporary folders for a
    killed run's leftovers and deleted them. Other stages may run at the same time, as they always could.

    After Ctrl-C the lock is kept until the flow call has returned (`release_held_locks`, in `run_stage`): an
    interrupt that lands outside `gather` (between two submissions, say) leaves the flow body at once, while
    Prefect's task runner still joins the busy task on its way out; released here, the lock let a second run start
    beside that task."""
    import fcntl

    path = layout.state / "locks" / f"{stage}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed below, or kept open on purpose after Ctrl-C)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise MiraError(f"{stage}: already running in {layout.root} ({holder}); wait for it to end, or stop it, "
                        "before running the stage again") from None
    except BaseException:
        f.close()
        raise
    interrupted = False
    try:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        f.flush()
        yield
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt) or INTERRUPTED.is_set()
        raise
    finally:
        if interrupted:
            _HELD_UNTIL_STOPPED.append(f)
        else:
            _unlock(f)


def _unlock(f) -> None:
    """Release a stage lock: unlocked first, so that a child forked meanwhile, which shares the descriptor, does not
    keep it held."""
    import fcntl

    with contextlib.suppress(OSError, ValueError):
        fcntl.flock(f, fcntl.LOCK_UN)
    f.close()


def release_held_locks() -> None:
    """Release the stage locks an interrupted stage kept (`stage_lock`): its tasks have stopped by now."""
    while _HELD_UNTIL_STOPPED:
        _unlock(_HELD_UNTIL_STOPPED.pop())


def gather(futures: Iterable, desc: str, unit: str = "task", file=None) -> list:
    """The futures' results in the order given, with a progress bar on stderr that advances as each one finishes.

    Every future is waited for (in the order they finish) before any `.result()` is read, in order; so a
    failed task raises as `[f.result() for f in futures]` would, after the others have finished. Prefect
    futures (thread pool or Dask) and `concurrent.futures` ones both work. No bar when disabled (see
    `progress_enabled`); the bar is cleared when done, and the stage prints its summary line.
    """
    from tqdm.auto import tqdm

    futures = list(futures)
    stream = sys.stderr if file is None else file
    # Without a bar (stderr a log file: `dvc repro > log`, CI), a line at most every PLAIN_EVERY_S, so a stage
    # of long tasks (the proxy evaluation's runs, minutes each) is not silent for a quarter of an hour; a quick
    # one prints none.
    lines, start = len(futures) > 1 and progress_lines(stream), time.monotonic()
    said = start
    with tqdm(total=len(futures), desc=desc, unit=unit, file=stream, leave=False, dynamic_ncols=True,
              mininterval=0, disable=not progress_enabled(stream)) as bar:
        try:
            for done, _ in enumerate(_in_slices(_as_completed(futures)), 1):
                bar.update(1)
                if lines and time.monotonic() - said >= PLAIN_EVERY_S:
                    said = time.monotonic()
                    print(f"{desc}: {done} of {len(futures)} {unit}s done ({said - start:.0f} s)", file=stream,
                          flush=True)
        except KeyboardInterrupt:
            # Ctrl-C reaches this (main) thread only: stop the teachers' threads from sending what is still
            # queued, and drop the tasks not started, before the interrupt ends the run
            INTERRUPTED.set()
            for f in futures:
                with contextlib.suppress(Exception):
                    f.cancel()
            # The running tasks stop at their next step (check_interrupted). Waited for here, a slice at a time, so
            # that the stage keeps its lock until they have, and a second Ctrl-C still lands (`_on_sigint` then
            # ends the process): Prefect's thread pool joined them without a timeout, deaf to any Ctrl-C, for as
            # long as a fit or a training run went on, and the stage lock was already released.
            # (Tasks on Dask workers, other processes, are not waited for: the cluster stops with this process.)
            running = [f for f in futures if _local(f) and not _done(f)]
            if running:
                print(f"{desc}: interrupted: stopping {len(running)} running task(s) at their next step (Ctrl-C "
                      "again to stop at once)", file=stream)
                while not all(_done(f) for f in running):
                    time.sleep(0.2)
            raise
    return [f.result() for f in futures]


def _done(future) -> bool:
    """Whether a Prefect (thread pool or Dask) or concurrent.futures future has finished, or was cancelled before
    it ran (a cancelled Prefect future's state stays Pending)."""
    try:
        return bool(getattr(future, "wrapped_future", future).done())
    except Exception:  # noqa: BLE001 (a future that cannot say: not waited for)
        return True


def _local(future) -> bool:
    """Whether a future's task runs in this process (a thread pool's), where INTERRUPTED reaches it."""
    import concurrent.futures

    return isinstance(getattr(future, "wrapped_future", future), concurrent.futures.Future)


def _on_sigint(signum, frame) -> None:
    """Ctrl-C in a stage process: the first sets INTERRUPTED (every long loop stops at its next step; `mira run`
    starts no further stage, even where Prefect swallows the KeyboardInterrupt of a stage that had just finished)
    and raises it as Python does; a second ends the process at once."""
    if INTERRUPTED.is_set():
        print("mira: stopped", file=sys.stderr)
        os._exit(130)
    INTERRUPTED.set()
    raise KeyboardInterrupt


_END = object()


def _in_slices(finished: Iterator, poll_s: float = 0.5) -> Iterator:
    """`finished`'s items, read by a helper thread and waited for here a slice of `poll_s` at a time.

    Ctrl-C raises KeyboardInterrupt only where the main thread runs Python: blocked for good in as_completed's
    wait, it never did on Dask (the main thread slept on in the wait, and the workers Ctrl-C had stopped never
    finished their tasks: the stage hung). An error of the iteration is raised here.
    """
    import queue
    import threading

    out: queue.SimpleQueue = queue.SimpleQueue()

    def feed() -> None:
        try:
            for item in finished:
                out.put((item, None))
            out.put((_END, None))
        except BaseException as e:  # noqa: BLE001  (handed to the main thread, which raises it)
            out.put((_END, e))

    threading.Thread(target=feed, name="mira-gather", daemon=True).start()
    while True:
        try:
            item, error = out.get(timeout=poll_s)
        except queue.Empty:
            continue
        if error is not None:
            raise error
        if item is _END:
            return
        yield item


def _as_completed(futures: list) -> Iterator:
    import concurrent.futures

    if futures and all(isinstance(f, concurrent.futures.Future) for f in futures):
        return concurrent.futures.as_completed(futures)
    from prefect.futures import as_completed

    return as_completed(futures)


def require(path: Path, stage: str) -> Path:
    """`path` when it exists; else a ConfigError that names it and the stage that writes it (before any work)."""
    if not Path(path).exists():
        raise ConfigError(f"{path}: missing (run the {stage} stage first)")
    return path


def named_for(names: Iterable[str], *suffixes: str) -> Callable[[Path], bool]:
    """A `prune` rule: keep what is named <name> or <name><suffix> for a name in `names`. Only a whole suffix is cut:
    a group may hold a '.' (group.pins: web.en), and a name cut at its first '.' read as another group's."""
    wanted = set(names)

    def keep(path: Path) -> bool:
        name = path.name
        return name in wanted or any(name.endswith(s) and name[: -len(s)] in wanted for s in suffixes)

    return keep


def prune(candidates: Iterable[Path], keep: Callable[[Path], bool]) -> list[Path]:
    """Delete each candidate (file or folder) that `keep` rejects; returns what was deleted.

    A stage's outputs for a source, group or method that is no longer asked for would otherwise
    survive in its DVC out and be versioned (and read by the next stage) as if current.
    """
    import shutil

    gone = [c for c in list(candidates) if not keep(c)]
    for c in gone:
        shutil.rmtree(c) if c.is_dir() else c.unlink(missing_ok=True)
    return gone


# ---- entry points and their errors -------------------------------------------------------------------------------


def debug() -> bool:
    """Whether the user asked for full tracebacks (MIRA_DEBUG=1, or `mira --debug`)."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


@contextmanager
def user_errors(prog: str) -> Iterator[None]:
    """A MiraError leaving the block becomes `prog: message` on stderr and an exit code, without a traceback; so does
    an OSError about the place itself (a full disk, a read-only folder: `place_problem`)."""
    try:
        yield
    except MiraError as e:
        if debug():
            raise
        # a URL the user wrote with credentials in it (a source, an endpoint) is named by many messages
        print(f"{prog}: {redact_credentials(str(e))}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, ConfigError) else 1) from None
    except OSError as e:
        problem = place_problem(e)
        if problem is None or debug():
            raise
        print(f"{prog}: {redact_credentials(problem)}", file=sys.stderr)
        raise SystemExit(1) from None


_PLACE_HINTS = {
    errno.ENOSPC: "out of disk space: free some and run it again",
    errno.EDQUOT: "over the disk quota: free some and run it again",
    errno.EFBIG: "over the file size limit",
    errno.EROFS: "a read-only file system: run the project from a writable copy",
    errno.EACCES: "make it writable (or readable) for this user",
    errno.EPERM: "make it writable (or readable) for this user",
    errno.ENOTDIR: "a file stands where a folder is expected: move it aside",
    errno.EEXIST: "a file stands where a folder is expected: move it aside",
}


def place_problem(e: BaseException) -> str | None:
    """The one-line message for an OSError about where mira writes (the project's lock and state files under
    .mira/, MLflow's artifacts, a folder to make) rather than about mira's logic: each was some 100 to 700 lines of
    tracebacks ending in the errno's words. None for any other exception: that is a bug and shows its traceback."""
    if not isinstance(e, OSError) or e.errno not in _PLACE_HINTS or not e.filename:
        return None  # one that names no file (a semaphore's EACCES) says nothing of a place: its traceback does
    return f"{e.filename}: {e.strerror or e} ({_PLACE_HINTS[e.errno]}; MIRA_DEBUG=1 shows the traceback)"


class _HideMiraFailures(logging.Filter):
    """On the console, drop what Prefect logs about a run that failed with a MiraError.

    That is the exception with its traceback ('Encountered exception during execution', 'Task run
    failed with exception') and, for the same run, the later error lines ('Finished in state
    Failed'). `user_errors` prints the message instead. The records still reach the Prefect server:
    its handler sits on the run loggers, and this filter only on the console handler of the root logger.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failed: set[str] = set()  # ids of the task and flow runs that failed with a MiraError

    def filter(self, record: logging.LogRecord) -> bool:
        run = getattr(record, "task_run_id", None) or getattr(record, "flow_run_id", None)
        if record.exc_info and (isinstance(record.exc_info[1], MiraError) or place_problem(record.exc_info[1])):
            if run:
                self.failed.add(str(run))
            return False
        return not (record.levelno >= logging.ERROR and str(run) in self.failed)


def hide_mira_failures_on_console() -> None:
    """Install `_HideMiraFailures` on the console handlers Prefect set up (unless MIRA_DEBUG is set)."""
    if debug():
        return
    import prefect.main  # noqa: F401  (sets up Prefect's logging, so its handlers exist to be filtered)

    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _HideMiraFailures) for f in handler.filters):
            handler.addFilter(_HideMiraFailures())


def run_stage(root: Path, load: Callable[[], Callable[[Params, Path], object]], stage: str | None = None) -> object:
    """Validate params.yaml, attach to the project's Prefect server, then run the stage `load()` returns, in the
    project folder.

    In that order, so a bad params.yaml fails before any server starts or flow runs. `load` is called
    inside the server block: `mira stage` imports the flow module there, after PREFECT_API_URL is set,
    because Prefect reads its settings once. `stage`: the one stage run (as `dvc repro` runs them), whose
    params-named paths that dvc.yaml does not list are warned of.
    """
    from flows.params import load_params
    from flows.servers import prefect_api
    from mira_core.dvc_deps import untracked_param_paths

    params = load_params(root / "params.yaml")
    for warning in untracked_param_paths(stage, params, root) if stage else ():
        print(f"{stage}: warning: {warning}", file=sys.stderr)
    # In the project folder, as `dvc repro` runs a stage: a relative path in params (a model folder, a benchmark
    # file) is read from there, not from wherever `mira stage --root` was started (it failed, or read another file).
    with contextlib.chdir(root), prefect_api(root, params.runner):  # the project's Prefect server
        run = load()
        hide_mira_failures_on_console()
        try:
            if threading.current_thread() is not threading.main_thread():
                return run(params, root)
            before = signal.signal(signal.SIGINT, _on_sigint)
            try:
                return run(params, root)
            finally:
                signal.signal(signal.SIGINT, before)
        finally:
            release_held_locks()  # the flow call has returned: its task runner has joined every task


def parse_root(argv: list[str] | None, stage: str) -> Path:
    ap = argparse.ArgumentParser(prog=f"python -m flows.{stage}", description=f"Run the {stage} stage.")
    ap.add_argument("--root", type=Path, default=Path("."), help="project folder holding params.yaml")
    return ap.parse_args(argv).root.resolve()


def stage_main(run: Callable[[Params, Path], object], stage: str, argv: list[str] | None = None) -> None:
    """`python -m flows.<stage>`: run one stage under --root; a MiraError exits with its message alone."""
    root = parse_root(argv, stage)
    with user_errors(f"mira {stage}"):
        run_stage(root, lambda: run, stage)


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
