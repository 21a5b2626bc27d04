"""Acknowledging a stored batch's messages together.

kombu's Redis transport acknowledges each message with a round trip of its own (a MULTI/EXEC
pipeline that removes it from the unacked hash and index). For a batch of 100 that was 100 round
trips in the worker's consumer, about a quarter of the consumer's time per event (profiled with
py-spy under `benchmarks.intake_live`). Here the messages of one channel on that transport leave
its unacked records in one pipeline, then are marked acknowledged in kombu's own bookkeeping, as
its `QoS.ack` does after its pipeline. medic's embedded broker deletes a batch's rows in one
statement (workers/broker_transport.py). On any other transport (RabbitMQ's ack is one frame with
no reply) each message is acknowledged as before.

The parts of kombu this relies on are checked before use (`_bulk_qos`); tests run them against a
real Redis (tests/integration/test_intake_acks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import QoS as VirtualQoS

from workers import broker_transport

log = logging.getLogger("medic.intake")

ACKNOWLEDGED = "ACK"  # kombu.message.Message's state once acknowledged


class Held(Protocol):
    """A message held by the consumer, with the way Celery acknowledges it alone."""

    message: Any

    def acknowledge(self, connection_errors: tuple) -> None: ...


def acknowledge_all(held: Sequence[Held], connection_errors: tuple) -> None:
    """Acknowledge every held message; a broker that cannot be reached is logged (they come again), as
    Celery does."""
    by_channel: dict[int, list[Any]] = {}
    embedded: dict[int, list[Any]] = {}
    for one in held:
        if _embedded_channel(one.message) is not None:
            embedded.setdefault(id(one.message.channel), []).append(one.message)
        elif _bulk_qos(one.message) is None:
            one.acknowledge(connection_errors)
        else:
            by_channel.setdefault(id(one.message.channel), []).append(one.message)
    for same_channel in embedded.values():
        _acknowledge_embedded(same_channel, connection_errors)
    for same_channel in by_channel.values():
        qos = same_channel[0].channel.qos
        try:
            with qos.pipe_or_acquire() as pipe:
                for message in same_channel:
                    qos._remove_from_indices(message.delivery_tag, pipe)
                pipe.execute()
        except (*connection_errors, kombu_redis.redis.RedisError) as exc:
            log.critical("could not acknowledge %d messages; they will be delivered again: %r",
                         len(same_channel), exc)
            continue
        for message in same_channel:
            VirtualQoS.ack(qos, message.delivery_tag)
            message._state = ACKNOWLEDGED


def _acknowledge_embedded(messages: list[Any], connection_errors: tuple) -> None:
    """medic's embedded broker deletes an acknowledged message's row: a batch's rows in one statement."""
    channel = messages[0].channel
    try:
        channel.delete_rows([message.properties[broker_transport.ROW_PROPERTY] for message in messages])
    except connection_errors as exc:
        log.critical("could not acknowledge %d messages; they will be delivered again: %r", len(messages), exc)
        return
    for message in messages:
        VirtualQoS.ack(channel.qos, message.delivery_tag)
        message._state = ACKNOWLEDGED


def _embedded_channel(message: Any) -> Any:
    channel = getattr(message, "channel", None)
    if not isinstance(channel, broker_transport.Channel) or getattr(message, "_state", None) != "RECEIVED":
        return None
    return channel if broker_transport.ROW_PROPERTY in (getattr(message, "properties", None) or {}) else None


def _bulk_qos(message: Any) -> Any:
    """The message's channel's Redis QoS when it can be acknowledged with others, else None."""
    channel = getattr(message, "channel", None)
    qos = getattr(channel, "qos", None)
    if not isinstance(qos, kombu_redis.QoS) or getattr(channel, "no_ack_consumers", None):
        return None
    if not all(hasattr(qos, name) for name in ("pipe_or_acquire", "_remove_from_indices")):
        return None
    if getattr(message, "_state", None) != "RECEIVED":
        return None
    return qos
