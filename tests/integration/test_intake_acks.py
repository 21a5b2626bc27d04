"""A stored batch's messages acknowledged together, against kombu's Redis transport on a real Redis:
they leave the unacked records in one pipeline, are never delivered again, and any message the
batch does not name stays unacknowledged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from workers.intake.acks import acknowledge_all

pytestmark = pytest.mark.integration

QUEUE = Queue("medic-acks-test", Exchange("medic-acks-test"), routing_key="medic-acks-test")


@dataclass
class Held:
    message: Any
    alone: list[Any]

    def acknowledge(self, connection_errors: tuple) -> None:
        self.alone.append(self.message)
        self.message.ack_log_error(logging.getLogger("test"), connection_errors)


def receive(connection: Connection, count: int) -> list[Any]:
    received: list[Any] = []
    with connection.Consumer(QUEUE, callbacks=[lambda body, message: received.append(message)],
                             prefetch_count=count, accept=["json"]):
        while len(received) < count:
            connection.drain_events(timeout=5)
    return received


@pytest.fixture
def connection(redis_url):
    with Connection(redis_url) as conn:
        with conn.Producer() as producer:
            for n in range(5):
                producer.publish({"n": n}, exchange=QUEUE.exchange, routing_key=QUEUE.routing_key,
                                 declare=[QUEUE], serializer="json")
        yield conn


def test_messages_of_a_batch_leave_the_unacked_records_in_one_round_trip(connection, redis_url, monkeypatch):
    client = redis.Redis.from_url(redis_url)
    messages = receive(connection, 5)
    assert client.hlen("unacked") == 5
    qos = messages[0].channel.qos
    pipelines = []
    execute = redis.client.Pipeline.execute
    monkeypatch.setattr(redis.client.Pipeline, "execute",
                        lambda self, *a, **k: pipelines.append(len(self.command_stack)) or execute(self, *a, **k))
    alone: list[Any] = []
    acknowledge_all([Held(m, alone) for m in messages[:3]], connection.connection_errors)
    assert (pipelines, alone) == ([6], [])  # one round trip: ZREM and HDEL for each of the 3
    assert all(m.acknowledged for m in messages[:3]) and not any(m.acknowledged for m in messages[3:])
    assert client.hlen("unacked") == 2 and client.zcard("unacked_index") == 2
    assert len(qos._delivered) - len(qos._dirty) == 2  # the prefetch window counts the 2 still held
    monkeypatch.undo()

    # the two not named stay unacknowledged: restored when their consumer goes, delivered again
    connection.default_channel.qos.restore_unacked_once()
    with Connection(redis_url) as again:
        redelivered = receive(again, 2)
        assert sorted(m.payload["n"] for m in redelivered) == [3, 4]
        for message in redelivered:
            message.ack()


def test_an_unreachable_redis_leaves_the_messages_to_come_again(connection, redis_url, monkeypatch, caplog):
    client = redis.Redis.from_url(redis_url)
    messages = receive(connection, 5)

    def refuse(self):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(redis.client.Pipeline, "execute", refuse)
    acknowledge_all([Held(m, []) for m in messages], connection.connection_errors)
    monkeypatch.undo()
    assert not any(m.acknowledged for m in messages)
    assert client.hlen("unacked") == 5
    assert "could not acknowledge 5 messages" in caplog.text
    acknowledge_all([Held(m, []) for m in messages], connection.connection_errors)
    assert client.hlen("unacked") == 0


def test_other_transports_acknowledge_each_message_as_celery_does():
    with Connection("memory://") as conn:
        with conn.Producer() as producer:
            producer.publish({"n": 1}, exchange=QUEUE.exchange, routing_key=QUEUE.routing_key, declare=[QUEUE],
                             serializer="json")
        [message] = receive(conn, 1)
        alone: list[Any] = []
        acknowledge_all([Held(message, alone)], conn.connection_errors)
        assert alone == [message] and message.acknowledged
