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
        "AIzaSyBvW3k9QmT2xL8p_N4rZJ6hDf0gYcEaSuI",
        "a3f9c2d1e4b5a6c7d8e9f0a1b2c3d4e5", "ghp_0123456789abcdefghijABCDEFGHIJ012345"]
NAMES = ["OPENAI_API_KEY", "VLLM_KEY_2", "MY_SERVICE_TOKEN_2024", "AZURE_OPENAI_API_KEY", "groq_api_key", "HF_TOKEN",
         "ASIA_PACIFIC_API_KEY", "AKIA_KEY_FILE", "hf_inference_token", "sk_service_key_name", "GPT4TURBOPREVIEW_KEY",
         "MISTRAL7BINSTRUCTV02_KEY", "LLAMA3SERVERAPIKEY", "myProjectKey2024Prod"]


@pytest.mark.parametrize("key", KEYS)
def test_a_pasted_key_of_letters_digits_and_underscores_is_no_variable_name(key):
    assert looks_like_a_key(key)
    for section in ("teacher", "score"):
        raw = {"sources": SOURCES, "teacher": {"api_key_env": key}} if section == "teacher" else {
            "sources": SOURCES, "score": {"generative_server": {"api_key_env": key}}}
        with pytest.raises(ConfigError, match="NAME of an environment variable, and this reads as a key") as e:
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


@pytest.mark.parametrize("path", ["s3://AKIAX:hush-9@bucket/x/*.jsonl",
                                  "https://ghp_0123456789abcdefhush9ABCDEFGHIJ01234567@raw.example.com/x.jsonl",
                                  "https://glpat-AbCdEfhush567890XyZw@gitlab.example.com/x.jsonl",  # a '-' key
                                  "simplecache::https://user:hush-9@host/x.jsonl",  # fsspec's chained URLs
                                  "zip://x.jsonl::https://user:hush-9@host/a.zip"])
def test_a_source_path_with_a_password_is_refused(path):
    with pytest.raises(ConfigError, match="holds a password") as e:
        parse_params({"sources": [{"name": "a", "path": path, "format": "text"}]})
    assert "hush" not in str(e.value)


@pytest.mark.parametrize("path", ["https://h/x.jsonl?X-Amz-Signature=abc",  # a pre-signed URL names its object
                                  "/data/me@host/x.jsonl", "sftp://alice@host/x.jsonl",  # a user name alone
                                  "github://dask:fastparquet@main/x.jsonl",  # fsspec's org:repo@ref
                                  "abfs://pretrain2024corpusshardsv3deduped@acct.dfs.core.windows.net/x.jsonl",
                                  "hf://datasets/org/name@rev/x.parquet", "simplecache::https://h/x.jsonl",
                                  "data/[x.jsonl"])
def test_paths_without_a_password_pass(path):
    assert SourceSpec(name="a", path=path, format="text").path == path


def test_a_long_credential_is_starred_before_the_message_cuts_the_value(tmp_path: Path):
    # the value shown is cut at 120 characters; cut first, a long password lost its '@' and was shown whole
    from flows.params import load_params

    secret = "S3cr3t" * 25
    for section in ({"teacher": {"provider": "openai", "base_url": f"https://svc-user:{secret}@llm.example/v1"}},
                    {"sources": [{"name": "a", "path": f"s3://AKIAX:{secret}@bucket/x.jsonl", "format": "text"}]}):
        f = tmp_path / "params.yaml"
        f.write_text(yaml.safe_dump({"sources": SOURCES, **section}))
        with pytest.raises(ConfigError) as e:
            load_params(f)
        assert "S3cr3t" not in str(e.value) and "***" in str(e.value)


def test_an_endpoints_surrounding_space_is_not_sent():
    assert TeacherParams(base_url=" http://127.0.0.1:8000/v1 ").base_url == "http://127.0.0.1:8000/v1"


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


def test_a_boolean_in_a_list_of_names_keeps_pydantics_words(tmp_path: Path):
    # a source named "no" unquoted: the advice is not "write the number"
    with pytest.raises(ConfigError, match="Input should be a valid string") as e:
        parse_params({"sources": SOURCES, "select": {"held_out_sources": [False]}})
    assert "a number is expected" not in str(e.value)


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
