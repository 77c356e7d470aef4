"""flows.common.OneLineHeartbeatLoss: a Dask worker's failed heartbeat after Ctrl-C is one line, not a traceback."""

from __future__ import annotations

import io
import logging

from flows.common import HEARTBEAT_LOST, OneLineHeartbeatLoss


def _logged(message: str, filtered: bool) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s - %(levelname)s - %(message)s"))
    log = logging.getLogger("test.distributed.worker")
    log.propagate = False
    log.addHandler(handler)
    flt = OneLineHeartbeatLoss()
    if filtered:
        log.addFilter(flt)
    try:
        try:
            raise OSError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")
        except OSError:
            log.exception(message)
    finally:
        log.removeHandler(handler)
        log.removeFilter(flt)
    return out.getvalue()


def test_a_heartbeat_lost_at_shutdown_is_one_line_with_the_errors_words():
    assert "Traceback" in _logged(HEARTBEAT_LOST + ".", filtered=False)  # what a worker printed
    out = _logged(HEARTBEAT_LOST + ".", filtered=True)
    assert "Traceback" not in out and len(out.splitlines()) == 1
    assert "OSError: in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed" in out


def test_other_errors_keep_their_traceback():
    assert "Traceback" in _logged("Failed to run task", filtered=True)
