"""Chaos: the Redis broker is killed (SIGKILL) and restarted mid-intake, with and without its append-only file.

A private redis-server (tests/support/private_redis.py) is medic's broker; a real `medic worker` drains
`medic.errors` into a fresh PostgreSQL database while a producer (a plain Celery client) streams events,
each with its own task id and a numbered message. Halfway the producer is held for a moment, what Redis
holds is read (the queue, and the unacknowledged messages the worker has taken), the server is killed,
the producer is let go (its next publishes meet a dead broker and retry), and the server is started
again on the same port and directory. An event is "confirmed" when its publish returned without error.

- With AOF (`appendfsync always`): every confirmed event is stored exactly once; none lost, none doubled.
- Without persistence: Redis forgets what it held. Every event medic had stored before the kill is still
  stored, none is doubled, and every lost event was confirmed before the kill and was in Redis at the
  kill (queued or taken by the worker, unacknowledged): nothing confirmed after the restart is lost.

In both cases the worker must reconnect and go on. Each case prints a one-line summary of its counts.

Found with this test (celery 5.7.0, kombu 5.7.0): the worker can exit instead ("Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'"). On a connection loss Celery's consumer
collects the connection, whose channel close fails on the dead socket of its pending BRPOP (the
channel stays open) and which then drops the transport's client; Celery then closes the connection
again, the same channel's close now gets as far as restoring the messages the worker holds
unacknowledged, and building a Redis client without the transport's client raises AttributeError,
which is no connection error: it ends the consumer, and the worker with it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import pytest
from celery import Celery

from tests.support import services
from tests.support.private_redis import PrivateRedis
from tests.support.services import medic_env, start_worker, wait_for

pytestmark = pytest.mark.integration

TOTAL_EVENTS = 600
PUBLISH_PACE_S = 0.003  # about 250 events/s at most: faster than the worker drains at first, a backlog builds
KILL_AFTER_SENT = 250  # the kill comes once this many were sent and some were stored
KILL_AFTER_STORED = 20
VISIBILITY_TIMEOUT_S = 10  # medic's minimum: a message the worker took and never acknowledged comes back after it
# kombu's retries of one publish: about 1.5 s in all, longer than the restart takes.
RETRY_POLICY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}
QUEUE = "medic.errors"
MESSAGE = re.compile(r"^chaos event (\d+) of (\w+)$")


def chaos_event(n: int, run: str) -> dict:
    return {"error_type": "psycopg.errors.DeadlockDetected", "message": f"chaos event {n} of {run}",
            "service": "orders-db", "operation": "settle", "code": "40P01"}


class Stream(threading.Thread):
    """Publishes TOTAL_EVENTS events, one at a time, each under `publishing` (the test holds it to
    freeze the producer between two publishes). Records when each publish returned or why it raised."""

    def __init__(self, broker_url: str, run: str):
        super().__init__(name="chaos-producer", daemon=True)
        self.run_tag = run
        self.app = Celery("chaos-producer", broker=broker_url)
        self.app.conf.update(task_serializer="json", accept_content=["json"],
                             broker_connection_retry_on_startup=True)
        self.task_ids = [str(uuid.uuid4()) for _ in range(TOTAL_EVENTS)]
        self.publishing = threading.Lock()
        self.confirmed_at: dict[int, float] = {}  # event -> time.monotonic() its publish returned
        self.failed: dict[int, str] = {}
        self.sent = 0

    def run(self) -> None:
        for n in range(TOTAL_EVENTS):
            with self.publishing:
                try:
                    self.app.send_task("medic.report", args=[chaos_event(n, self.run_tag)], queue=QUEUE,
                                       task_id=self.task_ids[n], retry=True, retry_policy=RETRY_POLICY)
                    self.confirmed_at[n] = time.monotonic()
                except Exception as exc:  # not confirmed: the app would log it, spool it or try later
                    self.failed[n] = f"{type(exc).__name__}: {exc}"
                self.sent = n + 1
            time.sleep(PUBLISH_PACE_S)

    def event_of(self) -> dict[str, int]:
        return {task_id: n for n, task_id in enumerate(self.task_ids)}


@dataclass
class AtKill:
    """What the broker held the moment it was killed (the producer frozen): task ids."""
    queued: set[str] = field(default_factory=set)
    unacked: set[str] = field(default_factory=set)
    stored: set[int] = field(default_factory=set)  # events medic had stored (PostgreSQL) just before


def task_id_of(raw: bytes) -> str:
    message = json.loads(raw)
    if isinstance(message, list):  # an unacked record: [message, exchange, routing key]
        message = message[0]
    headers = message.get("headers") or {}
    if "id" in headers:
        return headers["id"]
    return json.loads(base64.b64decode(message["body"]))["id"]  # task protocol 1


def queue_keys(client) -> list[bytes]:
    """The intake queue's lists (kombu keeps one per priority step: `medic.errors`, `medic.errors\\x06\\x163`…)."""
    return [key for key in client.scan_iter(match=f"{QUEUE}*") if client.type(key) == b"list"]


def broker_holds(broker: PrivateRedis) -> tuple[set[str], set[str]]:
    client = broker.client()
    queued = {task_id_of(raw) for key in queue_keys(client) for raw in client.lrange(key, 0, -1)}
    unacked = {task_id_of(raw) for raw in client.hvals("unacked")}
    return queued, unacked


def broker_idle(broker: PrivateRedis) -> bool:
    client = broker.client()
    return sum(client.llen(key) for key in queue_keys(client)) == 0 and client.hlen("unacked") == 0


def stored_events(database: str, run: str) -> Counter[int]:
    """Stored occurrences per event number (more than 1: a duplicate)."""
    with psycopg.connect(f"host={services.PG_HOST} port={services.PG_PORT} user={services.PG_USER} "
                         f"dbname={database}") as conn:
        messages = [row[0] for row in conn.execute("SELECT message FROM occurrences")]
    counts: Counter[int] = Counter()
    for message in messages:
        match = MESSAGE.match(message)
        assert match and match.group(2) == run, f"an occurrence this test did not send: {message!r}"
        counts[int(match.group(1))] += 1
    return counts


def wait_quiet(database: str, run: str, *, quiet_s: float, timeout_s: float) -> Counter[int]:
    """The stored events once their number has not changed for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last, since = stored_events(database, run), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, f"occurrences still changing after {timeout_s}s"
        time.sleep(0.2)
        now = stored_events(database, run)
        if now != last:
            last, since = now, time.monotonic()
    return last


def log_lines(output: str, event: str) -> list[dict]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{") and f'"{event}' in line:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event", "").startswith(event):
                lines.append(entry)
    return lines


@pytest.fixture(params=[True, False], ids=["aof", "no-persistence"])
def broker(request):
    server = PrivateRedis(aof=request.param)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def test_broker_killed_and_restarted_mid_intake(broker, pg_database, tmp_path):
    started_s = time.monotonic()
    case = "aof" if broker.aof else "no-persistence"
    run = uuid.uuid4().hex[:8]
    env = medic_env(database_url=services.pg_url(pg_database), broker_url=broker.url,
                    broker_visibility_timeout_s=VISIBILITY_TIMEOUT_S, data_dir=tmp_path / "data")
    worker = start_worker(env, tmp_path / "worker.log")
    stream = Stream(broker.url, run)
    at_kill = AtKill()
    waited = "done"
    try:
        stream.start()
        wait_for(lambda: stream.sent >= KILL_AFTER_SENT and sum(stored_events(pg_database, run).values())
                 >= KILL_AFTER_STORED, timeout_s=30, what=f"{KILL_AFTER_SENT} sent, {KILL_AFTER_STORED} stored")

        with stream.publishing:  # no publish in flight: what Redis holds now is all it can lose
            at_kill.queued, at_kill.unacked = broker_holds(broker)
            at_kill.stored = set(stored_events(pg_database, run))
            broker.kill()
            killed_at, sent_at_kill = time.monotonic(), stream.sent
        broker.start()  # the producer's publishes meanwhile meet a dead broker and retry
        restarted_at = time.monotonic()
        assert sent_at_kill < TOTAL_EVENTS, "the stream ended before the broker was killed"

        stream.join(timeout=60)
        assert not stream.is_alive(), "the producer did not finish"
        confirmed = set(stream.confirmed_at)
        after_restart = {n for n, at in stream.confirmed_at.items() if at > restarted_at}
        must_store = confirmed if broker.aof else after_restart | at_kill.stored

        def done() -> bool:
            """Every event that must be stored is, and the broker holds nothing (a message the worker took
            and never acknowledged comes back after the visibility timeout); or the worker is gone."""
            if worker.proc.poll() is not None:
                return True
            return must_store <= set(stored_events(pg_database, run)) and broker_idle(broker)

        try:
            wait_for(done, timeout_s=VISIBILITY_TIMEOUT_S + 30, what="intake to store what it must, the broker idle")
        except AssertionError as exc:
            waited = str(exc)
        if waited == "done" and worker.proc.poll() is None:
            stored = wait_quiet(pg_database, run, quiet_s=2, timeout_s=20)
        else:
            stored = stored_events(pg_database, run)
    finally:
        stream.app.close()
        exit_code = worker.proc.poll()
        output = worker.output()
        worker.terminate()

    event_of = stream.event_of()
    queued_at_kill = {event_of[t] for t in at_kill.queued if t in event_of}
    unacked_at_kill = {event_of[t] for t in at_kill.unacked if t in event_of}
    once = {n for n, count in stored.items() if count == 1}
    duplicated = {n for n, count in stored.items() if count > 1}
    lost = confirmed - set(stored)
    unconfirmed_stored = set(stream.failed) & set(stored)
    deduplicated = sum(entry.get("duplicate", 0) for entry in log_lines(output, "batch stored"))
    crashes = log_lines(output, "Unrecoverable error")
    print(f"\nchaos broker restart [{case}]: sent {TOTAL_EVENTS}, confirmed {len(confirmed)} "
          f"(not confirmed {len(stream.failed)}, of them stored {len(unconfirmed_stored)}), "
          f"stored exactly once {len(once)}, duplicated {len(duplicated)}, "
          f"{'lost' if exit_code is None else 'not stored (the worker died)'} {len(lost)} "
          f"(of them queued at the kill {len(lost & queued_at_kill)}, taken by the worker unacknowledged "
          f"{len(lost & unacked_at_kill)}); at the kill: sent {sent_at_kill}, stored {len(at_kill.stored)}, "
          f"queued {len(at_kill.queued)}, unacked {len(at_kill.unacked)}; redeliveries deduplicated {deduplicated}; "
          f"worker {'alive' if exit_code is None else f'exited {exit_code}'}; {time.monotonic() - started_s:.1f} s")
    if stream.failed:
        print(f"publish errors (first 3): {sorted(stream.failed.items())[:3]}")

    assert exit_code is None, (
        f"the worker died with the broker's restart (exit {exit_code}): "
        + "; ".join(f"{c['event']} {c.get('exc', '').strip().splitlines()[-1:]}" for c in crashes)
        + f"\n{output[-3000:]}")
    assert not crashes, f"the worker's consumer crashed: {crashes[0]['event']}\n{crashes[0].get('exc', '')[-3000:]}"
    assert waited == "done", f"{waited}: {len(lost)} of {len(must_store)} still not stored"
    assert "Connection to broker lost" in output, "the worker never noticed the broker going away"
    assert broker.starts == 2
    assert not duplicated, f"events stored more than once: {sorted(duplicated)[:20]}"
    assert at_kill.stored <= set(stored), f"stored before the kill, gone after: {sorted(at_kill.stored - set(stored))}"
    if broker.aof:
        assert not lost, (f"{len(lost)} confirmed events lost with AOF (queued at the kill: "
                          f"{sorted(lost & queued_at_kill)[:20]}, unacked: {sorted(lost & unacked_at_kill)[:20]}, "
                          f"neither: {sorted(lost - queued_at_kill - unacked_at_kill)[:20]})")
    else:
        assert len(lost) <= len(at_kill.queued) + len(at_kill.unacked)
        assert lost <= queued_at_kill | unacked_at_kill, \
            f"lost events Redis did not hold at the kill: {sorted(lost - queued_at_kill - unacked_at_kill)[:20]}"
        assert all(stream.confirmed_at[n] < killed_at for n in lost)
