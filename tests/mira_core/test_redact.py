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
    # a base_url with credentials is refused (review s43); a presigned source URL's token passes, and is starred
    from flows.tracking import flat_params
    from mira_core.config import parse_params

    raw = {"sources": [{"name": "a", "path": "https://h/a.jsonl?X-Amz-Signature=SECRET2", "format": "text"}]}
    logged = flat_params(parse_params(raw), ("sources",))
    assert "https://h/a.jsonl?X-Amz-Signature=***" in logged["sources"]
    assert not any("SECRET2" in v for v in logged.values())


def test_prefect_stores_the_flows_params_without_url_credentials():
    # a flow's parameters go to the Prefect server as JSON (shown in `mira ui`); MLflow and the report starred them
    import json

    from flows.discover import discover_flow
    from mira_core.config import GenerativeServerParams, TeacherParams

    url = "https://alice:sk-live-42@api.example.com/v1?api-key=sk-live-43"
    for model in (TeacherParams, GenerativeServerParams):  # refused, and the message repeats neither secret
        with pytest.raises(ValueError, match="holds a credential") as e:
            model(base_url=url)
        assert "sk-live" not in str(e.value).split("input_value")[0]
    teacher = TeacherParams(provider="openai", base_url="https://api.example.com/v1")
    sent = json.dumps(discover_flow.serialize_parameters({"p": teacher}))
    assert "https://api.example.com/v1" in sent
