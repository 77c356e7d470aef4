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


def test_the_connections_a_stopped_server_left_in_time_wait_do_not_make_its_port_look_taken():
    # restarting `mira ui` right after Ctrl-C, with the MLflow UI open in a browser, failed for about a minute
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    srv.close()
    cli.close()
    port_free("127.0.0.1", port)


def test_a_project_copied_while_its_server_ran_does_not_attach_to_the_originals(tmp_path):
    # cp -r took .mira/prefect-server.json along: the copy's stages recorded their runs in the original's server,
    # whose keeper never saw their leases
    import http.server
    import json
    import os
    import threading

    from flows.servers import ProjectPaths, _proc_start, live_project_server

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the handler's name)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        original, copy = tmp_path / "a", tmp_path / "b"
        state = {"pid": os.getpid(), "pid_start": _proc_start(os.getpid()),
                 "api": f"http://127.0.0.1:{server.server_port}/api", "home": str(ProjectPaths(original).home)}
        for root in (original, copy):
            ProjectPaths(root).dir.mkdir(parents=True)
            ProjectPaths(root).state.write_text(json.dumps(state))
        assert live_project_server(original, patience=1)["api"] == state["api"]
        assert live_project_server(copy, patience=1) is None
    finally:
        server.shutdown()


def test_a_busy_prefect_port_is_refused_by_name_before_any_server_starts(tmp_path):
    # the keeper failed in its own process, and the user read its traceback (4200 is plain Prefect's port too)
    from flows.servers import project_server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MiraError, match=rf"port {port} on 127.0.0.1 is in use.*--prefect-port"), \
                project_server(tmp_path, 60, port=port):
            pass
