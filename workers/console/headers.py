"""Security headers on every /ui response (an ASGI middleware): a strict Content-Security-Policy and friends.

The policy allows only medic's own scripts, styles and images (no inline code, no CDN): an event field
that slipped past escaping still could not run. Static files get a long cache (their URLs carry medic's
version); pages are never cached, as they show live state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_PREFIX = "/ui"
STATIC_PREFIX = "/ui/static/"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
STATIC_MAX_AGE_S = 365 * 24 * 3600


def console_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The headers a response to `path` gets (pure); none outside the console."""
    if path != CONSOLE_PREFIX and not path.startswith(CONSOLE_PREFIX + "/"):
        return []
    cache = (f"public, max-age={STATIC_MAX_AGE_S}, immutable" if path.startswith(STATIC_PREFIX)
             else "no-store")
    return [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cache-control", cache.encode())]


class ConsoleHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = console_headers(scope["path"]) if scope["type"] == "http" else []
        if not extra:
            return await self.app(scope, receive, send)
        names = {name for name, _ in extra}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await self.app(scope, receive, with_headers)
