"""Credentials out of params text shown in the report or logged to MLflow."""

from __future__ import annotations

import pytest

from mira_core.redact import redact_credentials


@pytest.mark.parametrize(("text", "want"), [
    ("base_url: http://user:s3cret@h:8000/v1", "base_url: http://***:***@h:8000/v1"),
    ("https://sk-abc123@api.example.com/v1", "https://***:***@api.example.com/v1"),  # a token with no colon
    ("https://h/v1?api-key=SECRET&model=m", "https://h/v1?api-key=***&model=m"),
    ("https://h/v1?model=m&access_token=SECRET#x", "https://h/v1?model=m&access_token=***#x"),
    ("https://h/v1?sig=abc", "https://h/v1?sig=***"),
    ("https://alice:hunter2@prod-Xk9@api.example.com/v1", "https://***:***@api.example.com/v1"),  # a raw '@'
])
def test_credentials_in_urls_are_replaced(text, want):
    assert redact_credentials(text) == want


@pytest.mark.parametrize("text", ["http://127.0.0.1:8000/v1?model=m", "api_key_env: OPENAI_API_KEY",
                                  "email me at a@b.org", "s3://bucket/data/*.jsonl"])
def test_text_without_credentials_is_left_alone(text):
    assert redact_credentials(text) == text


def test_mlflow_params_carry_no_url_credentials():
    from flows.tracking import flat_params
    from mira_core.config import parse_params

    raw = {"sources": [{"name": "a", "path": "a.jsonl", "format": "text"}],
           "teacher": {"provider": "openai", "base_url": "https://user:s3cret@h/v1?api-key=SECRET2"}}
    logged = flat_params(parse_params(raw), ("teacher",))
    assert logged["teacher.base_url"] == "https://***:***@h/v1?api-key=***"
    assert not any("s3cret" in v or "SECRET2" in v for v in logged.values())


def test_prefect_stores_the_flows_params_without_url_credentials():
    # a flow's parameters go to the Prefect server as JSON (shown in `mira ui`); MLflow and the report starred them
    import json

    from flows.discover import discover_flow
    from mira_core.config import GenerativeServerParams, TeacherParams

    url = "https://alice:sk-live-42@api.example.com/v1?api-key=sk-live-43"
    teacher = TeacherParams(provider="openai", base_url=url)
    assert teacher.base_url == url  # what the client connects with
    sent = json.dumps(discover_flow.serialize_parameters({"p": teacher}))
    assert "sk-live" not in sent and "https://***:***@api.example.com/v1?api-key=***" in sent
    assert "sk-live" not in json.dumps(GenerativeServerParams(base_url=url).model_dump(mode="json"))
