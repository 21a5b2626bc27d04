"""medic's Redis transport (workers/broker_redis.py) on a real Redis: a fetch whose reply its
consumer never read (killed, or at its prefetch limit) leaves the message recorded as
unacknowledged, so it comes back after the visibility timeout; kombu's BRPOP loses it. And the
rest of kombu's consumer contract holds: ack, requeue, a clean close, reply queues without acks,
priorities, and an idle consumer that still gets a message promptly."""

from __future__ import annotations

import time

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from tests.support import consuming
from tests.support.private_redis import PrivateRedis
from workers import broker_redis

pytestmark = pytest.mark.integration

TRANSPORT = "workers.broker_redis:Transport"
QUEUE = Queue("medic-redis-test", Exchange("medic-redis-test"), routing_key="medic-redis-test")
VISIBILITY_TIMEOUT_S = 1


def connect(url: str, transport: str | None = TRANSPORT) -> Connection:
    return Connection(url, transport=transport,
                      transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S, "unacked_restore_throttle": 1})


def publish(url: str, *numbers: int, **options) -> None:
    with Connection(url) as conn, conn.Producer() as producer:  # an app on kombu's own transport
        for n in numbers:
            producer.publish({"n": n}, exchange=QUEUE.exchange, routing_key=QUEUE.routing_key, declare=[QUEUE],
                             serializer="json", **options)


def receive(conn: Connection, count: int, **options) -> list:
    return consuming.receive(conn, QUEUE, count, **options)


def fetch_and_die(url: str, transport: str | None) -> None:
    """A consumer sends its fetch and is killed before it reads the reply."""
    conn = connect(url, transport)
    channel = conn.default_channel
    QUEUE(channel).declare()
    channel.basic_consume(QUEUE.name, False, lambda message: None, "doomed")
    conn.transport.cycle._register_BRPOP(channel)  # sends the fetch
    time.sleep(0.2)  # the reply is in the socket, unread
    channel.client.connection.disconnect()


@pytest.mark.parametrize("transport, kept", [(None, False), (TRANSPORT, True)], ids=["kombu", "medic"])
def test_a_message_fetched_by_a_consumer_killed_before_reading_the_reply(redis_url, transport, kept):
    publish(redis_url, 1)
    fetch_and_die(redis_url, transport)
    assert redis.Redis.from_url(redis_url).llen(QUEUE.name) == 0  # it left the queue either way
    time.sleep(VISIBILITY_TIMEOUT_S + 0.1)
    with connect(redis_url) as conn:
        again = receive(conn, 1, timeout_s=3)
    assert [m.payload for m in again] == ([{"n": 1}] if kept else [])
    for message in again:
        message.ack()


def test_acknowledged_messages_leave_no_trace_and_held_ones_come_back_after_the_visibility_timeout(redis_url):
    publish(redis_url, 1, 2)
    store = redis.Redis.from_url(redis_url)
    held = connect(redis_url)
    first, second = receive(held, 2)
    assert sorted(m.payload["n"] for m in (first, second)) == [1, 2]
    first.ack()
    assert store.hlen("unacked") == 1 and store.zcard("unacked_index") == 1
    # the holder dies without acknowledging `second`
    time.sleep(VISIBILITY_TIMEOUT_S + 0.1)
    with connect(redis_url) as other:
        [again] = receive(other, 1)
        assert again.payload == second.payload and again.delivery_info["redelivered"]
        again.ack()
    assert store.hlen("unacked") == 0 and store.zcard("unacked_index") == 0
    del held


def test_a_requeued_message_and_a_clean_close_give_messages_back_at_once(redis_url):
    publish(redis_url, 1, 2)
    with connect(redis_url) as conn:
        [first] = receive(conn, 1)
        first.requeue()
        assert sorted(m.payload["n"] for m in receive(conn, 2)) == [1, 2]  # unacked; the close gives them back
    with connect(redis_url) as conn:
        messages = receive(conn, 2)
        assert sorted(m.payload["n"] for m in messages) == [1, 2]
        for message in messages:
            message.ack()
    assert redis.Redis.from_url(redis_url).hlen("unacked") == 0


def test_a_queue_consumed_without_acknowledgements_records_nothing(redis_url):
    publish(redis_url, 1)
    with connect(redis_url) as conn:
        [message] = receive(conn, 1, no_ack=True)
    assert message.payload == {"n": 1}
    assert redis.Redis.from_url(redis_url).hlen("unacked") == 0


def test_priorities_and_foreign_junk(redis_url):
    publish(redis_url, 1, priority=0)
    publish(redis_url, 2, priority=9)
    store = redis.Redis.from_url(redis_url)
    with connect(redis_url) as conn:
        messages = receive(conn, 2)
        assert [m.payload["n"] for m in messages] == [1, 2]  # kombu's order: lower step first
        for message in messages:
            message.ack()
    assert store.hlen("unacked") == 0
    store.lpush(QUEUE.name, b"\xff not kombu's json")  # popped unrecorded, as BRPOP would; kombu then fails on it
    with connect(redis_url) as conn, pytest.raises(ValueError):
        receive(conn, 1, timeout_s=1)
    assert store.llen(QUEUE.name) == 0 and store.hlen("unacked") == 0


def test_an_idle_consumer_pauses_between_fetches_and_gets_a_message_within_the_longest_pause(redis_url):
    with connect(redis_url) as conn:
        channel = conn.default_channel
        QUEUE(channel).declare()
        channel.basic_consume(QUEUE.name, False, lambda message: None, "idle")
        conn.transport.cycle._register_BRPOP(channel)
        with pytest.raises(kombu_redis.Empty):
            channel._brpop_read()
        assert channel._fetch_pause_s == broker_redis.FETCH_PAUSE_MAX_S  # no message yet: the longest
    with connect(redis_url) as conn:
        started = time.monotonic()
        publish(redis_url, 5)
        [message] = receive(conn, 1)
        message.ack()
        assert time.monotonic() - started < 1


def test_a_channel_closed_after_its_connection_was_collected_keeps_what_it_held(redis_url):
    publish(redis_url, 3)
    conn = connect(redis_url)
    [held] = receive(conn, 1)
    channel = conn.default_channel
    conn.transport.client = None  # what Celery's collect() leaves when the broker went away
    channel.close()  # kombu: AttributeError from its restore, and the worker stopped
    store = redis.Redis.from_url(redis_url)
    assert store.hlen("unacked") == 1
    time.sleep(VISIBILITY_TIMEOUT_S + 0.1)
    with connect(redis_url) as other:
        [again] = receive(other, 1)
        assert again.payload == held.payload
        again.ack()


@pytest.fixture
def full_redis():
    """A private Redis (this one fills up: the shared one must not) and a switch for refusing writes."""
    server = PrivateRedis(aof=False)
    server.start()
    server.client().config_set("maxmemory-policy", "noeviction")

    def refuse_writes(refuse: bool) -> None:
        server.client().config_set("maxmemory", 1 if refuse else 0)

    try:
        yield server, refuse_writes
    finally:
        server.destroy()


def test_a_requeue_refused_by_a_full_redis_leaves_the_message_recorded(full_redis):
    server, refuse_writes = full_redis
    publish(server.url, 4)
    with connect(server.url) as conn:
        [message] = receive(conn, 1)
        refuse_writes(True)
        message.requeue()  # refused (OOM): kombu raised, and Celery stopped the worker
        refuse_writes(False)
        assert server.client().hlen("unacked") == 1
        time.sleep(VISIBILITY_TIMEOUT_S + 0.1)
        [again] = receive(conn, 1)
        assert again.payload == {"n": 4}
        again.ack()


def test_a_fetch_on_a_full_redis_still_records_what_it_pops(full_redis):
    server, refuse_writes = full_redis
    publish(server.url, 6)
    refuse_writes(True)
    with connect(server.url) as conn:
        [message] = receive(conn, 1, declare=False)  # kombu's pop worked, its record was refused: lost
        assert server.client().hlen("unacked") == 1
        refuse_writes(False)
        message.ack()
    assert server.client().hlen("unacked") == 0
