"""What every stage flow shares: the task runner, the run log, and the `main(argv)` entry point."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, contextmanager
from pathlib import Path

from mira_core.config import Params, RunnerParams
from mira_core.io import write_json
from mira_core.layout import Layout


def task_runner(p: RunnerParams):
    """A thread pool by default; Dask (an existing scheduler at `address`, or a local cluster) when asked."""
    if p.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if p.address:
            return DaskTaskRunner(address=p.address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": p.max_workers, "threads_per_worker": p.threads_per_worker,
                                              "processes": True, "dashboard_address": None})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=p.max_workers)


def states(futures: Iterable) -> dict[str, int]:
    """Count task runs by final state name (Completed, Cached, Failed ...)."""
    out: dict[str, int] = {}
    for f in futures:
        name = f.state.name
        out[name] = out.get(name, 0) + 1
    return out


@contextmanager
def run_log(layout: Layout, stage: str):
    """Record the stage's wall time and task states in .mira/runs/<stage>.json (local, not versioned)."""
    log: dict = {"stage": stage, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "tasks": {}}
    t0 = time.perf_counter()
    yield log
    log["wall_s"] = round(time.perf_counter() - t0, 3)
    write_json(log, layout.run_log(stage))


def parse_root(argv: list[str] | None, stage: str) -> Path:
    ap = argparse.ArgumentParser(prog=f"python -m flows.{stage}", description=f"Run the {stage} stage.")
    ap.add_argument("--root", type=Path, default=Path("."), help="project folder holding params.yaml")
    return ap.parse_args(argv).root.resolve()


def stage_main(run: Callable[[Params, Path], object], stage: str, argv: list[str] | None = None) -> None:
    """Load params.yaml under --root and run one stage; a ConfigError exits with its message."""
    import sys

    from flows.params import load_params
    from flows.servers import prefect_api
    from mira_core.errors import ConfigError, MiraError

    root = parse_root(argv, stage)
    try:
        params = load_params(root / "params.yaml")
    except ConfigError as e:
        print(f"mira {stage}: configuration error\n{e}", file=sys.stderr)
        raise SystemExit(2) from None
    with ExitStack() as stack:
        try:  # the project's Prefect server, not a temporary one per process
            stack.enter_context(prefect_api(root, params.runner))
        except MiraError as e:
            print(f"mira {stage}: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        try:
            run(params, root)
        except ConfigError as e:
            print(f"mira {stage}: configuration error\n{e}", file=sys.stderr)
            raise SystemExit(2) from None


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
