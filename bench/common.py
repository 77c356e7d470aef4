"""What every benchmark shares: the machine's description, medians, peak memory, child processes.

Each measurement that reports memory runs in its own child process (`python -m bench.<module> ...`)
so that its peak RSS is its own; the child prints one JSON object as its last line of stdout.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"  # scratch, git-ignored
BIN = Path(sys.executable).parent
QUIET = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
    "OPENBLAS_NUM_THREADS": "1", "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def env() -> dict[str, str]:
    """The environment of every child: quiet, offline, the venv's tools first on PATH, a git identity."""
    return {**os.environ, **QUIET, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@localhost"}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(module: str, *args: str, timeout: float = 3600) -> dict:
    """Run `python -m bench.<module> args...` and return the JSON object it prints last."""
    res = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=REPO, env=env(),
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"bench.{module} {' '.join(args)} failed ({res.returncode}):\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def emit(result: dict) -> None:
    """A child's answer: one JSON line, last on stdout."""
    print(json.dumps(result), flush=True)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def spread(xs: list[float]) -> str:
    """'min-max' of repeated runs, for the reader to judge the noise."""
    return f"{min(xs):,.1f}-{max(xs):,.1f}" if len(xs) > 1 else "-"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mira_core.embedding import cpu_has_bf16

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"CPU": cpu, "cores (usable)": str(len(os.sched_getaffinity(0))), "memory": f"{mem:.0f} GiB",
            "native bf16 (AVX512-BF16/AMX)": "yes" if cpu_has_bf16() else "no", "GPU": gpu,
            "OS": platform.platform(), "Python": platform.python_version(), "torch": torch.__version__,
            "torch threads": str(torch.get_num_threads())}
