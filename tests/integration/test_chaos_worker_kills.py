"""Chaos: medic's worker SIGKILLed again and again (its whole process group: the main process and its pool)
while work flows through it. Real processes, real brokers, nothing mocked.

- Intake, on Redis and on RabbitMQ: a producer streams events, each with an idempotency key of its own, at a
  steady rate while an intake worker is killed every few seconds, caught up with the stream or draining a
  backlog, and a new one started; a last worker then drains. Every event whose publish returned is stored
  exactly once. On Redis this holds with medic's transport (workers/broker_redis.py), whose fetch pops a
  message and records it as unacknowledged in one step: kombu's BRPOP popped it first, and a worker killed
  with the reply in its socket lost it (3 to 8 of 1,500 here, before).
- Recovery: 1,000 events with Celery replays that succeed, while medic's worker (not the test app, not beat)
  is killed every few seconds for a minute. Every execution ends and every key's effect happens; a replay may
  run twice (at least once, with an idempotency key): the duplicate rate is measured and bounded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
import redis
from kombu import Connection
from kombu.exceptions import ChannelError

from tests.integration.conftest import BROKERS
from tests.support import recovery, services
from tests.support.recovery import SERVICE, celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import Process, medic_command, medic_env

pytestmark = pytest.mark.integration

T = TypeVar("T")

# Every third kill leaves no worker starting ahead: the next one starts cold, the stream queues meanwhile, and
# it is killed this long after it is ready (kill_every).
COLD_ALIVE_S = 0.5

# Intake: 1,500 events at 50/s (30 s) while a worker is killed every 3 s or so for 30 s (see kill_every). A kill
# finds it caught up when at most what the last quarter second brought is waiting in the queue (a consumer
# that polls, or waits for a batch to fill, leaves a few there): it keeps pace and waits for the next message.
# Otherwise it is still draining what queued while it started.
INTAKE_EVENTS = 1_500
INTAKE_RATE_PER_S = 50
INTAKE_CHAOS_S = 30
INTAKE_KILL_EVERY_S = 3
CAUGHT_UP_MAX_WAITING = INTAKE_RATE_PER_S // 4
INTAKE_VISIBILITY_TIMEOUT_S = 10  # medic's least
# After the chaos: done when everything confirmed is stored, or nothing more was stored for this long
# (well past the visibility timeout: a message a dead worker held is back by then).
# On a slow shared machine the last worker drains the backlog the kills left for minutes, so the ceiling is wide:
# the wait ends as soon as everything is stored.
DRAIN_QUIET_S = 3 * INTAKE_VISIBILITY_TIMEOUT_S
DRAIN_TIMEOUT_S = 180

# Recovery: 1,000 events sent over 45 s while medic's worker is killed every 5 s or so (see kill_every) for a minute.
REPLAY_EVENTS = 1_000
REPLAY_SEND_S = 45
REPLAY_CHAOS_S = 60
REPLAY_KILL_EVERY_S = 5
REPLAY_VISIBILITY_TIMEOUT_S = 10
# An attempt whose callback has not come back by then is tried again (a replay run twice). Callbacks wait in
# the queue while the worker is dead or starting: the tests' usual 13 s would time out hundreds of attempts
# that are only late, and the duplicates would measure the machine's load, not what the kills lose.
REPLAY_ATTEMPT_TIMEOUT_S = 30
# Then every execution ends, or nothing more ends for longer than an attempt's timeout and a redelivery.
REPLAY_END_TIMEOUT_S = 240  # wide for a slow machine; it ends as soon as every execution has
REPLAY_QUIET_S = REPLAY_ATTEMPT_TIMEOUT_S + 10
MAX_DUPLICATE_RATE = 0.05
# The chaos, then the widest wait for what is still coming, with room to report.
CHAOS_TEST_TIMEOUT_S = 480


# --- helpers ------------------------------------------------------------------------------------

class StreamProducer(threading.Thread):
    """Sends one message per key at a steady rate; remembers which publishes returned, and when."""

    def __init__(self, send: Callable[[str, int], object], keys: list[str], rate_per_s: float):
        super().__init__(name="chaos-producer", daemon=True)
        self.send, self.keys, self.rate_per_s = send, keys, rate_per_s
        self.sent_at: dict[str, float] = {}  # key: time.monotonic() when its publish returned
        self.failed: dict[str, str] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for n, key in enumerate(self.keys):
            pause_s = started + n / self.rate_per_s - time.monotonic()
            if pause_s > 0 and self.stop.wait(pause_s):
                return
            try:
                self.send(key, n)
            except Exception as exc:  # counted, not raised: a publish that did not return is not confirmed
                self.failed[key] = repr(exc)
            else:
                self.sent_at[key] = time.monotonic()

    def confirmed(self) -> int:
        return len(self.sent_at)

    def finish(self, timeout_s: float) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), f"the producer did not finish within {timeout_s}s"


@dataclass
class Kill:
    at: float  # time.monotonic()
    seen: dict = field(default_factory=dict)  # what the test looked at just before
    cold: bool = False  # it had started after the kill before, with nothing started ahead (still draining)


def kill_every(spawn: Callable[[], Process], interval_s: float, duration_s: float, *, begin: Callable[[], None],
               look: Callable[[], dict], cold_every: int = 3,
               cold_alive_s: float = COLD_ALIVE_S) -> tuple[list[Kill], Process]:
    """For about `duration_s`, SIGKILL the working worker every `interval_s`, its whole process group (main
    process and pool), and start another. A worker takes seconds to start (imports, mingle): the next one is
    started ahead, so it takes over at once and keeps pace with the stream. Except after every `cold_every`-th
    kill: then nothing is started ahead, the stream queues up while the next worker starts, and that one is
    killed `cold_alive_s` after it is ready, still draining. A worker not ready when its kill is due is waited
    for (a busy machine starts slower). `begin` is called when the first worker is ready, `look` before each
    kill. Returns the kills and the last worker, never killed (started, maybe not ready yet)."""
    working, starting = spawn(), spawn()
    working.wait_ready()
    begin()
    kills: list[Kill] = []
    started = time.monotonic()
    due, cold = started + interval_s, False
    while True:
        time.sleep(max(0.0, due - time.monotonic()))
        working.wait_ready()
        seen = look()
        working.kill()
        kills.append(Kill(time.monotonic(), seen, cold))
        if time.monotonic() + interval_s - started > duration_s:
            return kills, starting or spawn()
        cold = starting is None
        if cold:
            working = spawn()
            working.wait_ready()
            starting, due = spawn(), time.monotonic() + cold_alive_s
        else:
            working, due = starting, time.monotonic() + interval_s
            starting = None if len(kills) % cold_every == 0 else spawn()


def waiting(connection: Connection, queue: str) -> int:
    """Messages ready in the queue (not those a consumer holds), by a passive declaration. Redis has no key
    for an empty queue: not found is 0. (RabbitMQ closes a channel whose passive declaration failed.)"""
    with connection.channel() as channel:
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError as exc:
            if "NOT_FOUND" in str(exc) or str(getattr(exc, "code", "")) == "404":
                return 0
            raise


def stored_per_key(db_url: str, prefix: str) -> Counter:
    found = recovery.rows(db_url, "SELECT idempotency_key AS key, count(*) AS n FROM occurrences "
                                  "WHERE idempotency_key LIKE :prefix GROUP BY idempotency_key", prefix=f"{prefix}%")
    return Counter({r["key"]: r["n"] for r in found})


def intake_event(key: str, n: int) -> dict:
    return {"error_type": "psycopg.errors.DeadlockDetected", "message": f"deadlock detected: process {n} waits",
            "service": f"chaos-{n % 5}", "operation": "settle", "code": "40P01", "idempotency_key": key}


def settle(progress: Callable[[], T], done: Callable[[T], bool], *, quiet_s: float, timeout_s: float) -> T:
    """Wait until `done(progress())`, or progress has not moved for `quiet_s` (what is missing will not come),
    or `timeout_s`; returns the last progress."""
    last, moved_at = progress(), time.monotonic()
    deadline = moved_at + timeout_s
    while not done(last) and time.monotonic() - moved_at < quiet_s and time.monotonic() < deadline:
        time.sleep(0.5)
        now = progress()
        if now != last:
            last, moved_at = now, time.monotonic()
    return last


def nearest_kill(sent_at: float, kills: list[Kill]) -> str:
    after = [k for k in kills if k.at >= sent_at]
    if not after:
        return "after the last kill"
    index = kills.index(after[0]) + 1
    return f"{after[0].at - sent_at:.3f}s before kill {index} ({after[0].seen})"


# --- intake ---------------------------------------------------------------------------------------

@BROKERS
@pytest.mark.timeout(CHAOS_TEST_TIMEOUT_S)
def test_intake_under_repeated_sigkill_stores_every_confirmed_event_exactly_once(client, broker_url, pg_database,
                                                                                 tmp_path, request):
    broker = request.node.callspec.params["broker_url"]
    db_url = services.pg_url(pg_database)
    env = medic_env(database_url=db_url, broker_url=broker_url, data_dir=tmp_path / "data", log_level="INFO",
                    broker_visibility_timeout_s=INTAKE_VISIBILITY_TIMEOUT_S)
    prefix = f"chaos-{uuid.uuid4().hex[:8]}-"
    keys = [f"{prefix}{n}" for n in range(INTAKE_EVENTS)]
    producer = StreamProducer(
        lambda key, n: client.send_task("medic.report", args=[intake_event(key, n)], queue="medic.errors"),
        keys, INTAKE_RATE_PER_S)
    workers: list[Process] = []

    def spawn() -> Process:
        workers.append(Process(medic_command("worker", "--queues", "medic.errors", "--concurrency", "2",
                                             "--hostname", f"chaos-{len(workers) + 1}-{uuid.uuid4().hex[:4]}@%h"),
                               env, tmp_path / f"worker-{len(workers) + 1}.log"))
        return workers[-1]

    def look() -> dict:
        return {"waiting": waiting(connection, "medic.errors"),
                "behind": producer.confirmed() - sum(stored_per_key(db_url, prefix).values())}

    started = time.monotonic()
    connection = Connection(broker_url)
    try:
        kills, last = kill_every(spawn, INTAKE_KILL_EVERY_S, INTAKE_CHAOS_S, begin=producer.start, look=look)
        last.wait_ready()
        producer.finish(timeout_s=INTAKE_EVENTS / INTAKE_RATE_PER_S + 30)
        confirmed = set(producer.sent_at)
        settle(lambda: len(confirmed & set(stored_per_key(db_url, prefix))), lambda n: n == len(confirmed),
               quiet_s=DRAIN_QUIET_S, timeout_s=DRAIN_TIMEOUT_S)
        elapsed_s = time.monotonic() - started
        stored = stored_per_key(db_url, prefix)
        rejected = services.count_rows(db_url, "rejected_events")
    finally:
        producer.stop.set()
        connection.release()
        for process in workers:
            process.terminate(timeout_s=15)
        recovery.dispose_engines()

    once = sum(1 for key in confirmed if stored[key] == 1)
    duplicated = sorted(key for key in stored if stored[key] > 1)
    lost = sorted((key for key in confirmed if stored[key] == 0), key=lambda k: producer.sent_at[k])
    caught_up = sum(1 for k in kills if not k.cold and k.seen["waiting"] <= CAUGHT_UP_MAX_WAITING)
    cold = sum(1 for k in kills if k.cold)
    print(f"\nintake chaos on {broker}: sent {INTAKE_EVENTS}, confirmed {len(confirmed)}, stored exactly once {once}, "
          f"duplicated {len(duplicated)}, lost {len(lost)}, publish failures {len(producer.failed)}, "
          f"kills {len(kills)} in {kills[-1].at - kills[0].at:.1f}s ({caught_up} caught up, {cold} "
          f"{COLD_ALIVE_S}s after a cold start), "
          f"rejected events {rejected}, {elapsed_s:.1f}s")
    print("  at each kill, waiting in the queue / sent but not stored yet: "
          + ", ".join(f"{k.seen['waiting']}/{k.seen['behind']}{' (cold)' if k.cold else ''}" for k in kills))
    for key in lost[:20]:
        print(f"  lost {key}: published {nearest_kill(producer.sent_at[key], kills)}")

    assert not duplicated, f"{len(duplicated)} events stored more than once: {duplicated[:20]}"
    assert not lost, (f"{broker}: {len(lost)} of {len(confirmed)} confirmed events never stored after "
                      f"{len(kills)} kills: {lost[:20]}")
    assert caught_up >= 1, f"no kill found the worker caught up: {[k.seen for k in kills]}"


# --- recovery -------------------------------------------------------------------------------------

def attempts_in_flight(db_url: str) -> dict[str, int]:
    found = recovery.rows(db_url, "SELECT state, count(*) AS n FROM attempts "
                                  "WHERE state NOT IN ('succeeded', 'failed', 'cancelled') GROUP BY state")
    return {r["state"]: r["n"] for r in found}


def app_counts(redis_url: str, keys: list[str]) -> dict[str, tuple[int, int, list[str], list[str]]]:
    """Per key, what the test app counted: (runs, effects, medic idempotency keys, task ids)."""
    pipe = redis.Redis.from_url(redis_url).pipeline(transaction=False)
    for key in keys:
        pipe.get(f"testapp:calls:{key}")
        pipe.get(f"testapp:effects:{key}")
        pipe.lrange(f"testapp:keys:{key}", 0, -1)
        pipe.lrange(f"testapp:tasks:{key}", 0, -1)
    values = pipe.execute()
    counts = {}
    for i, key in enumerate(keys):
        runs, effects, idempotency_keys, task_ids = values[4 * i:4 * i + 4]
        counts[key] = (int(runs or 0), int(effects or 0), [k.decode() for k in idempotency_keys],
                       [t.decode() for t in task_ids])
    return counts


@pytest.mark.timeout(CHAOS_TEST_TIMEOUT_S)
def test_replays_in_flight_while_the_worker_is_killed_every_few_seconds_all_end_with_their_effect(
        medic, client, redis_url, tmp_path):
    # Replays that time out count as failures: no breaker may open and defer the rest.
    plans = write_plans(tmp_path, [plan("chaos-replay", retry_step(5, 0.2, 2, 1, "none"), {"kind": "dead_letter"})],
                        breakers={"services": {SERVICE: {"mode": "count", "failure_threshold": 100_000}}})
    medic.configure(plans_file=plans, broker_visibility_timeout_s=REPLAY_VISIBILITY_TIMEOUT_S,
                    recovery_attempt_timeout_s=REPLAY_ATTEMPT_TIMEOUT_S)
    medic.start(worker=False)  # kill_every starts medic's workers
    db_url = medic.db_url
    run = uuid.uuid4().hex[:6]
    keys = [f"replay-{run}-{n}" for n in range(REPLAY_EVENTS)]
    producer = StreamProducer(
        lambda key, n: report(client, make_event(celery_target("testapp.flaky", key, 0), idempotency_key=key)),
        keys, REPLAY_EVENTS / REPLAY_SEND_S)

    def in_flight() -> dict:
        return attempts_in_flight(db_url)

    started = time.monotonic()
    try:
        kills, _ = kill_every(lambda: medic.worker(wait=False), REPLAY_KILL_EVERY_S, REPLAY_CHAOS_S,
                              begin=producer.start, look=in_flight)
        producer.finish(timeout_s=REPLAY_SEND_S + 30)
        chaos_s = time.monotonic() - started

        def ended_of_all() -> tuple[int, int]:
            states = [e["state"] for e in recovery.executions(db_url)]
            return sum(s in recovery.FINAL_STATES for s in states), len(states)

        finished, total = settle(ended_of_all, lambda p: p[0] == p[1] >= producer.confirmed(),
                                 quiet_s=REPLAY_QUIET_S, timeout_s=REPLAY_END_TIMEOUT_S)
        ended = finished == total >= producer.confirmed()
        if ended:
            medic.wait_quiet(client)  # a late duplicate would have run by now
        elapsed_s = time.monotonic() - started
        executions = recovery.executions(db_url)
        counts = app_counts(redis_url, keys)
    finally:
        producer.stop.set()
        recovery.dispose_engines()

    states = Counter(e["state"] for e in executions)
    confirmed = set(producer.sent_at)
    lost = sorted(key for key in confirmed if counts[key][1] == 0)
    duplicated = {key: c for key, c in counts.items() if c[0] > 1}
    extra_runs = sum(c[0] - 1 for c in duplicated.values())
    two_executions = {key: c[2] for key, c in counts.items() if len(set(c[2])) > 1}
    same_task_twice = {key: c[3] for key, c in counts.items() if len(c[3]) != len(set(c[3]))}
    rate = len(duplicated) / max(1, len(confirmed))
    print(f"\nreplay chaos: sent {REPLAY_EVENTS}, confirmed {len(confirmed)}, "
          f"executions {len(executions)} {dict(states)}, "
          f"ended {ended}, effect lost {len(lost)}, keys run more than once {len(duplicated)} ({rate:.1%}, "
          f"{extra_runs} extra runs), same replay task run twice {len(same_task_twice)}, "
          f"keys with two medic idempotency keys {len(two_executions)}, kills {len(kills)}, "
          f"chaos {chaos_s:.1f}s, total {elapsed_s:.1f}s")
    print("  attempts not ended at each kill: "
          + ", ".join(f"{sum(k.seen.values())}{' (cold)' if k.cold else ''}" for k in kills))
    for key in lost[:10]:
        print(f"  effect lost {key}: runs {counts[key][0]}")

    assert len(executions) == len(confirmed), \
        f"{len(confirmed)} events confirmed, {len(executions)} executions\n{recovery.describe(db_url)}"
    assert ended and states == {"succeeded": len(confirmed)}, \
        f"executions not all succeeded: {dict(states)}\n{recovery.describe(db_url)}"
    assert not lost, f"{len(lost)} keys' effect never happened: {lost[:20]}"
    assert not two_executions, \
        f"one event replayed under two idempotency keys: {dict(list(two_executions.items())[:5])}"
    assert rate < MAX_DUPLICATE_RATE, f"{rate:.1%} of keys ran more than once: {dict(list(duplicated.items())[:10])}"
    assert any(k.seen for k in kills), "no kill found an attempt in flight"
