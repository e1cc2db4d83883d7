"""ASGI middleware that bounds what one request may cost the server and hardens every response.

Starlette/FastAPI (and uvicorn) offer none of these in the form the API promises: FastAPI's
`max_body_size` exists but answers 413 as text/plain ("Content Too Large") before the app's error
handlers can see it, while every error of this API is one JSON line. So: a body-size cap (413), a cap on
requests in flight (503 beyond it), a deadline for receiving a request body (408 for slow or stalled
clients), and security headers on every response.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse

Scope = dict[str, Any]
Message = dict[str, Any]

# The page and the API load nothing from elsewhere; the Swagger/ReDoc pages FastAPI serves at /docs and
# /redoc take their scripts from a CDN and start with an inline script.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class BodySizeLimit:
    """413 for a body over `max_bytes`, by its Content-Length or, when streamed, as it arrives, so an
    oversized upload is never buffered whole."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def error(self) -> HTTPException:
        return HTTPException(413, f"request body larger than the {self.max_bytes}-byte limit")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse({"detail": self.error().detail}, status_code=413)(scope, receive, send)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.error()
            return message

        return await self.app(scope, limited_receive, send)


def security_headers(path: str) -> dict[str, str]:
    """CSP (no framing, nothing from other origins; the docs pages may load their CDN assets), nosniff, no
    referrer: what every response carries."""
    return {
        "content-security-policy": DOCS_CSP if path.startswith(DOCS_PATHS) else PAGE_CSP,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
    }


class SecurityHeaders:
    """`security_headers` on every HTTP response (but a 500, answered outside all middleware by Starlette's
    error handler: the app's handler adds them itself)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(name.encode(), value.encode()) for name, value in security_headers(scope["path"]).items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


class InFlightLimit:
    """At most `limit` requests under `prefix` at once; more get an immediate JSON 503 with Retry-After,
    so a burst queues in clients, not in the server's memory."""

    def __init__(self, app: Any, limit: int, prefix: str = "/api/"):
        self.app, self.limit, self.prefix = app, limit, prefix
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            response = JSONResponse(
                {"detail": f"server busy ({self.limit} requests in progress); retry shortly"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            return await response(scope, receive, send)
        self.in_flight += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyDeadline:
    """A request body must arrive within `seconds` of the request's start, else 408: a client that sends
    slowly or stalls mid-body cannot hold a worker."""

    def __init__(self, app: Any, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = time.monotonic() + self.seconds
        body_done = False

        async def receive_before_deadline() -> Message:
            nonlocal body_done
            if body_done:  # after the body only a disconnect can come: no deadline for that wait
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise HTTPException(408, f"request body not received within {self.seconds:g} s") from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return await self.app(scope, receive_before_deadline, send)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class AllowedHosts:
    """400 for a request whose Host header names no allowed host (any port): a server on 127.0.0.1 is
    otherwise open to DNS rebinding, where a web page makes the browser send its requests to a name that
    the attacker's DNS points at 127.0.0.1 (Jupyter and development servers check the same way)."""

    def __init__(self, app: Any, hosts: tuple[str, ...]):
        self.app, self.hosts = app, frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or host_name(dict(scope["headers"]).get(b"host", b"")) in self.hosts:
            return await self.app(scope, receive, send)
        detail = "unexpected Host header: this server answers only to " + ", ".join(sorted(self.hosts))
        return await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)


def host_name(header: bytes) -> str:
    """The host of a Host header, without its port: `[::1]:8000` → `::1`, `localhost:80` → `localhost`."""
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text
