"""ASGI middleware that bounds what one request may cost the server."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse

Scope = dict[str, Any]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than the {limit}-byte limit")


class BodySizeLimit:
    """413 for a body over `max_bytes`, by its Content-Length or, when streamed, as it arrives, so an
    oversized upload is never buffered whole. (Neither Starlette nor uvicorn caps request bodies.)"""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            return await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return await self.app(scope, limited_receive, send)
