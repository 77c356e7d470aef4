"""Scenario s31: a user with no API access who runs the teacher locally (`teacher.provider: transformers`) on a
small corpus of three sources, with a tiny random model that mostly answers garbage.

Each test reproduces one bug the scenario met, on tiny data; each failed before its fix.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mira_core.failure_budget import percents

ROOT = Path(__file__).resolve().parents[2]


def test_two_threads_build_the_local_teacher_in_a_fresh_process(tiny_causal_lm):
    # A fresh process, as `mira stage discover` is: the test process has imported transformers already, which
    # hides the race. Two threads build the teacher at once, as discover's two groups do on the default runner.
    script = textwrap.dedent(f"""
        import threading
        from mira_core.config import TeacherParams
        from mira_core.teachers.local_lm import LocalLMBackend
        errors = []
        def build():
            try:
                LocalLMBackend(TeacherParams(provider="transformers", model={str(tiny_causal_lm)!r}, device="cpu"))
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=build) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print("ERRORS", errors)
        raise SystemExit(1 if errors else 0)
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_every_request_failed_reads_100_percent():
    rate, limit = percents(1.0, 0.1)
    assert (rate, limit) == ("100%", "10%")
    # the digits that tell close figures apart are kept
    assert percents(1.0, 0.995) == ("100%", "99.5%")


def test_the_estimate_never_counts_more_output_tokens_than_max_tokens_allows(tmp_path):
    from mira_core.config import parse_params
    from mira_core.estimate import Calibration, estimate_stage
    from mira_core.teachers import make_teacher
    from mira_core.teachers.base import Doc, Request

    params = parse_params({"sources": [{"name": "s", "path": "s.jsonl", "format": "text"}],
                           "teacher": {"max_tokens": 48, "max_repairs": 0}})
    teacher = make_teacher(params.teacher, tmp_path, {})
    reqs = [Request("judge", Doc(f"s/{i}", "s", "text", f"Record {i} is one short plain sentence.")) for i in range(5)]
    try:
        est = estimate_stage("discover", teacher, reqs, params, Calibration())
    finally:
        teacher.cache.close()
    assert est.to_send == 5
    assert est.output_tokens <= 5 * params.teacher.max_tokens


def test_a_repair_that_overflows_the_context_keeps_the_replys_error(tiny_causal_lm, monkeypatch):
    from mira_core.config import TeacherParams
    from mira_core.teachers.base import Doc, Request
    from mira_core.teachers.local_lm import ContextTooLong, LocalLMBackend

    backend = LocalLMBackend(TeacherParams(provider="transformers", model=str(tiny_causal_lm), device="cpu",
                                           max_repairs=1))
    replies = iter([("clarity clarity short", 250, 5, False)])

    def generate(msgs):  # the first prompt fits and the model answers garbage; the repair's conversation does not fit
        try:
            return next(replies)
        except StopIteration:
            raise ContextTooLong("a prompt of 281 tokens fills the model's context of 270 tokens (lower "
                                 "teacher.max_doc_chars)") from None

    monkeypatch.setattr(backend, "_generate", generate)
    (o,) = backend.run([Request("judge", Doc("s/1", "s", "text", "Some plain text."))])
    assert not o.ok and o.calls == 1
    assert "not a JSON object" in o.error, o.error
