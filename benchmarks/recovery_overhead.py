"""Overhead of one recovery attempt against a no-op Celery round trip, same broker, same run.

    python -m benchmarks.recovery_overhead [--executions 300] [--sequential 200] [--rounds 2] [--json PATH]

Redis (db 14, flushed) and a fresh PostgreSQL database (migrated, dropped at the end). Three real
worker processes, each prefork with 2 processes:
- the app's worker (benchmarks/recovery_app.py) on queue `bench-app`, running `bench.noop`;
- a second worker of that app on `bench-callback` (the baseline's callbacks);
- medic's worker, `python -m workers.cli.main worker --queues medic.recovery --concurrency 2`
  (replays' callbacks, and medic.recovery.run for attempts not claimed at their start).

Three kinds of round trip, each timed one at a time (--sequential of each, the kinds
interleaved so that they meet the same background load: the latency) and with --executions of
them in flight together (pre-loaded while the first hop's consumer is paused,
then released: the throughput):
- no-op round trip (the baseline): send `bench.noop` to bench-app with a `link` callback
  `bench.stamp` on bench-callback; over when the callback has run.
- no-op chain: the same three messages a recovery attempt takes (`bench.relay` on bench-callback
  sends `bench.noop` with its link), without medic's work.
- medic: an error reported in this process through IntakeService (category network, replay
  target `bench.noop` on bench-app, plan `transient` = retry at once). Its transaction stores the
  event with its execution and first attempt, claimed; right after the commit the breaker is asked
  and the task is replayed with link/link_error callbacks; the app runs it;
  medic.recovery.replay_succeeded records the outcome and the execution succeeds. medic's trip
  starts at that commit (intake's own work is not counted, as the baselines' senders' is not).

Every time comes from the processes themselves: Celery task events (the workers send them, as
medic's configuration does; this process listens), the send time (or intake's commit) taken here,
and medic's attempts/executions rows. Then an in-process profile of IntakeService.report (store,
claim, breaker, replay handed to a recording dispatcher) and RecoveryService.record (same
database): SQL statements, connection checkouts and where the CPU goes.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import os
import pstats
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from sqlalchemy import event, text

from benchmarks import recovery_app as bench_app
from benchmarks.common import (
    CpuMeter,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    percentile,
    remove_logs,
    start_run,
    stop_worker,
    table,
    worker_ticks,
)
from config.queues import RECOVERY_QUEUE
from tests.support import services

UNACKED_KEY = "unacked"
# After cancel_consumer, a BRPOP already sent may still take one message; kombu's BRPOP waits 1 s.
PAUSE_SETTLE_S = 2.0
TARGET_RATIO = 2.0
SERVICE = "bench-partner"
RUN_TASK = "medic.recovery.run"
# The benchmark's events replay its app's task on its app's queue: the operator allows them.
REPLAY_TARGETS = {"celery_tasks": [bench_app.NOOP], "celery_queues": [bench_app.APP_QUEUE]}
CALLBACK_TASKS = ("medic.recovery.replay_succeeded", "medic.recovery.replay_failed")
KINDS = ("noop", "chain", "medic")
KIND_TITLES = {"noop": "no-op round trip", "chain": "no-op chain (3 hops)", "medic": "medic attempt"}

PLANS_YAML = """\
version: 1
plans:
  # Overrides the built-in `transient`: replay at once, so every attempt is due when it is created.
  - name: transient
    description: recovery benchmark - replay the task at once, up to 3 times
    match: {category: [network, timeout, unavailable, conflict, unknown]}
    steps:
      - {kind: retry, max_attempts: 3, initial_delay_s: 0, backoff_rate: 1, max_delay_s: 0, jitter: none}
      - {kind: dead_letter}
"""

# Where the time of one round trip goes: (label, from milestone, to milestone) per kind. Milestones:
# "sent" (this process, just before publishing; for medic, when intake's transaction committed),
# "<task> received" (the worker's main process took the message), "app sent" (task-sent, stamped by
# the publishing process after publishing), "recorded" (attempts.finished_at: medic's clock when the
# record began, in the pool process), "callback done" (task-succeeded: the main process got the
# result back from the pool). task-started is not used: the main process stamps it when the pool
# reports the job accepted, which can be after the task has begun.
STAGE_ROWS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("1. send -> the first worker received it", "sent", "first received", ("chain",)),
    ("1. send -> the first worker received it", "sent", "app received", ("noop", "medic")),
    ("   intake's commit -> breaker asked, app task published (task-sent)", "sent", "app sent", ("medic",)),
    ("2. first task: hand-off, run, app task published -> app received", "first received", "app received",
     ("chain",)),
    ("   received -> app task published (task-sent)", "first received", "app sent", ("chain",)),
    ("   app task published -> app worker received it", "app sent", "app received", ("chain", "medic")),
    ("3. app worker: hand-off, no-op, link published -> callback received", "app received", "callback received",
     KINDS),
    ("4. callback: hand-off, run, result back to the worker", "callback received", "callback done", KINDS),
    ("   received -> record begins (attempts.finished_at)", "callback received", "recorded", ("medic",)),
    ("   record transaction, breaker, result back to the worker", "recorded", "callback done", ("medic",)),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("recovery_overhead", __doc__)
    parser.add_argument("--executions", "-n", type=int, default=300,
                        help="round trips / executions in flight together, per kind per round (default 300)")
    parser.add_argument("--sequential", type=int, default=200,
                        help="round trips timed one at a time, per kind per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the order of the kinds alternates (default 2)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed round trips per kind before the first round")
    parser.add_argument("--concurrency", "-c", type=int, default=2, help="pool processes of each worker (default 2)")
    parser.add_argument("--profile", type=int, default=200, help="attempts in the in-process profile (0: skip)")
    add_broker_url(parser)
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed for one batch")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' log directory")
    return parse(parser, argv)


def epoch(value: Any) -> float | None:
    return None if value is None else value.timestamp()


def ms(seconds: float) -> float:
    return 1000 * seconds


def stats_ms(values: Iterable[float]) -> dict[str, float]:
    data = sorted(ms(v) for v in values)
    if not data:
        return {"n": 0}
    return {"n": len(data), "median": median(data), "p95": percentile(data, 0.95), "mean": sum(data) / len(data),
            "min": data[0], "max": data[-1]}


# ----------------------------------------------------------------------------- task events


def _literal(text_value: Any) -> Any:
    try:
        return ast.literal_eval(text_value) if isinstance(text_value, str) else text_value
    except (ValueError, SyntaxError):
        return None


class Timeline:
    """Every task event of the run, by task id, from a Celery event receiver on a thread.

    Workers stamp events with time.time() when they send them: task-received, -started and
    -succeeded come from a worker's main process, task-sent from the process that published.
    """

    def __init__(self, client: Celery, nodes: Iterable[str]):
        self.client = client
        self.own_nodes = set(nodes)  # received/started/succeeded events of other workers are ignored
        self.tasks: dict[str, dict[str, Any]] = defaultdict(dict)
        self.final: dict[str, str] = {}   # round-trip key -> id of its last task (the callback)
        self.first: dict[str, str] = {}   # round-trip key -> id of its first task (medic.recovery.run)
        self.app: dict[str, str] = {}     # round-trip key -> id of the app's task
        self.nodes: set[str] = set()
        self.cond = threading.Condition()
        self._receiver = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="task-events")

    def start(self) -> Timeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(5)

    def _run(self) -> None:
        with self.client.connection_for_read() as conn:
            self._receiver = self.client.events.Receiver(conn, handlers={"*": self._on_event})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def _on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type", "")
        with self.cond:
            if kind == "worker-heartbeat" or kind == "worker-online":
                self.nodes.add(ev.get("hostname", ""))
            elif kind.startswith("task-"):
                if kind != "task-sent" and ev.get("hostname") not in self.own_nodes:
                    return
                task_id = ev.get("uuid")
                info = self.tasks[task_id]
                info.setdefault(kind[5:], ev["timestamp"])
                if "name" in ev and "name" not in info:
                    info["name"] = ev["name"]
                    self._index(task_id, ev)
            else:
                return
            self.cond.notify_all()

    def _index(self, task_id: str, ev: dict[str, Any]) -> None:
        name = ev["name"]
        if name == bench_app.STAMP:
            self.final[f"trip:{(_literal(ev.get('kwargs')) or {}).get('trip')}"] = task_id
        elif name in CALLBACK_TASKS:
            self.final[f"attempt:{(_literal(ev.get('kwargs')) or {}).get('attempt_id')}"] = task_id
        elif name == RUN_TASK:
            args = _literal(ev.get("args")) or [None]
            self.first[f"attempt:{args[0]}"] = task_id
        elif name == bench_app.NOOP and task_id.startswith("medic-"):
            self.app[f"attempt:{task_id.rsplit('-', 1)[1]}"] = task_id

    def done(self, key: str) -> bool:
        task_id = self.final.get(key)
        return task_id is not None and "succeeded" in self.tasks[task_id]

    def wait(self, keys: list[str], timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: all(self.done(k) for k in keys), timeout_s)

    def wait_nodes(self, nodes: Iterable[str], timeout_s: float) -> bool:
        wanted = set(nodes)
        with self.cond:
            return self.cond.wait_for(lambda: wanted <= self.nodes, timeout_s)

    def get(self, task_id: str | None, what: str) -> float | None:
        return self.tasks.get(task_id, {}).get(what) if task_id else None


# ----------------------------------------------------------------------------- CPU per component


class ComponentCpu(CpuMeter):
    """CPU seconds per worker (main + pool processes), PostgreSQL, Redis and this process."""

    def __init__(self, workers: dict[str, int]):
        super().__init__(0)  # no single worker: _processes measures each of them
        self.workers = workers

    def _processes(self) -> dict[str, int]:
        snap = {}
        for name, pid in self.workers.items():
            snap[f"{name} main"], snap[f"{name} pool"] = worker_ticks(pid)
        return snap


# ----------------------------------------------------------------------------- the bench


class TimingDispatcher:
    """medic's CeleryDispatcher, noting where each attempt's trip starts: the commit of the intake
    transaction that claimed it (then the replay is sent by this process), or the send of its
    medic.recovery.run message (an attempt not claimed at its start)."""

    def __init__(self, app: Celery):
        from sqlalchemy.orm import Session

        from workers.recovery.dispatch import CeleryDispatcher

        self.inner = CeleryDispatcher(app)
        self.sent: dict[int, float] = {}
        self.claimed_at_start: set[int] = set()
        self.last: int | None = None
        self.committed = 0.0
        event.listen(Session, "after_commit", self._committed)

    def _committed(self, session: Any) -> None:
        self.committed = time.time()

    def run_attempt(self, attempt_id: int, countdown_s: float, queue: str | None = None) -> None:
        self.sent.setdefault(attempt_id, time.time())
        self.last = attempt_id
        self.inner.run_attempt(attempt_id, countdown_s, queue)

    def replay(self, target: dict[str, Any], *, task_id: str, attempt_id: int, execution_id: int,
               idempotency_key: str, signature: str) -> None:
        if attempt_id not in self.sent:  # sent by this process: claimed by intake's transaction
            self.sent[attempt_id] = self.committed
            self.claimed_at_start.add(attempt_id)
        self.last = attempt_id
        self.inner.replay(target, task_id=task_id, attempt_id=attempt_id, execution_id=execution_id,
                          idempotency_key=idempotency_key, signature=signature)

    def deliver(self, notification_id: int, token: Any = None) -> None:
        self.inner.deliver(notification_id, token)


class Bench:
    def __init__(self, args: argparse.Namespace, db_url: str, plans_path: Path, log_dir: Path):
        from config.settings import load_settings
        from workers.intake.service import IntakeService
        from workers.recovery.service import RecoveryService

        self.args, self.db_url, self.log_dir = args, db_url, log_dir
        self.run_tag = uuid.uuid4().hex[:6]
        self.redis = redis.Redis.from_url(args.broker_url)
        self.client = Celery("bench-client", broker=args.broker_url)
        # task-sent events as medic's processes send them (the replays intake sends are published here)
        self.client.conf.update(task_serializer="json", accept_content=["json"], event_serializer="json",
                                broker_connection_retry_on_startup=True, task_send_sent_event=True)
        self.settings = load_settings(database_url=db_url, broker_url=args.broker_url, plans_files=[plans_path],
                                      log_level="WARNING", replay_targets=REPLAY_TARGETS)
        self.dispatcher = TimingDispatcher(self.client)
        self.intake = IntakeService(self.settings, recovery=RecoveryService(self.settings, dispatcher=self.dispatcher))
        self.host = socket.gethostname()
        self.nodes = {kind: f"bench-{kind}-{self.run_tag}@{self.host}" for kind in ("app", "callback", "medic")}
        self.workers: dict[str, services.Process] = {}
        self.timeline = Timeline(self.client, self.nodes.values())
        self.sent: dict[str, float] = {}  # round-trip key -> send time (baseline kinds)

    # -- processes ---------------------------------------------------------------------------

    def start_workers(self, medic_env: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
        env.update(BENCH_BROKER_URL=self.args.broker_url, PYTHONPATH=str(services.REPO), PYTHONUNBUFFERED="1")
        c = str(self.args.concurrency)
        commands = {
            "app": ([sys.executable, "-m", "celery", "-A", "benchmarks.recovery_app", "worker", "-Q",
                     bench_app.APP_QUEUE, "-c", c, "--pool", "prefork", "--hostname", self.nodes["app"],
                     "--loglevel", "WARNING"], env),
            "callback": ([sys.executable, "-m", "celery", "-A", "benchmarks.recovery_app", "worker", "-Q",
                          bench_app.CALLBACK_QUEUE, "-c", c, "--pool", "prefork", "--hostname", self.nodes["callback"],
                          "--loglevel", "WARNING"], env),
            "medic": ([sys.executable, "-m", "workers.cli.main", "worker", "--queues", RECOVERY_QUEUE,
                       "--concurrency", c, "--hostname", self.nodes["medic"]], medic_env),
        }
        for name, (command, process_env) in commands.items():
            self.workers[name] = services.Process(command, process_env, self.log_dir / f"{name}.log")
        deadline = time.monotonic() + 90
        pending = dict(self.nodes)
        while pending:
            for name, node in list(pending.items()):
                if self.client.control.ping(destination=[node], timeout=1.0):
                    del pending[name]
                elif self.workers[name].proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} worker did not start:\n{self.workers[name].output()[-3000:]}")
        self.timeline.start()
        if not self.timeline.wait_nodes(self.nodes.values(), 15):
            raise SystemExit(f"no worker events received (seen: {sorted(self.timeline.nodes)})")

    def stop_workers(self) -> None:
        self.timeline.stop()
        for worker in self.workers.values():
            stop_worker(worker, timeout_s=30)

    def pause(self, worker: str, queue: str) -> None:
        if not self.client.control.cancel_consumer(queue, destination=[self.nodes[worker]], reply=True, timeout=5):
            raise SystemExit(f"{worker} worker did not answer cancel_consumer")
        time.sleep(PAUSE_SETTLE_S)

    def resume(self, worker: str, queue: str) -> None:
        if not self.client.control.add_consumer(queue, destination=[self.nodes[worker]], reply=True, timeout=5):
            raise SystemExit(f"{worker} worker did not answer add_consumer")

    # -- sending one round trip ----------------------------------------------------------------

    def send(self, kind: str, tag: str, i: int) -> str:
        """Start one round trip of `kind`; returns its key in the timeline."""
        if kind == "medic":
            event = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
                     "service": SERVICE, "operation": "sync-order",
                     "replay": {"kind": "celery", "task": bench_app.NOOP, "queue": bench_app.APP_QUEUE}}
            outcome = self.intake.report(event, delivery_id=f"bench-{self.run_tag}-{tag}-{i}")
            if outcome.status != "stored" or outcome.category != "network":
                raise SystemExit(f"unexpected intake outcome {outcome}")
            if self.dispatcher.last not in self.dispatcher.claimed_at_start:
                raise SystemExit(f"attempt {self.dispatcher.last} was not claimed at its start (breaker not closed?)")
            return f"attempt:{self.dispatcher.last}"
        trip = f"{self.run_tag}-{kind}-{tag}-{i}"
        key = f"trip:{trip}"
        self.sent[key] = time.time()
        if kind == "noop":
            self.client.send_task(bench_app.NOOP, queue=bench_app.APP_QUEUE, task_id=trip,
                                  link=self.client.signature(bench_app.STAMP, kwargs={"trip": trip},
                                                             queue=bench_app.CALLBACK_QUEUE))
        else:
            self.client.send_task(bench_app.RELAY, args=[trip], queue=bench_app.CALLBACK_QUEUE, task_id=trip)
        return key

    def sent_at(self, key: str) -> float:
        if key.startswith("attempt:"):
            return self.dispatcher.sent[int(key.split(":")[1])]
        return self.sent[key]

    def first_worker(self, kind: str) -> tuple[str, str]:
        return {"noop": ("app", bench_app.APP_QUEUE), "chain": ("callback", bench_app.CALLBACK_QUEUE),
                "medic": ("app", bench_app.APP_QUEUE)}[kind]

    # -- batches -------------------------------------------------------------------------------

    def sequential(self, count: int, tag: str) -> dict[str, list[str]]:
        """`count` round trips of each kind, one at a time, the kinds interleaved (no-op, chain,
        medic, medic, chain, no-op, ...) so that all three meet the same background load."""
        keys: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for i in range(count):
            for kind in (KINDS if i % 2 == 0 else tuple(reversed(KINDS))):
                key = self.send(kind, tag, i)
                if not self.timeline.wait([key], self.args.timeout):
                    raise SystemExit(f"{kind}: round trip {key} not done after {self.args.timeout}s\n{self.tails()}")
                keys[kind].append(key)
        return keys

    def latencies(self, keys: list[str]) -> list[float]:
        return [self.timeline.get(self.timeline.final[k], "succeeded") - self.sent_at(k) for k in keys]

    def concurrent(self, kind: str, count: int, tag: str) -> dict[str, Any]:
        worker, queue = self.first_worker(kind)
        self.pause(worker, queue)
        keys = [self.send(kind, tag, i) for i in range(count)]
        queued, unacked = self.redis.llen(queue), self.redis.hlen(UNACKED_KEY)
        if (queued, unacked) != (count, 0):
            raise SystemExit(f"{kind}: pre-load of {count} left queue={queued}, unacked={unacked}")
        meter = ComponentCpu({name: w.proc.pid for name, w in self.workers.items()})
        meter.start()
        released = time.time()
        self.resume(worker, queue)
        if not self.timeline.wait(keys, self.args.timeout):
            missing = sum(not self.timeline.done(k) for k in keys)
            raise SystemExit(f"{kind}: {missing} of {count} not done after {self.args.timeout}s\n{self.tails()}")
        cpu = meter.stop()
        ends = [self.timeline.get(self.timeline.final[k], "succeeded") for k in keys]
        seconds = max(ends) - released
        return {"count": count, "seconds": seconds, "per_s": count / seconds, "ms_per_item": ms(seconds) / count,
                "cpu_s": cpu, "keys": keys}

    def tails(self) -> str:
        return "\n".join(f"--- {name}.log\n{w.output()[-2000:]}" for name, w in self.workers.items())

    # -- what happened, per round trip -----------------------------------------------------------

    def milestones(self, kind: str, key: str, db: dict[int, dict[str, Any]]) -> dict[str, float | None]:
        t = self.timeline
        final = t.final.get(key)
        if kind == "noop":
            app_id = key.split(":", 1)[1]
            first = None
        elif kind == "chain":
            first = key.split(":", 1)[1]
            app_id = f"{first}-app"
        else:
            first, app_id = t.first.get(key), t.app.get(key)
        marks: dict[str, float | None] = {
            "sent": self.sent_at(key),
            "first received": t.get(first, "received"), "first started": t.get(first, "started"),
            "app sent": t.get(app_id, "sent"),
            "app received": t.get(app_id, "received"), "app started": t.get(app_id, "started"),
            "callback sent": t.get(final, "sent"), "callback received": t.get(final, "received"),
            "callback started": t.get(final, "started"), "callback done": t.get(final, "succeeded"),
        }
        if kind == "medic":
            row = db.get(int(key.split(":")[1]), {})
            marks["recorded"] = epoch(row.get("finished_at"))
            marks["scheduled"] = epoch(row.get("scheduled_for"))
            marks["execution finished"] = epoch(row.get("execution_finished_at"))
        return marks

    def attempt_rows(self, keys: list[str]) -> dict[int, dict[str, Any]]:
        ids = [int(k.split(":")[1]) for k in keys if k.startswith("attempt:")]
        if not ids:
            return {}
        from workers.storage.db import engine_for

        query = text("SELECT a.id, a.state, a.outcome, a.scheduled_for, a.claimed_at, a.finished_at, "
                     "e.id AS execution_id, e.state AS execution_state, e.finished_at AS execution_finished_at "
                     "FROM attempts a JOIN executions e ON e.id = a.execution_id WHERE a.id = ANY(:ids)")
        with engine_for(self.db_url).connect() as conn:
            rows = {r.id: dict(r._mapping) for r in conn.execute(query, {"ids": ids})}
        bad = [r for r in rows.values() if (r["state"], r["execution_state"]) != ("succeeded", "succeeded")]
        if len(rows) != len(ids) or bad:
            raise SystemExit(f"expected {len(ids)} succeeded attempts of succeeded executions, found {len(rows)}; "
                             f"not succeeded: {bad[:3]}")
        return rows


# ----------------------------------------------------------------------------- in-process profile


class Recorder:
    """A dispatcher that sends nothing."""

    def __init__(self):
        self.runs: list[tuple[int, float]] = []
        self.replays: list[int] = []

    def run_attempt(self, attempt_id: int, countdown_s: float, queue: str | None = None) -> None:
        self.runs.append((attempt_id, countdown_s))

    def replay(self, target: dict[str, Any], *, task_id: str, attempt_id: int, execution_id: int,
               idempotency_key: str, signature: str) -> None:
        self.replays.append(attempt_id)

    def deliver(self, notification_id: int, token: Any = None) -> None:
        pass


_VERB = re.compile(r"^\s*(SELECT|UPDATE|INSERT INTO|DELETE FROM)\s+(.*)$", re.S)
_WHERE_COLUMN = re.compile(r"(?:\w+\.)?(\w+)\s*(?:=|<=|>=|<|>|!=| IN | IS )")


def statement_label(statement: str) -> str:
    """A short name for an SQL statement: verb, table, columns read or set, columns in its WHERE."""
    flat = " ".join(statement.split())
    match = _VERB.match(flat)
    if not match:
        return flat[:60]
    verb, rest = match.groups()
    head, _, where = rest.partition(" WHERE ")
    where = where.split(" ORDER BY ")[0].split(" RETURNING ")[0]
    where_columns = list(dict.fromkeys(_WHERE_COLUMN.findall(f" {where} ")))
    suffix = f" WHERE {', '.join(where_columns)}" if where_columns else ""
    if verb == "SELECT":
        columns, _, table_name = head.partition(" FROM ")
        shown = "*" if columns.count(",") >= 2 else ", ".join(c.strip().split(".")[-1] for c in columns.split(","))
        return f"SELECT {shown} FROM {table_name.split(' ')[0]}{suffix}"
    if verb == "UPDATE":
        table_name, _, assignments = head.partition(" SET ")
        set_columns = [a.split("=")[0].strip() for a in assignments.split(", ") if "=" in a]
        return f"UPDATE {table_name} SET {', '.join(set_columns)}{suffix}"
    if verb == "INSERT INTO":
        return f"INSERT INTO {head.split(' ')[0]}" + (" ... ON CONFLICT DO UPDATE" if " ON CONFLICT " in rest else "")
    return f"{verb} {head.split(' ')[0]}{suffix}"


class IoMeter:
    """Counts and times what one call spends waiting: SQL statements, commits, pre-pings, Redis."""

    def __init__(self, engine: Any, breaker_store: Any):
        self.engine, self.breaker_store = engine, breaker_store
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # what -> [count, seconds]
        self.statements: dict[str, list[float]] = defaultdict(list)  # label -> durations
        self._started: list[float] = []
        self._undo: list[Callable[[], None]] = []

    def _timed(self, owner: Any, name: str, what: str) -> None:
        original = getattr(owner, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                entry = self.totals[what]
                entry[0] += 1
                entry[1] += time.perf_counter() - started
        own = name in vars(owner)  # a module's function, or an instance attribute (else: from the class)
        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        elapsed = time.perf_counter() - self._started.pop()
        entry = self.totals["sql"]
        entry[0] += 1
        entry[1] += elapsed
        self.statements[statement_label(statement)].append(elapsed)

    def __enter__(self) -> IoMeter:
        from workers.recovery import store
        from workers.recovery.plans import PlanSpec

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        self._timed(self.engine.dialect, "do_commit", "commit")
        self._timed(self.engine.dialect, "do_rollback", "rollback")
        self._timed(self.engine.dialect, "do_ping", "pre-ping")
        self._timed(self.breaker_store, "load", "redis")
        self._timed(self.breaker_store, "compare_and_set", "redis")
        self._timed(store, "event_of", "event_of")
        self._timed(PlanSpec, "model_validate", "plan")
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        for undo in reversed(self._undo):
            undo()

    def snapshot(self) -> dict[str, tuple[float, float]]:
        return {k: (v[0], v[1]) for k, v in self.totals.items()}


def profile_inprocess(settings: Any, count: int, tag: str) -> dict[str, Any]:
    """IntakeService.report (the event stored with its execution and claimed attempt, the breaker
    asked, the replay handed to a recording dispatcher) and RecoveryService.record (success), called
    in this process against the same database, each timed, with what it waits for counted and
    timed: SQL statements, commits, pool pre-pings, Redis (the breaker). The report's share that is
    intake's own (triage, the occurrence, its group) is in it: the recovery's share is the claimed
    attempt's rows, the breaker and the send."""
    from workers.intake.service import IntakeService
    from workers.recovery.outcomes import success
    from workers.recovery.service import RecoveryService
    from workers.storage.db import engine_for

    recorder = Recorder()
    service = RecoveryService(settings, dispatcher=recorder)
    intake = IntakeService(settings, recovery=service)
    event_ = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
              "service": SERVICE, "replay": {"kind": "celery", "task": bench_app.NOOP, "queue": bench_app.APP_QUEUE}}
    warm, profiled = 20, PROFILED_ATTEMPTS
    measured: dict[str, list[dict[str, Any]]] = {"report": [], "record": []}
    meter = IoMeter(engine_for(settings.database_url), service.breakers.store)

    def report(n: int) -> None:
        intake.report(event_, delivery_id=f"profile-{tag}-{n}")

    def record(n: int) -> None:
        service.after_commit(service.record(recorder.replays[-1], success()))

    with meter:
        for n in range(warm + count):
            if n == warm:
                meter.statements.clear()
            for what, call in (("report", report), ("record", record)):
                before = meter.snapshot()
                wall, cpu = time.perf_counter(), time.process_time()
                call(n)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                after = meter.snapshot()
                if n >= warm:
                    io = {k: (after[k][0] - before.get(k, (0, 0.0))[0], after[k][1] - before.get(k, (0, 0.0))[1])
                          for k in after}
                    measured[what].append({"wall": wall, "cpu": cpu, "io": io})
    if len(recorder.replays) != warm + count or recorder.runs:
        raise SystemExit(f"profile: {len(recorder.replays)} replays sent at the start, {len(recorder.runs)} run "
                         f"messages; expected {warm + count} and none")

    result: dict[str, Any] = {"attempts": count, "calls": {}}
    for what, rows in measured.items():
        keys = sorted({k for r in rows for k in r["io"]})
        io = {k: {"count": sum(r["io"].get(k, (0, 0))[0] for r in rows) / len(rows),
                  "ms": ms(sum(r["io"].get(k, (0, 0))[1] for r in rows)) / len(rows)} for k in keys}
        waited = sum(io[k]["ms"] for k in ("sql", "commit", "rollback", "pre-ping", "redis") if k in io)
        wall_mean = ms(sum(r["wall"] for r in rows)) / len(rows)
        result["calls"][what] = {"wall_ms": stats_ms(r["wall"] for r in rows),
                                 "cpu_ms": stats_ms(r["cpu"] for r in rows),
                                 "wall_mean_ms": wall_mean, "io": io, "not_waiting_ms": wall_mean - waited}
    result["statements"] = sorted(
        ({"statement": label, "per_attempt": len(times) / count, "median_ms": ms(median(times)),
          "ms_per_attempt": ms(sum(times)) / count} for label, times in meter.statements.items()),
        key=lambda row: -row["ms_per_attempt"])

    # Exclusive (own) time of every function under cProfile, summed by where the code lives.
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for n in range(warm + count, warm + count + profiled):
        report(n)
        record(n)
    profiler.disable()
    elapsed = time.perf_counter() - started
    buckets: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _n, own_s, _cum, _callers) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        buckets[profile_bucket(filename, function)] += own_s
    total = sum(buckets.values())
    result["cprofile"] = {"attempts": profiled, "wall_ms_per_attempt": ms(elapsed) / profiled,
                          "buckets": sorted(({"where": k, "ms_per_attempt": ms(v) / profiled, "share": v / total}
                                             for k, v in buckets.items()), key=lambda row: -row["ms_per_attempt"])}
    return result


PROFILED_ATTEMPTS = 100
PROFILED_CALLS = {"report": "IntakeService.report (store, claim, send)", "record": "RecoveryService.record"}
PROFILE_BUCKETS = [
    ("sqlalchemy/orm/", "SQLAlchemy ORM (Session, unit of work, loading)"),
    ("sqlalchemy/", "SQLAlchemy Core and engine (compile cache, execution, results)"),
    # psycopg's C wait function (psycopg_binary) is invisible to cProfile: the wait for PostgreSQL's
    # replies lands in its Python caller, psycopg's Connection.wait.
    ("psycopg", "psycopg, with the wait for PostgreSQL's replies"),
    ("pydantic", "pydantic"),
    ("redis/", "redis-py"),
    ("/workers/", "medic's own code (workers/)"),
    ("/config/", "medic's own code (config/)"),
]


def profile_bucket(filename: str, function: str) -> str:
    path = filename.replace("\\", "/")
    if path == "~":  # a built-in
        if any(word in function for word in ("poll", "recv", "select", "send", "epoll", "wait")):
            return "built-in socket calls (poll, recv, send: Redis mostly)"
        return "other built-ins (json, datetime, dict ...)"
    for needle, label in PROFILE_BUCKETS:
        if needle in path:
            return label
    return "other Python (stdlib ...)"


# ----------------------------------------------------------------------------- run


def write_plans(directory: Path) -> Path:
    path = directory / "plans.yaml"
    path.write_text(PLANS_YAML, encoding="utf-8")
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    from workers.storage import migrate

    info = start_run(background=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-recovery-"))
    plans_path = write_plans(log_dir)
    services.flush_redis(args.broker_url)
    database = services.create_pg_database()
    db_url = services.pg_url(database)
    bench = None
    try:
        migrate.upgrade(db_url)
        bench = Bench(args, db_url, plans_path, log_dir)
        medic_env = services.medic_env(database_url=db_url, broker_url=args.broker_url, plans_files=str(plans_path),
                                       log_level="WARNING", replay_targets__celery_tasks=bench_app.NOOP,
                                       replay_targets__celery_queues=bench_app.APP_QUEUE)
        print(f"database {database}, broker {args.broker_url}, logs {log_dir}", flush=True)
        started = time.perf_counter()
        bench.start_workers(medic_env)
        print(f"workers ready in {time.perf_counter() - started:.1f} s: {', '.join(bench.nodes.values())}", flush=True)

        bench.sequential(args.warmup, "warm")  # pools, connections, compiled rules and plans, SQL caches
        rounds: list[dict[str, Any]] = []
        seq_keys: dict[str, list[str]] = {k: [] for k in KINDS}
        for number in range(1, args.rounds + 1):
            order = KINDS if number % 2 else tuple(reversed(KINDS))
            entry: dict[str, Any] = {"order": " then ".join(order)}
            keys = bench.sequential(args.sequential, f"r{number}s")
            for kind in KINDS:
                seq_keys[kind] += keys[kind]
                entry[kind] = {"sequential_ms": stats_ms(bench.latencies(keys[kind]))}
            for kind in order:
                batch = bench.concurrent(kind, args.executions, f"r{number}c")
                if kind == "medic":
                    bench.attempt_rows(batch["keys"])  # every one succeeded, once
                entry[kind]["concurrent"] = {k: v for k, v in batch.items() if k != "keys"}
            for kind in KINDS:
                print(f"round {number}: {kind:5}  one at a time: "
                      f"median {entry[kind]['sequential_ms']['median']:6.1f} ms, "
                      f"p95 {entry[kind]['sequential_ms']['p95']:6.1f} ms   {args.executions} together: "
                      f"{entry[kind]['concurrent']['per_s']:6.0f}/s ({entry[kind]['concurrent']['seconds']:.2f} s)",
                      flush=True)
            rounds.append(entry)

        db_rows = bench.attempt_rows(seq_keys["medic"])
        breakdown = breakdown_of(bench, seq_keys, db_rows)
        bench.stop_workers()
        profile = None
        if args.profile:
            print(f"in-process profile over {args.profile} attempts ...", flush=True)
            profile = profile_inprocess(bench.settings, args.profile, bench.run_tag)
        return {
            "benchmark": "recovery_overhead", "machine": info,
            "config": {"executions": args.executions, "sequential": args.sequential, "rounds": args.rounds,
                       "warmup": args.warmup, "concurrency": args.concurrency, "broker": args.broker_url,
                       "database": "postgresql", "plans": PLANS_YAML},
            "rounds": rounds, "summary": summarise(rounds, breakdown), "breakdown": breakdown, "profile": profile,
        }
    finally:
        if bench is not None and bench.workers:
            for worker in bench.workers.values():
                if worker.proc.poll() is None:
                    stop_worker(worker, timeout_s=30)
        drop_database(database)
        services.flush_redis(args.broker_url)
        if not args.keep_logs:
            remove_logs(log_dir)


def breakdown_of(bench: Bench, seq_keys: dict[str, list[str]], db_rows: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Median time between consecutive milestones of the sequential round trips, per kind."""
    result: dict[str, Any] = {}
    for kind, keys in seq_keys.items():
        marks = [bench.milestones(kind, k, db_rows) for k in keys]
        stages = {}
        for label, before, after, kinds in STAGE_ROWS:
            if kind not in kinds:
                continue
            stages[label] = stats_ms(m[after] - m[before] for m in marks
                                     if m.get(after) is not None and m.get(before) is not None)
        total = [m["callback done"] - m["sent"] for m in marks if m.get("callback done")]
        result[kind] = {"stages": stages, "total_ms": stats_ms(total)}
        if kind == "medic":
            def span(a: str, b: str, marks: list[dict[str, float | None]] = marks) -> dict[str, float]:
                return stats_ms(m[b] - m[a] for m in marks if m.get(a) is not None and m.get(b) is not None)
            result[kind]["db"] = {
                "scheduled_for (intake's clock) -> execution finished_at": span("scheduled", "execution finished"),
                "intake's commit -> execution finished_at": span("sent", "execution finished"),
                "scheduled_for -> intake's commit (its transaction)": span("scheduled", "sent"),
            }
    return result


def summarise(rounds: list[dict[str, Any]], breakdown: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in KINDS:
        summary[kind] = {
            "sequential_median_ms": median([r[kind]["sequential_ms"]["median"] for r in rounds]),
            "sequential_p95_ms": median([r[kind]["sequential_ms"]["p95"] for r in rounds]),
            "all_sequential_ms": breakdown[kind]["total_ms"],
            "concurrent_per_s": median([r[kind]["concurrent"]["per_s"] for r in rounds]),
        }
        cpu: dict[str, float] = defaultdict(float)
        items = 0
        for r in rounds:
            items += r[kind]["concurrent"]["count"]
            for key, value in r[kind]["concurrent"]["cpu_s"].items():
                if key != "machine_busy_share":
                    cpu[key] += value
        summary[kind]["cpu_ms_per_item"] = {k: 1000 * v / items for k, v in cpu.items()}
        summary[kind]["machine_busy_share"] = median([r[kind]["concurrent"]["cpu_s"]["machine_busy_share"]
                                                      for r in rounds])
    base = summary["noop"]
    summary["latency_ratio_median"] = (summary["medic"]["all_sequential_ms"]["median"]
                                       / base["all_sequential_ms"]["median"])
    summary["latency_ratio_p95"] = summary["medic"]["all_sequential_ms"]["p95"] / base["all_sequential_ms"]["p95"]
    summary["latency_ratio_per_round"] = [r["medic"]["sequential_ms"]["median"] / r["noop"]["sequential_ms"]["median"]
                                          for r in rounds]
    summary["time_per_item_ratio"] = base["concurrent_per_s"] / summary["medic"]["concurrent_per_s"]
    summary["time_per_item_ratio_per_round"] = [r["noop"]["concurrent"]["per_s"] / r["medic"]["concurrent"]["per_s"]
                                                for r in rounds]
    summary["latency_ratio_to_chain"] = (summary["medic"]["all_sequential_ms"]["median"]
                                         / summary["chain"]["all_sequential_ms"]["median"])
    summary["latency_meets_target"] = summary["latency_ratio_median"] <= TARGET_RATIO
    summary["throughput_meets_target"] = summary["time_per_item_ratio"] <= TARGET_RATIO
    return summary


# ----------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    cfg, summary, rounds = result["config"], result["summary"], result["rounds"]
    base = summary["noop"]["all_sequential_ms"]["median"]
    rows = []
    for kind in KINDS:
        s = summary[kind]["all_sequential_ms"]
        rows.append([KIND_TITLES[kind], s["median"], s["p95"], s["mean"], s["min"], s["max"],
                     f"{s['median'] / base:.2f}x"])
    print()
    print(table(["one at a time", "median ms", "p95 ms", "mean ms", "min ms", "max ms", "median / no-op"], rows,
                title=f"Latency of one round trip, {cfg['sequential']} x {cfg['rounds']} rounds per kind, "
                      f"one at a time, the kinds interleaved"))
    rows = []
    for kind in KINDS:
        per_round = [r[kind]["concurrent"]["per_s"] for r in rounds]
        rows.append([KIND_TITLES[kind], *per_round, summary[kind]["concurrent_per_s"],
                     1000 / summary[kind]["concurrent_per_s"],
                     f"{summary['noop']['concurrent_per_s'] / summary[kind]['concurrent_per_s']:.2f}x"])
    print()
    print(table(["together", *[f"round {i + 1} /s" for i in range(len(rounds))], "median /s", "ms per item",
                 "time / no-op"], rows,
                title=f"Throughput, {cfg['executions']} pre-loaded round trips released at once, "
                      f"{cfg['concurrency']} pool processes per worker"))
    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"
    print(f"\nLatency: one recovery attempt takes {summary['latency_ratio_median']:.2f}x the no-op round trip's median "
          f"(p95 {summary['latency_ratio_p95']:.2f}x; per round "
          f"{', '.join(f'{x:.2f}x' for x in summary['latency_ratio_per_round'])}): "
          f"{verdict(summary['latency_meets_target'])} the <= {TARGET_RATIO:g}x target. Against a no-op chain of "
          f"three messages: {summary['latency_ratio_to_chain']:.2f}x.")
    print(f"Under load: {summary['time_per_item_ratio']:.2f}x the no-op's time per item (per round "
          f"{', '.join(f'{x:.2f}x' for x in summary['time_per_item_ratio_per_round'])}): "
          f"{verdict(summary['throughput_meets_target'])} the same target.")

    bd = result["breakdown"]
    rows = []
    for label in dict.fromkeys(row[0] for row in STAGE_ROWS):
        cells = []
        for kind in KINDS:
            value = bd[kind]["stages"].get(label)
            cells.append(value["median"] if value and value.get("n") else float("nan"))
        rows.append([label, *cells])
    rows.append(["total (sent -> callback done)", *[bd[k]["total_ms"]["median"] for k in KINDS]])
    print()
    print(table(["stage (median ms, one at a time)", *[KIND_TITLES[k] for k in KINDS]], rows,
                title="Where the time of one round trip goes (Celery task events, medic's attempts rows)"))
    print("(medians of each stage, so they need not add up to the median total; indented rows split the row above. "
          "Stage 1 of the no-op round trip is its first worker's receipt of the app task.)")
    db = bd["medic"]["db"]
    print()
    print(table(["medic, from its own rows", "median ms", "p95 ms", "mean ms"],
                [[k, v["median"], v["p95"], v["mean"]] for k, v in db.items()],
                title="The same attempts measured with medic's timestamps"))

    keys = ["app main", "app pool", "callback main", "callback pool", "medic main", "medic pool", "postgres", "redis",
            "benchmark", "other"]
    rows = [[KIND_TITLES[kind], *[summary[kind]["cpu_ms_per_item"].get(k, 0.0) for k in keys],
             sum(v for k, v in summary[kind]["cpu_ms_per_item"].items() if k != "other"),
             f"{100 * summary[kind]['machine_busy_share']:.0f}%"] for kind in KINDS]
    print()
    print(table(["CPU ms per round trip", *keys, "total (w/o other)", "machine busy"], rows,
                title="Where the CPU went while the pre-loaded batches ran (from /proc/<pid>/stat; main: the "
                      "worker's consumer process, pool: its 2 pool processes; other: the rest of the machine)"))

    profile = result.get("profile")
    if profile:
        rows = []
        for what in ("report", "record"):
            c = profile["calls"][what]
            io = c["io"]

            def cell(key: str, io: dict[str, Any] = io) -> str:
                return f"{io[key]['count']:.1f} / {io[key]['ms']:.2f}" if key in io else "-"
            rows.append([PROFILED_CALLS[what], c["wall_ms"]["median"], c["wall_mean_ms"], c["cpu_ms"]["median"],
                         cell("sql"), cell("commit"), cell("pre-ping"), cell("redis"), c["not_waiting_ms"],
                         cell("plan"), f"{io.get('event_of', {}).get('count', 0):.0f}"])
        print()
        print(table(["per call, in this process", "wall median ms", "wall mean ms", "CPU median ms",
                     "SQL n / ms", "commits n / ms", "pre-pings n / ms", "Redis n / ms", "rest ms",
                     "PlanSpec.model_validate n / ms", "event_of calls"],
                    rows, title=f"medic's own work per attempt: {profile['attempts']} events reported and their "
                                f"attempts recorded, with a recording dispatcher, same PostgreSQL (means unless "
                                f"marked)"))
        print("(rest = wall mean minus the waits counted: Python, SQLAlchemy, "
              "pydantic - PlanSpec.model_validate included - and any SQL outside cursor.execute)")
        cp = profile["cprofile"]
        print()
        print(table(["own time under cProfile, by where the code is", "ms per attempt", "share"],
                    [[b["where"], b["ms_per_attempt"], f"{100 * b['share']:.0f}%"] for b in cp["buckets"]],
                    title=f"{cp['attempts']} more attempts (report + record) under cProfile: "
                          f"{cp['wall_ms_per_attempt']:.2f} ms each with the profiler's overhead"))
        print()
        print(table(["SQL statement", "per attempt", "median ms", "ms per attempt"],
                    [[r["statement"], r["per_attempt"], r["median_ms"], r["ms_per_attempt"]]
                     for r in profile["statements"]],
                    title="The statements of one attempt (report + record), slowest total first"))


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
