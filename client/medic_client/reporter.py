"""`Reporter`: where and how an app reports to medic, outside a Celery task (plain scripts, logging, guards).

A reporter holds a Celery app (the app's own, or a minimal one it builds for a broker URL), the
service name, the spool file and default event options. `reporter.report(exc)` sends like
`report_exception`: the broker's trouble never reaches the caller (logged masked, spooled, None
returned); mistakes in the options raise TypeError/ValueError, at construction for the defaults.

An exception object is reported once: `report` marks it (`was_reported`), and the logging handler
and the guards skip a marked one, so a guarded call logged with `logger.exception` further up, or
nested guards, make one report.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from medic_client.events import event_from_exception
from medic_client.masking import mask_text
from medic_client.sending import REASON_MAX_CHARS, Spool, send_event

# Connect and socket timeout of the app a reporter builds for a broker URL. A publish that cannot
# reach the broker returns after about this long (measured: 1.06 s at 1 s against a broker that
# accepts and never answers, 0.27 s against a closed port); kombu's one retry can make it
# 2 x BROKER_TIMEOUT_S + 0.2 s at worst.
BROKER_TIMEOUT_S = 2.0
# Options a reporter may hold as defaults; idempotency_key and occurred_at are one event's own.
DEFAULT_OPTIONS = frozenset({"operation", "source", "context", "replay", "fallback", "include_traceback"})
CALL_OPTIONS = frozenset(
    name for name, parameter in inspect.signature(event_from_exception).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
# Set on an exception object once reported (a plain attribute: exceptions are not weak-referenceable).
REPORTED_ATTRIBUTE = "__medic_reported__"
_REDIS_SCHEMES = ("redis", "rediss", "sentinel")


class _Probe(Exception):
    """The exception a reporter builds a trial event for, to check its options at construction."""


def was_reported(exc: BaseException) -> bool:
    """True when a reporter has already handled this exception object (sent, or logged and spooled)."""
    try:
        return getattr(exc, REPORTED_ATTRIBUTE, False) is True
    except Exception:
        return False


def mark_reported(exc: BaseException) -> None:
    """Mark exc as reported; an exception that refuses new attributes stays unmarked (may be reported twice)."""
    try:
        setattr(exc, REPORTED_ATTRIBUTE, True)
    except Exception:
        pass


def merged_options(defaults: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """defaults, overridden by options; the two `context` dicts are merged (the call's keys win)."""
    merged = {**defaults, **options}
    base, extra = defaults.get("context"), options.get("context")
    if isinstance(base, Mapping) and isinstance(extra, Mapping):
        merged["context"] = {**base, **extra}
    return merged


def check_option_names(names: Any, allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise TypeError(f"{where}: unknown option(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(sorted(allowed))}")


def broker_app(broker_url: str, *, timeout_s: float = BROKER_TIMEOUT_S) -> Any:
    """A minimal Celery app that only publishes to broker_url, with short connect and socket timeouts."""
    if not isinstance(broker_url, str) or "://" not in broker_url:
        raise ValueError("broker_url must be a broker URL such as redis://host:6379/0")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 60:
        raise ValueError(f"timeout_s must be a number of seconds in (0, 60], not {timeout_s!r}")
    scheme = urlsplit(broker_url).scheme.lower()
    from celery import Celery
    from kombu import Connection

    try:  # a URL kombu cannot use is a mistake for development, not a report lost in production
        Connection(broker_url).transport  # noqa: B018 -- building the transport (no connection) is the check
    except Exception as exc:
        reason = mask_text(f"{type(exc).__name__}: {exc}")[:REASON_MAX_CHARS]
        raise ValueError(f"broker_url ({scheme}://...) cannot be used: {reason}") from None
    app = Celery("medic-client", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        broker_connection_timeout=timeout_s,  # amqp: the connect and handshake
        broker_connection_retry_on_startup=False,
        # kombu's Redis transport ignores broker_connection_timeout: without these a connect to a
        # host that drops packets waits for the OS (minutes).
        broker_transport_options=(
            {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
            if scheme.split("+")[0] in _REDIS_SCHEMES else {}
        ),
    )
    return app


class Reporter:
    """Where and how to report: `Reporter(app, service="orders-api")` or `Reporter(broker_url=..., service=...)`.

    ``app`` is the app's Celery app (its broker is medic's), used as it is configured; or
    ``broker_url`` makes the reporter build a minimal publishing app with ``timeout_s`` connect and
    socket timeouts (default BROKER_TIMEOUT_S). ``spool`` is the file events that cannot be sent are
    appended to. ``defaults`` are event options every report gets unless the call gives its own:
    operation, source, context (merged with the call's), replay, fallback, include_traceback.
    """

    def __init__(self, app: Any = None, *, broker_url: str | None = None, service: str, spool: Spool = None,
                 timeout_s: float = BROKER_TIMEOUT_S, **defaults: Any) -> None:
        if (app is None) == (broker_url is None):
            raise TypeError("Reporter needs exactly one of app (a Celery app) or broker_url")
        if app is not None and not callable(getattr(app, "send_task", None)):
            raise TypeError(f"app must be a Celery app (with send_task), not {type(app).__name__}")
        check_option_names(defaults, DEFAULT_OPTIONS, "Reporter")
        event_from_exception(_Probe(), service=service, **defaults)  # raises on a bad service or default
        self.service = service
        self.spool = spool
        self.defaults = dict(defaults)
        self._owns_app = app is None
        self.app = app if app is not None else broker_app(broker_url, timeout_s=timeout_s)  # type: ignore[arg-type]

    def check(self, **options: Any) -> None:
        """Raise TypeError/ValueError now if `report(exc, **options)` would (a guard checks at construction)."""
        check_option_names(options, CALL_OPTIONS, "report")
        event_from_exception(_Probe(), **self._options(options))

    def report(self, exc: BaseException, **options: Any) -> str | None:
        """Send exc to medic; return the task id, None when not sent (logged and spooled instead).

        ``options`` are `event_from_exception`'s, over the reporter's defaults (``service`` too).
        Marks exc as reported (`was_reported`), sent or not.
        """
        check_option_names(options, CALL_OPTIONS, "report")
        event = event_from_exception(exc, **self._options(options))
        task_id = send_event(self.app, event, spool=self.spool)
        mark_reported(exc)
        return task_id

    def guard(self, func: Any = None, /, *, reraise: bool = True, **options: Any) -> Any:
        """Report an exception that escapes a function or a block: `@reporter.guard(...)` or `with reporter.guard(...)`.

        See `medic_client.guard.Guard`; ``@reporter.guard`` without parentheses works too.
        """
        from medic_client.guard import Guard

        guard = Guard(self, reraise=reraise, **options)
        return guard if func is None else guard(func)

    def close(self) -> None:
        """Release the broker connections of the app the reporter built (an app passed in is the caller's)."""
        if self._owns_app:
            self.app.close()

    def _options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return {"service": self.service, **merged_options(self.defaults, options)}
