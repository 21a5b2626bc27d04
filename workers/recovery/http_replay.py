"""Replay an HTTP target once and say what the response (or its absence) means for recovery."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from http import HTTPStatus
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import httpx

from workers.contract import HttpTarget
from workers.masking import MASK, mask_text
from workers.recovery.outcomes import AttemptResult, permanent, retryable, success
from workers.retry_after import parse_retry_after

# Connecting should never take long, whatever the target allows for the whole request.
MAX_CONNECT_TIMEOUT_S = 10.0
# How much of a response body is kept (masked) in the attempt's detail.
BODY_PREVIEW_CHARS = 200
# Bytes read from the body to build that preview; the rest is never read.
BODY_PREVIEW_READ_BYTES = 4096
# Longest error text kept in an attempt.
MAX_ERROR_CHARS = 500

# Said instead of messages that quote the offending header ("Illegal header value b'...'").
_HEADER_PROBLEM = "a header name or value (or the URL) cannot be sent as given; message withheld"



# ----------------------------------------------------------------------------- pure


def outcome_of_response(status: int, headers: Mapping[str, str], *, now: datetime) -> AttemptResult:
    """What an HTTP status means for recovery: done, try again later, or never again.

    2xx succeeds. 408, 429 and 5xx are retryable, with the peer's Retry-After honoured.
    Other 4xx are permanent: the request itself is wrong. 1xx and 3xx are permanent too:
    redirects are not followed, since replaying to another address is not a replay.
    """
    if 200 <= status <= 299:
        return success(status=status)
    error = status_text(status)
    if status in (408, 429) or 500 <= status <= 599:
        retry_after_s = parse_retry_after(_header(headers, "Retry-After"), now=now)
        return retryable(error, retry_after_s=retry_after_s, status=status)
    return permanent(error, status=status)


def status_text(status: int) -> str:
    """'HTTP 404 Not Found'; just 'HTTP 499' for a code without a standard phrase."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name matched case-insensitively (a plain dict is not)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


# ----------------------------------------------------------------------------- the replay


def replay_http(target: HttpTarget, *, idempotency_key: str, client: httpx.Client | None = None,
                now: Callable[[], datetime]) -> AttemptResult:
    """Send the target's request once (no redirects followed) and return its outcome.

    Network failures are retryable, timeouts are "timeout", a request httpx cannot even send
    (bad URL, unsupported scheme, illegal header) is permanent. Error texts are masked and
    never quote the request headers; only a masked preview of the response body is kept.
    """
    if client is not None:
        return _replay_with(client, target, idempotency_key=idempotency_key, now=now)
    with httpx.Client() as own_client:
        return _replay_with(own_client, target, idempotency_key=idempotency_key, now=now)


def _replay_with(client: httpx.Client, target: HttpTarget, *, idempotency_key: str,
                 now: Callable[[], datetime]) -> AttemptResult:
    headers = request_headers(target.headers, idempotency_key=idempotency_key)
    try:
        request = client.build_request(target.method, target.url, headers=headers,
                                       timeout=request_timeout(target.timeout_s), **_body_arguments(target.body))
        response = client.send(request, stream=True, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError) as exc:
        return _failure(exc, target)
    try:
        result = outcome_of_response(response.status_code, response.headers, now=now())
        return _with_detail(result, body_preview=_body_preview(response))
    finally:
        response.close()


def request_timeout(timeout_s: float) -> httpx.Timeout:
    """The target's timeout for every phase, connecting capped at MAX_CONNECT_TIMEOUT_S."""
    return httpx.Timeout(timeout_s, connect=min(timeout_s, MAX_CONNECT_TIMEOUT_S))


def request_headers(target_headers: Mapping[str, str], *, idempotency_key: str) -> dict[str, str]:
    """The target's headers plus Idempotency-Key and User-Agent, unless the target sets its own."""
    headers = dict(target_headers)
    present = {name.lower() for name in headers}
    if "idempotency-key" not in present:
        headers["Idempotency-Key"] = idempotency_key
    if "user-agent" not in present:
        headers["User-Agent"] = user_agent()
    return headers


@cache
def user_agent() -> str:
    try:
        return f"medic/{metadata.version('medic')}"
    except metadata.PackageNotFoundError:
        return "medic"


def _body_arguments(body: object) -> dict[str, Any]:
    """httpx arguments for a body: dict/list as JSON, str as is, None as no body."""
    if body is None:
        return {}
    if isinstance(body, str):
        return {"content": body}
    if isinstance(body, (dict, list)):
        return {"json": body}
    return {"content": json.dumps(body)}  # a bare number or boolean, as JSON text


def _body_preview(response: httpx.Response) -> str:
    """The first BODY_PREVIEW_CHARS of the body, masked; "" when it cannot be read.

    The status has already decided the outcome, so a body that fails to arrive or decode
    does not change it.
    """
    received = bytearray()
    try:
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) >= BODY_PREVIEW_READ_BYTES:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    text = bytes(received).decode(response.encoding or "utf-8", errors="replace")
    return mask_text(text[:BODY_PREVIEW_CHARS])


def _with_detail(result: AttemptResult, **extra: object) -> AttemptResult:
    return AttemptResult(result.outcome, result.error, result.retry_after_s, {**result.detail, **extra})


# ----------------------------------------------------------------------------- failures


def _failure(exc: Exception, target: HttpTarget) -> AttemptResult:
    error = _error_text(exc, target)
    exception = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return AttemptResult("timeout", error, detail={"exception": exception})
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return retryable(error, exception=exception)
    return permanent(error, exception=exception)


def _error_text(exc: Exception, target: HttpTarget) -> str:
    """'POST http://host/path: ConnectError: ...', masked, without query, credentials or headers."""
    url = safe_url(target.url)
    message = _exception_message(exc, target.headers).replace(target.url, url)
    text = f"{target.method} {url}: {type(exc).__name__}" + (f": {message}" if message else "")
    return mask_text(text)[:MAX_ERROR_CHARS]


def _exception_message(exc: Exception, headers: Mapping[str, str]) -> str:
    """The exception's message, unless it may quote a header: then a fixed explanation."""
    if isinstance(exc, (httpx.LocalProtocolError, UnicodeError)):
        return _HEADER_PROBLEM
    return _without_headers(str(exc), headers)


def _without_headers(message: str, headers: Mapping[str, str]) -> str:
    """Removes header values a message may still quote, as a last guard."""
    for value in sorted(headers.values(), key=len, reverse=True):
        if len(value) >= 3:
            message = message.replace(value, MASK)
    return message


def safe_url(url: str) -> str:
    """The URL for error texts: user info dropped, query replaced by '?***', the rest masked."""
    try:
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return mask_text(url.split("?", 1)[0].rsplit("@", 1)[-1])
    query = f"?{MASK}" if parts.query else ""
    return mask_text(f"{parts.scheme}://{host}{port}{parts.path}{query}")
