"""Messages waiting in medic's queues, read from the broker with a passive queue declaration.

A passive declaration returns the queue's message count on every transport medic supports
(Redis, RabbitMQ, kombu's SQLAlchemy transport) and never creates a queue on the first two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kombu import Connection
from kombu.exceptions import ChannelError, OperationalError

from config.queues import QUEUES
from config.urls import is_redis_url, is_sqlite_broker_url
from workers.masking import mask_text

NOT_FOUND = "404"  # the reply code of a passive declaration of a queue that does not exist


@dataclass(frozen=True)
class QueueDepths:
    depths: dict[str, int | None]  # None: the broker could not be read
    problem: str | None = None


def queue_depths(broker_url: str, *, timeout_s: float, queues: Iterable[str] = QUEUES) -> QueueDepths:
    """Each queue's waiting messages; a broker that cannot be reached gives None depths and the problem."""
    names = list(queues)
    connection = Connection(broker_url, connect_timeout=timeout_s,
                            transport_options=transport_options(broker_url, timeout_s))
    failures = (OSError, OperationalError, *connection.connection_errors, *connection.channel_errors)
    try:
        with connection:
            connection.ensure_connection(max_retries=0, timeout=timeout_s)
            return QueueDepths({name: _depth(connection, name) for name in names})
    except failures as exc:
        # The first line: SQLAlchemy adds one of "Background on this error".
        detail = (str(exc).splitlines() or [""])[0]
        problem = f"broker {mask_text(broker_url)} unreachable: {type(exc).__name__}: {mask_text(detail)}"
        return QueueDepths(dict.fromkeys(names), problem)


def transport_options(broker_url: str, timeout_s: float) -> dict[str, Any]:
    """Short timeouts: a snapshot must not hang on a broker that does not answer."""
    if is_redis_url(broker_url):
        return {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    if is_sqlite_broker_url(broker_url):
        return {"connect_args": {"timeout": timeout_s}}
    return {}


def _depth(connection: Connection, name: str) -> int:
    # RabbitMQ closes a channel whose passive declaration failed: one channel per queue.
    with connection.channel() as channel:
        try:
            return channel.queue_declare(queue=name, passive=True).message_count
        except ChannelError as exc:
            if str(getattr(exc, "code", "")) == NOT_FOUND or "NOT_FOUND" in str(exc):
                return 0  # Redis has no key for an empty queue; RabbitMQ: nobody declared it yet
            raise
