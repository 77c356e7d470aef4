"""Review of session 34's diff (6db1e09..HEAD, helper d1): each change read for a case it breaks that worked
before, a case it was meant to cover and misses, a wrong message, a test that cannot fail.

What did not hold:

- the teacher cache's new `_writing` wrapper (mira_core/teachers/cache.py) turns a failed SQLite write into a
  MiraError or ConfigError. The generative student's served-reply cache (mira_core/students/generative.py) calls
  the same `put_data` under `except sqlite3.Error` so that "a locked or full cache costs a re-ask later, not this
  reply". That except no longer catches it: a full (or failing) reply-cache disk now fails the score shard, as a
  "generative scoring server" error about "the teacher's answers".
- `missing_tracked_params` (now flows/params.py) read dvc.yaml's raw text, not the stages DVC resolves: a
  templated key (`params: [${sec}]` under `vars`) or a stage with a `wdir` (its params are that folder's
  params.yaml) is reported missing from the project's params.yaml, and every `mira stage` and `mira params`
  refuses the project for good (params.yaml cannot hold such a key: mira refuses unknown keys), where DVC runs it.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

SOURCES = "sources:\n  - {name: a, path: a.jsonl, format: text}\n"


class _Replies:
    """An OpenAI-compatible /v1/completions server answering every prompt with one valid reply."""

    def __init__(self, text: str) -> None:
        body = json.dumps({"choices": [{"text": text, "finish_reason": "stop"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_full_reply_cache_costs_a_re_ask_later_not_the_shard(tiny_causal_lm, tmp_path, monkeypatch):
    import mira_core.students.generative as gen
    from mira_core.config import GenerativeParams
    from mira_core.students.base import Inputs

    anchors = ["a00", "a01"]

    class FullDisk(gen.RequestCache):
        """The reply cache on a disk that fills up once it is open: SQLite's own SQLITE_FULL on the next page."""

        def __init__(self, path, *named) -> None:
            super().__init__(path, *named)
            pages = self._con.execute("PRAGMA page_count").fetchone()[0]
            self._con.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(gen, "RequestCache", FullDisk)
    student = gen.GenerativeStudent(GenerativeParams(model=str(tiny_causal_lm), device="cpu"), anchors, (1, 5))
    student._load(tiny_causal_lm, model=False)  # a loaded checkpoint behind a server: its weights are never read
    reply = gen.render_target([4, 3], {"a00": "good", "a01": "plain"}, anchors, 120)
    with _Replies(reply) as url:
        student.use_server(url, model="student", concurrency=4, cache=tmp_path / "student_cache.sqlite",
                           version="v1")
        # was: MiraError "generative scoring server ...: MiraError: ...student_cache.sqlite: SQLite could not store
        # the teacher's answers (database or disk is full) ..." for the first reply whose row needed a new page
        pred = student.predict(Inputs(texts=["word " * (i + 1) for i in range(40)]))  # 40 prompts, 40 keys
    np.testing.assert_array_equal(pred, np.tile([4.0, 3.0], (40, 1)))
    # the cache itself is whole and still answers what it stored
    with sqlite3.connect(tmp_path / "student_cache.sqlite") as con:
        assert con.execute("SELECT count(*) FROM requests").fetchone()[0] >= 1


@pytest.mark.parametrize("form", ["templated", "wdir"])
def test_params_tracked_the_way_dvc_resolves_them_are_not_refused(tmp_path, form):
    from flows.params import load_params

    if form == "templated":
        # DVC resolves ${sec} from vars to `ingest`, which params.yaml holds (`dvc repro` runs it)
        (tmp_path / "dvc.yaml").write_text("vars:\n  - sec: ingest\nstages:\n  count:\n    cmd: echo n > n.txt\n"
                                           "    params:\n      - ${sec}\n    outs:\n      - n.txt\n")
    else:
        # a helper stage of the user's, run in tools/: its params are tools/params.yaml's (`dvc repro` runs it)
        (tmp_path / "tools").mkdir()
        (tmp_path / "tools" / "params.yaml").write_text("lr: 0.1\n")
        (tmp_path / "dvc.yaml").write_text("stages:\n  tune:\n    wdir: tools\n    cmd: echo t > t.txt\n"
                                           "    params:\n      - lr\n    outs:\n      - t.txt\n")
    (tmp_path / "params.yaml").write_text(SOURCES + "ingest:\n  tokenizer: minilm\n")
    # was: ConfigError "dvc.yaml tracks this key, which params.yaml leaves out ... - ${sec} (tracked by dvc.yaml's
    # count); mira's default: ${sec}: null" (or "- lr ..."): a key params.yaml cannot hold (an unknown key)
    params = load_params(Path(tmp_path) / "params.yaml")
    assert params.ingest.tokenizer == "minilm"


def test_a_key_a_foreach_stage_tracks_is_checked_as_dvc_resolves_it(tmp_path):
    # the other way round: a foreach stage keeps its params under `do:`, which the plain reading never saw, so a key
    # it tracks and params.yaml leaves out still had DVC delete the stage's outputs, then stop
    import subprocess

    from flows.params import load_params
    from mira_core.errors import ConfigError
    from tests.conftest import tool_env

    subprocess.run([sys.executable, "-m", "dvc", "init", "-q", "--no-scm"], cwd=tmp_path, check=True, env=tool_env())
    (tmp_path / "dvc.yaml").write_text("stages:\n  per:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n"
                                       "      params:\n        - evaluate\n")
    (tmp_path / "params.yaml").write_text(SOURCES)
    with pytest.raises(ConfigError, match=r"- evaluate \(tracked by dvc.yaml's per@a, per@b\)"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text(SOURCES + "evaluate:\n  enabled: false\n")
    assert not load_params(tmp_path / "params.yaml").evaluate.enabled
