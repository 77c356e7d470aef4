"""Whether to draw progress bars: one rule for the stages' task bars (flows.common.gather) and the bars of the tasks
themselves (tasks/embed.py), which may not import flows."""

from __future__ import annotations

import os
import sys

PROGRESS_ENV = "MIRA_PROGRESS"  # 0: no progress bars; 1: bars even when stderr is not a terminal; unset: on a TTY


def progress_enabled(stream=None) -> bool:
    """Whether to draw progress bars on `stream` (stderr): MIRA_PROGRESS=0/1 decides, else whether it is a TTY."""
    flag = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_lines(stream=None) -> bool:
    """Whether to print a plain progress line now and then instead (`flows.common.gather`): where no bar is drawn
    because `stream` is no terminal (a log file, CI, `dvc repro > log`), unless MIRA_PROGRESS=0 asks for none."""
    flag = os.environ.get(PROGRESS_ENV, "").strip().lower()
    return flag not in ("0", "false", "no", "off") and not progress_enabled(stream)
