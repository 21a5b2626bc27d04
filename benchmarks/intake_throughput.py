"""Intake throughput on Redis + PostgreSQL: medic.report against a no-op task, same worker.

    python -m benchmarks.intake_throughput [--events 5000] [--rounds 3] [--json PATH]

One real `celery worker` (prefork, 2 processes) runs medic's app with the baseline task
`medic.bench.noop` included, consuming queue medic.errors. For each round, and for each of the
two kinds (the order alternates between rounds), the queue is pre-loaded with N messages while
the worker does not consume it (`cancel_consumer`), then consumption is resumed (`add_consumer`)
and timed until the queue is empty and nothing is unacknowledged (LLEN medic.errors and
HLEN unacked both 0); for medic, the N occurrences are then checked in PostgreSQL. Since
medic acknowledges only after storing, "all acknowledged" means "all stored".

Then a stage profile: the same kind of events through workers.intake.triage (validation,
masking, classification, fingerprint) and workers.intake.store.store_accepted, in this
process, against the same database, to say which stage dominates.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from benchmarks.common import (
    CpuMeter,
    RssPeaks,
    RssSampler,
    Workload,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    remove_logs,
    start_run,
    stop_worker,
    table,
)
from benchmarks.noop import NAME as NOOP_TASK
from benchmarks.stages import dominant_text, print_profile, profile_stages
from config.queues import INTAKE_QUEUE
from tests.support import services

REPORT_TASK = "medic.report"
# kombu's Redis transport keeps delivered, unacknowledged messages in this hash.
UNACKED_KEY = "unacked"
# After cancel_consumer, a BRPOP already sent may still take one message; kombu's BRPOP waits 1 s.
PAUSE_SETTLE_S = 2.0
DRAIN_POLL_S = 0.01
TARGET_RATIO = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("intake_throughput", __doc__)
    parser.add_argument("--events", "-n", type=int, default=5000, help="messages per kind per round (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each times both kinds (default 3)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed messages per kind before the first round")
    parser.add_argument("--concurrency", "-c", type=int, default=2, help="worker pool processes (default 2)")
    parser.add_argument("--profile-events", type=int, default=2000, help="events in the stage profile (0: skip)")
    add_broker_url(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spread", type=int, default=25, help="service instances per sample (more: more groups)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to drain one batch")
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker log directory")
    return parse(parser, argv)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run_tag = uuid.uuid4().hex[:8]
        self.workload = Workload(seed=args.seed, spread=args.spread)
        self.redis = redis.Redis.from_url(args.broker_url)
        self.node = f"bench-{self.run_tag}@{socket.gethostname()}"
        self.client = Celery("bench-client", broker=args.broker_url)
        self.client.conf.update(task_serializer="json", accept_content=["json"],
                                broker_connection_retry_on_startup=True)
        self.stored_expected = 0

    # -- worker control ---------------------------------------------------------------------

    def start_worker(self, env: dict[str, str], log_dir: Path) -> services.Process:
        command = [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--include", "benchmarks.noop",
                   "-Q", INTAKE_QUEUE, "-c", str(self.args.concurrency), "--pool", "prefork", "--hostname", self.node]
        worker = services.Process(command, env, log_dir / "worker.log")
        deadline = time.monotonic() + 90
        while not self.client.control.ping(destination=[self.node], timeout=1.0):
            if worker.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{worker.output()[-3000:]}")
        return worker

    def pause(self) -> None:
        replies = self.client.control.cancel_consumer(INTAKE_QUEUE, destination=[self.node], reply=True, timeout=5)
        if not replies:
            raise SystemExit("worker did not answer cancel_consumer")
        time.sleep(PAUSE_SETTLE_S)

    def resume(self) -> None:
        replies = self.client.control.add_consumer(INTAKE_QUEUE, destination=[self.node], reply=True, timeout=5)
        if not replies:
            raise SystemExit("worker did not answer add_consumer")

    def backlog(self) -> tuple[int, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(INTAKE_QUEUE)
        pipe.hlen(UNACKED_KEY)
        queued, unacked = pipe.execute()
        return queued, unacked

    # -- one batch ---------------------------------------------------------------------------

    def preload(self, kind: str, count: int, tag: str) -> float:
        started = time.perf_counter()
        if kind == "medic":
            for event in self.workload.events(count, tag=f"{self.run_tag}-{tag}"):
                self.client.send_task(REPORT_TASK, args=[event], queue=INTAKE_QUEUE)
        else:
            for _ in range(count):
                self.client.send_task(NOOP_TASK, queue=INTAKE_QUEUE)
        elapsed = time.perf_counter() - started
        queued, unacked = self.backlog()
        if (queued, unacked) != (count, 0):
            raise SystemExit(f"pre-load of {count} {kind} messages left queue={queued}, unacked={unacked}: "
                             "was the worker still consuming?")
        return count / elapsed

    def drain(self, kind: str, count: int, worker: services.Process, db_url: str) -> dict[str, Any]:
        """Resume consumption and time until every message is acknowledged."""
        meter = CpuMeter(worker.proc.pid)
        with RssSampler(worker.proc.pid) as sampler:
            meter.start()
            started = time.perf_counter()
            self.resume()
            deadline = started + self.args.timeout
            empty_polls = 0
            while empty_polls < 2:  # twice: a message popped but not yet recorded as unacked is invisible
                time.sleep(DRAIN_POLL_S)
                empty_polls = empty_polls + 1 if self.backlog() == (0, 0) else 0
                if time.perf_counter() > deadline or worker.proc.poll() is not None:
                    raise SystemExit(f"{kind}: not drained after {self.args.timeout}s (backlog {self.backlog()}):\n"
                                     f"{worker.output()[-3000:]}")
            elapsed = time.perf_counter() - started - DRAIN_POLL_S  # the confirming poll is not work
            cpu = meter.stop()
        self.pause()
        if kind == "medic":
            self.stored_expected += count
            stored = services.count_rows(db_url, "occurrences")
            rejected = services.count_rows(db_url, "rejected_events")
            if stored != self.stored_expected or rejected:
                raise SystemExit(f"expected {self.stored_expected} occurrences and no rejected events, "
                                 f"found {stored} and {rejected}")
        return {"events": count, "seconds": elapsed, "events_per_s": count / elapsed, "cpu_s": cpu,
                "rss": sampler.peaks}

    def batch(self, kind: str, count: int, tag: str, worker: services.Process, db_url: str) -> dict[str, Any]:
        produce_rate = self.preload(kind, count, tag)
        result = self.drain(kind, count, worker, db_url)
        result["produce_per_s"] = produce_rate
        return result


# ----------------------------------------------------------------------------- report


def summarise(rounds: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    noop = [r["noop"]["events_per_s"] for r in rounds]
    medic = [r["medic"]["events_per_s"] for r in rounds]
    summary = {"noop_median_per_s": median(noop), "medic_median_per_s": median(medic)}
    summary["ratio_of_medians"] = summary["medic_median_per_s"] / summary["noop_median_per_s"]
    summary["per_round_ratios"] = [m / n for m, n in zip(medic, noop, strict=True)]
    summary["meets_target"] = summary["ratio_of_medians"] >= TARGET_RATIO
    for kind in ("noop", "medic"):
        cpu_total: dict[str, float] = {}
        events = 0
        for r in rounds:
            events += r[kind]["events"]
            for key, value in r[kind]["cpu_s"].items():
                if key != "machine_busy_share":
                    cpu_total[key] = cpu_total.get(key, 0.0) + value
        summary[f"{kind}_cpu_ms_per_event"] = {k: 1000 * v / events for k, v in cpu_total.items()}
        summary[f"{kind}_machine_busy_share"] = median([r[kind]["cpu_s"]["machine_busy_share"] for r in rounds])
        # Wall time one pool process spends per message when all pool processes are busy.
        summary[f"{kind}_worker_ms_per_event"] = 1000 * concurrency / summary[f"{kind}_median_per_s"]
    return summary


def print_report(result: dict[str, Any]) -> None:
    rounds, summary = result["rounds"], result["summary"]
    rows = []
    for number, r in enumerate(rounds, 1):
        rows.append([f"round {number} ({r['order']})", r["noop"]["events_per_s"], r["medic"]["events_per_s"],
                     f"{100 * r['medic']['events_per_s'] / r['noop']['events_per_s']:.0f}%",
                     r["noop"]["seconds"], r["medic"]["seconds"]])
    rows.append(["median", summary["noop_median_per_s"], summary["medic_median_per_s"],
                 f"{100 * summary['ratio_of_medians']:.0f}%", "", ""])
    n = result["config"]["events"]
    print()
    print(table(["", "noop ev/s", "medic ev/s", "medic/noop", "noop s", "medic s"], rows,
                title=f"Intake throughput, Redis + PostgreSQL, {result['config']['concurrency']} prefork processes, "
                      f"{n:,} pre-loaded messages per batch"))
    verdict = "meets" if summary["meets_target"] else "MISSES"
    print(f"\nmedic.report runs at {100 * summary['ratio_of_medians']:.0f}% of the no-op baseline "
          f"({verdict} the >= {100 * TARGET_RATIO:.0f}% target).")
    if result.get("stored"):
        print(f"stored: {result['stored']['occurrences']:,} occurrences in {result['stored']['groups']:,} groups "
              f"(warm-up included)")
    print(f"producer (plain Celery client, send_task): median {median(result['produce_per_s']['medic']):,.0f} "
          f"medic.report/s, {median(result['produce_per_s']['noop']):,.0f} noop/s")

    rss = result["rss"]
    print()
    print(table(["worker memory (peak)", "main MB", "largest pool proc MB", "total RSS MB", "total PSS MB"], [
        ["idle, after start", *_rss_cells(rss["idle"])],
        ["noop, before any medic task", *_rss_cells(rss["noop_first"])],
        ["noop, all rounds (pools warm from medic)", *_rss_cells(rss["noop"])],
        ["medic.report, all rounds", *_rss_cells(rss["medic"])],
    ], title=f"Worker RSS, main + {result['config']['concurrency']} pool processes, sampled every 0.2 s"))
    print("(RSS counts pages shared after fork in every process; PSS splits them, so its total is the real footprint.)")

    print()
    keys = ["worker_pool", "worker_main", "postgres", "redis", "benchmark", "other"]
    rows = [[kind, *[summary[f"{kind}_cpu_ms_per_event"].get(k, 0.0) for k in keys],
             sum(v for k, v in summary[f"{kind}_cpu_ms_per_event"].items() if k != "other"),
             f"{100 * summary[f'{kind}_machine_busy_share']:.0f}%"]
            for kind in ("noop", "medic")]
    print(table(["CPU ms per message", *keys, "total (w/o other)", "machine busy"], rows,
                title="Where the CPU went during the timed batches (from /proc/<pid>/stat)"))

    if result.get("profile"):
        print()
        print_profile(result["profile"])
    print()
    print("What limits it: " + limits_text(result))


def _rss_cells(peaks: dict[str, Any]) -> list[Any]:
    return [peaks["main_mb"], peaks["largest_child_mb"], peaks["total_rss_mb"], peaks["total_pss_mb"]]


def limits_text(result: dict[str, Any]) -> str:
    summary = result["summary"]
    noop_cpu, medic_cpu = summary["noop_cpu_ms_per_event"], summary["medic_cpu_ms_per_event"]
    medic_total = sum(v for k, v in medic_cpu.items() if k != "other")
    cores = result["machine"]["cpus"] or 1
    noop_ceiling = 1000 / noop_cpu["worker_main"]
    medic_ceiling = 1000 * cores / medic_total
    text = (
        f"the no-op baseline is bound by the worker's main process (the Celery consumer: fetch, decode, dispatch, "
        f"acknowledge, task events), which spends {noop_cpu['worker_main']:.2f} ms of CPU per message on one "
        f"thread - a ceiling near {noop_ceiling:,.0f}/s, of which it reached "
        f"{100 * summary['noop_median_per_s'] / noop_ceiling:.0f}% - while its pool processes spend only "
        f"{noop_cpu['worker_pool']:.2f} ms. medic.report costs {medic_total:.2f} ms of CPU per event across "
        f"processes (pool {medic_cpu['worker_pool']:.2f}, consumer {medic_cpu['worker_main']:.2f}, PostgreSQL "
        f"{medic_cpu.get('postgres', 0):.2f}, Redis {medic_cpu.get('redis', 0):.2f}, this benchmark "
        f"{medic_cpu['benchmark']:.2f}), so {cores} cores cap it near {medic_ceiling:,.0f} events/s; it reached "
        f"{100 * summary['medic_median_per_s'] / medic_ceiling:.0f}% of that with the machine "
        f"{100 * summary['medic_machine_busy_share']:.0f}% busy. The rest is latency: with prefetch 1 and late "
        f"acknowledgement a pool process gets its next event only after the consumer has handled the last one, and "
        f"each store waits for its database round trips. "
    )
    if result.get("profile"):
        stages = result["profile"]["stages"]
        in_process = (stages["triage (one call)"]["mean_us"] / 1000
                      + stages["store, CPU of this process"]["mean_us"] / 1000)
        text += (f"Inside the task: {dominant_text(result['profile'])} "
                 f"Triage + store CPU in one quiet process ({in_process:.2f} ms) is "
                 f"{100 * in_process / medic_cpu['worker_pool']:.0f}% of the pool's CPU per event "
                 f"({medic_cpu['worker_pool']:.2f} ms); the rest is Celery's per-task work in the pool "
                 f"(a no-op's costs {noop_cpu['worker_pool']:.2f} ms), decoding the larger message, "
                 f"and sharing 2 busy cores.")
    return text


# ----------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    from workers.storage import migrate

    info = start_run()
    bench = Bench(args)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-intake-"))
    services.flush_redis(args.broker_url)
    database = services.create_pg_database()
    db_url = services.pg_url(database)
    worker = None
    try:
        migrate.upgrade(db_url)
        env = services.medic_env(database_url=db_url, broker_url=args.broker_url, log_level="WARNING")
        print(f"database {database}, broker {args.broker_url}, worker log {log_dir / 'worker.log'}")
        worker = bench.start_worker(env, log_dir)
        bench.pause()
        idle = RssSampler(worker.proc.pid)
        idle.sample()
        rss = {"idle": idle.peaks, "noop_first": RssPeaks(), "noop": RssPeaks(), "medic": RssPeaks()}
        produce: dict[str, list[float]] = {"noop": [], "medic": []}
        rounds = []
        for number in range(1, args.rounds + 1):
            order = ("noop", "medic") if number % 2 else ("medic", "noop")
            entry: dict[str, Any] = {"order": " then ".join(order)}
            for kind in order:
                if number == 1 and args.warmup:
                    warm = bench.batch(kind, args.warmup, f"warm-{kind}", worker, db_url)
                    if kind == "noop":
                        rss["noop_first"] = rss["noop_first"].merge(warm["rss"])
                measured = bench.batch(kind, args.events, f"r{number}-{kind}", worker, db_url)
                if number == 1 and kind == "noop":
                    rss["noop_first"] = rss["noop_first"].merge(measured["rss"])
                rss[kind] = rss[kind].merge(measured.pop("rss"))
                produce[kind].append(measured.pop("produce_per_s"))
                entry[kind] = measured
                print(f"round {number}: {kind:5} {measured['events_per_s']:8,.0f} events/s "
                      f"({args.events:,} in {measured['seconds']:.2f} s)", flush=True)
            rounds.append(entry)
        stop_worker(worker)
        worker = None
        stored = {"occurrences": services.count_rows(db_url, "occurrences"),
                  "groups": services.count_rows(db_url, "error_groups")}
        profile = None
        if args.profile_events:
            print(f"profiling stages over {args.profile_events:,} events ...", flush=True)
            profile = profile_stages(db_url, bench.workload, args.profile_events, f"{bench.run_tag}-profile")
        result = {
            "benchmark": "intake_throughput", "machine": info,
            "config": {"events": args.events, "rounds": args.rounds, "warmup": args.warmup,
                       "concurrency": args.concurrency, "broker": args.broker_url, "database": "postgresql",
                       "workload": bench.workload.describe()},
            "rounds": rounds, "summary": summarise(rounds, args.concurrency), "produce_per_s": produce,
            "rss": {k: v.as_dict() for k, v in rss.items()}, "profile": profile, "stored": stored,
        }
        return result
    finally:
        if worker is not None:
            stop_worker(worker)
        drop_database(database)
        services.flush_redis(args.broker_url)
        if not args.keep_logs:
            remove_logs(log_dir)


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
