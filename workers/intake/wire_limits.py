"""How large a task message medic decodes at all: decided from its raw size, before decoding.

Celery decodes a message's body in the worker's main process (kombu's `message.payload`, when the
request is built) and again in the pool; the event's own size check (MEDIC_MAX_EVENT_BYTES, in
triage) came after both. A 29 MB body of 1.5 M keys took the consumer to 520 MB before that check
said no. These checks look only at byte counts the transport already has.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

# Room for the protocol-2 envelope around the event: `[[event], {}, {"callbacks": null, ...}]`.
ENVELOPE_BYTES = 4_096
# Celery's JSON escapes non-ASCII text (`\u00e9`: 6 bytes for 2 in UTF-8), which triage's count of
# UTF-8 bytes does not see; 3 is the worst case, so no event triage would accept is refused here.
ESCAPING_FACTOR = 3
# Celery's own headers (id, task, retries, argsrepr ≤ 1 KiB, ...) take well under 4 KiB.
MAX_HEADERS_BYTES = 32_768
# kombu's name for zlib, the one compression whose decompressed size can be checked in bounded memory.
ZLIB = "application/x-gzip"


@dataclass(frozen=True)
class WireLimits:
    max_body_bytes: int
    max_headers_bytes: int = MAX_HEADERS_BYTES

    @classmethod
    def for_event_bytes(cls, max_event_bytes: int) -> WireLimits:
        return cls(max_body_bytes=ESCAPING_FACTOR * max_event_bytes + ENVELOPE_BYTES)


def headers_bytes(headers: Any) -> int:
    """Size of the headers as JSON (they arrive decoded: the transport's envelope holds them)."""
    try:
        return len(json.dumps(headers, default=str, ensure_ascii=False).encode("utf-8", "replace"))
    except (TypeError, ValueError, RecursionError):
        return 0 if headers is None else MAX_HEADERS_BYTES * 2


def refusal(body: Any, headers: Any, limits: WireLimits) -> str | None:
    """Why a message is refused undecoded, or None when it may be decoded."""
    size = headers_bytes(headers)
    if size > limits.max_headers_bytes:
        return (f"message headers of {size} bytes, over the {limits.max_headers_bytes}-byte limit; "
                "not decoded")
    body_bytes = len(body) if isinstance(body, (bytes, bytearray, str)) else 0
    if body_bytes > limits.max_body_bytes:
        return _too_big(f"message of {body_bytes} bytes", limits)
    compression = (headers or {}).get("compression") if isinstance(headers, dict) else None
    if compression:
        if compression != ZLIB or not isinstance(body, (bytes, bytearray)):
            return f"message compressed with {compression!r}, which medic does not accept; not decoded"
        inflated = _inflated_bytes(bytes(body), limits.max_body_bytes + 1)
        if inflated is None:
            return f"message compressed with {compression!r} that does not decompress; not decoded"
        if inflated > limits.max_body_bytes:
            return _too_big(f"compressed message of over {limits.max_body_bytes} bytes", limits)
    return None


def _too_big(what: str, limits: WireLimits) -> str:
    return (f"{what}, over the {limits.max_body_bytes}-byte limit "
            f"({ESCAPING_FACTOR} x MEDIC_MAX_EVENT_BYTES + {ENVELOPE_BYTES} for the envelope); not decoded")


def _inflated_bytes(body: bytes, stop_at: int) -> int | None:
    """Decompressed size of a zlib body, counting no further than stop_at; None if it is not zlib."""
    try:
        return len(zlib.decompressobj().decompress(body, stop_at))
    except zlib.error:
        return None
