"""Teacher throughput: the `openai` teacher against the test server with a fixed reply latency.

The server (tests/fake_openai.py, a real HTTP server speaking /v1/chat/completions) runs in its own
process, as a remote endpoint would, so it does not share the client's interpreter lock; it answers
every request after `latency` seconds, so the best possible rate at concurrency c is c / latency
labels/s (one label = one record scored on every anchor of its rubric, one request). A second pass
over the same records goes through the SQLite request cache; the server counts what reaches it.

Child mode: `python -m bench.teacher serve LATENCY` prints the base URL, then answers `count` on
stdin with "requests max_in_flight".
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, env
from mira_core.config import TeacherParams
from mira_core.rubric import Anchor
from mira_core.teachers import Doc, make_teacher

ANCHORS = tuple(Anchor(id=f"a{i:02d}", name=name, description=f"How well the record does on {name}.",
                       exemplar_reason="", support=1)
                for i, name in enumerate(["correctness", "readability", "documentation", "coherence", "style"]))


class Server:
    """The fake OpenAI server in a child process."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.teacher", "serve", str(latency)], cwd=REPO,
                                     env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.base_url = self.proc.stdout.readline().strip()

    def count(self) -> tuple[int, int]:
        self.proc.stdin.write("count\n")
        requests, in_flight = self.proc.stdout.readline().split()
        return int(requests), int(in_flight)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve(latency: str) -> None:
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI(latency=float(latency)) as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(len(server.requests), server.max_in_flight, flush=True)


def run(concurrency: int, latency: float, n: int, texts: list[str], client: str = "sdk") -> dict:
    """Score n records at this concurrency, then again from the cache; requests counted at the server."""
    docs = [Doc(f"bench/{i}", "bench", "code", texts[i % len(texts)] + f"\n# variant {i}") for i in range(n)]
    server = Server(latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            p = TeacherParams(provider="openai", model="fake-teacher", base_url=server.base_url, api_key_env=None,
                              concurrency=concurrency, cache_path="cache.sqlite", timeout_s=30, client=client)
            teacher = make_teacher(p, Path(tmp), {})
            start = time.perf_counter()
            first = teacher.score(docs, ANCHORS, "bench-v1")
            seconds = time.perf_counter() - start
            calls, max_in_flight = server.count()
            again = make_teacher(p, Path(tmp), {})  # a new teacher on the same cache file, as a re-run opens it
            start = time.perf_counter()
            second = again.score(docs, ANCHORS, "bench-v1")
            cached_seconds = time.perf_counter() - start
            total, _ = server.count()
    finally:
        server.close()
    return {"concurrency": concurrency, "labels": n, "ok": sum(o.ok for o in first), "seconds": seconds,
            "labels_per_s": n / seconds, "bound_per_s": concurrency / latency, "calls": calls,
            "max_in_flight": max_in_flight, "rerun_calls": total - calls, "rerun_ok": sum(o.ok for o in second),
            "rerun_seconds": cached_seconds}


if __name__ == "__main__":
    serve(sys.argv[2])
