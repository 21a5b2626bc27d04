"""POST /api/events as apps meet it: events sent over HTTP while `medic worker` drains, beside a Celery client.

    python -m benchmarks.http_intake [--events 10000] [--connections 4] [--batches 1,100] [--repeat 3] [--json PATH]

One `medic serve` (`python -m workers.cli.main serve`) runs through the benchmark with medic's default
settings except: one token with access `ingest`, and the ingest rate limit raised
(MEDIC_SERVE__INGEST_RATE_PER_S and MEDIC_SERVE__INGEST_BURST_EVENTS = 1,000,000) so that it is not
what is measured (the default, 100 events/s per token, would be). It publishes each accepted event
to `medic.errors` on a free Redis db (claimed as the test suite claims one, unless --broker-url);
the database is a fresh PostgreSQL one (migrated, dropped at the end). Each measurement starts a
fresh `medic worker` (default: all of medic's queues, 2 processes) and warms it with --warmup events
sent the row's way.

Rows, in an order rotated between repeats:
  http-<B>   this process POSTs the N events as JSON arrays of B events (B = 1: one event per request,
             a bare object), over --connections keep-alive httpx connections (one thread each)
  celery     the baseline: the same events sent with a plain Celery client, `send_task("medic.report",
             args=[event], queue="medic.errors")` from one thread, as benchmarks.intake_live sends

Two clocks start at the first send: accepted (the last 202 answered; for celery, the last send
returned) and stored (medic's sum of error_groups.occurrence_count reached N, checked against
count(occurrences) afterwards, with no event rejected). Every request's latency is recorded
(sending to the whole answer read). The events are benchmarks.intake_live's workload (every other
labelled sample, 3 service instances: about 54 groups); none carries a replay target, so medic
stores them and starts no recovery.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from celery import Celery

from benchmarks.client_overhead import (
    MedicSide,
    Meter,
    broker_of,
    check_services,
    load_average,
    spread,
    start_medic_worker,
    wait_until,
)
from benchmarks.common import (
    argument_parser,
    bench_main,
    median,
    parse,
    percentile,
    remove_logs,
    start_run,
    stop_worker,
    table,
)
from benchmarks.intake_live import Producer, live_workload
from tests.support import services
from tests.support.pgcluster import free_port

TOKEN = "http-intake-bench-0123456789abcdef"
TOKEN_NAME = "bench"
RATE_LIMIT = 1_000_000  # events/s and burst: far above what one serve takes, so it never answers 429
REPORT_TASK = "medic.report"
CELERY_ROW = "celery"
START_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("http_intake", __doc__ or "")
    parser.add_argument("--events", "-n", type=int, default=10_000, help="events per measurement (default 10,000)")
    parser.add_argument("--connections", "-k", type=int, default=4,
                        help="concurrent HTTP connections, one thread each (default 4)")
    parser.add_argument("--batches", default="1,100",
                        help="events per request of the HTTP rows, comma-separated (default 1,100; at most 100, "
                             "MEDIC_SERVE__INGEST_MAX_EVENTS)")
    parser.add_argument("--no-celery", action="store_true", help="leave out the celery baseline row")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per row (default 3): median and range")
    parser.add_argument("--warmup", type=int, default=100, help="events sent and stored before the clock starts")
    parser.add_argument("--poll-interval", type=float, default=0.1, help="progress poll, s (default 0.1)")
    parser.add_argument("--broker-url", default=None,
                        help="Redis db used and flushed (default: a free db claimed as the test suite does)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for one measurement")
    parser.add_argument("--keep-logs", action="store_true", help="keep the serve and worker logs")
    args = parse(parser, argv)
    try:
        batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--batches must be comma-separated whole numbers, not {args.batches!r}")
    if not batches or any(not 1 <= b <= 100 for b in batches):
        parser.error(f"--batches: each between 1 and 100 (MEDIC_SERVE__INGEST_MAX_EVENTS), not {args.batches!r}")
    if min(args.events, args.connections, args.repeat) < 1 or args.warmup < 0:
        parser.error("--events, --connections and --repeat must be at least 1, --warmup at least 0")
    args.row_list = [f"http-{b}" for b in batches] + ([] if args.no_celery else [CELERY_ROW])
    return args


def batch_of(row: str) -> int | None:
    return int(row.split("-", 1)[1]) if row.startswith("http-") else None


class Poster:
    """--connections threads, each with its own keep-alive httpx client, POSTing bodies from one shared list."""

    def __init__(self, base_url: str, bodies: list[tuple[bytes, int]], connections: int):
        self.base_url, self.bodies = base_url, bodies
        self.next_body = 0
        self.lock = threading.Lock()
        self.latencies_s: list[float] = []
        self.statuses: dict[int, int] = {}
        self.accepted = self.rejected = 0
        self.errors: list[str] = []
        self.first = self.last = 0.0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(connections)]
        self.go = threading.Event()

    def _take(self) -> tuple[bytes, int] | None:
        with self.lock:
            if self.next_body >= len(self.bodies) or self.errors:
                return None
            body = self.bodies[self.next_body]
            self.next_body += 1
            return body

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        accepted = rejected = 0
        answered_at = 0.0
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
            http.get("/healthz")  # the connection is open before the clock starts
            self.go.wait()
            try:
                while (item := self._take()) is not None:
                    body, count = item
                    started = time.perf_counter()
                    response = http.post("/api/events", content=body)
                    answer = response.content
                    answered_at = time.perf_counter()
                    latencies.append(answered_at - started)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code != 202:
                        raise RuntimeError(f"POST /api/events answered {response.status_code}: {answer[:500]!r}")
                    decided = json.loads(answer)
                    accepted += decided["accepted"]
                    rejected += decided["rejected"]
            except Exception as exc:  # reported by the measuring thread
                with self.lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        with self.lock:
            self.latencies_s += latencies
            self.accepted += accepted
            self.rejected += rejected
            for code, n in statuses.items():
                self.statuses[code] = self.statuses.get(code, 0) + n
            self.last = max(self.last, answered_at)

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        time.sleep(0.2)  # the connections are open (or failed) by now
        self.first = time.perf_counter()
        self.go.set()

    def join(self, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
        if any(t.is_alive() for t in self.threads):
            raise SystemExit(f"HTTP senders still running after {timeout_s:.0f} s")
        if self.errors:
            raise SystemExit(f"POST /api/events failed: {self.errors[0]}")


def bodies_of(events: list[dict[str, Any]], batch: int) -> list[tuple[bytes, int]]:
    """The request bodies: a bare event when batch is 1 (as most apps send), else arrays of `batch` events."""
    if batch == 1:
        return [(json.dumps(e).encode(), 1) for e in events]
    return [(json.dumps(events[i:i + batch]).encode(), len(events[i:i + batch])) for i in range(0, len(events), batch)]


class HttpBench:
    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.broker_url = broker_of(args)
        services.flush_redis(args.broker_url)  # None: the claimed db, its claim kept
        self.run_tag = uuid.uuid4().hex[:8]
        self.workload = live_workload(args.seed)
        self.client = Celery("bench-http-baseline", broker=self.broker_url)
        self.client.conf.update(task_serializer="json", accept_content=["json"],
                                broker_connection_retry_on_startup=True)
        self.serve: services.Process | None = None
        self.medic = MedicSide()
        self.env = services.medic_env(database_url=self.medic.db_url, broker_url=self.broker_url, log_level="WARNING")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def start_serve(self) -> None:
        env = {**self.env, "MEDIC_SERVE__PORT": str(self.port),
               "MEDIC_SERVE__TOKENS": json.dumps({TOKEN_NAME: {"token": TOKEN, "access": "ingest"}}),
               "MEDIC_SERVE__INGEST_RATE_PER_S": str(RATE_LIMIT), "MEDIC_SERVE__INGEST_BURST_EVENTS": str(RATE_LIMIT)}
        self.serve = services.Process([sys.executable, "-m", "workers.cli.main", "serve"], env,
                                      self.log_dir / "serve.log")

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, what="medic serve to answer /healthz", timeout_s=START_TIMEOUT_S, interval_s=0.2,
                   alive=(self.serve,))

    def close(self) -> None:
        if self.serve is not None:
            stop_worker(self.serve, timeout_s=15)
        self.client.close()
        self.medic.close()
        services.flush_redis(self.args.broker_url)

    def events(self, count: int, tag: str) -> list[dict[str, Any]]:
        return self.workload.events(count, tag=f"{self.run_tag}-{tag}")

    def send_celery(self, events: list[dict[str, Any]]) -> Producer:
        producer = Producer(self.client, REPORT_TASK, events, 0.0)
        producer.start()
        producer.started_evt.wait()
        return producer

    def send_http(self, events: list[dict[str, Any]], batch: int) -> Poster:
        poster = Poster(self.base_url, bodies_of(events, batch), self.args.connections)
        poster.run()
        return poster

    def measure(self, row: str, tag: str) -> dict[str, Any]:
        assert self.serve is not None
        batch = batch_of(row)
        poll = self.args.poll_interval
        worker = start_medic_worker(self.env, self.log_dir, tag)
        alive = (worker, self.serve)
        try:
            warm = self.events(self.args.warmup, f"{tag}-warm")
            before = self.medic.stored()
            if batch is None:
                self.send_celery(warm).join()
            else:
                self.send_http(warm, batch).join(START_TIMEOUT_S)
            wait_until(lambda: self.medic.stored() >= before + len(warm), what=f"{row} warm-up", interval_s=poll,
                       timeout_s=START_TIMEOUT_S, alive=alive)
            events = self.events(self.args.events, tag)
            base = self.medic.stored()
            base_counts = self.medic.counts()
            meter = Meter({"serve": self.serve.proc.pid, "worker": worker.proc.pid})
            meter.start()
            sender: Producer | Poster
            if batch is None:
                sender = self.send_celery(events)
                first = sender.first
            else:
                sender = self.send_http(events, batch)
                first = sender.first
            stored_at = wait_until(lambda: self.medic.stored() >= base + len(events), what=row, interval_s=poll,
                                   timeout_s=self.args.timeout, alive=alive)
            cpu = meter.stop()
            if isinstance(sender, Poster):
                sender.join(self.args.timeout)
                accepted_at = sender.last
            else:
                sender.join(self.args.timeout)
                if sender.error:
                    raise SystemExit(f"{row}: the Celery producer failed: {sender.error!r}")
                accepted_at = sender.last
        finally:
            code = stop_worker(worker)
        counts = self.medic.counts()
        new = counts["occurrences"] - base_counts["occurrences"]
        if new != len(events) or counts["rejected"] != base_counts["rejected"]:
            raise SystemExit(f"{row}: expected {len(events):,} new occurrences and no rejected event, found {new:,} "
                             f"and {counts['rejected'] - base_counts['rejected']}")
        n = len(events)
        result: dict[str, Any] = {
            "row": row, "events": n, "batch": batch, "accepted_seconds": accepted_at - first,
            "accepted_per_s": n / (accepted_at - first), "stored_seconds": stored_at - first,
            "stored_per_s": n / (stored_at - first), "cpu_s": cpu, "worker_exit": code,
        }
        if isinstance(sender, Poster):
            if sender.accepted != n or sender.rejected:
                raise SystemExit(f"{row}: medic serve accepted {sender.accepted:,} and rejected {sender.rejected:,} "
                                 f"of {n:,}")
            latencies = sorted(1000 * s for s in sender.latencies_s)
            result.update({"requests": len(latencies), "statuses": sender.statuses,
                           "latency_ms": {"p50": percentile(latencies, 0.50), "p90": percentile(latencies, 0.90),
                                          "p99": percentile(latencies, 0.99), "max": latencies[-1]},
                           "requests_per_s": len(latencies) / (accepted_at - first)})
        return result


# ----------------------------------------------------------------------------- report


CPU_KEYS = ("serve_main", "worker_main", "worker_pool", "postgres", "redis", "benchmark", "other")


def summarise(measurements: list[dict[str, Any]], rows: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for row in rows:
        ms = [m for m in measurements if m["row"] == row]
        if not ms:
            continue
        accepted, stored = [m["accepted_per_s"] for m in ms], [m["stored_per_s"] for m in ms]
        s: dict[str, Any] = {
            "median_accepted_per_s": median(accepted), "accepted_rates": accepted,
            "median_stored_per_s": median(stored), "stored_rates": stored,
            "median_stored_seconds": median([m["stored_seconds"] for m in ms]),
            "cpu_ms_per_event": {k: sum(1000 * m["cpu_s"].get(k, 0.0) / m["events"] for m in ms) / len(ms)
                                 for k in CPU_KEYS},
            "machine_busy_share": median([m["cpu_s"]["machine_busy_share"] for m in ms]),
        }
        if "latency_ms" in ms[0]:
            s["latency_ms"] = {k: median([m["latency_ms"][k] for m in ms]) for k in ("p50", "p90", "p99", "max")}
            s["latency_ms_ranges"] = {k: [min(m["latency_ms"][k] for m in ms), max(m["latency_ms"][k] for m in ms)]
                                      for k in ("p50", "p99")}
            s["median_requests_per_s"] = median([m["requests_per_s"] for m in ms])
        summary[row] = s
    if CELERY_ROW in summary:
        for s in summary.values():
            s["stored_ratio_to_celery"] = s["median_stored_per_s"] / summary[CELERY_ROW]["median_stored_per_s"]
    return summary


def print_report(result: dict[str, Any]) -> None:
    config, summary = result["config"], result["summary"]
    rows = []
    for row, s in summary.items():
        ratio = f"{100 * s['stored_ratio_to_celery']:.0f}%" if "stored_ratio_to_celery" in s else "-"
        lat = s.get("latency_ms")
        rows.append([row, s["median_accepted_per_s"], spread(s["accepted_rates"]), s["median_stored_per_s"],
                     spread(s["stored_rates"]), ratio, s["median_stored_seconds"],
                     s.get("median_requests_per_s", "-"), lat["p50"] if lat else "-", lat["p99"] if lat else "-",
                     f"{100 * s['machine_busy_share']:.0f}%"])
    print()
    print(table(["row", "accepted/s (median)", "range", "stored/s (median)", "range", "stored / celery", "stored s",
                 "requests/s", "p50 ms", "p99 ms", "machine busy"], rows,
                title=f"POST /api/events: {config['events']:,} events, {config['connections']} connections, "
                      f"`medic worker` draining, {config['repeat']} repeats"))
    print("accepted/s: events / (first send -> last 202; celery: last send returned). stored/s: events / (first send "
          "-> the N-th stored). p50/p99: one request, sending to the whole answer read (medians over repeats).")
    print()
    cpu_rows = [[row, *[s["cpu_ms_per_event"][k] for k in CPU_KEYS]] for row, s in summary.items()]
    print(table(["CPU ms per event", *CPU_KEYS], cpu_rows,
                title="Where the CPU went, first send -> last stored (mean of repeats; serve is one process)"))
    print()
    measured = [[f"r{m['repeat']} {m['row']}", m["accepted_per_s"], m["stored_per_s"], m["stored_seconds"],
                 m["latency_ms"]["p50"] if "latency_ms" in m else "-", m["latency_ms"]["p99"] if "latency_ms" in m
                 else "-", m["cpu_s"]["other"] / m["stored_seconds"]] for m in result["measurements"]]
    print(table(["measurement", "accepted/s", "stored/s", "stored s", "p50 ms", "p99 ms", "other processes, cores"],
                measured, title="Every measurement, in the order run"))
    print(f"\nload average at start {result['load_average']['start']}, at end {result['load_average']['end']}; "
          f"medic stored {result['stored']['occurrences']:,} occurrences in {result['stored']['groups']} groups, "
          f"{result['stored']['executions']} executions, {result['stored']['rejected']} rejected")


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_services(args.broker_url)
    info = start_run(background=True)
    load_start = load_average()
    print(f"load average: {load_start}", flush=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-http-"))
    rows: list[str] = args.row_list
    measurements: list[dict[str, Any]] = []
    bench = HttpBench(args, log_dir)
    try:
        bench.start_serve()
        print(f"database {bench.medic.database}, broker {bench.broker_url}, serve {bench.base_url}, logs {log_dir}",
              flush=True)
        for repeat in range(args.repeat):
            order = rows[repeat % len(rows):] + rows[: repeat % len(rows)]
            for row in order:
                m = bench.measure(row, f"r{repeat + 1}-{row}")
                m["repeat"] = repeat + 1
                measurements.append(m)
                latency = (f", p50 {m['latency_ms']['p50']:.1f} ms p99 {m['latency_ms']['p99']:.1f} ms"
                           if "latency_ms" in m else "")
                print(f"repeat {repeat + 1}: {row:9} accepted {m['accepted_per_s']:8,.1f}/s, stored "
                      f"{m['stored_per_s']:8,.1f}/s ({m['events']:,} in {m['stored_seconds']:.1f} s{latency})",
                      flush=True)
        return {
            "benchmark": "http_intake", "machine": info, "stored": bench.medic.counts(),
            "load_average": {"start": load_start, "end": load_average()},
            "config": {"events": args.events, "connections": args.connections, "rows": rows, "repeat": args.repeat,
                       "warmup": args.warmup, "broker": bench.broker_url, "seed": args.seed,
                       "serve_settings": {"tokens": {TOKEN_NAME: {"access": "ingest"}},
                                          "ingest_rate_per_s": RATE_LIMIT, "ingest_burst_events": RATE_LIMIT},
                       "medic_worker": "medic worker (default: all queues)", "poll_interval_s": args.poll_interval,
                       "workload": bench.workload.describe()},
            "measurements": measurements, "summary": summarise(measurements, rows),
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
