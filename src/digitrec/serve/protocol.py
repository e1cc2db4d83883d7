"""uvicorn's h11 protocol with a deadline for each request head.

uvicorn drops an idle keep-alive connection `timeout_keep_alive` seconds after a response, but starts no
clock before a connection's first request, nor while a head arrives byte by byte: 128 sockets that
connect and send nothing (or half a head) held every connection slot (`limit_concurrency`), and the
server answered everyone else 503 until those clients chose to leave. Here a head must be complete
within `HEAD_TIMEOUT` seconds of the connection, or of the previous response; otherwise the connection
is closed. The body has its own deadline (`middleware.BodyDeadline`). A request uvicorn cannot parse is
answered 400 in the API's form, JSON `{"detail": …}`, not uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # seconds: a real client sends its head in milliseconds, even on a slow link


class HeadDeadlineProtocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None
    _armed_for: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._armed_for = self.cycle  # a new request head replaces it (uvicorn starts a new cycle)
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.cycle is self._armed_for and not self.transport.is_closing():
            self.transport.close()  # no complete head since: nothing to answer, nobody waiting for one

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"detail": f"bad HTTP request ({msg.rstrip('.')})"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
