"""digitrec serve: the draw-a-digit page and the REST API (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from digitrec.cli._options import add_model_option, add_reject_option, model_needs_backend, port_number, positive_int
from digitrec.errors import ConfigError

MAX_WORKERS = 64


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "serve",
        help="serve the draw-a-digit page and the prediction API",
        description="Serve a page where you draw or upload a digit and see the model's "
        "guess, plus a REST API (POST /api/predict, GET /api/health; "
        "docs at /docs). Needs the [serve] extra.",
    )
    add_model_option(parser)
    add_reject_option(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    parser.add_argument("--port", type=port_number, default=8000, help="port (default: 8000; 0: any free one)")
    parser.add_argument(
        "--max-upload-mb",
        type=positive_int,
        default=5,
        metavar="N",
        help="reject request bodies over N MiB with 413 (default: 5)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=32,
        metavar="N",
        help="answer 503 (retry later) beyond N API requests at once in one process (default: 32)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="serve from N processes on the port, each with its own copy of the model (default: 1; one per "
        "core uses a multi-core machine fully: one process is bound by Python's GIL)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. https://example.org) call the API from a browser; repeatable "
        "(default: none, so browsers refuse cross-origin calls)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="on a loopback address, answer requests for NAME too (the Host header); repeatable. By default "
        "such a server answers only to 127.0.0.1, localhost and ::1, which stops DNS rebinding",
    )
    return parser


def _loopback(host: str) -> bool:
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback
            for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        )
    except (OSError, ValueError):
        return False


def _listen(host: str, port: int, workers: int = 1) -> socket.socket:
    """Bind the listening socket before the slow model load, so a busy port fails at once, in one line;
    uvicorn then serves on this very socket. With several workers the port is only held here (each worker
    listens on its own socket, `digitrec.serve.workers`)."""
    from digitrec.serve.workers import listening_socket

    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return listening_socket(family, address, reuse_port=workers > 1, listen=workers == 1)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(args) -> int:
    try:
        import uvicorn

        from digitrec.serve import create_app, workers
        from digitrec.serve.middleware import LOOPBACK_HOSTS
        from digitrec.serve.protocol import HeadDeadlineProtocol
    except ImportError as exc:
        raise ConfigError(
            f"digitrec serve needs the [serve] extra ({exc.name} is missing): pip install 'digitrec[serve]'"
        ) from None

    if args.workers > MAX_WORKERS:
        raise ConfigError(f"--workers {args.workers}: at most {MAX_WORKERS} (one per core is the useful number)")
    sock = _listen(args.host, args.port, args.workers)
    if not _loopback(args.host):
        print(
            f"digitrec: warning: listening on {args.host}: reachable from other machines; the API has no "
            "authentication (put it behind a proxy that has, or use the default 127.0.0.1)",
            file=sys.stderr,
        )
    with sock:
        settings = {
            "model_source": args.model,
            "max_upload_bytes": args.max_upload_mb * 1024 * 1024,
            # Per process, whole: the kernel spreads connections over the workers unevenly, and a limit split
            # between them refused requests that one process could carry (5 of 200 from 32 clients).
            "max_in_flight": args.max_in_flight,
            "cors_origins": tuple(args.cors_origin),
            "reject": args.reject,
            # Bound to loopback, only requests for a loopback name (or those allowed) are answered.
            "allowed_hosts": (*LOOPBACK_HOSTS, *args.allow_host) if _loopback(args.host) else tuple(args.allow_host),
        }
        host, port = sock.getsockname()[:2]
        url_host = f"[{host}]" if ":" in host else host

        def announce(model_name: str) -> None:
            print(f"digitrec: serving model {model_name!r} at http://{url_host}:{port}/ (Ctrl+C to stop)", flush=True)

        # Idle keep-alive connections are dropped after 5 s, a connection without a complete request head
        # after 10 s (`protocol.py`); beyond 4× the in-flight limit of open connections uvicorn itself
        # answers 503, so idle or slow sockets cannot pile up without end.
        # h11 even where httptools is installed (uvicorn[standard]): h11 refuses a request head over 16 KiB,
        # while uvicorn's httptools protocol buffers headers without a limit (measured: 200 MB of one header
        # grew the server by 300 MB); httptools saved only ~0.2 ms of a request's CPU.
        options = {
            "http": HeadDeadlineProtocol,
            "log_level": "info",
            "timeout_keep_alive": 5,
            "limit_concurrency": 4 * settings["max_in_flight"],
        }
        if args.workers > 1:  # each loads the model; one that cannot is this command's one-line error
            return workers.run(sock, args.workers, settings, options, announce)
        app = create_app(**settings)  # loads the model now: a bad one fails here, in one line
        announce(app.state.predictor.name)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return 0


needs_backend = model_needs_backend
