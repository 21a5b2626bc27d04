"""Intake throughput in embedded mode: SQLite database, kombu's SQLAlchemy transport on SQLite.

    python -m benchmarks.embedded_throughput [--events 1000] [--rounds 3] [--json PATH]
    python -m benchmarks.embedded_throughput --poll-interval 1.0 --events 100 --rounds 2   # kombu's default

The same comparison as benchmarks.intake_throughput, on what `medic run` uses when nothing is
configured (MEDIC_DATA_DIR only, no URLs): medic.report against the no-op task
`medic.bench.noop` on the same SQLite broker, a `celery worker` of 2 prefork processes.

The SQLAlchemy transport has no remote control (no broadcast), so consumption cannot be paused
and resumed as on Redis. Instead, for every measurement the queue is pre-loaded while no worker
runs - a few warm-up messages first, then the N measured ones - and a fresh worker is started.
The transport stamps each message row's `timestamp` when a worker takes it (visible -> false),
so the rate is taken from those stamps: (N - 1) / (last take - first take) over the measured
messages only. Worker start-up and warm-up are outside the measured span. Gaps between two
takes of at least 0.8 x the poll interval are counted as poll sleeps and reported.

The SQLAlchemy transport cannot wait for a message: the worker's consumer sleeps a polling
interval whenever a poll finds nothing it can take - the queue empty, or its prefetch window
full, which for medic.report is most polls. medic sets that interval
(MEDIC_EMBEDDED_BROKER_POLL_INTERVAL_S, default 0.1 s; kombu's own default is 1 s);
`--poll-interval S` runs the measurement with another value. A stage profile against the same
SQLite database follows, as in the Redis benchmark.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery

from benchmarks.common import (
    CpuMeter,
    RssPeaks,
    RssSampler,
    Workload,
    argument_parser,
    bench_main,
    median,
    parse,
    start_run,
    stop_worker,
    table,
)
from benchmarks.noop import NAME as NOOP_TASK
from benchmarks.stages import dominant_text, print_profile, profile_stages
from config.queues import INTAKE_QUEUE
from config.urls import sqlite_broker_file
from tests.support import services

REPORT_TASK = "medic.report"
POLL_S = 0.25  # the broker is one SQLite file: poll it gently
SLEEP_GAP_SHARE = 0.8  # a gap between two takes of at least this share of the poll interval is a poll sleep
TARGET_RATIO = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("embedded_throughput", __doc__)
    parser.add_argument("--events", "-n", type=int, default=1000,
                        help="measured messages per kind per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each measures both kinds (default 3)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="untimed messages ahead of the measured ones (default 20)")
    parser.add_argument("--concurrency", "-c", type=int, default=2, help="worker pool processes (default 2)")
    parser.add_argument("--profile-events", type=int, default=500, help="events in the stage profile (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spread", type=int, default=25, help="service instances per sample (more: more groups)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed to drain one batch")
    parser.add_argument("--poll-interval", type=float, metavar="S",
                        help="MEDIC_EMBEDDED_BROKER_POLL_INTERVAL_S for the worker (default: medic's, 0.1 s)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the data directory (databases, worker logs)")
    return parse(parser, argv)


class Embedded:
    def __init__(self, args: argparse.Namespace, data_dir: Path):
        from config.settings import load_settings

        self.args = args
        self.data_dir = data_dir
        self.run_tag = uuid.uuid4().hex[:8]
        self.workload = Workload(seed=args.seed, spread=args.spread)
        overrides = {} if args.poll_interval is None else {"embedded_broker_poll_interval_s": args.poll_interval}
        settings = load_settings(data_dir=data_dir, **overrides)
        self.database_url, self.broker_url = settings.database_url, settings.broker_url
        self.poll_interval_s = settings.embedded_broker_poll_interval_s
        self.database_file = Path(self.database_url.removeprefix("sqlite:///"))
        self.broker_file = sqlite_broker_file(self.broker_url)
        self.env = services.medic_env(data_dir=str(data_dir), log_level="WARNING", **overrides)
        self.client = Celery("bench-client", broker=self.broker_url)
        self.client.conf.update(task_serializer="json", accept_content=["json"],
                                broker_connection_retry_on_startup=True)
        self.stored_expected = 0
        self.workers_started = 0

    # -- SQLite peeks -----------------------------------------------------------------------

    def _broker(self, sql: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.broker_file, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def last_message_id(self) -> int:
        return self._broker("SELECT coalesce(max(id), 0) FROM kombu_message")[0][0]

    def visible(self) -> int:
        return self._broker("SELECT count(*) FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
                            "WHERE q.name = ? AND m.visible = 1", INTAKE_QUEUE)[0][0]

    def take_times(self, after_id: int) -> list[datetime]:
        rows = self._broker("SELECT timestamp FROM kombu_message WHERE id > ? AND visible = 0 ORDER BY timestamp",
                            after_id)
        return [datetime.fromisoformat(r[0]) for r in rows if r[0]]

    def occurrences(self, table: str = "occurrences") -> int:
        with sqlite3.connect(f"file:{self.database_file}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # -- one measurement -----------------------------------------------------------------------

    def send(self, kind: str, count: int, tag: str) -> None:
        if kind == "medic":
            for event in self.workload.events(count, tag=f"{self.run_tag}-{tag}"):
                self.client.send_task(REPORT_TASK, args=[event], queue=INTAKE_QUEUE)
        else:
            for _ in range(count):
                self.client.send_task(NOOP_TASK, queue=INTAKE_QUEUE)

    def measure(self, kind: str, count: int, tag: str) -> dict[str, Any]:
        started = time.perf_counter()
        self.send(kind, self.args.warmup, f"{tag}-warm")
        measured_after = self.last_message_id()
        self.send(kind, count, tag)
        produce_per_s = (count + self.args.warmup) / (time.perf_counter() - started)
        if self.visible() != count + self.args.warmup:
            raise SystemExit(f"pre-load: expected {count + self.args.warmup} visible messages, found {self.visible()}")

        self.workers_started += 1
        command = [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--include", "benchmarks.noop",
                   "-Q", INTAKE_QUEUE, "-c", str(self.args.concurrency), "--pool", "prefork",
                   "--hostname", f"bench-{self.run_tag}-{self.workers_started}@%h"]
        worker = services.Process(command, self.env, self.data_dir / f"worker-{tag}.log")
        meter = CpuMeter(worker.proc.pid, postgres=False, redis=False)
        wall_started = time.perf_counter()
        try:
            with RssSampler(worker.proc.pid) as sampler:
                self._wait_drained(kind, count, worker, meter)
                wall = time.perf_counter() - wall_started
                cpu = meter.stop()
        finally:
            code = stop_worker(worker)
        if code not in (0, None):
            raise SystemExit(f"worker exited with {code}:\n{worker.output()[-3000:]}")

        takes = self.take_times(measured_after)
        if len(takes) != count:
            raise SystemExit(f"{kind}: {len(takes)} measured messages taken, expected {count}")
        span = (takes[-1] - takes[0]).total_seconds()
        gaps = [(b - a).total_seconds() for a, b in zip(takes, takes[1:], strict=False)]
        stalls = [g for g in gaps if g >= SLEEP_GAP_SHARE * self.poll_interval_s]
        return {"events": count, "seconds": span, "events_per_s": (count - 1) / span, "produce_per_s": produce_per_s,
                "wall_from_worker_start_s": wall, "stalls": len(stalls), "stall_seconds": sum(stalls),
                "cpu_s": cpu, "rss": sampler.peaks}

    def _wait_drained(self, kind: str, count: int, worker: services.Process, meter: CpuMeter) -> None:
        """Wait until all is taken (and, for medic, stored); start the CPU meter at the first take."""
        deadline = time.perf_counter() + self.args.timeout
        preloaded = count + self.args.warmup
        if kind == "medic":
            self.stored_expected += preloaded
        metering = False
        while True:
            time.sleep(POLL_S if metering else POLL_S / 5)
            if worker.proc.poll() is not None:
                raise SystemExit(f"worker exited with {worker.proc.returncode}:\n{worker.output()[-3000:]}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"{kind}: not drained after {self.args.timeout}s ({self.visible()} still queued)")
            queued = self.visible()
            if not metering and queued < preloaded:
                meter.start()
                metering = True
            if queued:
                continue
            if kind == "noop" or self.occurrences() >= self.stored_expected:
                return


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    noop = [r["noop"]["events_per_s"] for r in rounds]
    medic = [r["medic"]["events_per_s"] for r in rounds]
    summary = {"noop_median_per_s": median(noop), "medic_median_per_s": median(medic)}
    summary["ratio_of_medians"] = summary["medic_median_per_s"] / summary["noop_median_per_s"]
    summary["meets_target"] = summary["ratio_of_medians"] >= TARGET_RATIO
    for kind in ("noop", "medic"):
        events = sum(r[kind]["events"] for r in rounds)
        keys = [k for k in rounds[0][kind]["cpu_s"] if k != "machine_busy_share"]
        summary[f"{kind}_cpu_ms_per_event"] = {k: 1000 * sum(r[kind]["cpu_s"][k] for r in rounds) / events
                                               for k in keys}
        summary[f"{kind}_machine_busy_share"] = median([r[kind]["cpu_s"]["machine_busy_share"] for r in rounds])
    return summary


def print_report(result: dict[str, Any]) -> None:
    rounds, summary, config = result["rounds"], result["summary"], result["config"]
    rows = []
    for number, r in enumerate(rounds, 1):
        noop, medic = r["noop"], r["medic"]
        rows.append([f"round {number} ({r['order']})", noop["events_per_s"], medic["events_per_s"],
                     f"{100 * medic['events_per_s'] / noop['events_per_s']:.0f}%", noop["seconds"], medic["seconds"],
                     f"{noop['stalls']} / {medic['stalls']}",
                     f"{100 * noop['stall_seconds'] / noop['seconds']:.0f}% / "
                     f"{100 * medic['stall_seconds'] / medic['seconds']:.0f}%"])
    rows.append(["median", summary["noop_median_per_s"], summary["medic_median_per_s"],
                 f"{100 * summary['ratio_of_medians']:.0f}%", "", "", "", ""])
    print()
    print(table(["", "noop ev/s", "medic ev/s", "medic/noop", "noop s", "medic s", "sleeps n/m", "slept n/m"], rows,
                title=f"Embedded intake throughput (SQLite database + SQLite broker), {config['concurrency']} prefork "
                      f"processes, {config['events']:,} pre-loaded messages per batch"))
    verdict = "meets" if summary["meets_target"] else "MISSES"
    print(f"\nmedic.report runs at {100 * summary['ratio_of_medians']:.0f}% of the no-op baseline "
          f"({verdict} the >= {100 * TARGET_RATIO:.0f}% target).")
    print(f"sleeps: gaps of at least {SLEEP_GAP_SHARE} x the poll interval ({config['poll_interval_s']} s) between two "
          f"consecutive takes, and the share of the measured time they add up to (n = noop, m = medic).")
    print(f"stored: {result['stored']['occurrences']:,} occurrences in {result['stored']['groups']:,} groups "
          f"(warm-up included)")
    print(f"producer (plain Celery client on the SQLite broker): median "
          f"{median([r['medic']['produce_per_s'] for r in rounds]):,.0f} medic.report/s, "
          f"{median([r['noop']['produce_per_s'] for r in rounds]):,.0f} noop/s")
    print()
    rss = result["rss"]
    print(table(["worker memory (peak)", "main MB", "largest pool proc MB", "total RSS MB", "total PSS MB"], [
        [f"noop worker ({len(rounds)} runs)", *_rss_cells(rss["noop"])],
        [f"medic.report worker ({len(rounds)} runs)", *_rss_cells(rss["medic"])],
    ], title="Worker RSS (a fresh worker per batch), sampled every 0.2 s"))
    print()
    keys = list(summary["medic_cpu_ms_per_event"])
    rows = [[kind, *[summary[f"{kind}_cpu_ms_per_event"][k] for k in keys],
             f"{100 * summary[f'{kind}_machine_busy_share']:.0f}%"] for kind in ("noop", "medic")]
    print(table(["CPU ms per message", *keys, "machine busy"], rows,
                title="CPU per message, from the first take to drained (worker start-up excluded, warm-up included)"))
    if result.get("profile"):
        print()
        print_profile(result["profile"])
    print()
    print("What limits it: " + limits_text(result))


def limits_text(result: dict[str, Any]) -> str:
    rounds, summary = result["rounds"], result["summary"]
    interval = result["config"]["poll_interval_s"]
    setting = (f"medic's default poll interval ({interval} s)" if result["config"]["poll_interval_is_default"]
               else f"MEDIC_EMBEDDED_BROKER_POLL_INTERVAL_S={interval} s")
    shares = {}
    for kind in ("noop", "medic"):
        span = sum(r[kind]["seconds"] for r in rounds)
        shares[kind] = (sum(r[kind]["stall_seconds"] for r in rounds) / span if span else 0.0,
                        sum(r[kind]["stalls"] for r in rounds), sum(r[kind]["events"] for r in rounds))
    concurrency = result["config"]["concurrency"]
    text = (f"with {setting}, poll sleeps take {100 * shares['medic'][0]:.0f}% of medic's measured time "
            f"({shares['medic'][1]} sleeps for {shares['medic'][2]} events) and {100 * shares['noop'][0]:.0f}% of the "
            f"no-op's ({shares['noop'][1]} for {shares['noop'][2]}). The SQLAlchemy transport cannot wait for a "
            f"message: when a poll finds nothing it can take - the queue empty, or the worker's prefetch window "
            f"({concurrency} messages: prefetch multiplier 1 x {concurrency} processes) full - the consumer sleeps the "
            f"polling interval. ")
    text += (f"A medic.report takes milliseconds, so the window is often still full at the next poll; a no-op has "
             f"usually finished by then. Were every {concurrency} messages followed by a sleep, the cap would be "
             f"{concurrency / interval:,.0f} events/s. ")
    cpu = summary["medic_cpu_ms_per_event"]
    text += (f"CPU per medic.report (first take to drained): consumer {cpu['worker_main']:.2f} ms, pool "
             f"{cpu['worker_pool']:.2f} ms; the machine was {100 * summary['medic_machine_busy_share']:.0f}% busy. ")
    if result.get("profile"):
        text += "Outside the sleeps, the work is the task's: " + dominant_text(result["profile"])
    return text


def _rss_cells(peaks: dict[str, Any]) -> list[Any]:
    return [peaks["main_mb"], peaks["largest_child_mb"], peaks["total_rss_mb"], peaks["total_pss_mb"]]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from workers.storage import migrate

    info = start_run()
    data_dir = Path(tempfile.mkdtemp(prefix="medic-bench-embedded-"))
    try:
        bench = Embedded(args, data_dir)
        migrate.upgrade(bench.database_url)
        print(f"data dir {data_dir}: database {bench.database_file.name}, broker {bench.broker_file.name}")
        rss = {"noop": RssPeaks(), "medic": RssPeaks()}
        rounds = []
        for number in range(1, args.rounds + 1):
            order = ("noop", "medic") if number % 2 else ("medic", "noop")
            entry: dict[str, Any] = {"order": " then ".join(order)}
            for kind in order:
                measured = bench.measure(kind, args.events, f"r{number}-{kind}")
                rss[kind] = rss[kind].merge(measured.pop("rss"))
                entry[kind] = measured
                print(f"round {number}: {kind:5} {measured['events_per_s']:8,.1f} events/s "
                      f"({args.events:,} in {measured['seconds']:.2f} s, {measured['stalls']} poll sleeps; "
                      f"{measured['wall_from_worker_start_s']:.1f} s from worker start)", flush=True)
            rounds.append(entry)
        stored = {"occurrences": bench.occurrences(), "groups": bench.occurrences("error_groups")}
        profile = None
        if args.profile_events:
            print(f"profiling stages over {args.profile_events:,} events ...", flush=True)
            profile = profile_stages(bench.database_url, bench.workload, args.profile_events,
                                     f"{bench.run_tag}-profile")
        return {
            "benchmark": "embedded_throughput", "machine": info, "profile": profile, "stored": stored,
            "config": {"events": args.events, "rounds": args.rounds, "warmup": args.warmup,
                       "concurrency": args.concurrency, "broker": "medic+sqlite (medic's transport)",
                       "poll_interval_s": bench.poll_interval_s, "poll_interval_is_default": args.poll_interval is None,
                       "database": "sqlite", "workload": bench.workload.describe()},
            "rounds": rounds, "summary": summarise(rounds), "rss": {k: v.as_dict() for k, v in rss.items()},
        }
    finally:
        if args.keep_dir:
            print(f"kept {data_dir}")
        else:
            for path in sorted(data_dir.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            data_dir.rmdir()


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
