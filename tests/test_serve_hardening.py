"""The server under hostile input, faults and load, on 127.0.0.1 only: hostile uploads interleaved with good
ones (good ones keep succeeding, never a 5xx, bounded memory), security headers, no cross-origin access
unless asked for, 503 beyond the in-flight limit, 408 for stalled bodies, quiet client disconnects."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import digitrec
from digitrec.cli.serve_cmd import _listen, _loopback
from digitrec.serve import create_app
from digitrec.serve.workers import CRASH_LOOP_SECONDS

import hostile
from helpers import child_pids, serve_process, serving
from renderings import black_on_white_png


def vm_hwm_mib(pid: int) -> float:
    """Peak resident memory of a live process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


HOSTILE_UPLOADS = {
    "1x40M strip": hostile.png_strip,
    "36 MP blank PNG": hostile.png_large_blank,
    "144 MP JPEG": hostile.jpeg_huge,
    "4,000-scan JPEG": hostile.jpeg_many_scans,
    "144 MP progressive JPEG": lambda: hostile.jpeg_progressive_claiming(12000, 12000),
    "PNG of 64 MB of text": hostile.png_text_chunks,
    "JPEG of 65,000 markers": hostile.jpeg_many_markers,
    "garbage": lambda: bytes(range(256)) * 40,
    "IDX bomb as image": lambda: hostile.idx_gzip_bomb(0.01),
}


def test_hostile_uploads_interleaved_with_good_ones(mnist, tmp_path):
    """Each hostile upload gets a 4xx, every good one the right digit, the server's peak RSS stays under
    600 MiB, and its log holds no traceback."""
    rng = np.random.default_rng(1)
    goods = [(black_on_white_png(mnist.x_test[i], rng), int(mnist.y_test[i])) for i in range(4)]
    bads = {name: make() for name, make in HOSTILE_UPLOADS.items()}
    log = tmp_path / "server.log"
    with log.open("w") as handle, serve_process(log=handle) as (url, process), httpx.Client(timeout=60) as client:
        for round_ in range(2):
            for name, payload in bads.items():
                good, label = goods[(round_ + len(name)) % len(goods)]
                answer = client.post(f"{url}/api/predict", files={"file": ("d.png", good)})
                assert answer.status_code == 200 and answer.json()["digit"] == label, answer.text
                response = client.post(f"{url}/api/predict", files={"file": ("x.png", payload)})
                assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
                assert "\n" not in response.json()["detail"]
        peak = vm_hwm_mib(process.pid)
    assert peak <= 600, peak
    assert "Traceback" not in log.read_text()


def test_security_headers_on_every_response(predictor):
    from fastapi.testclient import TestClient

    with TestClient(create_app(predictor, max_upload_bytes=100)) as client:
        for response in (
            client.get("/"),
            client.get("/static/app.js"),
            client.get("/api/health"),
            client.post("/api/predict", content=b"x" * 200, headers={"content-type": "image/png"}),
            client.get("/nothing"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "default-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"
        assert "cdn.jsdelivr.net" in client.get("/docs").headers["content-security-policy"]
        assert "cdn.jsdelivr.net" not in client.get("/").headers["content-security-policy"]


def test_no_cross_origin_access_unless_asked_for(predictor):
    from fastapi.testclient import TestClient

    origin = {"origin": "https://elsewhere.example"}
    with TestClient(create_app(predictor)) as closed:
        assert "access-control-allow-origin" not in closed.get("/api/health", headers=origin).headers
        preflight = closed.options("/api/predict", headers={**origin, "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers
    with TestClient(create_app(predictor, cors_origins=("https://elsewhere.example",))) as opened:
        allowed = opened.get("/api/health", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://elsewhere.example"
        other = opened.get("/api/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


class SlowPredictor:
    """The real predictor, slowed down, so that requests overlap."""

    def __init__(self, predictor, seconds: float):
        self.predictor, self.seconds, self.name = predictor, seconds, "slow"

    def predict_proba(self, images, **kwargs):
        time.sleep(self.seconds)
        return self.predictor.predict_proba(images, **kwargs)


def test_beyond_the_in_flight_limit_clients_get_a_json_503(predictor, one_per_class):
    body = {"pixels": one_per_class[3][0].tolist()}
    app = create_app(SlowPredictor(predictor, 0.5), max_in_flight=2)
    with serving(app) as url, concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: httpx.post(f"{url}/api/predict", json=body, timeout=30), range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 2 and set(statuses) <= {200, 503}, statuses
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
        assert httpx.post(f"{url}/api/predict", json=body, timeout=30).status_code == 200  # the burst is over


def raw_request(url: str, head: bytes, body: bytes, wait: float) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(wait)
        sock.settimeout(10)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


HEAD = b"POST /api/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n"
UPLOAD_HEAD = (
    b"POST /api/predict HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=b\r\n"
    b'content-length: 90000\r\n\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
)


@pytest.mark.parametrize("head, part", [(HEAD, b'{"pixels": ['), (UPLOAD_HEAD, b"\x89PNG")], ids=["json", "upload"])
def test_a_stalled_body_gets_a_408(predictor, head, part):
    with serving(create_app(predictor, body_timeout=0.5)) as url:
        answer = raw_request(url, head, part, wait=1.0)
    assert answer.startswith(b"HTTP/1.1 408") and b"not received within 0.5 s" in answer, answer


def test_clients_gone_mid_body_leave_no_traceback_in_the_log(tmp_path):
    log = tmp_path / "server.log"
    with log.open("w") as handle, serve_process(log=handle) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        for head, part in ((HEAD, b'{"pixels": [[0'), (UPLOAD_HEAD, b"\x89PNG" + bytes(3000))):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(head + part)
            time.sleep(0.5)
        assert httpx.get(f"{url}/api/health").status_code == 200
    text = log.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text[-2000:]


def test_an_endless_request_head_is_refused_not_buffered():
    """`digitrec serve` parses HTTP with h11 (request heads up to 16 KiB) even where httptools is installed,
    whose uvicorn protocol buffers a header without limit."""
    with serve_process() as (url, server):
        host, port = url.removeprefix("http://").split(":")
        before = vm_hwm_mib(server.pid)
        answer = b""
        with socket.create_connection((host, int(port)), timeout=10) as sock, contextlib.suppress(OSError):
            sock.sendall(b"GET /api/health HTTP/1.1\r\nhost: x\r\nx-big: ")
            for _ in range(64):  # 64 MiB, unless the server hangs up first
                sock.sendall(b"a" * (1 << 20))
            answer = sock.recv(200)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
        assert vm_hwm_mib(server.pid) - before < 32
        assert httpx.get(f"{url}/api/health").status_code == 200


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawns, not its resource tracker) of `parent`."""
    return child_pids(parent, b"spawn_main")


def test_workers_share_the_port_and_stop_together(one_per_class):
    """`--workers 2`: two processes serve one port (every answer right, over several connections), and
    stopping the server stops both."""
    bodies = [{"pixels": image.tolist()} for image, _ in one_per_class]
    with serve_process("--workers", "2") as (url, server):
        assert httpx.get(f"{url}/api/health", timeout=60).status_code == 200
        workers = worker_pids(server.pid)
        assert len(workers) == 2
        # One listening socket per worker on the port (SO_REUSEPORT: the kernel spreads connections over
        # them), not one socket shared, whose first waking worker would take every waiting connection.
        port = int(url.rsplit(":", 1)[1])
        listening = [
            line
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
            if line.split()[1:4:2] == [f"0100007F:{port:04X}", "0A"]
        ]
        assert len(listening) == 2
        for connection in range(4):
            with httpx.Client(timeout=30) as client:
                for digit, body in enumerate(bodies):
                    response = client.post(f"{url}/api/predict", json=body)
                    assert response.status_code == 200 and response.json()["digit"] == digit, connection
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_a_worker_that_dies_is_replaced(one_per_class, tmp_path):
    """A worker killed after start-up (as the OOM killer would) is replaced and the server keeps answering;
    a replacement that cannot start (its model file gone) stops the server with its reason in one line.
    Bounded: two kills, after the crash-loop guard's 10 s."""
    image, digit = one_per_class[7]
    model = tmp_path / "model.onnx"
    model.write_bytes((Path(digitrec.__file__).parent / "bundled" / "model.onnx").read_bytes())
    log = tmp_path / "server.log"
    with log.open("w") as handle, serve_process("--workers", "2", "--model", str(model), log=handle) as (url, server):
        assert httpx.get(f"{url}/api/health", timeout=60).status_code == 200
        first = worker_pids(server.pid)
        time.sleep(CRASH_LOOP_SECONDS + 1)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(set(worker_pids(server.pid)) - {first[0]}) < 2:
            time.sleep(0.5)
        now = worker_pids(server.pid)
        assert len(now) == 2 and first[0] not in now and first[1] in now
        for _ in range(10):  # new connections: some land on the replacement
            response = httpx.post(f"{url}/api/predict", json={"pixels": image.tolist()}, timeout=60)
            assert response.status_code == 200 and response.json()["digit"] == digit
        assert server.poll() is None
        model.unlink()
        os.kill(first[1], signal.SIGKILL)
        assert server.wait(timeout=120) == 1
    errors = [line for line in log.read_text().splitlines() if "model.onnx" in line]
    assert len(errors) == 1 and "Traceback" not in log.read_text(), log.read_text()[-2000:]


def test_the_listening_socket_sends_small_writes_at_once():
    """TCP_NODELAY on the listening socket, which accepted connections inherit: without it a response
    written as head then body waited for the client's delayed ACK (~40 ms) in worker processes."""
    with contextlib.closing(_listen("127.0.0.1", 0)) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_only_loopback_addresses_count_as_private():
    assert _loopback("127.0.0.1") and _loopback("localhost") and _loopback("::1")
    assert not _loopback("0.0.0.0") and not _loopback("::")


@pytest.mark.parametrize("clients", [16])
def test_sixteen_concurrent_clients_get_no_errors(predictor, one_per_class, clients):
    """Bounded: 16 clients × 25 requests each, on 127.0.0.1."""
    bodies = [{"pixels": image.tolist()} for image, _ in one_per_class]
    errors: list[str] = []

    def client_loop(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            for request in range(25):
                digit = (index + request) % 10
                response = client.post(f"{url}/api/predict", json=bodies[digit])
                if response.status_code != 200 or response.json()["digit"] != digit:
                    errors.append(f"{response.status_code} {response.text[:80]}")

    with serving(create_app(predictor)) as url:
        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
