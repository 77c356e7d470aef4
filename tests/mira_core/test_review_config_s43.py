"""Review s43 of the configuration: what params refuse, and what a refusal says.

Tested here: a pasted key made only of letters, digits and '_' (gsk_, hf_, an AWS key id, a hex token) passed as an
`api_key_env` and reached MLflow, the report and dvc.lock; an endpoint URL without a scheme failed every request as
a transient connection error; a `user:password@` (or a key-like query value) in an endpoint URL, and a
`user:password@` in a source path, were written to dvc.lock; a boolean in a list or a mapping of numbers
(`select.weights: {g0: yes}`) was read as 1; a generative server's key variable, named and unset, sent no key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mira_core.config import (
    GenerativeServerParams,
    ScoreParams,
    SourceSpec,
    TeacherParams,
    looks_like_a_key,
    parse_params,
)
from mira_core.errors import ConfigError

SOURCES = [{"name": "a", "path": "a.jsonl", "format": "text"}]
KEYS = ["gsk_9fQw2LzAbCdEfGhIjKlMnOpQrStUvWxYz12qW", "hf_abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE",
        "a3f9c2d1e4b5a6c7d8e9f0a1b2c3d4e5", "ghp_0123456789abcdefghijABCDEFGHIJ012345"]
NAMES = ["OPENAI_API_KEY", "VLLM_KEY_2", "MY_SERVICE_TOKEN_2024", "AZURE_OPENAI_API_KEY", "groq_api_key", "HF_TOKEN"]


@pytest.mark.parametrize("key", KEYS)
def test_a_pasted_key_of_letters_digits_and_underscores_is_no_variable_name(key):
    assert looks_like_a_key(key)
    for section in ("teacher", "score"):
        raw = {"sources": SOURCES, "teacher": {"api_key_env": key}} if section == "teacher" else {
            "sources": SOURCES, "score": {"generative_server": {"api_key_env": key}}}
        with pytest.raises(ConfigError, match="NAME of an environment variable") as e:
            parse_params(raw)
        assert key not in str(e.value)


@pytest.mark.parametrize("name", NAMES)
def test_variable_names_still_pass(name):
    assert not looks_like_a_key(name)
    assert parse_params({"sources": SOURCES, "teacher": {"api_key_env": name}}).teacher.api_key_env == name


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "localhost/v1", "ftp://h/v1", "http:///v1"])
def test_an_endpoint_without_an_http_scheme_and_host_is_refused(url):
    for model in (TeacherParams, GenerativeServerParams):
        with pytest.raises(ValueError, match=r"http:// or https:// URL with a host"):
            model(base_url=url)
    assert TeacherParams(base_url="https://api.openai.com/v1").base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize("url", ["https://user:pw-SECRET-9@h/v1", "https://h/v1?api_key=SECRET-9",
                                 "http://tok-SECRET-9@127.0.0.1:8000/v1"])
def test_an_endpoint_holding_a_credential_is_refused_without_repeating_it(url):
    with pytest.raises(ConfigError, match="holds a credential") as e:
        parse_params({"sources": SOURCES, "teacher": {"provider": "openai", "base_url": url}})
    assert "SECRET-9" not in str(e.value)


def test_a_source_path_with_credentials_is_refused_and_a_presigned_url_passes():
    with pytest.raises(ConfigError, match="holds credentials") as e:
        parse_params({"sources": [{"name": "a", "path": "s3://AKIAX:SECRET-9@bucket/x/*.jsonl", "format": "text"}]})
    assert "SECRET-9" not in str(e.value)
    signed = "https://h/x.jsonl?X-Amz-Signature=abc"
    assert SourceSpec(name="a", path=signed, format="text").path == signed  # names its object: kept
    assert SourceSpec(name="a", path="/data/me@host/x.jsonl", format="text").path == "/data/me@host/x.jsonl"


@pytest.mark.parametrize(("section", "value", "said"), [
    ({"select": {"weights": {"g0": True}}}, None, "weights.g0 = true"),
    ({"evaluate": {"seeds": [0, True, 2]}}, None, "seeds[1] = true"),
    ({"distill": {"head": {"ridge_alphas": [True]}}}, None, "ridge_alphas[0] = true"),
])
def test_a_boolean_in_a_list_or_mapping_of_numbers_is_refused(tmp_path: Path, section, value, said):
    from flows.params import load_params

    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"sources": SOURCES, **section}))
    with pytest.raises(ConfigError, match="YAML reads yes/no") as e:
        load_params(f)
    assert said in str(e.value)


def test_numbers_in_lists_and_mappings_still_pass():
    p = parse_params({"sources": SOURCES, "select": {"weights": {"g0": 0.5, "g1": 0}},
                      "evaluate": {"seeds": [0, 1, 2]}})
    assert p.select.weights == {"g0": 0.5, "g1": 0.0} and p.evaluate.seeds == [0, 1, 2]


def test_a_served_students_unset_key_variable_fails_before_any_request(tmp_path: Path, monkeypatch):
    from flows.score import check_server_key

    monkeypatch.delenv("MIRA_S43_STUDENT_KEY", raising=False)
    p = ScoreParams(generative_server={"base_url": "http://127.0.0.1:9/v1", "api_key_env": "MIRA_S43_STUDENT_KEY"})
    (tmp_path / "g0" / "lm").mkdir(parents=True)  # a generative student
    (tmp_path / "g1").mkdir()  # a head student: needs no server
    with pytest.raises(ConfigError, match="MIRA_S43_STUDENT_KEY.*not set"):
        check_server_key(p, [tmp_path / "g1", tmp_path / "g0"])
    check_server_key(p, [tmp_path / "g1"])  # no generative student: the server is not asked
    monkeypatch.setenv("MIRA_S43_STUDENT_KEY", "k")
    check_server_key(p, [tmp_path / "g0"])
