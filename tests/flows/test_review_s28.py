"""Review tests (session 28): what `mira` prints for a source URL written with credentials, and the line a params
error names for a key YAML reads as null or a boolean."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.common import user_errors
from mira_core.errors import ConfigError


def test_init_prints_a_source_url_without_its_credentials(tmp_path, http_folder):
    # The terminal got the URL as typed, password and token in it; params.yaml keeps it as written (the user's own).
    folder, port = http_folder
    (folder / "docs.jsonl").write_text('{"text": "A paragraph of prose served over HTTP."}\n' * 3)
    url = f"http://127.0.0.1:{port}/docs.jsonl?token=tok123"
    res = CliRunner().invoke(app, ["init", str(tmp_path / "proj"), "--source", f"docs={url}", "--no-scm"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"docs: http://127.0.0.1:{port}/docs.jsonl?token=***" in res.output
    assert "tok123" not in res.output
    assert url in (tmp_path / "proj" / "params.yaml").read_text()
    # a `user:password@` is refused (review s43): it would be written into params.yaml and dvc.lock
    userinfo = url.replace("http://", "http://alice:s3cr3t@")
    res = CliRunner().invoke(app, ["init", str(tmp_path / "proj2"), "--source", f"docs={userinfo}", "--no-scm"])
    said = str(res.exception)
    assert res.exit_code != 0 and "holds a password" in said, (res.output, said)
    assert "s3cr3t" not in said + res.output and not (tmp_path / "proj2" / "params.yaml").exists()


def test_an_error_naming_a_url_is_printed_without_its_credentials(capsys):
    with pytest.raises(SystemExit) as done, user_errors("mira"):
        raise ConfigError("http://alice:s3cr3t@h:1/x.jsonl?sig=abc: not found (no such object or prefix)")
    assert done.value.code == 2
    assert capsys.readouterr().err == "mira: http://***:***@h:1/x.jsonl?sig=***: not found (no such object or prefix)\n"


SOURCE = "sources:\n  - {name: a, path: a.jsonl, format: text}\n"


@pytest.mark.parametrize(("text", "line"), [
    ("select:\n  budget: 0.3\n  weights:\n    null: 0.5\n", 6),
    ("select:\n  weights:\n    true: 0.5\n", 5),
    ("select:\n  yes: 1\n", 4),
    ("~: x\n", 3),
])
def test_a_key_yaml_reads_as_null_or_a_boolean_is_placed_on_its_own_line(tmp_path, text, line):
    # Only keys read as numbers had their own line: null, ~, true and yes fell back to the parent's (or to none).
    from flows.params import load_params

    (tmp_path / "params.yaml").write_text(SOURCE + text)
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "params.yaml")
    assert str(e.value).startswith(f"{tmp_path / 'params.yaml'}:{line}: "), str(e.value)
