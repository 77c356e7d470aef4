"""Review s33/h10: secrets never leave the environment.

A source path may carry credentials (`https://user:token@host/x.jsonl`, a presigned URL's `?X-Amz-Signature=`):
mira stars them wherever it echoes the path (`mira init`'s console lines, `mira params`, ingest's messages and
locators, the report's params block), but three places still wrote them as they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mira_core.config import CacheParams, IngestParams, RunnerParams, SourceSpec

SECRET = "tok-SECRET-s33-h10"
# A `user:token@` in a source path is refused since review s43 (config.source_path; tested in
# tests/mira_core/test_review_config_s43.py); a presigned URL's query names its object and passes.
URLS = [f"https://files.example.com/qa.jsonl?X-Amz-Signature={SECRET}"]


@pytest.mark.parametrize("url", URLS)
def test_ingest_flow_parameters_star_source_url_credentials(url: str) -> None:
    from flows.ingest import ingest_flow

    spec = SourceSpec(name="qa", path=url, format="qa")
    stored = ingest_flow.serialize_parameters({"sources": (spec,), "p": IngestParams(), "runner": RunnerParams(),
                                               "cache": CacheParams(), "root": "/p"})
    assert SECRET not in str(stored)
    assert spec.path == url  # the reader still reads the attribute as written


@pytest.mark.parametrize("url", URLS)
def test_init_dvc_yaml_stars_source_url_credentials(url: str) -> None:
    from mira_core.init_project import render_dvc

    text = render_dvc([SourceSpec(name="qa", path=url, format="qa")])
    assert "files.example.com" in text  # the comment names the source
    assert SECRET not in text


@pytest.mark.parametrize("url", URLS)
def test_init_readme_stars_source_url_credentials(url: str) -> None:
    from mira_core.init_project import Guess, render_readme

    spec = SourceSpec(name="qa", path=url, format="qa", reader="jsonl")
    text = render_readme(Path("/tmp/proj"), [spec], [Guess(reader="jsonl", format="qa", why="given")])
    assert "files.example.com" in text
    assert SECRET not in text


def _fake_mlflow_server():
    """The few MLflow REST routes `pipeline_run` calls, answered with one experiment and one run."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    info = {"run_id": "r1", "run_uuid": "r1", "experiment_id": "1", "run_name": "mira-x", "status": "RUNNING",
            "start_time": 1, "artifact_uri": "mlflow-artifacts:/1/r1", "lifecycle_stage": "active", "user_id": "u"}
    run = {"info": info, "data": {"tags": [], "params": [], "metrics": []}, "inputs": {}}
    exp = {"experiment_id": "1", "name": "mira", "artifact_location": "mlflow-artifacts:/1", "lifecycle_stage": "active"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self) -> None:
            path = self.path.split("?")[0]
            body = ({"experiment": exp} if "/experiments/get" in path else
                    {"run": run} if path.endswith(("runs/create", "runs/get")) else
                    {"run_info": info} if path.endswith("runs/update") else {})
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _reply

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._reply()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_pipeline_run_prints_no_tracking_uri_credentials(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.tracking import pipeline_run
    from mira_core.config import parse_params

    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    server = _fake_mlflow_server()
    try:
        uri = f"http://user:{SECRET}@127.0.0.1:{server.server_address[1]}"
        params = parse_params({"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}],
                               "mlflow": {"tracking_uri": uri}})
        with pipeline_run(params, tmp_path):
            pass
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


# ---------------------------------------------------------------- teacher.base_url with user:password@ (SDK client)

BASIC = "dXNlcjp0b2stU0VDUkVULXMzMy1oMTA="  # base64 of "user:tok-SECRET-s33-h10", as an Authorization: Basic header


def _sdk_backend(monkeypatch: pytest.MonkeyPatch, url: str, key: str):
    from mira_core.config import TeacherParams
    from mira_core.teachers import openai_teacher

    monkeypatch.setattr(openai_teacher, "use_sdk", lambda p, u: True)  # teacher.client: sdk, the default
    monkeypatch.setattr(openai_teacher, "_LEARNED", {})
    # params refuse a URL with credentials (config.endpoint_url): OPENAI_BASE_URL, read when base_url is null, is
    # where one can still come from
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    p = TeacherParams(provider="openai", model="fake-teacher", base_url=None, timeout_s=5.0, max_retries=0,
                      concurrency=2)
    return openai_teacher.OpenAIBackend(p, key)


def _judge_requests():
    from mira_core.teachers.base import Doc, Request

    return [Request("judge", Doc("r0", "web", "text", "The mitochondria is the powerhouse of the cell."))]


def test_sdk_client_masks_base_url_credentials_a_server_echoes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    import base64
    import logging

    from mira_core.errors import ConfigError
    from mira_core.teachers import prompts
    from mira_core.teachers.base import Teacher
    from mira_core.teachers.cache import RequestCache
    from tests.fake_openai import FakeOpenAI

    assert base64.b64encode(f"user:{SECRET}".encode()).decode() == BASIC
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI() as server:
        server.on_document("", "401")  # every request: a 401 echoing the Authorization header's credential
        url = server.base_url.replace("http://", f"http://user:{SECRET}@")
        t = Teacher(_sdk_backend(monkeypatch, url, "sk-key-s33-h10"), RequestCache(tmp_path / "c.sqlite"),
                    prompt_version=prompts.prompt_version(), settings={}, scale=(1, 5))
        with pytest.raises(ConfigError) as e:
            t.ask(_judge_requests())
        t.cache.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite*"))
    for text in (str(e.value), caplog.text, stored.decode("utf-8", "replace")):
        assert BASIC not in text and SECRET not in text


def test_sdk_client_sends_the_api_key_with_a_credentialed_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fake_openai import FakeOpenAI

    key = "sk-key-s33-h10"
    with FakeOpenAI(api_key=key) as server:
        url = server.base_url.replace("http://", f"http://user:{SECRET}@")
        try:
            out = _sdk_backend(monkeypatch, url, key).run(_judge_requests())
        except Exception as e:  # noqa: BLE001  (today: a ConfigError naming the 401)
            out = [e]
        sent = [r.headers.get("authorization") for r in server.requests]
    assert sent and all(h == f"Bearer {key}" for h in sent)
    assert all(getattr(o, "ok", False) for o in out)
