"""Delivery of one message to one configured channel: log, webhook, Slack, email.

`deliver` either returns (the channel accepted the message) or raises DeliveryFailed, whose
text names the channel and the cause but never a secret (webhook URLs carry tokens).
Whether and when to try again is the caller's business; `permanent` and `retry_after_s` help it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from config.channels import LEVELS, ChannelConfig, EmailChannel, LogChannel, SlackChannel, WebhookChannel
from workers.clock import utcnow
from workers.masking import MASK, mask_text
from workers.notify.message import Message, as_json, as_slack, as_text, masked_fields, subject_line, truncate
from workers.retry_after import parse_retry_after

log = logging.getLogger("medic.notify")

ERROR_BODY_MAX_CHARS = 200  # of a refusing peer's response, kept in the error for the operator
USER_AGENT = "medic-notify"
LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
# A 4xx says the request or the configuration is wrong, except these, which pass with time.
TRANSIENT_4XX = frozenset({408, 429})
# Attributes of every LogRecord: an `extra` key among them makes logging raise.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

SmtpFactory = Callable[[EmailChannel], smtplib.SMTP]


class DeliveryFailed(Exception):
    """The channel did not take the message.

    permanent: repeating the same delivery will not help until someone fixes the configuration
    (a 4xx, a refused login); retry_after_s: the peer asked for this wait (Retry-After).
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after_s: float | None = None):
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


def level_passes(channel_config: ChannelConfig, level: str) -> bool:
    """True when `level` is at or above the channel's `min_level`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    return LEVELS.index(level) >= LEVELS.index(channel_config.min_level)


def deliver(channel_name: str, config: ChannelConfig, message: Message, *, http: httpx.Client | None = None,
            smtp_factory: SmtpFactory | None = None) -> None:
    """Send `message` on one channel, or raise DeliveryFailed. The level filter is the caller's."""
    match config:
        case LogChannel():
            _log(channel_name, message)
        case WebhookChannel():
            _post(channel_name, config.url, as_json(message), config.headers, config.timeout_s, http)
        case SlackChannel():
            _post(channel_name, config.url, as_slack(message), {}, config.timeout_s, http)
        case EmailChannel():
            _send_email(channel_name, config, message, smtp_factory or connect_smtp)
        case _:
            raise ValueError(f"channel {channel_name!r}: unknown channel type {type(config).__name__}")


# ----------------------------------------------------------------------------- log


def _log(channel_name: str, message: Message) -> None:
    extra = {_record_key(key): value for key, value in masked_fields(message).items()}
    extra.update(channel=channel_name, kind=message.kind, group_id=message.group_id, execution_id=message.execution_id)
    log.log(LOG_LEVELS[message.level], subject_line(message), extra=extra)


def _record_key(key: str) -> str:
    return f"field_{key}" if key in _RECORD_ATTRS else key


# ----------------------------------------------------------------------------- webhook, Slack


def _post(channel_name: str, url: SecretStr, body: dict[str, Any], headers: dict[str, SecretStr], timeout_s: float,
          http: httpx.Client | None) -> None:
    secrets = [url.get_secret_value(), *(value.get_secret_value() for value in headers.values())]
    plain_headers = _plain_headers(channel_name, headers)
    client = http or httpx.Client(follow_redirects=False)
    try:
        request = client.stream("POST", url.get_secret_value(), json=body, headers=plain_headers, timeout=timeout_s)
        with request as response:
            _check_response(channel_name, response, secrets)
    except httpx.TimeoutException as exc:
        reason = f"channel {channel_name!r}: {type(exc).__name__}: no response within {timeout_s:g}s"
        raise DeliveryFailed(reason) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryFailed(_failure(channel_name, exc, secrets), permanent=True) from None
    except httpx.HTTPError as exc:
        # `from None`: the httpx exception's request holds the URL, and tracebacks get logged.
        raise DeliveryFailed(_failure(channel_name, exc, secrets)) from None
    finally:
        if http is None:
            client.close()


def _plain_headers(channel_name: str, headers: dict[str, SecretStr]) -> dict[str, str]:
    """The configured headers in clear, checked first: httpx's errors for bad ones would quote the value."""
    plain = {"User-Agent": USER_AGENT}
    for name, value in headers.items():
        text = value.get_secret_value()
        if not (name.isascii() and text.isascii()) or any(c in name + text for c in "\r\n\0"):
            raise DeliveryFailed(f"channel {channel_name!r}: header {mask_text(name)!r} is not sendable "
                                 "(non-ASCII or a line break)", permanent=True)
        plain[name] = text
    return plain


def _check_response(channel_name: str, response: httpx.Response, secrets: list[str]) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    # A redirect is not followed: the configured URL should be updated instead.
    permanent = 300 <= status < 500 and status not in TRANSIENT_4XX
    reason = f"channel {channel_name!r}: HTTP {status} {response.reason_phrase}"
    snippet = _body_snippet(response)
    reason = f"{reason}: {snippet}" if snippet else reason
    raise DeliveryFailed(_scrub(reason, secrets), permanent=permanent,
                         retry_after_s=parse_retry_after(response.headers.get("Retry-After"), now=utcnow()))


def _body_snippet(response: httpx.Response) -> str:
    """The start of the response body, one line; read no further than needed."""
    try:
        chunk = next(response.iter_bytes(), b"")
    except httpx.HTTPError:  # the status says enough
        return ""
    return " ".join(chunk.decode("utf-8", "replace").split())[:ERROR_BODY_MAX_CHARS]


# ----------------------------------------------------------------------------- email


def connect_smtp(config: EmailChannel) -> smtplib.SMTP:
    """A connection to the configured server; TLS from the first byte when security is "ssl"."""
    if config.security == "ssl":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)


def email_message(config: EmailChannel, message: Message) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = f"[medic {message.level}] {subject_line(message)}"
    email["From"] = config.from_addr
    email["To"] = ", ".join(config.to_addrs)
    email["Date"] = formatdate(localtime=False)
    # An explicit domain: make_msgid would otherwise look up this host's FQDN on every call.
    email["Message-ID"] = make_msgid(domain=config.from_addr.rpartition("@")[2] or "medic")
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    email["X-Medic-Level"] = message.level
    email.set_content(as_text(message))
    return email


def _send_email(channel_name: str, config: EmailChannel, message: Message, smtp_factory: SmtpFactory) -> None:
    email = email_message(config, message)
    secrets = [config.password.get_secret_value()] if config.password else []
    try:
        with smtp_factory(config) as smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password.get_secret_value() if config.password else "")
            refused = smtp.send_message(email, from_addr=config.from_addr, to_addrs=config.to_addrs)
    except smtplib.SMTPException as exc:
        raise DeliveryFailed(_smtp_failure(channel_name, exc, secrets), permanent=_smtp_permanent(exc)) from None
    except OSError as exc:  # refused, unreachable, timed out, TLS handshake
        raise DeliveryFailed(_failure(channel_name, exc, secrets)) from None
    if refused:
        # Some recipients got it: a retry would send them a duplicate, so only say who did not.
        log.warning("some recipients were refused", extra={"channel": channel_name, "refused": sorted(refused)})


def _smtp_permanent(exc: smtplib.SMTPException) -> bool:
    """A 5xx reply (or a server without STARTTLS) needs an operator; a 4xx or a drop may pass."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def _smtp_failure(channel_name: str, exc: smtplib.SMTPException, secrets: list[str]) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return _scrub(f"channel {channel_name!r}: {type(exc).__name__}: SMTP {exc.smtp_code} {reply}", secrets)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"channel {channel_name!r}: all recipients refused (SMTP {', '.join(map(str, codes))})"
    return _failure(channel_name, exc, secrets)


# ----------------------------------------------------------------------------- error text


def _failure(channel_name: str, exc: BaseException, secrets: list[str]) -> str:
    detail = str(exc) or "no detail"
    return _scrub(f"channel {channel_name!r}: {type(exc).__name__}: {detail}", secrets)


def _scrub(text: str, secrets: list[str]) -> str:
    """Mask the channel's own secrets (whole, and a URL's path alone), then anything that looks secret."""
    for secret in _secret_forms(secrets):
        text = text.replace(secret, MASK)
    return truncate(mask_text(text), 1000)


def _secret_forms(secrets: list[str]) -> list[str]:
    forms = set()
    for secret in filter(None, secrets):
        forms.add(secret)
        forms.update(part for part in _url_parts(secret) if len(part) > 1)
    # Longest first, so a URL is masked whole rather than around its masked path.
    return sorted(forms, key=len, reverse=True)


def _url_parts(url: str) -> list[str]:
    """A URL's path and query: where webhook tokens live, and what an error may quote alone."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if not parts.scheme:
        return []
    path_and_query = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return [path_and_query, parts.path, parts.query]
