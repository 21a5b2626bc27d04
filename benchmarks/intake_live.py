"""Intake as users meet it: events sent while the worker drains, beside a no-op on the same broker.

    python -m benchmarks.intake_live [--events 20000] [--repeat 3] [--rate 0] [--json PATH]
    python -m benchmarks.intake_live --embedded --events 1000     # SQLite broker + SQLite database

Each measurement starts a fresh worker of 2 prefork processes, warms it with a few events
(which also proves it consumes), then a producer thread in this process publishes N events with
a plain Celery client, `send_task("medic.report", args=[event], queue="medic.errors")` as
docs/contract.md says apps do, at full speed (or at --rate events/s) while the worker drains.
The clock runs from the first send to the moment the N-th event is stored (medic: the sum of
error_groups.occurrence_count, polled every --poll-interval s and checked against
count(occurrences) afterwards) or has run (no-op: a Redis counter the task INCRs).

Rows, in an order rotated between repeats:
  medic-default   `medic worker -c 2`: all of medic's queues, as a newcomer runs it (`medic run -c 2`,
                  beat inside, with --embedded). 10 % of events carry a Celery replay target
                  (task bench.replay.noop on queue bench.replay, allowed by MEDIC_REPLAY_TARGETS__*;
                  nobody consumes that queue, so a replay costs medic one publish and stays in flight)
  medic-intake    `medic worker -Q medic.errors -c 2`: intake only (recovery messages pile up unconsumed)
  noop            `celery -A benchmarks.noop_app worker -Q medic.errors -c 2`: a plain Celery app whose task
                  only INCRs a Redis counter, sent the same payloads the same way (the baseline)
  medic-default-prefilled  (--prefilled, Redis only) the default worker draining a pre-filled queue

The events come from benchmarks.common.Workload: every other labelled sample (18, all
categories) x 3 service instances, so about 54 groups.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from sqlalchemy import create_engine, text

from benchmarks import noop_app
from benchmarks.common import (
    CpuMeter,
    RssSampler,
    Workload,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    load_cases,
    median,
    parse,
    start_run,
    stop_worker,
    table,
)
from config.queues import INTAKE_QUEUE, RECOVERY_QUEUE
from tests.support import services

REPORT_TASK = "medic.report"
REPLAY_TASK, REPLAY_QUEUE = "bench.replay.noop", "bench.replay"
UNACKED_KEY = "unacked"  # kombu's Redis transport: delivered, unacknowledged messages
# Set in the Redis db while a live benchmark runs (the test suite marks its dbs with medic-test-claim):
# a second run on the same db would flush the first one's queues and steal its messages.
CLAIM_KEY, TEST_CLAIM_KEY = "medic-bench-claim", "medic-test-claim"
PAUSE_SETTLE_S = 2.0
ROWS = ("medic-default", "medic-intake", "noop")
PREFILLED = "medic-default-prefilled"


def add_live_arguments(parser: argparse.ArgumentParser, *, events: int, poll: float) -> None:
    """The options intake_live and storm share."""
    parser.add_argument("--events", "-n", type=int, default=events, help=f"events per measurement (default {events:,})")
    parser.add_argument("--concurrency", "-c", type=int, default=2, help="worker pool processes (default 2)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered rate, events/s, for the producer (default 0: as fast as it can send)")
    parser.add_argument("--warmup", type=int, default=20, help="events sent and stored before the clock starts")
    parser.add_argument("--poll-interval", type=float, default=poll, help=f"progress poll, s (default {poll})")
    parser.add_argument("--embedded", action="store_true",
                        help="SQLite database + kombu's SQLAlchemy broker on SQLite (MEDIC_DATA_DIR only)")
    add_broker_url(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one measurement")
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker logs (and the embedded data dir)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("intake_live", __doc__)
    add_live_arguments(parser, events=20_000, poll=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per row (default 3): median and range")
    parser.add_argument("--replay-share", type=float, default=0.10, help="share of events with a replay target")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default {','.join(ROWS)})")
    parser.add_argument("--prefilled", action="store_true", help=f"add the row {PREFILLED} (Redis only)")
    return parse(parser, argv)


def live_workload(seed: int, *, stride: int = 2, spread: int = 3) -> Workload:
    """Every `stride`-th labelled sample (all categories), `spread` service instances each."""
    return Workload(seed=seed, spread=spread, cases=load_cases()[::stride])


def with_replay(events: list[dict[str, Any]], share: float, seed: str) -> int:
    """Give `share` of the events (chosen by a seeded draw) a Celery replay target; return how many."""
    import random

    rng = random.Random(seed)
    chosen = 0
    for n, event in enumerate(events):
        if rng.random() < share:
            event["replay"] = {"kind": "celery", "task": REPLAY_TASK, "args": [n], "queue": REPLAY_QUEUE}
            chosen += 1
    return chosen


class Producer(threading.Thread):
    """Publishes the events by name with a plain Celery client, at full speed or at `rate` per second."""

    def __init__(self, client: Celery, task: str, events: list[dict[str, Any]], rate: float):
        super().__init__(daemon=True)
        self.client, self.task, self.events, self.rate = client, task, events, rate
        self.first = self.last = 0.0
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self.started_evt = threading.Event()

    def run(self) -> None:
        try:
            with self.client.producer_or_acquire() as producer:
                self.first = time.perf_counter()
                self.started_evt.set()
                for n, event in enumerate(self.events):
                    if self.rate:
                        delay = self.first + n / self.rate - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                    result = self.client.send_task(self.task, args=[event], queue=INTAKE_QUEUE, producer=producer)
                    self.ids.append(result.id)
                self.last = time.perf_counter()
        except BaseException as exc:  # reported by the measuring thread
            self.error = exc
            self.started_evt.set()


class LiveBench:
    """Workers started per measurement, a producer thread, progress read from the database or Redis."""

    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args = args
        self.log_dir = log_dir
        self.run_tag = uuid.uuid4().hex[:8]
        self.counter = redis.Redis.from_url(args.broker_url)
        self.claim()
        self.embedded = args.embedded
        self.database: str | None = None
        settings_env: dict[str, str] = {"log_level": "WARNING",
                                        "replay_targets__celery_tasks": "bench.replay.*",
                                        "replay_targets__celery_queues": REPLAY_QUEUE}
        if self.embedded:
            from config.settings import load_settings

            settings = load_settings(data_dir=log_dir)
            self.db_url, self.broker_url = settings.database_url, settings.broker_url
            self.poll_interval_s = settings.embedded_broker_poll_interval_s
            self.env = services.medic_env(data_dir=str(log_dir), **settings_env)
        else:
            self.database = services.create_pg_database()
            self.db_url, self.broker_url = services.pg_url(self.database), args.broker_url
            self.poll_interval_s = None
            self.env = services.medic_env(database_url=self.db_url, broker_url=self.broker_url, **settings_env)
        self.broker = None if self.embedded else redis.Redis.from_url(self.broker_url)
        self.noop_env = {**self.env, "BENCH_BROKER_URL": self.broker_url, "BENCH_COUNTER_URL": args.broker_url,
                         "BENCH_POLL_INTERVAL_S": str(self.poll_interval_s or 0.1)}
        self.client = Celery("bench-client", broker=self.broker_url)
        self.client.conf.update(task_serializer="json", accept_content=["json"],
                                broker_connection_retry_on_startup=True)
        self.engine = create_engine(self.db_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
        self.workers = 0

    def claim(self) -> None:
        """Mark the Redis db as this run's; refuse one another run or the test suite has marked."""
        for key in (CLAIM_KEY, TEST_CLAIM_KEY):
            owner = self.counter.get(key)
            if owner is not None and owner.decode() != self.run_tag:
                raise SystemExit(f"{self.args.broker_url} is in use ({key} = {owner.decode()!r}): "
                                 "pass --broker-url with another Redis db")
        self.counter.set(CLAIM_KEY, self.run_tag, ex=4 * 3600)

    def setup(self) -> None:
        from workers.storage import migrate

        migrate.upgrade(self.db_url)

    def close(self) -> None:
        self.engine.dispose()
        if self.database:
            drop_database(self.database)
        services.flush_redis(self.args.broker_url)

    # -- reading progress -----------------------------------------------------------------

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def stored(self) -> int:
        """Occurrences stored: error_groups' counters (a few dozen rows), bumped in the storing transaction."""
        return int(self.scalar("SELECT coalesce(sum(occurrence_count), 0) FROM error_groups"))

    def done(self, kind: str) -> int:
        return self.stored() if kind == "medic" else int(self.counter.get(noop_app.COUNTER_KEY) or 0)

    def queues(self) -> dict[str, int] | None:
        """Redis only: messages waiting in medic.errors and medic.recovery, and delivered but unacknowledged."""
        if self.broker is None:
            return None
        pipe = self.broker.pipeline(transaction=False)
        pipe.llen(INTAKE_QUEUE)
        pipe.llen(RECOVERY_QUEUE)
        pipe.hlen(UNACKED_KEY)
        intake, recovery, unacked = pipe.execute()
        return {"intake": intake, "recovery": recovery, "unacked": unacked}

    # -- workers --------------------------------------------------------------------------

    def command(self, row: str, hostname: str) -> list[str]:
        c = str(self.args.concurrency)
        if row == "noop":
            return [sys.executable, "-m", "celery", "-A", "benchmarks.noop_app", "worker", "-Q", INTAKE_QUEUE,
                    "-c", c, "--pool", "prefork", "--hostname", hostname, "--loglevel", "WARNING"]
        if row == "medic-intake":
            return services.medic_command("worker", "-Q", INTAKE_QUEUE, "-c", c, "--hostname", hostname)
        if self.embedded:
            return services.medic_command("run", "-c", c)  # what a newcomer runs: worker + beat, all queues
        return services.medic_command("worker", "-c", c, "--hostname", hostname)

    def start(self, row: str, tag: str) -> tuple[services.Process, str]:
        if not self.embedded:
            services.flush_redis(self.args.broker_url)  # a clean broker for every measurement
            self.claim()
        self.counter.delete(noop_app.COUNTER_KEY)
        self.workers += 1
        hostname = f"bench-{self.run_tag}-{self.workers}@{socket.gethostname()}"
        env = self.noop_env if row == "noop" else self.env
        return services.Process(self.command(row, hostname), env, self.log_dir / f"{tag}.log"), hostname

    def events(self, workload: Workload, count: int, tag: str, replay_share: float) -> tuple[list[dict], int]:
        events = workload.events(count, tag=f"{self.run_tag}-{tag}")
        return events, with_replay(events, replay_share, f"{self.run_tag}-{tag}-replay")

    def send_all(self, task: str, events: list[dict[str, Any]]) -> None:
        producer = Producer(self.client, task, events, 0.0)
        producer.run()
        if producer.error:
            raise producer.error

    def wait_for(self, kind: str, target: int, worker: services.Process, what: str, timeout_s: float) -> float:
        """Poll until done(kind) >= target; the time it was seen."""
        deadline = time.perf_counter() + timeout_s
        while True:
            if self.done(kind) >= target:
                return time.perf_counter()
            if worker.proc.poll() is not None:
                raise SystemExit(f"{what}: worker exited with {worker.proc.returncode}:\n{worker.output()[-3000:]}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"{what}: {self.done(kind):,} of {target:,} after {timeout_s:.0f} s "
                                 f"(queues {self.queues()}):\n{worker.output()[-2000:]}")
            time.sleep(self.args.poll_interval)

    def wait_settled(self, worker: services.Process, timeout_s: float) -> float | None:
        """Redis: until medic.errors, medic.recovery and the unacknowledged hash are empty on 2 polls in a row."""
        if self.broker is None:
            return None
        deadline, empty = time.perf_counter() + timeout_s, 0
        while empty < 2:
            q = self.queues() or {}
            empty = empty + 1 if not any(q.values()) else 0
            if worker.proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"recovery did not settle (queues {q}):\n{worker.output()[-2000:]}")
            time.sleep(self.args.poll_interval)
        return time.perf_counter() - self.args.poll_interval

    def control(self, action: str, hostname: str) -> None:
        method = getattr(self.client.control, action)
        if not method(INTAKE_QUEUE, destination=[hostname], reply=True, timeout=5):
            raise SystemExit(f"worker did not answer {action}")

    # -- one measurement ------------------------------------------------------------------

    def measure(self, row: str, events: list[dict[str, Any]], tag: str, *, settle: bool,
                after_warmup: Callable[[], None] | None = None) -> dict[str, Any]:
        """Start the row's worker, warm it, send `events` while it drains, time until the last is stored/run."""
        kind = "noop" if row == "noop" else "medic"
        task = noop_app.NAME if kind == "noop" else REPORT_TASK
        prefilled = row == PREFILLED
        worker, hostname = self.start(row, tag)
        try:
            warm_events = events[: self.args.warmup]
            base = self.done(kind)
            self.send_all(task, warm_events)
            self.wait_for(kind, base + len(warm_events), worker, f"{row} warm-up", 180)
            if settle and kind == "medic":
                self.wait_settled(worker, 300)
            if after_warmup:
                after_warmup()
            timed = events[self.args.warmup:]
            base = self.done(kind)
            base_occurrences = self.scalar("SELECT count(*) FROM occurrences") if kind == "medic" else 0
            preload_s = None
            if prefilled:
                self.control("cancel_consumer", hostname)
                time.sleep(PAUSE_SETTLE_S)
                started = time.perf_counter()
                self.send_all(task, timed)
                preload_s = time.perf_counter() - started
            meter = CpuMeter(worker.proc.pid, postgres=not self.embedded, redis=True)
            producer = Producer(self.client, task, [] if prefilled else timed, self.args.rate)
            max_backlog = 0
            with RssSampler(worker.proc.pid) as sampler:
                meter.start()
                if prefilled:
                    first = time.perf_counter()
                    self.control("add_consumer", hostname)
                else:
                    producer.start()
                    producer.started_evt.wait()
                    first = producer.first
                deadline = first + self.args.timeout
                target = base + len(timed)
                while True:
                    if producer.error:
                        raise SystemExit(f"producer failed: {producer.error!r}")
                    count = self.done(kind)
                    now = time.perf_counter()
                    if count >= target:
                        break
                    queues = self.queues()
                    if queues:
                        max_backlog = max(max_backlog, queues["intake"])
                    if worker.proc.poll() is not None or now > deadline:
                        raise SystemExit(f"{row}: {count - base:,} of {len(timed):,} done after {now - first:.0f} s "
                                         f"(queues {queues}):\n{worker.output()[-3000:]}")
                    time.sleep(self.args.poll_interval)
                stored_at = now
                cpu = meter.stop()
                settled_at = self.wait_settled(worker, self.args.timeout) if settle and kind == "medic" else None
            if not prefilled:
                producer.join()
            leftover = self.queues()
        finally:
            code = stop_worker(worker)
        seconds = stored_at - first
        result: dict[str, Any] = {
            "row": row, "events": len(timed), "seconds": seconds, "events_per_s": len(timed) / seconds,
            "send_seconds": (producer.last - producer.first) if not prefilled else preload_s,
            "max_intake_backlog": max_backlog if self.broker is not None else None,
            "settled_seconds": (settled_at - first) if settled_at else None,
            "recovery_backlog_at_end": leftover["recovery"] if leftover else None,
            "cpu_s": cpu, "rss": sampler.peaks.as_dict(), "worker_exit": code, "task_ids": producer.ids,
        }
        result["send_per_s"] = len(timed) / result["send_seconds"] if result["send_seconds"] else None
        if kind == "medic":
            occurrences = self.scalar("SELECT count(*) FROM occurrences")
            rejected = self.scalar("SELECT count(*) FROM rejected_events")
            if occurrences - base_occurrences != len(timed) or rejected:
                raise SystemExit(f"{row}: expected {len(timed):,} new occurrences and no rejected events, found "
                                 f"{occurrences - base_occurrences:,} and {rejected}")
        elif self.done(kind) != target:
            raise SystemExit(f"{row}: the counter says {self.done(kind) - base:,}, expected {len(timed):,}")
        return result


# ----------------------------------------------------------------------------- report


def cpu_per_event(m: dict[str, Any]) -> dict[str, float]:
    return {k: 1000 * v / m["events"] for k, v in m["cpu_s"].items() if k != "machine_busy_share"}


def summarise(measurements: list[dict[str, Any]], rows: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for row in rows:
        ms = [m for m in measurements if m["row"] == row]
        if not ms:
            continue
        rates = [m["events_per_s"] for m in ms]
        cpu: dict[str, float] = {}
        for m in ms:
            for k, v in cpu_per_event(m).items():
                cpu[k] = cpu.get(k, 0.0) + v / len(ms)
        settled = [m["settled_seconds"] for m in ms if m["settled_seconds"]]
        summary[row] = {
            "median_per_s": median(rates), "min_per_s": min(rates), "max_per_s": max(rates), "rates": rates,
            "median_seconds": median([m["seconds"] for m in ms]),
            "median_settled_seconds": median(settled) if settled else None,
            "median_send_per_s": median([m["send_per_s"] for m in ms if m["send_per_s"]]),
            "max_intake_backlog": max((m["max_intake_backlog"] or 0) for m in ms) if ms[0]["max_intake_backlog"]
            is not None else None,
            "cpu_ms_per_event": cpu,
            "machine_busy_share": median([m["cpu_s"]["machine_busy_share"] for m in ms]),
            "peak_rss_mb": max(m["rss"]["total_rss_mb"] for m in ms),
            "peak_pss_mb": max(m["rss"]["total_pss_mb"] for m in ms),
        }
    if "noop" in summary:
        noop = summary["noop"]["median_per_s"]
        for s in summary.values():
            s["ratio_to_noop"] = s["median_per_s"] / noop
            s["range_ratio_to_noop"] = [s["min_per_s"] / noop, s["max_per_s"] / noop]
    return summary


def rate_cells(s: dict[str, Any]) -> list[Any]:
    ratio = f"{100 * s['ratio_to_noop']:.0f}%" if "ratio_to_noop" in s else "-"
    return [s["median_per_s"], f"{s['min_per_s']:,.1f}-{s['max_per_s']:,.1f}", ratio]


def print_report(result: dict[str, Any]) -> None:
    config, summary = result["config"], result["summary"]
    rows = []
    for row, s in summary.items():
        rows.append([row, *rate_cells(s), s["median_seconds"],
                     s["median_settled_seconds"] if s["median_settled_seconds"] else "-",
                     s["median_send_per_s"], "-" if s["max_intake_backlog"] is None else s["max_intake_backlog"],
                     s["peak_rss_mb"], s["peak_pss_mb"]])
    where = "SQLite broker + SQLite database" if config["embedded"] else "Redis broker + PostgreSQL"
    offered = f"offered at {config['rate']:,.0f}/s" if config["rate"] else "sent at full speed"
    print()
    print(table(["row", "events/s (median)", "range", "/ noop", "stored s", "settled s", "sent/s", "max backlog",
                 "peak RSS MB", "peak PSS MB"], rows,
                title=f"Intake as users meet it: {where}, {config['concurrency']} worker processes, "
                      f"{config['events']:,} events {offered} while the worker drains, {config['repeat']} repeats"))
    print("events/s: events / (first send -> last stored, or last no-op run). settled: until medic.errors, "
          "medic.recovery and unacked are all empty (Redis). max backlog: the longest medic.errors seen.")
    keys = ["worker_pool", "worker_main", "postgres", "redis", "benchmark", "other"]
    cpu_rows = [[row, *[s["cpu_ms_per_event"].get(k, 0.0) for k in keys],
                 f"{100 * s['machine_busy_share']:.0f}%"] for row, s in summary.items()]
    print()
    print(table(["CPU ms per event", *keys, "machine busy"], cpu_rows,
                title="Where the CPU went, first send -> last stored (from /proc/<pid>/stat, mean of repeats)"))
    print()
    measured = [[m["row"], m["events_per_s"], m["seconds"], m["send_per_s"] or "-",
                 "-" if m["settled_seconds"] is None else m["settled_seconds"],
                 "-" if m["recovery_backlog_at_end"] is None else m["recovery_backlog_at_end"],
                 m["cpu_s"]["other"] / m["seconds"]]
                for m in result["measurements"]]
    print(table(["measurement", "events/s", "stored s", "sent/s", "settled s", "medic.recovery left",
                 "other processes, cores"], measured,
                title="Every measurement, in the order run"))
    print(f"\nstored: {result['stored']['occurrences']:,} occurrences in {result['stored']['groups']:,} groups; "
          f"{result['stored']['executions']:,} executions; replay targets on "
          f"{100 * config['replay_share']:.0f}% of events ({REPLAY_TASK} on {REPLAY_QUEUE}, not consumed)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = start_run(background=True)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if args.prefilled:
        if args.embedded:
            raise SystemExit("--prefilled needs the Redis broker (remote control)")
        rows.append(PREFILLED)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-live-"))
    bench = LiveBench(args, log_dir)
    workload = live_workload(args.seed)
    measurements: list[dict[str, Any]] = []
    try:
        bench.setup()
        print(f"database {bench.db_url.rsplit('/', 1)[-1]}, broker {bench.broker_url}, logs {log_dir}", flush=True)
        for repeat in range(args.repeat):
            order = rows[repeat % len(rows):] + rows[: repeat % len(rows)]
            for row in order:
                tag = f"r{repeat + 1}-{row}"
                events, _ = bench.events(workload, args.warmup + args.events, tag, args.replay_share)
                m = bench.measure(row, events, tag, settle=row != "medic-intake")
                m.pop("task_ids")
                measurements.append(m)
                settled = f", settled {m['settled_seconds']:.1f} s" if m["settled_seconds"] else ""
                print(f"repeat {repeat + 1}: {row:24} {m['events_per_s']:8,.1f} events/s ({m['events']:,} in "
                      f"{m['seconds']:.1f} s, sent in {m['send_seconds']:.1f} s{settled})", flush=True)
        stored = {"occurrences": bench.scalar("SELECT count(*) FROM occurrences"),
                  "groups": bench.scalar("SELECT count(*) FROM error_groups"),
                  "executions": bench.scalar("SELECT count(*) FROM executions")}
        return {
            "benchmark": "intake_live", "machine": info, "stored": stored,
            "config": {"events": args.events, "repeat": args.repeat, "rate": args.rate, "warmup": args.warmup,
                       "concurrency": args.concurrency, "embedded": args.embedded, "rows": rows,
                       "broker": bench.broker_url.split("///")[0] if args.embedded else bench.broker_url,
                       "database": "sqlite" if args.embedded else "postgresql",
                       "embedded_poll_interval_s": bench.poll_interval_s, "replay_share": args.replay_share,
                       "replay_target": {"kind": "celery", "task": REPLAY_TASK, "queue": REPLAY_QUEUE},
                       "poll_interval_s": args.poll_interval, "workload": workload.describe()},
            "measurements": measurements, "summary": summarise(measurements, rows),
        }
    finally:
        bench.close()
        if not args.keep_logs:
            remove_tree(log_dir)
        else:
            print(f"kept {log_dir}")


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
