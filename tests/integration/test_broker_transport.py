"""medic's embedded broker transport against kombu's consumer contract, on a real SQLite file:
acknowledged rows are deleted, a requeue or a clean close makes a row visible again (no copy), and
a row held past the visibility timeout by a consumer that is gone is delivered again."""

from __future__ import annotations

import sqlite3
import time

import pytest
from kombu import Connection, Exchange, Queue

from config.urls import register_medic_transport
from tests.support import consuming
from workers import broker_transport

pytestmark = pytest.mark.integration

QUEUE = Queue("medic-transport-test", Exchange("medic-transport-test"), routing_key="medic-transport-test")


@pytest.fixture
def broker(tmp_path, monkeypatch):
    register_medic_transport()
    monkeypatch.setattr(broker_transport.Channel, "visibility_timeout_s", 1.0)
    path = tmp_path / "broker.sqlite"
    return path


def publish(url: str, *numbers: int) -> None:
    with Connection(url) as conn, conn.Producer() as producer:
        for n in numbers:
            producer.publish({"n": n}, exchange=QUEUE.exchange, routing_key=QUEUE.routing_key, declare=[QUEUE],
                             serializer="json")


def receive(conn: Connection, count: int, **options) -> list:
    return consuming.receive(conn, QUEUE, count, **options)


def rows(path) -> list[tuple[int, int]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, visible FROM kombu_message ORDER BY id").fetchall()


def test_an_acknowledged_message_is_deleted_and_an_unacknowledged_one_stays_held(broker):
    url = f"medic+sqlite:///{broker}"
    publish(f"sqla+sqlite:///{broker}", 1, 2)  # an app publishing with kombu's own transport
    with Connection(url) as conn:
        first, second = receive(conn, 2)
        assert sorted(m.payload["n"] for m in (first, second)) == [1, 2]
        first.ack()
        assert [visible for _, visible in rows(broker)] == [0]  # acked: gone; the other held, invisible
        second.ack()
    assert rows(broker) == []  # the file does not keep delivered rows


def test_a_message_held_by_a_consumer_that_died_is_delivered_again_after_the_visibility_timeout(broker):
    url = f"medic+sqlite:///{broker}"
    publish(url, 7)
    held = Connection(url)
    [message] = receive(held, 1)
    # the consumer "dies": its connection is never closed cleanly, nothing is acknowledged
    with Connection(url) as other:
        assert receive(other, 1, timeout_s=0.5) == []  # not before the timeout
        time.sleep(1.1)
        [again] = receive(other, 1)
        assert again.payload == {"n": 7}
        again.ack()
    assert rows(broker) == []
    del message, held


def test_a_requeue_or_a_clean_close_makes_the_row_visible_again_without_a_copy(broker):
    url = f"medic+sqlite:///{broker}"
    publish(url, 1, 2)
    with Connection(url) as conn:
        first, second = receive(conn, 2)
        first.reject(requeue=True)
        second.reject(requeue=False)
        assert [visible for _, visible in rows(broker)] == [1]  # requeued: visible; rejected: deleted
        [again] = receive(conn, 1)
        assert again.payload == first.payload
    # closed cleanly with `again` unacknowledged: visible again, still one row
    assert [visible for _, visible in rows(broker)] == [1]
