"""Replay an HTTP target once and say what the response (or its absence) means for recovery.

Only to a destination of MEDIC_REPLAY_HTTP__ALLOW, connected to an address checked after resolving
(workers/recovery/destinations.py, pinned_transport.py), with the operator's credentials for that
exact origin (MEDIC_REPLAY_HTTP_HEADERS). See docs/security.md, "Replay destinations (HTTP)".
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from http import HTTPStatus
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from config.replay_http import is_connection_header
from workers.intake.contract import HttpTarget
from workers.masking import MASK, mask_text
from workers.recovery.destinations import (
    Destination,
    DestinationRefused,
    IPAddress,
    admitted,
    checked_address,
    destination_of,
)
from workers.recovery.outcomes import AttemptResult, permanent, retryable, success
from workers.recovery.pinned_transport import pinned_client
from workers.retry_after import parse_retry_after

if TYPE_CHECKING:
    from config.settings import Settings

Resolver = Callable[[str, int], Sequence[IPAddress]]

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
# Shorter header values are not searched for in texts: they would blank out ordinary words.
MIN_REDACTED_VALUE_CHARS = 3


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


def replay_http(target: HttpTarget, *, idempotency_key: str, now: Callable[[], datetime], settings: Settings,
                resolve: Resolver | None = None) -> AttemptResult:
    """Send the target's request once (no redirects followed) and return its outcome.

    A destination not allowed, an address not allowed, a header an event may not set or a URL
    httpx cannot send are permanent failures, and nothing is sent. Network failures are
    retryable, timeouts are "timeout". Error texts and the response preview are masked and
    never hold a value of a header that was sent.

    `settings`: the allowlist and credentials. `resolve`: host, port -> addresses (default: the
    system resolver). Every replay connects through a client pinned to its checked address
    (pinned_transport).
    """
    try:
        refuse_connection_headers(target.headers)
        url = httpx.URL(target.url)
        destination = destination_of(url)
        entries = settings.replay_http.entries
        admitted(destination, target.method, entries)
        credentials = credentials_for(destination, settings.replay_http_headers)
        address = checked_address(destination, (resolve or resolve_host)(destination.host, destination.port), entries)
    except DestinationRefused as exc:
        return permanent(_refusal_text(str(exc), target), refused=True)
    except OSError as exc:  # the name did not resolve (now): as a network error would be
        return retryable(_refusal_text(f"cannot resolve the host: {exc}", target), exception=type(exc).__name__)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return _failure(exc, target, sent_values=target.headers.values())
    headers = request_headers(with_credentials(target.headers, credentials), idempotency_key=idempotency_key)
    with pinned_client(url.raw_host.decode("ascii"), destination.port, str(address)) as pinned:
        return _replay_with(pinned, target, headers, now=now)


def refuse_connection_headers(headers: Mapping[str, str]) -> None:
    """An event's Host, Content-Length, Transfer-Encoding, hop-by-hop or Proxy-* header refuses the replay."""
    framing = sorted(name for name in headers if is_connection_header(name))
    if framing:
        raise DestinationRefused(f"header(s) {', '.join(name[:64] for name in framing)} cannot be set by an event: "
                                 "they frame the request or the connection")


def credentials_for(destination: Destination, configured: Mapping[str, Mapping[str, SecretStr]]) -> dict[str, str]:
    """The operator's headers for exactly this origin (MEDIC_REPLAY_HTTP_HEADERS, keys normalised at startup)."""
    return {name: value.get_secret_value() for name, value in configured.get(destination.origin, {}).items()}


def with_credentials(target_headers: Mapping[str, str], credentials: Mapping[str, str]) -> dict[str, str]:
    """The event's headers with the operator's replacing those of the same name (the event's are masked)."""
    replaced = {name.lower() for name in credentials}
    kept = {name: value for name, value in target_headers.items() if name.lower() not in replaced}
    return {**kept, **credentials}


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order; an IP address is itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    addresses: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _replay_with(client: httpx.Client, target: HttpTarget, headers: dict[str, str], *,
                 now: Callable[[], datetime]) -> AttemptResult:
    sent_values = headers.values()
    try:
        request = client.build_request(target.method, target.url, headers=headers,
                                       timeout=request_timeout(target.timeout_s), **_body_arguments(target.body))
        response = client.send(request, stream=True, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError) as exc:
        return _failure(exc, target, sent_values=sent_values)
    try:
        result = outcome_of_response(response.status_code, response.headers, now=now())
        return _with_detail(result, body_preview=_body_preview(response, sent_values))
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


def _body_preview(response: httpx.Response, sent_values: Iterable[str]) -> str:
    """The first BODY_PREVIEW_CHARS of the body, without the values of the headers sent, masked;
    "" when it cannot be read.

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
    return mask_text(without_values(text, sent_values)[:BODY_PREVIEW_CHARS])


def _with_detail(result: AttemptResult, **extra: object) -> AttemptResult:
    return AttemptResult(result.outcome, result.error, result.retry_after_s, {**result.detail, **extra})


# ----------------------------------------------------------------------------- failures


def _failure(exc: Exception, target: HttpTarget, *, sent_values: Iterable[str]) -> AttemptResult:
    error = _error_text(exc, target, sent_values)
    exception = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return AttemptResult("timeout", error, detail={"exception": exception})
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return retryable(error, exception=exception)
    return permanent(error, exception=exception)


def _error_text(exc: Exception, target: HttpTarget, sent_values: Iterable[str]) -> str:
    """'POST http://host/path: ConnectError: ...', masked, without query, credentials or header values."""
    url = safe_url(target.url)
    message = _exception_message(exc).replace(target.url, url)
    text = f"{target.method} {url}: {type(exc).__name__}" + (f": {message}" if message else "")
    return mask_text(without_values(text, [*sent_values, *target.headers.values()]))[:MAX_ERROR_CHARS]


def _refusal_text(reason: str, target: HttpTarget) -> str:
    """'refused: <reason>', masked and without the event's header values."""
    return mask_text(without_values(f"refused: {reason}", target.headers.values()))[:MAX_ERROR_CHARS]


def _exception_message(exc: Exception) -> str:
    """The exception's message, unless it may quote a header: then a fixed explanation."""
    if isinstance(exc, (httpx.LocalProtocolError, UnicodeError)):
        return _HEADER_PROBLEM
    return str(exc)


def without_values(text: str, values: Iterable[str]) -> str:
    """`text` with every header value in it (as sent, and as JSON would escape it) replaced by the mask."""
    forms = {form for value in values if len(value.strip()) >= MIN_REDACTED_VALUE_CHARS
             for form in _written_forms(value.strip())}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def _written_forms(value: str) -> set[str]:
    escaped = json.dumps(value)[1:-1]
    return {value, escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]}


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
