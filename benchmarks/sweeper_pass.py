"""The recovery sweeper's pass with 10,000 executions waiting, on PostgreSQL and SQLite.

    python -m benchmarks.sweeper_pass [--waiting 10000] [--passes 20] [--no-sqlite] [--json PATH]

For each database (a fresh PostgreSQL database, migrated and dropped at the end; a SQLite file
in a temporary directory), rows are bulk-inserted with SQLAlchemy Core (not through the
service, which would take minutes):
- history: --finished executions (succeeded / dead / cancelled) with --history-attempts finished
  attempts spread over them and over the waiting ones (failed, timed out, succeeded; the last day),
  and --notifications sent notifications;
- --waiting executions in state `waiting`, each with one `scheduled` attempt whose time is spread
  over the next hour and whose message was never sent (dispatched_at NULL: a delay above the
  countdown threshold, the sweeper's to send); --due-share of them are due now;
- --running executions with an attempt in flight whose deadline is minutes away;
- optionally (--backlog-share) waiting attempts that are due and whose message was sent seconds
  ago (a busy worker's queue): the due-attempts query reads and skips them.
Then ANALYZE (as autovacuum would), and `RecoveryService.sweep()` is timed: one untimed first
pass, then --passes passes with a recording dispatcher that sends nothing, and as many with
medic's CeleryDispatcher sending the due attempts' messages to Redis (db 14, flushed; nobody
consumes them). Between passes the due attempts are re-armed (dispatched_at NULL again,
untimed). The clock is fixed, so every pass finds the same due attempts. Each pass's SQL
statements are timed. Last, the plans of the sweeper's queries: the due-attempts query is
captured as `store.due_attempts` sends it (statement and parameters) and explained with
EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL and EXPLAIN QUERY PLAN on SQLite, with its index and,
for comparison, inside a rolled-back transaction without it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine

from benchmarks.common import (
    Statements,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    start_run,
    table,
)
from benchmarks.recovery_overhead import Recorder, statement_label
from tests.support import services

TARGET_S = 1.0
SERVICES = 40  # service names the executions are spread over
EVENT = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner",
         "operation": "sync-order", "replay": {"kind": "celery", "task": "app.sync_order", "args": [1],
                                               "queue": "app"}}
INSERT_BATCH = 5000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("sweeper_pass", __doc__)
    parser.add_argument("--waiting", type=int, default=10_000, help="executions waiting, one scheduled attempt each")
    parser.add_argument("--due-share", type=float, default=0.01, help="share of the waiting attempts due now (0.01)")
    parser.add_argument("--backlog-share", type=float, default=0.0,
                        help="share of the waiting attempts that are due and whose message was sent seconds ago, "
                             "still queued (a busy worker's backlog; the sweeper must skip them): default 0")
    parser.add_argument("--running", type=int, default=200, help="executions with an attempt in flight")
    parser.add_argument("--finished", type=int, default=10_000, help="finished executions (history)")
    parser.add_argument("--history-attempts", type=int, default=50_000, help="finished attempts (history)")
    parser.add_argument("--notifications", type=int, default=5_000, help="sent notifications (history)")
    parser.add_argument("--passes", type=int, default=20, help="timed passes per dispatcher (default 20)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-celery", action="store_true", help="skip the passes that send messages to Redis")
    add_broker_url(parser)
    parser.add_argument("--seed", type=int, default=1)
    return parse(parser, argv)


def ms(seconds: float) -> float:
    return 1000 * seconds


# ----------------------------------------------------------------------------- data


def seed(engine: Engine, args: argparse.Namespace, now: datetime, plan: dict[str, Any]) -> dict[str, Any]:
    """Bulk-insert the history and the waiting executions; returns counts and the due attempts' ids."""
    from workers.storage.models import Attempt, ErrorGroup, Execution, Notification, Occurrence

    rng = random.Random(args.seed)
    day = 86_400.0
    triage = {"category": "network", "severity": "error", "retryable": True, "confidence": 0.95,
              "rule_id": "network.connection_refused"}
    groups = [{"id": g + 1, "fingerprint": f"{g:064x}", "error_type": EVENT["error_type"],
               "message_template": EVENT["message"], "service": f"partner-{g:02d}", "operation": "sync-order",
               "status": "open", "occurrence_count": 1, "first_seen": now - timedelta(days=1), "last_seen": now,
               **triage} for g in range(SERVICES)]
    n_exec = args.finished + args.waiting + args.running
    occurrences, executions = [], []
    for i in range(n_exec):
        g = i % SERVICES
        if i < args.finished:
            state = rng.choices(["succeeded", "dead", "cancelled"], [80, 15, 5])[0]
            created = now - timedelta(seconds=rng.uniform(3600, day))
            finished: datetime | None = created + timedelta(seconds=rng.uniform(1, 3600))
            next_at = None
        elif i < args.finished + args.waiting:
            state, created, finished = "waiting", now - timedelta(seconds=rng.uniform(60, 3600)), None
            next_at = None  # set with its attempt below
        else:
            state, created, finished, next_at = "running", now - timedelta(seconds=rng.uniform(1, 60)), None, None
        occurrences.append({"id": i + 1, "group_id": g + 1, "delivery_id": f"bench-{i}", "idempotency_key": None,
                            "received_at": created, "occurred_at": created, "source": "app",
                            "message": EVENT["message"],
                            "event": {**EVENT, "service": f"partner-{g:02d}"}, **triage})
        executions.append({"id": i + 1, "group_id": g + 1, "occurrence_id": i + 1, "replay_of": None,
                           "plan_name": plan["name"], "plan": plan, "service": f"partner-{g:02d}",
                           "category": "network",
                           "state": state, "run": 1, "step_index": 0, "next_attempt_at": next_at, "created_at": created,
                           "updated_at": finished or created, "finished_at": finished,
                           "last_error": "the replayed task failed", "reason": None, "version": 3})

    attempts: list[dict[str, Any]] = []
    numbers: dict[int, int] = defaultdict(int)

    def attempt(execution_id: int, state: str, scheduled: datetime, **more: Any) -> dict[str, Any]:
        numbers[execution_id] += 1
        row = {"execution_id": execution_id, "run": 1, "step_index": 0, "step_kind": "retry",
               "number": numbers[execution_id], "state": state, "scheduled_for": scheduled, "dispatched_at": None,
               "dispatch_count": 0, "claimed_at": None, "claimed_by": None, "deadline_at": None, "finished_at": None,
               "outcome": None, "error": None, "detail": None}
        row.update(more)
        return row

    # History: finished attempts of finished executions and earlier (failed) attempts of waiting ones.
    owners = list(range(1, args.finished + args.waiting + 1))
    for k in range(args.history_attempts):
        execution_id = owners[k % len(owners)]
        scheduled = now - timedelta(seconds=rng.uniform(120, day))
        outcome = rng.choices(["failed", "timed_out", "succeeded"], [70, 10, 20])[0]
        attempts.append(attempt(execution_id, outcome, scheduled, dispatched_at=scheduled, dispatch_count=1,
                                claimed_at=scheduled + timedelta(milliseconds=5), claimed_by="worker:bench:1",
                                deadline_at=scheduled + timedelta(seconds=300),
                                finished_at=scheduled + timedelta(milliseconds=rng.uniform(10, 2000)),
                                outcome={"failed": "retryable", "timed_out": "timeout"}.get(outcome, "success"),
                                error=None if outcome == "succeeded" else "the replayed task failed"))
    # Waiting: one scheduled attempt each, spread over the next hour; due_share of them due now,
    # backlog_share due with their message sent (as a countdown sends it) and still in the queue.
    due_count = round(args.waiting * args.due_share)
    backlog_count = round(args.waiting * args.backlog_share)
    first_waiting = args.finished + 1
    for j in range(args.waiting):
        execution_id = first_waiting + j
        if j < due_count:
            when = now - timedelta(seconds=rng.uniform(0.001, 30))
            attempts.append(attempt(execution_id, "scheduled", when))
        elif j < due_count + backlog_count:
            when = now - timedelta(seconds=rng.uniform(0.001, 25))  # newer than the redispatch threshold (30 s)
            attempts.append(attempt(execution_id, "scheduled", when, dispatched_at=when, dispatch_count=1))
        else:
            when = now + timedelta(seconds=rng.uniform(1, 3600))
            attempts.append(attempt(execution_id, "scheduled", when))
        executions[execution_id - 1]["next_attempt_at"] = when
    # In flight: claimed, deadline minutes away (nothing expires during the benchmark).
    for j in range(args.running):
        execution_id = args.finished + args.waiting + 1 + j
        claimed = now - timedelta(seconds=rng.uniform(0.1, 30))
        attempts.append(attempt(execution_id, "running", claimed, dispatched_at=claimed, dispatch_count=1,
                                claimed_at=claimed, claimed_by="worker:bench:1",
                                deadline_at=claimed + timedelta(seconds=rng.uniform(120, 300))))
    rng.shuffle(attempts)  # insertion order is not scheduling order, as in life

    notifications = [{"created_at": now - timedelta(seconds=rng.uniform(0, day)), "channel": "log",
                      "level": "warning", "kind": "notify", "group_id": (k % SERVICES) + 1, "execution_id": None,
                      "dedup_key": f"notify:{k % SERVICES}:log:warning", "subject": "network error needs attention",
                      "body": {"subject": "network error needs attention", "level": "warning", "kind": "notify",
                               "fields": {"service": f"partner-{k % SERVICES:02d}"}},
                      "state": "sent", "attempts": 1, "next_attempt_at": None, "last_error": None,
                      "sent_at": now - timedelta(seconds=rng.uniform(0, day))} for k in range(args.notifications)]

    started = time.perf_counter()
    with engine.begin() as conn:
        for model, rows in ((ErrorGroup, groups), (Occurrence, occurrences), (Execution, executions),
                            (Attempt, attempts), (Notification, notifications)):
            for offset in range(0, len(rows), INSERT_BATCH):
                conn.execute(insert(model.__table__), rows[offset:offset + INSERT_BATCH])
        if engine.dialect.name == "postgresql":  # ids were given explicitly: move the sequences past them
            for name in ("error_groups", "occurrences", "executions"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT max(id) FROM {name}))"))
    insert_s = time.perf_counter() - started
    analyze(engine)
    with engine.connect() as conn:
        due_ids = [r[0] for r in conn.execute(select(Attempt.id).where(Attempt.state == "scheduled",
                                                                          Attempt.scheduled_for <= now,
                                                                          Attempt.dispatched_at.is_(None)))]
        counts = dict(conn.execute(select(Attempt.state, func.count()).group_by(Attempt.state)).all())
    return {"insert_s": insert_s, "due_ids": due_ids, "attempts_by_state": counts, "backlog": backlog_count,
            "executions": n_exec, "attempts": len(attempts), "notifications": len(notifications)}


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def rearm(engine: Engine, ids: list[int]) -> None:
    from workers.storage.models import Attempt

    with engine.begin() as conn:
        conn.execute(update(Attempt).where(Attempt.id.in_(ids)).values(dispatched_at=None, dispatch_count=0))


# ----------------------------------------------------------------------------- timing passes


class StatementTimer(Statements):
    """Wall time of each SQL statement sent through `engine`, by a short label."""

    def __init__(self, engine: Engine):
        super().__init__(engine)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.active = False  # only while a pass runs, not while re-arming

    def _after(self, conn, cursor, statement, *_: Any) -> None:
        elapsed = time.perf_counter() - self._started.pop()
        if self.active:
            self.times[statement_label(statement)].append(elapsed)


def time_passes(service: Any, engine: Engine, due_ids: list[int], passes: int) -> dict[str, Any]:
    times, results = [], []
    rearm(engine, due_ids)
    first_started = time.perf_counter()
    first_result = service.sweep()
    first_s = time.perf_counter() - first_started
    with StatementTimer(engine) as timer:
        for _ in range(passes):
            rearm(engine, due_ids)
            timer.active = True
            started = time.perf_counter()
            result = service.sweep()
            times.append(time.perf_counter() - started)
            timer.active = False
            results.append(result)
    from workers.recovery.service import SWEEP_BATCH

    expected = min(len(due_ids), SWEEP_BATCH)
    if any(r is None or r["dispatched"] != expected or r["timed_out"] for r in [first_result, *results]):
        raise SystemExit(f"unexpected sweep results: first {first_result}, then {results[:3]} ...")
    statements = sorted(({"statement": label, "per_pass": len(t) / passes, "median_ms": ms(median(t)),
                          "max_ms": ms(max(t)), "ms_per_pass": ms(sum(t)) / passes}
                         for label, t in timer.times.items()),
                        key=lambda row: -row["ms_per_pass"])
    return {"first_pass_ms": ms(first_s), "passes": passes, "median_ms": ms(median(times)), "max_ms": ms(max(times)),
            "min_ms": ms(min(times)), "mean_ms": ms(statistics.fmean(times)), "dispatched_per_pass": expected,
            "all_ms": [ms(t) for t in times], "statements": statements}


# ----------------------------------------------------------------------------- query plans


def capture(engine: Engine, call: Callable[[Any], Any]) -> tuple[str, Any]:
    """The last statement and parameters `call(session)` sends, as the driver gets them."""
    from sqlalchemy.orm import sessionmaker

    seen: list[tuple[str, Any]] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        with sessionmaker(engine)() as session:
            call(session)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen[-1]


def explain(conn: Connection, statement: str, parameters: Any, note: str = "") -> list[str]:
    # `note` (an SQL comment) makes the text new: pysqlite caches prepared statements, and a cached
    # EXPLAIN QUERY PLAN keeps the plan it was prepared with even after the schema changed.
    if conn.dialect.name == "postgresql":
        return [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}{note}", parameters)]
    return [f"{r[3]}" for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}{note}", parameters)]


def time_query(conn: Connection, statement: str, parameters: Any, repeat: int = 20) -> dict[str, Any]:
    times, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = len(conn.exec_driver_sql(statement, parameters).fetchall())
        times.append(time.perf_counter() - started)
    return {"median_ms": ms(median(times)), "max_ms": ms(max(times)), "rows": rows, "repeat": repeat}


def query_plans(engine: Engine, now: datetime, redispatch_after_s: float, due_ids: list[int]) -> dict[str, Any]:
    from workers.notify import queue as notifications
    from workers.recovery import store
    from workers.recovery.service import SWEEP_BATCH
    from workers.storage.models import Notification

    rearm(engine, due_ids)
    redispatch_before = now - timedelta(seconds=redispatch_after_s)
    queries = {
        "due attempts (store.due_attempts)": (
            capture(engine, lambda s: store.due_attempts(s, now=now, redispatch_before=redispatch_before,
                                                            limit=SWEEP_BATCH)), "ix_attempts_state_scheduled"),
        "expired running attempts (store.expired_attempt_ids)": (
            capture(engine, lambda s: store.expired_attempt_ids(s, now=now, limit=SWEEP_BATCH)),
            "ix_attempts_state_deadline"),
        "due notifications (select of notify.queue.lease_due)": (
            capture(engine, lambda s: s.execute(
                select(Notification.id, Notification.next_attempt_at)
                .where(Notification.state == notifications.PENDING,
                       Notification.next_attempt_at <= now).order_by(Notification.next_attempt_at)
                .limit(SWEEP_BATCH)).all()), "ix_notifications_state_next"),
    }
    result: dict[str, Any] = {}
    for name, ((statement, parameters), index) in queries.items():
        with engine.connect() as conn:
            plan = explain(conn, statement, parameters)
            timing = time_query(conn, statement, parameters)
            conn.rollback()
            entry = {"statement": " ".join(statement.split()), "parameters": _printable(parameters), "index": index,
                     "plan": plan, "uses_index": any(index in line for line in plan), "timing": timing}
            # The same query without its index, in a transaction that is rolled back. (pysqlite
            # would commit DDL outside a transaction it opens itself, so SQLite gets an explicit BEGIN.)
            trans = conn.begin()
            try:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN")
                conn.exec_driver_sql(f"DROP INDEX {index}")
                entry["without_index"] = {"plan": explain(conn, statement, parameters, " /* without the index */"),
                                          "timing": time_query(conn, statement, parameters)}
            finally:
                trans.rollback()
        table_name = "notifications" if index.startswith("ix_notifications") else "attempts"
        if index not in {i["name"] for i in inspect(engine).get_indexes(table_name)}:
            raise SystemExit(f"{index} did not come back after the rollback")
        result[name] = entry
    return result


def _printable(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    return [str(v) for v in parameters]


# ----------------------------------------------------------------------------- one database


def bench_database(kind: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from config.settings import load_settings
    from workers.recovery.dispatch import CeleryDispatcher
    from workers.recovery.service import RecoveryService
    from workers.storage import migrate
    from workers.storage.db import engine_for

    migrate.upgrade(url)
    engine = engine_for(url)
    now = datetime.now(UTC).replace(microsecond=0)
    settings = load_settings(database_url=url, broker_url=args.broker_url, breaker_store="database",
                             log_level="WARNING")
    recorder = Recorder()
    service = RecoveryService(settings, dispatcher=recorder, clock=lambda: now)
    plan = service.plans.select(EVENT, "network", "error").model_dump(mode="json")
    print(f"{kind}: inserting {args.finished + args.waiting + args.running:,} executions, "
          f"{args.history_attempts + args.waiting + args.running:,} attempts ...", flush=True)
    data = seed(engine, args, now, plan)
    due_ids = data.pop("due_ids")
    print(f"{kind}: inserted in {data['insert_s']:.1f} s; attempts by state {data['attempts_by_state']}; "
          f"{len(due_ids)} due now", flush=True)
    result: dict[str, Any] = {"database": kind, "data": {**data, "due_now": len(due_ids)}, "passes": {}}
    result["passes"]["recording dispatcher"] = time_passes(service, engine, due_ids, args.passes)
    print(f"{kind}: recording dispatcher: median {result['passes']['recording dispatcher']['median_ms']:.1f} ms, "
          f"max {result['passes']['recording dispatcher']['max_ms']:.1f} ms", flush=True)
    if not args.no_celery:
        from celery import Celery

        client = Celery("bench-sweeper", broker=args.broker_url)
        client.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
        sender = RecoveryService(settings, dispatcher=CeleryDispatcher(client), clock=lambda: now)
        services.flush_redis(args.broker_url)
        try:
            result["passes"]["Celery dispatcher (Redis)"] = time_passes(sender, engine, due_ids, args.passes)
        finally:
            client.close()
            services.flush_redis(args.broker_url)
        print(f"{kind}: Celery dispatcher: median {result['passes']['Celery dispatcher (Redis)']['median_ms']:.1f} ms, "
              f"max {result['passes']['Celery dispatcher (Redis)']['max_ms']:.1f} ms", flush=True)
    result["plans"] = query_plans(engine, now, settings.recovery_redispatch_after_s, due_ids)
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from workers.storage.db import _engines

    info = start_run(background=True)
    results = []
    database = services.create_pg_database()
    try:
        results.append(bench_database("postgresql", services.pg_url(database), args))
    finally:
        drop_database(database)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="medic-bench-sweeper-") as directory:
            url = f"sqlite:///{Path(directory) / 'medic.db'}"
            try:
                results.append(bench_database("sqlite", url, args))
            finally:
                if url in _engines:
                    _engines.pop(url).dispose()
    return {"benchmark": "sweeper_pass", "machine": info,
            "config": {k: v for k, v in vars(args).items() if k != "json"}, "results": results,
            "meets_target": all(p["max_ms"] < ms(TARGET_S) for r in results for p in r["passes"].values())}


# ----------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    cfg = result["config"]
    rows = []
    for r in result["results"]:
        for name, p in r["passes"].items():
            rows.append([r["database"], name, p["dispatched_per_pass"], p["first_pass_ms"], p["median_ms"],
                         p["mean_ms"], p["max_ms"]])
    print()
    print(table(["database", "dispatcher", "due per pass", "first pass ms", "median ms", "mean ms", "max ms"], rows,
                title=f"RecoveryService.sweep(), {cfg['passes']} passes each, {cfg['waiting']:,} executions waiting "
                      f"({cfg['due_share']:.0%} due, {cfg['backlog_share']:.0%} due and queued), "
                      f"{cfg['running']} running, history {cfg['finished']:,} executions / "
                      f"{cfg['history_attempts']:,} attempts"))
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"\nThe slowest pass {verdict} the < {TARGET_S:g} s target.")
    for r in result["results"]:
        p = r["passes"]["recording dispatcher"]
        print()
        print(table(["statement", "per pass", "median ms", "max ms", "ms per pass"],
                    [[s["statement"], s["per_pass"], s["median_ms"], s["max_ms"], s["ms_per_pass"]]
                     for s in p["statements"]],
                    title=f"{r['database']}: the SQL of one pass (recording dispatcher)"))
        if r["database"] == "sqlite":
            print("(SQLite: a SELECT's time here ends at its first row; the rest is read while it is fetched. The "
                  "pass times include it, and so do the query timings below.)")
    for r in result["results"]:
        for name, q in r["plans"].items():
            print()
            title = f"{r['database']}: {name}"
            print(title)
            print("=" * len(title))
            print(q["statement"])
            print(f"parameters: {q['parameters']}")
            print(f"-- with {q['index']} (uses it: {'yes' if q['uses_index'] else 'NO'}); "
                  f"{q['timing']['rows']} rows, median {q['timing']['median_ms']:.3f} ms "
                  f"over {q['timing']['repeat']} runs")
            for line in q["plan"]:
                print(f"   {line}")
            w = q["without_index"]
            print(f"-- without it (DROP INDEX in a rolled-back transaction): median {w['timing']['median_ms']:.3f} ms")
            for line in w["plan"]:
                print(f"   {line}")


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
