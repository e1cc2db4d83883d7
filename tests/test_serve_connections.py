"""The server's connections on 127.0.0.1: sockets that never send a request are closed and give their slot
back; a port held by a `--workers` server is not shared with a second one."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import httpx
import pytest

from digitrec.errors import ConfigError
from digitrec.serve import workers
from digitrec.serve.protocol import HEAD_TIMEOUT

from helpers import serve_process


def test_connections_without_a_complete_request_head_are_closed_and_free_their_slots():
    """With --max-in-flight 2 uvicorn keeps 8 connections; 7 silent ones and one with half a head used to
    hold them until the clients left, everyone else getting 503. Each is closed after HEAD_TIMEOUT."""
    with serve_process("--max-in-flight", "2") as (url, _), contextlib.ExitStack() as stack:
        address = ("127.0.0.1", urlsplit(url).port)
        sockets = [stack.enter_context(socket.create_connection(address)) for _ in range(8)]
        sockets[-1].sendall(b"POST /api/predict HTTP/1.1\r\nhost: x\r\n")  # a head that never ends
        time.sleep(0.5)
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 503  # every slot is taken
        time.sleep(HEAD_TIMEOUT + 1)
        for sock in sockets:
            sock.settimeout(5)
            assert sock.recv(1) == b""  # closed by the server, nothing sent
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_a_kept_alive_connection_serves_requests_until_it_goes_quiet():
    with serve_process() as (url, _), httpx.Client(timeout=10) as client:
        for _ in range(3):  # one connection, several requests, a pause between them under the deadlines
            assert client.get(f"{url}/api/health").status_code == 200
            time.sleep(1)


def test_a_second_workers_server_cannot_share_the_port():
    """SO_REUSEPORT would let it bind beside the first and take half the connections."""
    with serve_process("--workers", "2") as (url, _):
        port = str(urlsplit(url).port)
        second = subprocess.run(
            [sys.executable, "-m", "digitrec", "serve", "--port", port, "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert second.stderr == (
            f"digitrec: error: cannot listen on 127.0.0.1:{port}: another digitrec server with --workers holds it\n"
        )
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_the_port_lock_is_held_once_in_a_private_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with workers._port_lock(("127.0.0.1", 8000)):
        with pytest.raises(ConfigError, match="another digitrec server with --workers holds it"):  # noqa: SIM117
            with workers._port_lock(("127.0.0.1", 8000)):
                pass
        with workers._port_lock(("127.0.0.1", 8001)):  # another port, another lock
            pass
    with workers._port_lock(("127.0.0.1", 8000)):  # released with its holder
        pass
    directory = tmp_path / f"digitrec-{os.getuid()}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_lock_directory_others_can_write_is_refused(tmp_path, monkeypatch):
    """Another user could create the lock file first (refusing every server on that port) or a link."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = tmp_path / f"digitrec-{os.getuid()}"
    directory.mkdir()
    directory.chmod(0o777)
    with (
        pytest.raises(ConfigError, match="is not a private directory of this user"),
        workers._port_lock(("127.0.0.1", 8000)),
    ):
        pass


def test_a_request_the_server_cannot_parse_is_a_json_400():
    """uvicorn answered it in plain text; every other error of the API is JSON {"detail": …}."""
    with serve_process() as (url, _), socket.create_connection(("127.0.0.1", urlsplit(url).port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n")
        sock.settimeout(10)
        response = b""
        while chunk := sock.recv(4096):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower() and b"nosniff" in head
    assert json.loads(body) == {"detail": "bad HTTP request (Invalid HTTP request received)"}
