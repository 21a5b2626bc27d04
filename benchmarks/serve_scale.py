"""`medic serve` at scale: request latency and throughput on 1M occurrences, beside a no-op Celery round trip.

    python -m benchmarks.serve_scale [--occurrences 1000000] [--executions 100000] [--requests 200]
                                     [--concurrency 8] [--json PATH]

A fresh PostgreSQL database (migrated, dropped at the end) and Redis db 14 (flushed before and
after). The base of benchmarks.maintenance_scale is seeded (benchmarks/maintenance_seed.py:
--occurrences over 90 days in 5,000 groups, --executions with their attempts and audit rows, run
rows, snapshots, rejected events), plus --alerts alert rows (the newest 20 active); then
VACUUM ANALYZE.

Two real `medic serve` processes (`python -m workers.cli.main serve`, one token): one with
MEDIC_SERVE__METRICS_CACHE_S=0, so every scrape reads the database, the broker and the breakers,
which serves every request below but one; one with the default cache (5 s), for the cached
/metrics. A real Celery worker (as benchmarks.intake_throughput starts it: medic's app with the
no-op task `medic.bench.noop`, queue medic.errors, prefork) runs the baseline.

1. Latency: for each endpoint, a few untimed requests, then --requests sequential requests over
   one keep-alive connection (stdlib http.client), each timed from sending to the last byte of the
   body: /metrics (uncached and cached), /readyz, /healthz, /api/groups?limit=50, /api/groups/<id>
   (50 random groups in turn, and the largest group), /api/executions?limit=50,
   /api/executions/<id> (50 random executions in turn), /api/dead?limit=50, /api/alerts.
   The baseline, in the same run: --requests no-op round trips, one at a time: send
   `medic.bench.noop` to medic.errors, wait for the worker's task-succeeded event (a Celery event
   receiver on a thread, as benchmarks.recovery_overhead listens).
2. Throughput: --concurrency client processes, each with its own keep-alive connection, request
   /api/groups?limit=50 and then /healthz as fast as they can for --seconds each; the serve
   process's CPU from /proc.
3. One uncached /metrics read in this process (workers.api.prometheus.MedicCollector.read on its
   own engine), --reads times: each SQL statement timed (common.Statements), the read split into
   the database part, the broker's queue depths and the breakers' states; EXPLAIN (ANALYZE,
   BUFFERS) of its slowest statements.

The serve processes' RSS is sampled every 0.2 s throughout (common.RssSampler).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import maintenance_seed as seed
from benchmarks.common import (
    CpuMeter,
    RssSampler,
    Statements,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    percentile,
    print_plan,
    remove_logs,
    start_run,
    stop_worker,
    table,
)
from benchmarks.intake_throughput import Bench
from benchmarks.maintenance_scale import TABLES, layout_of, ms, plans_of
from benchmarks.noop import NAME as NOOP_TASK
from benchmarks.recovery_overhead import Timeline, statement_label
from config.queues import INTAKE_QUEUE
from tests.support import services
from tests.support.pgcluster import free_port

TOKEN = "serve-bench-token-0123456789abcdef"
WARMUP_REQUESTS = 5
ID_SAMPLE = 50  # /api/groups/<id> and /api/executions/<id> cycle through this many random ids
DEFAULT_CACHE_S = 5.0  # MEDIC_SERVE__METRICS_CACHE_S's default
SLOW_STATEMENT_MS = 1.0  # statements of the /metrics read slower than this (median) are EXPLAINed
MAX_PLANS = 6
START_TIMEOUT_S = 60
ROUND_TRIP_TIMEOUT_S = 30
ACTIVE_ALERTS = 20

# Alerts over the last 90 days, one every (90 days / n); the newest ACTIVE_ALERTS still open or acknowledged.
ALERTS = """
INSERT INTO alerts (rule, subject, state, level, summary, detail, opened_at, last_seen_at, acknowledged_at,
                    acknowledged_by, acknowledged_reason, resolved_at)
SELECT r.rule, 'svc-' || lpad((s % 40)::text, 2, '0'), r.state, (ARRAY['warning','error','critical'])[1 + s % 3],
       r.rule || ' on svc-' || lpad((s % 40)::text, 2, '0'),
       json_build_object('metric', r.rule, 'value', s % 500, 'threshold', 100), r.opened, r.opened + interval '20 min',
       CASE WHEN r.state = 'acknowledged' THEN r.opened + interval '5 min' END,
       CASE WHEN r.state = 'acknowledged' THEN 'cli:oncall' END, NULL,
       CASE WHEN r.state = 'resolved' THEN r.opened + interval '30 min' END
FROM (SELECT s, (ARRAY['high_error_rate','queue_backlog','breaker_open','stuck_executions','dead_letters',
                       'low_recovery_success_rate','no_good_backup'])[1 + s % 7] AS rule,
             CASE WHEN s > :n - :active THEN (CASE WHEN s % 2 = 0 THEN 'acknowledged' ELSE 'open' END)
                  ELSE 'resolved' END AS state,
             :now - (:n - s) * (interval '90 days' / :n) - interval '1 hour' AS opened
      FROM generate_series(1, CAST(:n AS bigint)) s) r
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("serve_scale", __doc__)
    sizes = parser.add_argument_group("data")
    sizes.add_argument("--occurrences", type=int, default=1_000_000, help="occurrences (default 1,000,000)")
    sizes.add_argument("--executions", type=int, default=100_000, help="executions (default 100,000; 3 %% waiting, "
                       "0.3 %% running, as in maintenance_scale)")
    sizes.add_argument("--groups", type=int, default=5_000, help="error groups (default 5,000)")
    sizes.add_argument("--resolved-share", type=float, default=0.3, help="share of the groups resolved (0.3)")
    sizes.add_argument("--days", type=float, default=90, help="the occurrences span this many days (90)")
    sizes.add_argument("--alerts", type=int, default=2_000, help=f"alert rows (default 2,000; the newest "
                       f"{ACTIVE_ALERTS} active)")
    parts = parser.add_argument_group("what to measure")
    parts.add_argument("--requests", "-n", type=int, default=200, help="timed sequential requests per endpoint, and "
                       "no-op round trips (default 200)")
    parts.add_argument("--concurrency", "-c", type=int, default=8, help="client processes in the throughput part (8)")
    parts.add_argument("--seconds", type=float, default=10, help="seconds of each throughput measurement (10)")
    parts.add_argument("--reads", type=int, default=5, help="timed in-process /metrics reads (default 5)")
    parts.add_argument("--worker-concurrency", type=int, default=2, help="pool processes of the baseline's worker (2)")
    add_broker_url(parts)
    parts.add_argument("--seed", type=int, default=1, help="seed of the random ids requested")
    parts.add_argument("--keep-logs", action="store_true", help="keep the serve and worker logs")
    return parse(parser, argv)


def stats_ms(seconds: list[float]) -> dict[str, Any]:
    data = sorted(ms(s) for s in seconds)
    if not data:
        return {"n": 0}
    return {"n": len(data), "p50_ms": median(data), "p95_ms": percentile(data, 0.95), "p99_ms": percentile(data, 0.99),
            "max_ms": data[-1], "min_ms": data[0], "mean_ms": statistics.fmean(data)}


# ----------------------------------------------------------------------------- data


def seed_data(engine: Any, args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from sqlalchemy import text

    shape = argparse.Namespace(occurrences=args.occurrences, executions=args.executions, groups=args.groups,
                               days=args.days, expired=0, waiting=args.executions * 3 // 100,
                               running=args.executions * 3 // 1000)
    layout, _, active = layout_of(shape)
    now = datetime.now(UTC)
    seconds = seed.seed_base(engine, now=now, plans=seed.plan_snapshots(settings), layout=layout,
                             resolved_share=args.resolved_share, active=active)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(ALERTS), {"n": args.alerts, "active": min(ACTIVE_ALERTS, args.alerts), "now": now})
    seconds["alerts"] = time.perf_counter() - started
    seconds["VACUUM ANALYZE"] = seed.vacuum_analyze(engine)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return {"rows": seed.table_counts(engine, TABLES), "seeding_s": seconds, "database_bytes": size,
            "active_executions": active.total}


def request_ids(engine: Any, rng: random.Random) -> dict[str, Any]:
    """Random group and execution ids to request, and the group with the most occurrences."""
    from sqlalchemy import text

    with engine.connect() as conn:
        groups = [r[0] for r in conn.execute(text("SELECT id FROM error_groups ORDER BY id"))]
        executions = conn.execute(text("SELECT min(id), max(id) FROM executions")).one()
        largest = conn.execute(text("SELECT id, occurrence_count FROM error_groups "
                                    "ORDER BY occurrence_count DESC LIMIT 1")).one()
    return {"groups": rng.sample(groups, min(ID_SAMPLE, len(groups))),
            "executions": [rng.randint(executions[0], executions[1]) for _ in range(ID_SAMPLE)],
            "largest_group": largest[0], "largest_group_occurrences": largest[1]}


# ----------------------------------------------------------------------------- serve processes and HTTP


class Serve:
    """One `medic serve` process on a free port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name, self.port = name, free_port()
        env = {**env, "MEDIC_SERVE__PORT": str(self.port)}
        self.process = services.Process([sys.executable, "-m", "workers.cli.main", "serve"], env,
                                        log_dir / f"{name}.log")

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def wait_healthy(self) -> float:
        started = time.perf_counter()
        deadline = started + START_TIMEOUT_S
        while True:
            if self.process.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited {self.process.proc.returncode}:\n{self.process.output()[-3000:]}")
            try:
                if HttpClient(self.port).get("/healthz")[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise SystemExit(f"{self.name} did not answer /healthz in {START_TIMEOUT_S} s:\n"
                                 f"{self.process.output()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_worker(self.process, timeout_s=15)  # SIGTERM to the process: uvicorn's graceful shutdown


class HttpClient:
    """One keep-alive HTTP/1.1 connection (stdlib: little client CPU per request)."""

    def __init__(self, port: int, token: str | None = None):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str) -> tuple[int, int]:
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, len(body)

    def close(self) -> None:
        self.connection.close()


def sequential(port: int, paths: list[str], count: int) -> dict[str, Any]:
    """`count` requests one at a time over one connection, cycling through `paths`; untimed warm-up first."""
    client = HttpClient(port, TOKEN)
    times, sizes = [], []
    try:
        for i in range(WARMUP_REQUESTS + count):
            path = paths[i % len(paths)]
            started = time.perf_counter()
            status, size = client.get(path)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise SystemExit(f"GET {path}: HTTP {status}")
            if i >= WARMUP_REQUESTS:
                times.append(elapsed)
                sizes.append(size)
    finally:
        client.close()
    return {**stats_ms(times), "bytes_median": median(sizes)}


def _ready(_: int) -> int:
    return 0


def _hammer(port: int, path: str, start_at: float, end_at: float) -> dict[str, Any]:
    """One throughput client: requests `path` back to back; counts those finished within [start_at, end_at]."""
    client = HttpClient(port, TOKEN)
    done = errors = 0
    times = []
    try:
        while time.time() < start_at:
            time.sleep(0.001)
        cpu_started = time.process_time()
        while True:
            started = time.perf_counter()
            status, _ = client.get(path)
            if time.time() > end_at:
                break
            times.append(time.perf_counter() - started)
            done += 1
            errors += status != 200
        cpu_s = time.process_time() - cpu_started
    finally:
        client.close()
    return {"requests": done, "errors": errors, "times": times, "cpu_s": cpu_s}


def throughput(pool: Any, serve: Serve, path: str, clients: int, seconds: float) -> dict[str, Any]:
    start_at = time.time() + 0.5
    meter = CpuMeter(serve.pid, postgres=False, redis=False)  # backends that exit meanwhile would go uncounted
    end_at = start_at + seconds
    pending = pool.starmap_async(_hammer, [(serve.port, path, start_at, end_at)] * clients)
    time.sleep(max(0.0, start_at - time.time()))
    meter.start()
    results = pending.get(seconds + 120)
    cpu = meter.stop()
    wall = time.time() - start_at  # the meter ran a little longer than the window: the last requests
    total = sum(r["requests"] for r in results)
    times = [t for r in results for t in r["times"]]
    return {"path": path, "clients": clients, "seconds": seconds, "requests": total,
            "errors": sum(r["errors"] for r in results), "per_s": total / seconds, **stats_ms(times),
            "serve_cpu_per_s": cpu["worker_main"] / wall,
            "clients_cpu_per_s": sum(r["cpu_s"] for r in results) / seconds,
            "machine_busy_share": cpu["machine_busy_share"]}


# ----------------------------------------------------------------------------- the baseline


def noop_round_trips(bench: Bench, timeline: Timeline, count: int) -> dict[str, Any]:
    """`count` no-op round trips one at a time: send, wait for the worker's task-succeeded event."""
    observed, stamped = [], []
    for i in range(WARMUP_REQUESTS + count):
        task_id = f"serve-bench-{bench.run_tag}-{i}"
        sent_wall = time.time()
        started = time.perf_counter()
        bench.client.send_task(NOOP_TASK, queue=INTAKE_QUEUE, task_id=task_id)
        with timeline.cond:
            done = timeline.cond.wait_for(lambda task_id=task_id: "succeeded" in timeline.tasks.get(task_id, {}),
                                          ROUND_TRIP_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if not done:
            raise SystemExit(f"no-op round trip {task_id} not done after {ROUND_TRIP_TIMEOUT_S} s")
        if i >= WARMUP_REQUESTS:
            observed.append(elapsed)
            stamped.append(timeline.tasks[task_id]["succeeded"] - sent_wall)
    return {**stats_ms(observed), "to_worker_stamp": stats_ms(stamped)}


# ----------------------------------------------------------------------------- the /metrics read, in process


def metrics_read(url: str, settings: Any, reads: int) -> dict[str, Any]:
    from sqlalchemy.orm import sessionmaker

    from workers.api import prometheus
    from workers.maintenance.health.queues import queue_depths
    from workers.storage.db import guarded_session, make_engine

    engine = make_engine(url, pre_ping=True)
    sessions = sessionmaker(engine, expire_on_commit=False)
    collector = prometheus.MedicCollector(settings, sessions)
    collector.read()  # untimed: connections, plan files, caches
    now = datetime.now(UTC)

    def database() -> Any:
        with guarded_session(sessions) as session:
            return prometheus.database_families(session, settings, now)

    parts: dict[str, Callable[[], Any]] = {
        "read() (the whole scrape)": collector.read,
        "database (database_families)": database,
        "broker (queue_depths)": lambda: queue_depths(settings.broker_url, timeout_s=settings.serve.probe_timeout_s),
        "breakers (breaker_states)": lambda: prometheus.breaker_states(collector.breakers()),
    }
    timings: dict[str, list[float]] = {name: [] for name in parts}
    per_read: list[list[tuple[str, Any, float]]] = []
    for _ in range(reads):
        for name, call in parts.items():
            with Statements(engine) as captured:
                started = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - started)
            if name.startswith("read()"):
                per_read.append(captured.seen)
    statements = statement_stats(per_read)
    slow = sorted((s for s in statements if s["median_ms"] >= SLOW_STATEMENT_MS), key=lambda s: -s["median_ms"])
    slow = slow[:MAX_PLANS]
    first = per_read[0]
    plans = plans_of(engine, [first[s["position"]] for s in slow], [s["label"] for s in slow])
    engine.dispose()
    sql_ms = [ms(sum(t for _, _, t in seen)) for seen in per_read]
    return {"parts": {name: stats_ms(times) for name, times in timings.items()}, "sql_ms_per_read": median(sql_ms),
            "statements": statements, "plans": plans}


def statement_stats(per_read: list[list[tuple[str, Any, float]]]) -> list[dict[str, Any]]:
    """Each statement of a read, by its position (every read sends the same statements in the same order)."""
    count = min(len(seen) for seen in per_read)
    out = []
    for position in range(count):
        statement = per_read[0][position][0]
        times = [seen[position][2] for seen in per_read]
        out.append({"position": position, "label": statement_label(statement), "median_ms": ms(median(times)),
                    "max_ms": ms(max(times))})
    return out


# ----------------------------------------------------------------------------- the SQL of each API endpoint, in process


def endpoint_sql(url: str, broker_url: str, ids: dict[str, Any]) -> list[dict[str, Any]]:
    """Each /api endpoint once through the app in this process (TestClient), its statements timed;
    EXPLAIN (ANALYZE, BUFFERS) of each endpoint's slowest statement when it takes SLOW_STATEMENT_MS or more."""
    from fastapi.testclient import TestClient

    from config.settings import load_settings
    from workers.api.app import create_app

    settings = load_settings(database_url=url, broker_url=broker_url, log_level="WARNING",
                             serve={"tokens": {"bench": {"token": TOKEN}}, "metrics_cache_s": 0})
    app = create_app(settings)
    engine = app.state.sessions.kw["bind"]
    out = []
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for name, _, paths in endpoints(ids):
            path = paths[0]
            if not path.startswith("/api/"):
                continue
            client.get(path)  # untimed: the pool's connection, caches
            with Statements(engine) as captured:
                status = client.get(path).status_code
            if status != 200:
                raise SystemExit(f"GET {path} in process: HTTP {status}")
            seen = [(statement, parameters, t) for statement, parameters, t in captured.seen
                    if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
            slowest = max(seen, key=lambda s: s[2])
            entry = {"endpoint": name, "path": path, "statements": len(seen), "sql_ms": ms(sum(t for _, _, t in seen)),
                     "slowest": statement_label(slowest[0]), "slowest_ms": ms(slowest[2]), "plan": None}
            if ms(slowest[2]) >= SLOW_STATEMENT_MS:
                entry["plan"] = plans_of(engine, [slowest], [f"{name}: {entry['slowest']}"])[0]
            out.append(entry)
    engine.dispose()
    return out


# ----------------------------------------------------------------------------- main


def endpoints(ids: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(name, which serve, paths) of each latency measurement, in order."""
    return [
        ("GET /metrics, uncached (a full read)", "uncached", ["/metrics"]),
        (f"GET /metrics, cached ({DEFAULT_CACHE_S:g} s, the default)", "cached", ["/metrics"]),
        ("GET /readyz", "uncached", ["/readyz"]),
        ("GET /healthz", "uncached", ["/healthz"]),
        ("GET /api/groups?limit=50", "uncached", ["/api/groups?limit=50"]),
        (f"GET /api/groups/<id> ({len(ids['groups'])} random)", "uncached",
         [f"/api/groups/{g}" for g in ids["groups"]]),
        (f"GET /api/groups/<id> (the largest: {ids['largest_group_occurrences']:,} occurrences)", "uncached",
         [f"/api/groups/{ids['largest_group']}"]),
        ("GET /api/executions?limit=50", "uncached", ["/api/executions?limit=50"]),
        (f"GET /api/executions/<id> ({len(ids['executions'])} random)", "uncached",
         [f"/api/executions/{e}" for e in ids["executions"]]),
        ("GET /api/dead?limit=50", "uncached", ["/api/dead?limit=50"]),
        ("GET /api/alerts", "uncached", ["/api/alerts"]),
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from config.settings import load_settings
    from workers.storage import migrate
    from workers.storage.db import engine_for

    started = time.perf_counter()
    info = start_run(background=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-serve-"))
    services.flush_redis(args.broker_url)
    database = services.create_pg_database()
    url = services.pg_url(database)
    serves: dict[str, Serve] = {}
    worker = timeline = None
    pool = multiprocessing.get_context("spawn").Pool(args.concurrency)
    try:
        migrate.upgrade(url)
        engine = engine_for(url)
        settings = load_settings(database_url=url, broker_url=args.broker_url, log_level="WARNING")
        print(f"database {database}: seeding {args.occurrences:,} occurrences, {args.executions:,} executions ...",
              flush=True)
        data = seed_data(engine, args, settings)
        print(f"seeded in {sum(data['seeding_s'].values()):.1f} s: "
              + ", ".join(f"{t} {n:,}" for t, n in data["rows"].items()), flush=True)
        ids = request_ids(engine, random.Random(args.seed))

        env = services.medic_env(database_url=url, broker_url=args.broker_url, log_level="WARNING",
                                 serve__tokens=f'{{"bench": {{"token": "{TOKEN}"}}}}')
        serves["uncached"] = Serve("serve", {**env, "MEDIC_SERVE__METRICS_CACHE_S": "0"}, log_dir)
        serves["cached"] = Serve("serve-cached", env, log_dir)
        startup_s = {name: s.wait_healthy() for name, s in serves.items()}
        rss_idle = {}
        for name, s in serves.items():
            sampler = RssSampler(s.pid)
            sampler.sample()
            rss_idle[name] = sampler.peaks.as_dict()
        print(f"medic serve answering on ports {serves['uncached'].port} (cache 0) and {serves['cached'].port} "
              f"(cache {DEFAULT_CACHE_S:g} s); logs in {log_dir}", flush=True)

        bench = Bench(argparse.Namespace(seed=1, spread=25, broker_url=args.broker_url,
                                         concurrency=args.worker_concurrency))
        worker = bench.start_worker(services.medic_env(database_url=url, broker_url=args.broker_url,
                                                       log_level="WARNING"), log_dir)
        timeline = Timeline(bench.client, [bench.node]).start()
        if not timeline.wait_nodes([bench.node], 15):
            raise SystemExit(f"no events from the worker {bench.node}")
        pool.map(_ready, range(args.concurrency))  # the client processes are up before anything is timed

        latency: dict[str, Any] = {}
        with RssSampler(serves["uncached"].pid) as rss, RssSampler(serves["cached"].pid) as rss_cached:
            for name, which, paths in endpoints(ids):
                latency[name] = sequential(serves[which].port, paths, args.requests)
                print(f"{name}: p50 {latency[name]['p50_ms']:.1f} ms, p95 {latency[name]['p95_ms']:.1f} ms, "
                      f"max {latency[name]['max_ms']:.1f} ms", flush=True)
            noop = noop_round_trips(bench, timeline, args.requests)
            print(f"no-op Celery round trip: p50 {noop['p50_ms']:.1f} ms, p95 {noop['p95_ms']:.1f} ms, "
                  f"max {noop['max_ms']:.1f} ms", flush=True)
            rates = {}
            for path in ("/api/groups?limit=50", "/healthz"):
                rates[path] = throughput(pool, serves["uncached"], path, args.concurrency, args.seconds)
                print(f"throughput {path}: {rates[path]['per_s']:,.0f} requests/s with {args.concurrency} clients "
                      f"(serve CPU {rates[path]['serve_cpu_per_s']:.2f} s/s)", flush=True)
        print(f"in-process /metrics read, {args.reads} times ...", flush=True)
        read = metrics_read(url, settings, args.reads)
        api_sql = endpoint_sql(url, args.broker_url, ids)
        groups, trip = latency["GET /api/groups?limit=50"], noop
        metrics_p50 = latency["GET /metrics, uncached (a full read)"]["p50_ms"]
        return {
            "benchmark": "serve_scale", "machine": info,
            "config": {k: v for k, v in vars(args).items() if k != "json"}, "data": data,
            "ids": {k: v for k, v in ids.items() if k not in ("groups", "executions")},
            "startup_s": startup_s, "latency": latency, "noop_round_trip": noop, "throughput": rates,
            "rss": {"idle": rss_idle, "uncached_peak": rss.peaks.as_dict(), "cached_peak": rss_cached.peaks.as_dict()},
            "metrics_read": read, "api_sql": api_sql,
            "summary": {"groups_p50_ms": groups["p50_ms"], "noop_p50_ms": trip["p50_ms"],
                        "groups_over_noop_p50": groups["p50_ms"] / trip["p50_ms"],
                        "metrics_uncached_p50_ms": metrics_p50, "metrics_over_noop_p50": metrics_p50 / trip["p50_ms"]},
            "total_s": time.perf_counter() - started,
        }
    finally:
        pool.terminate()
        if timeline is not None:
            timeline.stop()
        if worker is not None:
            stop_worker(worker)
        for s in serves.values():
            s.stop()
        drop_database(database)
        services.flush_redis(args.broker_url)
        if not args.keep_logs:
            remove_logs(log_dir)


# ----------------------------------------------------------------------------- report


def print_data(data: dict[str, Any]) -> None:
    """The seeded tables, their size and how long seeding took."""
    print()
    print(table(["table", "rows"], [[t, n] for t, n in data["rows"].items()],
                title=f"Data ({data['database_bytes'] / 2**30:.2f} GiB; seeded in "
                      f"{sum(data['seeding_s'].values()):.1f} s incl. VACUUM ANALYZE)"))


def print_report(result: dict[str, Any]) -> None:
    cfg, data = result["config"], result["data"]
    print_data(data)
    noop = result["noop_round_trip"]
    rows = [[name, s["p50_ms"], s["p95_ms"], s["max_ms"], f"{s['p50_ms'] / noop['p50_ms']:.1f}x",
             f"{s['bytes_median'] / 1024:,.1f}"] for name, s in result["latency"].items()]
    rows.append(["no-op Celery round trip (baseline)", noop["p50_ms"], noop["p95_ms"], noop["max_ms"], "1.0x", ""])
    print()
    print(table(["request", "p50 ms", "p95 ms", "max ms", "p50 / no-op p50", "body KiB"], rows,
                title=f"Latency, {cfg['requests']} sequential requests each over one keep-alive connection "
                      f"(baseline: {cfg['requests']} no-op round trips on medic.errors, Redis db 14)"))
    stamp = noop["to_worker_stamp"]
    print(f"(no-op round trip: send -> this process got the worker's task-succeeded event; to the event's own "
          f"timestamp: p50 {stamp['p50_ms']:.2f} ms)")
    print()
    print(table(["throughput", "clients", "requests/s", "p50 ms", "p95 ms", "max ms", "serve CPU s/s",
                 "clients' CPU s/s", "machine busy", "errors"],
                [[t["path"], t["clients"], t["per_s"], t["p50_ms"], t["p95_ms"], t["max_ms"], t["serve_cpu_per_s"],
                  t["clients_cpu_per_s"], f"{100 * t['machine_busy_share']:.0f}%", t["errors"]]
                 for t in result["throughput"].values()],
                title=f"Throughput, {cfg['concurrency']} client processes for {cfg['seconds']:g} s each "
                      f"(the cache-0 serve)"))
    rss = result["rss"]
    print()
    print(table(["serve memory", "RSS MB", "PSS MB"],
                [["cache 0, idle after start",
                  rss["idle"]["uncached"]["main_mb"], rss["idle"]["uncached"]["total_pss_mb"]],
                 ["cache 0, peak during the run",
                  rss["uncached_peak"]["main_mb"], rss["uncached_peak"]["total_pss_mb"]],
                 ["cache 5 s, peak during the run",
                  rss["cached_peak"]["main_mb"], rss["cached_peak"]["total_pss_mb"]]],
                title="medic serve's memory (one process each; sampled every 0.2 s)"))
    read = result["metrics_read"]
    print()
    print(table(["/metrics read, in process", "median ms", "max ms"],
                [[name, s["p50_ms"], s["max_ms"]] for name, s in read["parts"].items()]
                + [["SQL of one read() (sum of its statements)", read["sql_ms_per_read"], float("nan")]],
                title=f"One uncached /metrics read in this process, {cfg['reads']} times"))
    print()
    print(table(["#", "statement", "median ms", "max ms"],
                [[s["position"] + 1, s["label"][:100], s["median_ms"], s["max_ms"]]
                 for s in sorted(read["statements"], key=lambda s: -s["median_ms"])],
                title="The SQL of one read(), slowest first"))
    for p in read["plans"]:
        print_plan(p)
    print()
    print(table(["endpoint (in process, once)", "statements", "SQL ms", "slowest statement", "its ms"],
                [[e["endpoint"], e["statements"], e["sql_ms"], e["slowest"][:70], e["slowest_ms"]]
                 for e in result["api_sql"]], title="The SQL of each /api endpoint"))
    for e in result["api_sql"]:
        if e["plan"]:
            print_plan(e["plan"])
    s = result["summary"]
    print(f"\n/api/groups?limit=50 p50 {s['groups_p50_ms']:.1f} ms = {s['groups_over_noop_p50']:.1f}x the no-op "
          f"round trip's p50 ({s['noop_p50_ms']:.1f} ms); uncached /metrics p50 {s['metrics_uncached_p50_ms']:.1f} ms "
          f"= {s['metrics_over_noop_p50']:.1f}x.")
    print(f"total run time {result['total_s'] / 60:.1f} min")


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
