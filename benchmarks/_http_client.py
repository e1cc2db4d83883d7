"""The load benchmark's HTTP client: just enough HTTP/1.1 over asyncio streams to post prebuilt multipart
uploads on keep-alive connections, so the client spends ~0.1 ms of CPU per request on the cores it shares
with the server (an httpx.AsyncClient spends ~2 ms)."""

from __future__ import annotations

import asyncio
import re

BOUNDARY = "digitrec-load-boundary"
CLIENT = (
    "asyncio streams in the benchmark's process: one keep-alive HTTP/1.1 connection per client, multipart "
    "requests built in advance, Content-Length answers read raw (~0.1 ms CPU per request)"
)


def upload(host: str, data: bytes, filename: str, content_type: str = "application/octet-stream") -> bytes:
    """A whole POST /api/predict request: `data` as the multipart file field `file`."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """Just enough HTTP/1.1 for this benchmark: send a prebuilt request, read the status and the body (the
    server always sends Content-Length); reconnects after the server closes."""

    LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body); status 0 when the server hung up without an answer (a hostile upload may)."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = self.LENGTH.search(head)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            return 0, b""
        if b"\r\nconnection: close" in head.lower():
            self.close()
        return int(head[9:12]), body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None
