"""The MNIST downloader against local HTTP mirrors (never the internet): fall-through, checksums, atomicity."""

from __future__ import annotations

import functools
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from digitrec.data.download import MNIST_FILES, cache_dir, download_file, ensure_mnist
from digitrec.data.idx import read_idx
from digitrec.errors import DataError

NAME = "t10k-labels-idx1-ubyte.gz"  # the smallest standard file (4,542 bytes)


class _Handler(SimpleHTTPRequestHandler):
    requests: list  # set per server

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def serve():
    """`serve(directory)` starts an HTTP server on 127.0.0.1 for `directory` and returns (base URL, request log)."""
    servers = []

    def start(directory):
        log = []
        handler = type("Handler", (_Handler,), {"requests": log})
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", log

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def not_http():
    """A mirror that accepts connections and answers with bytes that are not HTTP at all."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture
def closed_port():
    """A URL on a local port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def mirrors(shared_data, tmp_path, serve):
    """Three local mirrors of NAME: 'good' (the real file), 'corrupt' (one byte changed), 'missing' (404)."""
    real = (shared_data / "mnist" / NAME).read_bytes()
    dirs = {kind: tmp_path / "mirrors" / kind for kind in ("good", "corrupt", "missing")}
    for directory in dirs.values():
        directory.mkdir(parents=True)
    shutil.copyfile(shared_data / "mnist" / NAME, dirs["good"] / NAME)
    damaged = bytearray(real)
    damaged[100] ^= 0xFF
    (dirs["corrupt"] / NAME).write_bytes(bytes(damaged))
    return {kind: serve(directory) for kind, directory in dirs.items()}


def files_in(directory):
    return sorted(p.name for p in directory.iterdir())


def test_falls_through_to_the_good_mirror(mirrors, not_http, closed_port, shared_data, tmp_path):
    dest = tmp_path / "cache"
    order = [closed_port, mirrors["missing"][0], not_http, mirrors["corrupt"][0], mirrors["good"][0]]
    path = download_file(NAME, dest, mirrors=order, timeout=5)
    assert path == dest / NAME
    assert path.read_bytes() == (shared_data / "mnist" / NAME).read_bytes()
    assert files_in(dest) == [NAME]  # nothing partial left beside it
    assert read_idx(path).shape == (10_000,)
    for kind in ("missing", "corrupt", "good"):
        assert mirrors[kind][1] == [f"/{NAME}"]


def test_stops_at_the_first_good_mirror(mirrors, tmp_path):
    download_file(NAME, tmp_path, mirrors=[mirrors["good"][0], mirrors["corrupt"][0]], timeout=5)
    assert mirrors["corrupt"][1] == []


def test_no_good_mirror_names_every_failure_and_writes_nothing(mirrors, not_http, closed_port, tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    order = [mirrors["corrupt"][0], mirrors["missing"][0], not_http, closed_port]
    with pytest.raises(DataError) as info:
        download_file(NAME, dest, mirrors=order, timeout=5)
    message = str(info.value)
    assert NAME in message
    for mirror in order:
        assert mirror + NAME in message
    assert "checksum mismatch (4542 bytes)" in message  # the corrupt copy has the right size, wrong bytes
    assert "not found" in message.lower()  # the 404 mirror, by the reason it gave
    assert files_in(dest) == []


def test_ensure_mnist_downloads_only_the_missing_file(mirrors, tmp_path):
    dest = tmp_path / "mnist"
    dest.mkdir()
    placed = {name: f"placeholder for {name}".encode() for name in MNIST_FILES if name != NAME}
    for name, content in placed.items():
        (dest / name).write_bytes(content)

    assert ensure_mnist(dest, mirrors=[mirrors["good"][0]]) == dest
    assert mirrors["good"][1] == [f"/{NAME}"]
    assert files_in(dest) == sorted(MNIST_FILES)
    assert read_idx(dest / NAME).shape == (10_000,)
    for name, content in placed.items():
        assert (dest / name).read_bytes() == content  # present files are left alone

    ensure_mnist(dest, mirrors=[mirrors["good"][0]])
    assert mirrors["good"][1] == [f"/{NAME}"]  # nothing fetched the second time


def test_ensure_mnist_defaults_to_the_cache_dir(mirrors, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITREC_CACHE", str(tmp_path / "cache"))
    dest = tmp_path / "cache" / "mnist"
    dest.mkdir(parents=True)
    for name in MNIST_FILES:
        if name != NAME:
            (dest / name).write_bytes(b"placeholder")
    assert ensure_mnist(mirrors=[mirrors["good"][0]]) == dest
    assert (dest / NAME).exists()


def test_ensure_mnist_fails_cleanly_when_nothing_serves_the_files(tmp_path, serve):
    empty = tmp_path / "empty"
    empty.mkdir()
    url, _ = serve(empty)
    with pytest.raises(DataError, match=MNIST_FILES[0]):
        ensure_mnist(tmp_path / "mnist", mirrors=[url])
    assert files_in(tmp_path / "mnist") == []


def test_cache_dir_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITREC_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("DIGITREC_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "digitrec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "digitrec"
