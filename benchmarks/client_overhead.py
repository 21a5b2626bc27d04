"""What `medic_client.celery.install` costs an app's Celery worker, beside the same app without it.

    python -m benchmarks.client_overhead [--events 5000] [--down-events 200] [--repeat 3] [--json PATH]

The app (benchmarks/client_app.py) is a Celery app with Celery's defaults, run as a user runs it:
`celery -A benchmarks.client_app worker -Q bench.client -c 2` (prefork, default log level). medic
runs beside it as a user runs it: `medic worker` (default: all of medic's queues, 2 processes) on
the same Redis db (a free one, claimed as the test suite claims it, unless --broker-url) with a
fresh PostgreSQL database (migrated, dropped at the end). medic's worker runs through the whole
benchmark, also for the rows that report nothing, so every row shares the machine with it.

Each measurement starts a fresh app worker, warms it with --warmup tasks (which proves it consumes),
then a producer thread in this process sends N tasks by name (`send_task`) while the worker drains.
The clock runs from the first send until the app has finished the N-th task (a Redis counter its
`task_postrun` INCRs: after Celery's failure handling and the client's report). Rows, in an order
rotated between repeats:

  succeed            `bench.client.ok` (a no-op), no client: the baseline
  succeed-installed  the same with `install(app, service=...)`: the cost of the client's task_prerun hook
  fail               `bench.client.fail` raises, no client: Celery alone logs the failure
  fail-installed     the same with `install(...)`: each failure publishes one `medic.report`; also timed
                     until medic has stored all N (the sum of error_groups.occurrence_count)
  fail-broker-down   the same with `install(..., broker_url=<a closed port>)`: the never-raise path
                     (--down-events tasks, since each failure waits for the refused publish)

The failing task is declared `medic={"replay": False}`: its reports carry no replay target, so medic
stores them and starts no recovery (its plan has no work), and medic's replay allowlists stay empty.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from sqlalchemy import create_engine, text

from benchmarks import client_app
from benchmarks.common import (
    CpuMeter,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    remove_logs,
    start_run,
    stop_worker,
    table,
    worker_ticks,
)
from config.queues import INTAKE_QUEUE, RECOVERY_QUEUE
from tests.support import services
from tests.support.pgcluster import free_port

ROWS = ("succeed", "succeed-installed", "fail", "fail-installed", "fail-broker-down")
BASELINE = "succeed"
# row -> (task the producer sends, BENCH_CLIENT of the app's worker)
ROW_SPEC = {
    "succeed": (client_app.OK_TASK, "none"),
    "succeed-installed": (client_app.OK_TASK, "installed"),
    "fail": (client_app.FAIL_TASK, "none"),
    "fail-installed": (client_app.FAIL_TASK, "installed"),
    "fail-broker-down": (client_app.FAIL_TASK, "broker-down"),
}
NOT_SENT_LINE = "medic report not sent"  # medic_client.sending.keep_locally's log line
START_TIMEOUT_S = 120


# ----------------------------------------------------------------------------- shared with http_intake


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def check_services(broker_url: str | None) -> None:
    """Fail with a clear message when Redis (the given URL, else the server a free db is claimed on) or
    PostgreSQL (tests.support.services.PG_ADMIN_DSN) does not answer."""
    import psycopg

    from tests.support import redisdb

    redis_url = broker_url or redisdb.SERVER_URL
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        raise SystemExit(f"Redis at {redis_url} does not answer ({exc}): start it, or pass --broker-url") from None
    try:
        psycopg.connect(services.PG_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        raise SystemExit(f"PostgreSQL ({services.PG_ADMIN_DSN}) does not answer: {str(exc).strip()}; start it, or "
                         "set MEDIC_TEST_PG_ADMIN_DSN") from None


def broker_of(args: argparse.Namespace) -> str:
    """--broker-url, else a free Redis db claimed as the test suite claims one (kept alive, given back at exit)."""
    return args.broker_url or services.redis_url()


class MedicSide:
    """medic's fresh PostgreSQL database (migrated; dropped by close) and how much it has stored."""

    def __init__(self) -> None:
        from workers.storage import migrate

        self.database = services.create_pg_database()
        self.db_url = services.pg_url(self.database)
        migrate.upgrade(self.db_url)
        self.engine = create_engine(self.db_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)

    def stored(self) -> int:
        """Occurrences stored: error_groups' counters, bumped in the storing transaction."""
        return self.scalar("SELECT coalesce(sum(occurrence_count), 0) FROM error_groups")

    def counts(self) -> dict[str, int]:
        return {"occurrences": self.scalar("SELECT count(*) FROM occurrences"),
                "groups": self.scalar("SELECT count(*) FROM error_groups"),
                "rejected": self.scalar("SELECT count(*) FROM rejected_events"),
                "executions": self.scalar("SELECT count(*) FROM executions")}

    def close(self) -> None:
        self.engine.dispose()
        drop_database(self.database)


class Meter(CpuMeter):
    """CPU of named processes (each with its pool: main / pool), PostgreSQL, Redis, this process and the rest."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(next(iter(pids.values())))
        self.pids = pids

    def _processes(self) -> dict[str, int]:
        ticks: dict[str, int] = {}
        for name, pid in self.pids.items():
            ticks[f"{name}_main"], ticks[f"{name}_pool"] = worker_ticks(pid)
        return ticks


def wait_until(done: Any, *, what: str, timeout_s: float, interval_s: float,
               alive: tuple[services.Process, ...] = ()) -> float:
    """Poll done() until true; the perf_counter when it was seen. Fails loudly if a process exits."""
    deadline = time.perf_counter() + timeout_s
    while True:
        if done():
            return time.perf_counter()
        for process in alive:
            if process.proc.poll() is not None:
                raise SystemExit(f"{what}: {process.log_path.name} exited with {process.proc.returncode}:\n"
                                 f"{process.output()[-3000:]}")
        if time.perf_counter() > deadline:
            logs = "\n".join(f"--- {p.log_path.name}\n{p.output()[-1500:]}" for p in alive)
            raise SystemExit(f"{what}: not done after {timeout_s:.0f} s\n{logs}")
        time.sleep(interval_s)


def start_medic_worker(env: dict[str, str], log_dir: Path, name: str) -> services.Process:
    """`medic worker` as a user starts it (all of medic's queues, MEDIC_WORKER_CONCURRENCY's 2 processes)."""
    hostname = f"{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    return services.Process(services.medic_command("worker", "--hostname", hostname), env, log_dir / f"{name}.log")


def spread(values: list[float]) -> str:
    return f"{min(values):,.1f}-{max(values):,.1f}" if values else "-"


# ----------------------------------------------------------------------------- this benchmark


class TaskProducer(threading.Thread):
    """Sends `count` tasks by name with a plain Celery client, as fast as it can."""

    def __init__(self, client: Celery, task: str, first_order: int, count: int):
        super().__init__(daemon=True)
        self.client, self.task, self.first_order, self.count = client, task, first_order, count
        self.first = self.last = 0.0
        self.error: BaseException | None = None
        self.started_evt = threading.Event()

    def run(self) -> None:
        try:
            with self.client.producer_or_acquire() as producer:
                self.first = time.perf_counter()
                self.started_evt.set()
                for order in range(self.first_order, self.first_order + self.count):
                    self.client.send_task(self.task, args=[order, 100 + order % 9_900], queue=client_app.QUEUE,
                                          producer=producer)
                self.last = time.perf_counter()
        except BaseException as exc:  # reported by the measuring thread
            self.error = exc
            self.started_evt.set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("client_overhead", __doc__ or "")
    parser.add_argument("--events", "-n", type=int, default=5_000, help="tasks per measurement (default 5,000)")
    parser.add_argument("--down-events", type=int, default=200,
                        help="tasks per fail-broker-down measurement (default 200: each waits for the refused publish)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per row (default 3): median and range")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default {','.join(ROWS)})")
    parser.add_argument("--concurrency", "-c", type=int, default=2, help="the app worker's pool processes (default 2)")
    parser.add_argument("--warmup", type=int, default=20, help="tasks run (and reports stored) before the clock starts")
    parser.add_argument("--poll-interval", type=float, default=0.05, help="progress poll, s (default 0.05)")
    parser.add_argument("--broker-url", default=None,
                        help="Redis db used and flushed (default: a free db claimed as the test suite does)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one measurement")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    args = parse(parser, argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROW_SPEC]
    if unknown or not rows:
        parser.error(f"--rows: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(ROWS)}")
    if min(args.events, args.down_events, args.repeat, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--events, --down-events, --repeat and --concurrency must be at least 1, --warmup at least 0")
    args.row_list = rows
    return args


class ClientBench:
    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.broker_url = broker_of(args)
        services.flush_redis(args.broker_url)  # None: the claimed db, its claim kept
        self.redis = redis.Redis.from_url(self.broker_url)
        self.medic = MedicSide()
        self.env = services.medic_env(database_url=self.medic.db_url, broker_url=self.broker_url, log_level="WARNING")
        self.down_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        self.client = Celery("bench-client-producer", broker=self.broker_url)
        self.client.conf.update(broker_connection_retry_on_startup=True)
        self.medic_worker: services.Process | None = None
        self.orders = 0

    def start_medic(self) -> None:
        """Start medic's worker and wait until it has stored one event sent now (it consumes)."""
        self.medic_worker = start_medic_worker(self.env, self.log_dir, "medic-worker")
        probe = {"error_type": "bench.Probe", "message": "client_overhead: medic's worker consumes", "service": "bench"}
        self.client.send_task("medic.report", args=[probe], queue=INTAKE_QUEUE)
        wait_until(lambda: self.medic.stored() >= 1, what="medic worker start", timeout_s=START_TIMEOUT_S,
                   interval_s=self.args.poll_interval, alive=(self.medic_worker,))

    def close(self) -> None:
        if self.medic_worker is not None:
            stop_worker(self.medic_worker)
        self.client.close()
        self.medic.close()
        services.flush_redis(self.args.broker_url)

    def done(self) -> int:
        value: Any = self.redis.get(client_app.DONE_KEY)
        return int(value or 0)

    def queues(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for queue in (client_app.QUEUE, INTAKE_QUEUE, RECOVERY_QUEUE):
            pipe.llen(queue)
        app, intake, recovery = pipe.execute()
        return {"app": app, "intake": intake, "recovery": recovery}

    def app_worker(self, row: str, tag: str) -> services.Process:
        _, mode = ROW_SPEC[row]
        env = {**self.env, "BENCH_BROKER_URL": self.broker_url, "BENCH_CLIENT": mode,
               "BENCH_MEDIC_BROKER_URL": self.down_url}
        hostname = f"bench-app-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        command = [sys.executable, "-m", "celery", "-A", "benchmarks.client_app", "worker", "-Q", client_app.QUEUE,
                   "-c", str(self.args.concurrency), "--hostname", hostname]
        return services.Process(command, env, self.log_dir / f"{tag}.log")

    def send(self, task: str, count: int) -> TaskProducer:
        producer = TaskProducer(self.client, task, self.orders, count)
        self.orders += count
        return producer

    def measure(self, row: str, tag: str) -> dict[str, Any]:
        assert self.medic_worker is not None
        task, _ = ROW_SPEC[row]
        reports = row == "fail-installed"
        count = self.args.down_events if row == "fail-broker-down" else self.args.events
        poll = self.args.poll_interval
        self.redis.delete(client_app.DONE_KEY)
        worker = self.app_worker(row, tag)
        alive = (worker, self.medic_worker)
        try:
            stored_before = self.medic.stored()
            warm = self.send(task, self.args.warmup)
            warm.run()
            if warm.error:
                raise SystemExit(f"{row}: sending the warm-up failed: {warm.error!r}")
            wait_until(lambda: self.done() >= self.args.warmup, what=f"{row} warm-up", timeout_s=START_TIMEOUT_S,
                       interval_s=poll, alive=alive)
            if reports:
                wait_until(lambda: self.medic.stored() >= stored_before + self.args.warmup,
                           what=f"{row} warm-up reports stored", timeout_s=START_TIMEOUT_S, interval_s=poll,
                           alive=alive)
            base, stored_base = self.done(), self.medic.stored()
            meter = Meter({"app": worker.proc.pid, "medic": self.medic_worker.proc.pid})
            producer = self.send(task, count)
            meter.start()
            producer.start()
            producer.started_evt.wait()
            if producer.error:
                raise SystemExit(f"{row}: the producer failed: {producer.error!r}")
            first = producer.first
            app_done_at = wait_until(lambda: self.done() >= base + count, what=row, timeout_s=self.args.timeout,
                                     interval_s=poll, alive=alive)
            cpu_app = meter.stop()
            stored_at, cpu_e2e = None, None
            if reports:
                stored_at = wait_until(lambda: self.medic.stored() >= stored_base + count, what=f"{row} stored",
                                       timeout_s=self.args.timeout, interval_s=poll, alive=alive)
                cpu_e2e = meter.stop()
            producer.join()
            if producer.error:
                raise SystemExit(f"{row}: the producer failed: {producer.error!r}")
            wait_until(lambda: not any(self.queues().values()), what=f"{row}: queues to empty",
                       timeout_s=self.args.timeout, interval_s=poll, alive=alive)
        finally:
            code = stop_worker(worker)
        stored_now = self.medic.stored()
        expected_reports = (self.args.warmup + count) if reports else 0
        if stored_now - stored_before != expected_reports:
            raise SystemExit(f"{row}: medic stored {stored_now - stored_before:,} reports, "
                             f"expected {expected_reports:,}")
        not_sent = worker.output().count(NOT_SENT_LINE)
        if row == "fail-broker-down" and not_sent != self.args.warmup + count:
            raise SystemExit(f"{row}: {not_sent:,} 'not sent' log lines, expected {self.args.warmup + count:,}")
        seconds = app_done_at - first
        result: dict[str, Any] = {
            "row": row, "tasks": count, "seconds": seconds, "tasks_per_s": count / seconds,
            "send_seconds": producer.last - first, "send_per_s": count / (producer.last - first),
            "cpu_s": cpu_app, "worker_exit": code, "reports_not_sent": not_sent,
        }
        if stored_at is not None:
            result.update({"stored_seconds": stored_at - first, "stored_per_s": count / (stored_at - first),
                           "stored_after_app_s": stored_at - app_done_at, "cpu_s_to_stored": cpu_e2e})
        return result


# ----------------------------------------------------------------------------- report


CPU_KEYS = ("app_main", "app_pool", "medic_main", "medic_pool", "postgres", "redis", "benchmark", "other")


def summarise(measurements: list[dict[str, Any]], rows: list[str], concurrency: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for row in rows:
        ms = [m for m in measurements if m["row"] == row]
        if not ms:
            continue
        rates = [m["tasks_per_s"] for m in ms]
        cpu = {k: sum(1000 * m["cpu_s"].get(k, 0.0) / m["tasks"] for m in ms) / len(ms) for k in CPU_KEYS}
        s: dict[str, Any] = {
            "median_per_s": median(rates), "min_per_s": min(rates), "max_per_s": max(rates), "rates": rates,
            # wall time a task holds one pool process: concurrency / rate
            "pool_ms_per_task": 1000 * concurrency / median(rates),
            "app_cpu_ms_per_task": cpu["app_main"] + cpu["app_pool"], "cpu_ms_per_task": cpu,
            "median_send_per_s": median([m["send_per_s"] for m in ms]),
            "machine_busy_share": median([m["cpu_s"]["machine_busy_share"] for m in ms]),
        }
        stored = [m for m in ms if "stored_seconds" in m]
        if stored:
            s.update({"median_stored_seconds": median([m["stored_seconds"] for m in stored]),
                      "stored_rates": [m["stored_per_s"] for m in stored],
                      "median_stored_per_s": median([m["stored_per_s"] for m in stored]),
                      "median_stored_after_app_s": median([m["stored_after_app_s"] for m in stored])})
        summary[row] = s
    if BASELINE in summary:
        for s in summary.values():
            s["ratio_to_baseline"] = s["median_per_s"] / summary[BASELINE]["median_per_s"]
    return summary


def added_cost(summary: dict[str, Any], row: str, against: str) -> dict[str, Any] | None:
    """ms a task of `row` adds over one of `against`: wall (per pool process, from the medians) and app CPU."""
    if row not in summary or against not in summary:
        return None
    a, b = summary[row], summary[against]
    return {"wall_ms": a["pool_ms_per_task"] - b["pool_ms_per_task"],
            "app_cpu_ms": a["app_cpu_ms_per_task"] - b["app_cpu_ms_per_task"]}


def paired_added_ms(measurements: list[dict[str, Any]], row: str, against: str, concurrency: int) -> list[float]:
    """Added wall ms per task, repeat by repeat (each row's measurement beside the other's of the same repeat)."""
    by_repeat: dict[int, dict[str, float]] = {}
    for m in measurements:
        by_repeat.setdefault(m["repeat"], {})[m["row"]] = m["tasks_per_s"]
    return [1000 * concurrency * (1 / r[row] - 1 / r[against]) for r in by_repeat.values() if row in r and against in r]


def print_report(result: dict[str, Any]) -> None:
    config, summary = result["config"], result["summary"]
    rows = []
    for row, s in summary.items():
        ratio = f"{100 * s['ratio_to_baseline']:.0f}%" if "ratio_to_baseline" in s else "-"
        rows.append([row, config["down_events"] if row == "fail-broker-down" else config["events"], s["median_per_s"],
                     spread(s["rates"]), ratio, s["pool_ms_per_task"], s["app_cpu_ms_per_task"],
                     s["median_send_per_s"], f"{100 * s['machine_busy_share']:.0f}%"])
    print()
    print(table(["row", "tasks", "app tasks/s (median)", "range", "/ succeed", "pool ms/task", "app CPU ms/task",
                 "sent/s", "machine busy"], rows,
                title=f"An app's Celery worker (-c {config['concurrency']}, Celery defaults) with and without "
                      f"medic_client.celery.install, tasks sent while it drains, {config['repeat']} repeats"))
    print("app tasks/s: tasks / (first send -> the app's task_postrun of the last). pool ms/task: "
          f"{config['concurrency']} / rate, the wall time a task holds a pool process. app CPU: the app worker's "
          "main + pool processes.")
    added = result["added"]
    lines = []
    for name, cost in added.items():
        if cost:
            pairs = ", ".join(f"{v:.2f}" for v in cost["paired_wall_ms"])
            lines.append([name, cost["wall_ms"], pairs or "-", cost["app_cpu_ms"]])
    if lines:
        print()
        print(table(["added per task", "wall ms (medians)", "wall ms by repeat", "app CPU ms"], lines,
                    title="What the client adds per task"))
    if "fail-installed" in summary and "median_stored_seconds" in summary["fail-installed"]:
        s = summary["fail-installed"]
        print(f"\nend to end (fail-installed): {config['events']:,} reports stored by medic in "
              f"{s['median_stored_seconds']:.1f} s from the first send (median; "
              f"{spread(s['stored_rates'])} stored/s, median {s['median_stored_per_s']:,.1f}); the last stored "
              f"{s['median_stored_after_app_s']:.2f} s after the app finished its last task")
    print()
    cpu_rows = [[row, *[s["cpu_ms_per_task"][k] for k in CPU_KEYS]] for row, s in summary.items()]
    print(table(["CPU ms per task", *CPU_KEYS], cpu_rows,
                title="Where the CPU went, first send -> the app's last task (mean of repeats)"))
    print()
    measured = [[f"r{m['repeat']} {m['row']}", m["tasks_per_s"], m["seconds"], m["send_per_s"],
                 m.get("stored_seconds", "-"), m["cpu_s"]["other"] / m["seconds"]] for m in result["measurements"]]
    print(table(["measurement", "tasks/s", "app s", "sent/s", "stored s", "other processes, cores"], measured,
                title="Every measurement, in the order run"))
    print(f"\nload average at start {result['load_average']['start']}, at end {result['load_average']['end']}; "
          f"medic stored {result['stored']['occurrences']:,} occurrences in {result['stored']['groups']} groups, "
          f"{result['stored']['executions']} executions, {result['stored']['rejected']} rejected")


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_services(args.broker_url)
    info = start_run(background=True)
    load_start = load_average()
    print(f"load average: {load_start}", flush=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-client-"))
    bench = ClientBench(args, log_dir)
    rows: list[str] = args.row_list
    measurements: list[dict[str, Any]] = []
    try:
        bench.start_medic()
        print(f"database {bench.medic.database}, broker {bench.broker_url}, logs {log_dir}", flush=True)
        for repeat in range(args.repeat):
            order = rows[repeat % len(rows):] + rows[: repeat % len(rows)]
            for row in order:
                m = bench.measure(row, f"r{repeat + 1}-{row}")
                m["repeat"] = repeat + 1
                measurements.append(m)
                stored = f", stored by medic in {m['stored_seconds']:.1f} s" if "stored_seconds" in m else ""
                print(f"repeat {repeat + 1}: {row:18} {m['tasks_per_s']:8,.1f} tasks/s ({m['tasks']:,} in "
                      f"{m['seconds']:.1f} s, sent in {m['send_seconds']:.1f} s{stored})", flush=True)
        summary = summarise(measurements, rows, args.concurrency)
        added: dict[str, dict[str, Any] | None] = {}
        for name, row, against in (("succeed-installed vs succeed", "succeed-installed", "succeed"),
                                   ("fail-installed vs fail", "fail-installed", "fail"),
                                   ("fail-broker-down vs fail", "fail-broker-down", "fail")):
            cost = added_cost(summary, row, against)
            if cost:
                cost["paired_wall_ms"] = paired_added_ms(measurements, row, against, args.concurrency)
            added[name] = cost
        return {
            "benchmark": "client_overhead", "machine": info, "stored": bench.medic.counts(),
            "load_average": {"start": load_start, "end": load_average()},
            "config": {"events": args.events, "down_events": args.down_events, "repeat": args.repeat, "rows": rows,
                       "concurrency": args.concurrency, "warmup": args.warmup, "broker": bench.broker_url,
                       "medic_broker_down_url": bench.down_url, "medic_worker": "medic worker (default: all queues)",
                       "failing_task_option": {"medic": {"replay": False}}, "poll_interval_s": args.poll_interval},
            "measurements": measurements, "summary": summary, "added": added,
        }
    finally:
        bench.close()
        if args.keep_logs:
            print(f"kept {log_dir}")
        else:
            remove_logs(log_dir)


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
