"""Request bodies under a cap, and only from clients with a valid token (an ASGI middleware).

FastAPI reads and parses a route's body before it runs the route's dependencies, the token check
included: an unauthenticated 80 MB POST was read whole, then answered 401. This middleware runs
first: a request that carries a body to /api/ must authenticate before a byte of it is read, a
declared Content-Length over the cap is answered 413 unread, and a streamed body is cut at the cap.
POST /api/events has a cap of its own (MEDIC_SERVE__INGEST_MAX_BODY_BYTES: batches of events are
larger than operator actions); every other route has MEDIC_SERVE__MAX_BODY_BYTES.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import HTTPException, status

from config.serve import ServeSettings
from workers.api.auth import authenticate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/"
EVENTS_PATH = "/api/events"


def body_cap(serve: ServeSettings, path: str) -> tuple[int, str]:
    """The most bytes a request to `path` may carry, and the setting that says so."""
    if path.rstrip("/") == EVENTS_PATH:
        return serve.ingest_max_body_bytes, "MEDIC_SERVE__INGEST_MAX_BODY_BYTES"
    return serve.max_body_bytes, "MEDIC_SERVE__MAX_BODY_BYTES"


def declared_body_bytes(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a request declares; None when it declares none (or chunked); -1 when unreadable."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def carries_body(method: str, headers: list[tuple[bytes, bytes]]) -> bool:
    declared = declared_body_bytes(headers)
    if declared is not None:
        return declared != 0
    chunked = any(name.lower() == b"transfer-encoding" for name, _ in headers)
    return chunked or method not in ("GET", "HEAD", "OPTIONS", "DELETE")


def header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None


class BoundedBodies:
    def __init__(self, app: ASGIApp, *, serve: ServeSettings):
        self.app = app
        self.serve = serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = list(scope.get("headers") or [])
        if not carries_body(scope["method"], headers):
            return await self.app(scope, receive, send)
        if scope["path"].startswith(API_PREFIX):
            try:
                authenticate(self.serve, header(headers, b"authorization"))
            except HTTPException as refused:
                return await _answer(send, refused.status_code, str(refused.detail), refused.headers)
        declared = declared_body_bytes(headers)
        cap_bytes, setting = body_cap(self.serve, scope["path"])
        if declared is not None and declared < 0:
            return await _answer(send, status.HTTP_400_BAD_REQUEST, "invalid Content-Length")
        if declared is not None and declared > cap_bytes:
            return await _answer(send, status.HTTP_413_CONTENT_TOO_LARGE, _too_large(cap_bytes, setting))
        await self._streamed(scope, receive, send, cap_bytes, setting)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, cap_bytes: int, setting: str) -> None:
        """Counts the body as the app reads it; past the cap, the app's answer is replaced by 413."""
        received_bytes = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal received_bytes, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if received_bytes > cap_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _answer(send, status.HTTP_413_CONTENT_TOO_LARGE, _too_large(cap_bytes, setting))


def _too_large(cap_bytes: int, setting: str) -> str:
    return f"request body over {cap_bytes} bytes ({setting})"


async def _answer(send: Send, code: int, detail: str, extra: Mapping[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
