"""Chaos: medic's database stops (a private PostgreSQL, stopped and started again) with real processes.

- mid-intake: events keep arriving through a 20 s outage; each is stored exactly once after it;
- mid-recovery: executions in flight through a 20 s outage all end, each replay's effect happens once;
- the database down while the broker (a private Redis at its memory limit) refuses every write, so a
  retry cannot be published: nothing is dropped once both are back.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.integration.conftest import Medic
from tests.support import recovery, testapp
from tests.support.pgcluster import PrivateCluster, free_port
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import medic_env, run_medic, start_worker, wait_for

pytestmark = pytest.mark.integration

OUTAGE_S = 20
DB_RETRY_MAX_DELAY_S = 2
VISIBILITY_TIMEOUT_S = 10
# Every first attempt may fail: a breaker with the default threshold would open and defer the rest.
NO_BREAKER = {"services": {recovery.SERVICE: {"failure_threshold": 1000}}}


# --- helpers --------------------------------------------------------------------------------------

def upgrade(db_url: str) -> None:
    result = run_medic(medic_env(database_url=db_url), "db", "upgrade")
    assert result.returncode == 0, result.stderr


def intake_event(seq: int) -> dict:
    return {"error_type": "psycopg.errors.DeadlockDetected", "message": f"deadlock detected: process {seq} waits",
            "service": f"orders-db-{seq % 4}", "operation": "settle", "code": "40P01", "context": {"chaos_seq": seq}}


def send(client: Celery, seq: int) -> str:
    task_id = str(uuid.uuid4())
    client.send_task("medic.report", args=[intake_event(seq)], queue="medic.errors", task_id=task_id)
    return task_id


def tally(db_url: str, sent: dict[str, int | None]) -> dict[str, int]:
    """Sent events (delivery id: seq, None for an event without one) against what is stored: by
    delivery id and by the event's own seq."""
    stored = recovery.rows(db_url, "SELECT delivery_id, event -> 'context' ->> 'chaos_seq' AS seq FROM occurrences")
    by_id = Counter(r["delivery_id"] for r in stored)
    by_seq = Counter(r["seq"] for r in stored if r["seq"] is not None)
    return {"sent": len(sent),
            "stored once": sum(by_id[i] == 1 and (s is None or by_seq[str(s)] == 1) for i, s in sent.items()),
            "duplicated": sum(by_id[i] > 1 or (s is not None and by_seq[str(s)] > 1) for i, s in sent.items()),
            "lost": sum(by_id[i] == 0 for i in sent),
            "unexpected": len(set(by_id) - set(sent))}


def redeliveries_skipped(log: str) -> int:
    """Events a worker found stored already (its "batch stored" lines' duplicate=N)."""
    return sum(int(n) for n in re.findall(r"batch stored .*?duplicate=(\d+)", log))


def stored_count(db_url: str) -> int:
    return recovery.rows(db_url, "SELECT count(*) AS n FROM occurrences")[0]["n"]


class Stream(threading.Thread):
    """Sends an intake event every `interval_s` until stopped; remembers each (delivery id: seq)."""

    def __init__(self, client: Celery, interval_s: float):
        super().__init__(daemon=True)
        self.client, self.interval_s = client, interval_s
        self.sent: dict[str, int] = {}
        self.error: BaseException | None = None
        self._stop_sending = threading.Event()

    def run(self) -> None:
        seq = 0
        try:
            while not self._stop_sending.is_set():
                self.sent[send(self.client, seq)] = seq
                seq += 1
                self._stop_sending.wait(self.interval_s)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> dict[str, int]:
        self._stop_sending.set()
        self.join(10)
        assert self.error is None, f"the client could not send: {self.error!r}"
        return dict(self.sent)


def outage(cluster: PrivateCluster, seconds: float, *, during=None) -> None:
    """Stop the cluster for `seconds` (from the stop), running `during()` meanwhile, then start it."""
    cluster.stop()
    stopped_at = time.monotonic()
    if during is not None:
        during()
    time.sleep(max(0.0, seconds - (time.monotonic() - stopped_at)))
    cluster.start()


class PrivateRedis:
    """A redis-server of this test on a free port: its memory limit may be lowered until writes are refused."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir()
        self.log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--maxmemory-policy", "noeviction"], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            try:
                return self.client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout_s=10, what="the private redis-server")

    def refuse_writes(self) -> None:
        """Every command that may grow memory (LPUSH, HSET, SET, a script's writes) fails with OOM;
        reads and deletions (BRPOP, ZREM, HDEL) still work."""
        self.client.config_set("maxmemory", 1)
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            self.client.lpush("chaos:probe", "x")

    def accept_writes(self) -> None:
        self.client.config_set("maxmemory", 0)

    def destroy(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.destroy()


def print_counts(title: str, counts: dict[str, int]) -> None:
    print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# --- 1. mid-intake --------------------------------------------------------------------------------

def test_database_stopped_20s_mid_intake_stores_every_event_exactly_once(client, tmp_path, private_postgres, redis_url):
    db_url = private_postgres.url()
    upgrade(db_url)
    env = medic_env(database_url=db_url, broker_url=redis_url, broker_visibility_timeout_s=VISIBILITY_TIMEOUT_S,
                    db_retry_max_delay_s=DB_RETRY_MAX_DELAY_S, log_format="text", data_dir=tmp_path / "data")
    worker = start_worker(env, tmp_path / "worker.log")
    stream = Stream(client, interval_s=0.05)
    started = time.monotonic()
    try:
        stream.start()
        wait_for(lambda: stored_count(db_url) >= 40, timeout_s=30, what="40 events stored before the outage")
        before = stored_count(db_url)

        def retried() -> None:
            wait_for(lambda: "storage unavailable" in worker.output(), timeout_s=OUTAGE_S - 2,
                     what="the worker retrying its batch during the outage")

        outage(private_postgres, OUTAGE_S, during=retried)
        time.sleep(3)  # events keep arriving after the restart too
        sent = stream.stop()
        wait_for(lambda: stored_count(db_url) >= len(sent), timeout_s=90, what=f"{len(sent)} events stored")
        counts = tally(db_url, sent)
        print_counts(f"mid-intake ({before} stored before the outage, {time.monotonic() - started:.0f} s)", counts)
        assert counts == {"sent": len(sent), "stored once": len(sent), "duplicated": 0, "lost": 0, "unexpected": 0}
        assert worker.proc.poll() is None, "the worker exited"
        print(f"batches retried: {worker.output().count('storage unavailable')}, redeliveries found stored "
              f"already: {redeliveries_skipped(worker.output())}")
    finally:
        if stream.is_alive():
            stream.stop()
        worker.terminate()
        print(worker.output()[-3000:])


# --- 2. mid-recovery ------------------------------------------------------------------------------

RECOVERY_EVENTS = 50


@pytest.fixture
def medic_on_private_pg(private_postgres, medic):
    """medic's processes on the private cluster (stopped before the cluster is destroyed)."""
    upgrade(private_postgres.url())
    return medic


def test_database_stopped_20s_mid_recovery_ends_every_execution_with_its_effect_once(
        medic_on_private_pg, private_postgres, client, redis_url, tmp_path):
    medic = medic_on_private_pg
    plans = write_plans(tmp_path, [plan("chaos-db", retry_step(10, 1.0, 2, 2, "none"), {"kind": "dead_letter"})],
                        breakers=NO_BREAKER)
    medic.configure(plans_file=plans, database_url=private_postgres.url(), db_retry_max_delay_s=DB_RETRY_MAX_DELAY_S)
    medic.start()
    db_url = medic.db_url
    # Key n fails its first n % 3 runs: the executions end at different times, before and after the outage.
    fails = {f"chaos-{n}": n % 3 for n in range(RECOVERY_EVENTS)}
    for key, fail_times in fails.items():
        report(client, make_event(celery_target("testapp.flaky", key, fail_times)))

    def in_flight() -> bool:
        states = [e["state"] for e in recovery.executions(db_url)]
        return len(states) == RECOVERY_EVENTS and 5 <= sum(s in recovery.FINAL_STATES for s in states) <= 40

    recovery.wait_execution_state(db_url, None, recovery.FINAL_STATES, timeout_s=30, count=1)
    wait_for(in_flight, timeout_s=30, interval_s=0.05, what="some executions done, others in flight")
    unfinished = [e for e in recovery.executions(db_url) if e["state"] not in recovery.FINAL_STATES]
    outage(private_postgres, OUTAGE_S)
    print(f"database stopped with {len(unfinished)} of {RECOVERY_EVENTS} executions unfinished")

    recovery.wait_execution_state(db_url, None, recovery.FINAL_STATES, timeout_s=90, count=RECOVERY_EVENTS)
    medic.wait_quiet(client)
    finished = recovery.executions(db_url)
    effects = {k: testapp.effects(k, redis_url) for k in fails}
    extra_runs = {k: testapp.calls(k, redis_url) - (n + 1) for k, n in fails.items()}
    repeated_ids = {k: len(ids) - len(set(ids)) for k in fails if (ids := testapp.task_ids(k, redis_url))}
    counts = {"executions": len(finished), "succeeded": sum(e["state"] == "succeeded" for e in finished),
              "effects lost": sum(v == 0 for v in effects.values()),
              "effects doubled": sum(v > 1 for v in effects.values()),
              "replays run again (same task id)": sum(repeated_ids.values()),
              "runs beyond the plan (all keys)": sum(extra_runs.values())}
    print_counts(f"mid-recovery ({len(unfinished)} unfinished at the stop)", counts)
    print(f"runs beyond the plan per key: { {k: v for k, v in extra_runs.items() if v} }")

    assert len(unfinished) > 0
    assert [e["state"] for e in finished] == ["succeeded"] * RECOVERY_EVENTS, recovery.describe(db_url)
    assert counts["effects lost"] == 0 and counts["effects doubled"] == 0, effects
    for key in fails:
        assert len(set(testapp.idempotency_keys(key, redis_url))) == 1, testapp.idempotency_keys(key, redis_url)
    # At least once: a replay whose callback could not be recorded may run again, a few times at most.
    assert all(v <= 3 for v in extra_runs.values()), extra_runs
    assert sum(extra_runs.values()) <= len(unfinished) * 2, extra_runs
    assert all(p.proc.poll() is None for _, p in medic.processes), medic.tails()


# --- 3. the database down and the broker refusing the retry's publish -----------------------------

REFUSED_RECOVERY_EVENTS = 10
REFUSED_INTAKE_EVENTS = 30
FIRST_ATTEMPT_DELAY_S = 5.0  # the most a countdown may be (TEST_SETTINGS' recovery_countdown_max_s)
REFUSED = "the retry could not be published"
CRASH = "Unrecoverable error"


@pytest.fixture
def refusing_stack(tmp_path, private_postgres, private_redis, redis_url):
    """medic's worker (no beat: no sweeper to resend what a worker dropped) and the test app on the
    private Redis as broker and the private cluster as database; the app counts in the run's Redis."""
    upgrade(private_postgres.url())
    stack = Medic(tmp_path, redis_url, private_postgres.url(), broker_url=private_redis.url)
    app = Celery("some-app", broker=private_redis.url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    try:
        yield stack, app
    finally:
        private_redis.accept_writes()
        app.close()
        stack.stop_all()
        print(stack.tails(6000))
        try:
            print(recovery.describe(stack.db_url))
        finally:
            recovery.dispose_engines()


def start_refusing(stack: Medic, tmp_path: Path, first_attempt_delay_s: float):
    """Configure and start the stack (no beat); returns medic's worker."""
    step = retry_step(5, first_attempt_delay_s, 1, first_attempt_delay_s, "none")
    plans = write_plans(tmp_path, [plan("chaos-refused", step, {"kind": "dead_letter"})], breakers=NO_BREAKER)
    stack.configure(plans_file=plans, db_retry_max_delay_s=DB_RETRY_MAX_DELAY_S)
    stack.start(beat=False)
    [worker] = [p for name, p in stack.processes if name == "worker"]
    return worker


def crash_line(log: str) -> str:
    return next((line[:400] for line in log.splitlines() if CRASH in line), "(none)")


def test_database_down_while_the_broker_refuses_the_retry_publish_drops_nothing(
        refusing_stack, private_postgres, private_redis, redis_url, tmp_path):
    stack, client = refusing_stack
    worker = start_refusing(stack, tmp_path, FIRST_ATTEMPT_DELAY_S)
    db_url = stack.db_url
    keys = [f"refused-{n}" for n in range(REFUSED_RECOVERY_EVENTS)]

    # Executions started, their first attempts waiting out their countdown in the worker (ETA).
    recovery_ids = [report(client, make_event(celery_target("testapp.flaky", key, 0))) for key in keys]
    recovery.wait_executions(db_url, REFUSED_RECOVERY_EVENTS, timeout_s=FIRST_ATTEMPT_DELAY_S - 2)
    private_postgres.stop()
    stopped_at = time.monotonic()
    sent = {send(client, seq): seq for seq in range(REFUSED_INTAKE_EVENTS)}
    broker = private_redis.client
    wait_for(lambda: "storage unavailable" in worker.output() and broker.llen("medic.errors") == 0, timeout_s=10,
             what="the intake batch held by the worker, failing to store")
    private_redis.refuse_writes()
    refused_at = time.monotonic()
    assert testapp.calls(keys[0], redis_url) == 0, "a replay ran before the database was stopped"

    # The attempts' messages come due: each fails to claim (database down), its retry's publish is
    # refused (broker) and the original message is kept instead. Intake batches run again meanwhile.
    wait_for(lambda: REFUSED in worker.output(), timeout_s=FIRST_ATTEMPT_DELAY_S + 10, what="a refused retry publish")
    time.sleep(3)  # more refusals: later attempts, intake batches running again
    log = worker.output()
    private_redis.accept_writes()
    private_postgres.start()
    print(f"database down {time.monotonic() - stopped_at:.1f} s, broker refusing writes "
          f"{time.monotonic() - refused_at:.1f} s; refused retry publishes: {log.count(REFUSED)}, "
          f"intake batch retries: {log.count('storage unavailable')}")
    exit_code = worker.proc.poll()
    assert exit_code is None, f"medic's worker exited ({exit_code}): {crash_line(log)}"

    everything: dict[str, int | None] = {**sent, **dict.fromkeys(recovery_ids)}
    wait_for(lambda: stored_count(db_url) >= len(everything), timeout_s=60, what=f"{len(everything)} events stored")
    recovery.wait_execution_state(db_url, None, recovery.FINAL_STATES, timeout_s=60, count=REFUSED_RECOVERY_EVENTS)
    testapp.round_trip(client, redis_url)
    counts = tally(db_url, everything)
    print_counts("events with the database down and the broker refusing writes", counts)
    total = len(everything)
    assert counts == {"sent": total, "stored once": total, "duplicated": 0, "lost": 0, "unexpected": 0}
    finished = recovery.executions(db_url)
    effects = {k: testapp.effects(k, redis_url) for k in keys}
    calls = {k: testapp.calls(k, redis_url) for k in keys}
    print(f"recovery: states {dict(Counter(e['state'] for e in finished))}, effects {sorted(effects.values())}, "
          f"replays run {sum(calls.values())} for {len(keys)} executions")
    assert [e["state"] for e in finished] == ["succeeded"] * REFUSED_RECOVERY_EVENTS, recovery.describe(db_url)
    assert all(v == 1 for v in effects.values()), effects
    assert all(p.proc.poll() is None for name, p in stack.processes if p is not worker), stack.tails()


def test_the_worker_survives_a_refused_requeue(refusing_stack, private_postgres, private_redis, tmp_path):
    stack, client = refusing_stack
    first_attempt_delay_s = 3.0
    worker = start_refusing(stack, tmp_path, first_attempt_delay_s)
    report(client, make_event(celery_target("testapp.flaky", "refused-alone", 0)))
    recovery.wait_executions(stack.db_url, 1, timeout_s=first_attempt_delay_s - 1.5)
    private_postgres.stop()
    private_redis.refuse_writes()
    wait_for(lambda: REFUSED in worker.output(), timeout_s=first_attempt_delay_s + 10, what="a refused retry publish")
    time.sleep(3)
    exit_code = worker.proc.poll()
    assert exit_code is None, f"medic's worker exited ({exit_code}): {crash_line(worker.output())}"
