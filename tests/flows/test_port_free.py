"""`mira ui` refuses a port another server listens on, rather than show that server's MLflow as this project's."""

from __future__ import annotations

import socket

import pytest

from flows.servers import free_port, port_free
from mira_core.errors import MiraError


def test_a_port_in_use_is_refused_by_name_and_a_free_one_passes():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MiraError, match=rf"port {port} on 127.0.0.1 is in use.*--mlflow-port"):
            port_free("127.0.0.1", port)
    port_free("127.0.0.1", free_port())
