"""Review of the command line's user errors: each is one message naming what to fix, never a traceback.

- `mira ui --host`/`--prefect-port`: a host that is no address of this machine was told as a port in use (and
  another port changed nothing); a port out of range escaped as an OverflowError traceback.
- params.yaml that is a folder: an IsADirectoryError traceback, not a message naming the file.
- a mapping key YAML reads as no string (`1: 0.5` under select.weights) was named `select.weights[1].[key]`, on
  the line of `weights`, with pydantic's "Input should be a valid string" as if the value were wrong.
"""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.params import load_params
from flows.servers import free_port, port_free
from mira_core.errors import ConfigError, MiraError

SOURCE = "sources:\n  - {name: a, path: a.jsonl, format: text}\n"


def test_a_host_that_is_no_address_of_this_machine_is_not_told_as_a_port_in_use():
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine
    with pytest.raises(MiraError) as e:
        port_free("192.0.2.1", free_port(), "--prefect-port")
    assert "in use" not in str(e.value) and "pick a free one" not in str(e.value)
    assert str(e.value).startswith("cannot listen on 192.0.2.1 (") and "--host" in str(e.value)


@pytest.mark.parametrize("port", [70000, -1])
def test_a_port_out_of_range_is_a_message_naming_the_option(port):
    with pytest.raises(MiraError, match=rf"^--prefect-port {port}: not a port number \(0 to 65535\)$"):
        port_free("127.0.0.1", port, "--prefect-port")


def test_a_port_that_needs_privileges_is_not_told_as_in_use(monkeypatch):
    # as root (this test's usual user) a low port binds: the kernel's refusal is what a normal user gets
    def refuse(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(MiraError, match=r"^port 80 on 127.0.0.1: Permission denied \(ports below 1024 need "
                                        r"privileges\); pick another \(mira ui --mlflow-port N\)$"):
        port_free("127.0.0.1", 80)


def test_mira_ui_with_a_port_out_of_range_prints_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text(SOURCE)
    res = CliRunner().invoke(app, ["ui", "--root", str(tmp_path), "--prefect-port", "70000"])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert res.output.strip().splitlines()[-1] == "mira ui: --prefect-port 70000: not a port number (0 to 65535)"


def test_a_params_yaml_that_is_a_folder_is_a_config_error_naming_it(tmp_path):
    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"params\.yaml: cannot be read \(Is a directory\)"):
        load_params(tmp_path / "params.yaml")


def test_mira_params_on_a_folder_named_params_yaml_exits_2_without_a_traceback(tmp_path):
    from flows.common import user_errors

    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(SystemExit) as code, user_errors("mira"):
        CliRunner().invoke(app, ["params", "--root", str(tmp_path)], catch_exceptions=False)
    assert code.value.code == 2


@pytest.mark.parametrize(("text", "message"), [
    ("select:\n  budget: 0.3\n  weights:\n    1: 0.5\n",
     "params.yaml:6: select.weights.1: a key must be a string here; quote it in params.yaml"),
    ("group:\n  pins:\n    3: a\n", "params.yaml:5: group.pins.3: a key must be a string here; quote it in params.yaml"),
    ("select:\n  2: y\n", "params.yaml:4: select.2: unknown key (a typo?); known keys: budget,"),
    ("1: x\n", "params.yaml:3: 1: unknown key (a typo?); known keys: demo_corpus,"),
])
def test_a_key_yaml_reads_as_a_number_is_named_as_a_key_on_its_own_line(tmp_path, text, message):
    (tmp_path / "params.yaml").write_text(SOURCE + text)
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "params.yaml")
    assert message in str(e.value)
    assert "[key]" not in str(e.value) and "[1]" not in str(e.value)
