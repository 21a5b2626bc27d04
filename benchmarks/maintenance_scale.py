"""Maintenance jobs at scale (issue 4): stuck detection, health snapshots, and cleanup while intake runs.

    python -m benchmarks.maintenance_scale [--occurrences 1000000] [--executions 100000] [--expired 500000]
                                           [--rounds 3] [--window 30] [--json PATH]

A fresh PostgreSQL database (migrated, dropped at the end) and Redis db 14 (flushed before and
after). The data is seeded with INSERT ... SELECT FROM generate_series (benchmarks/maintenance_seed.py):
the base of --occurrences over --days days and --executions (most finished, some waiting, running
or pending, about 100 of them stuck in each of the four ways the stuck job knows), with
attempts, audit rows, notifications, rejected events, snapshots and run rows, all within the
cleanup job's default retention; then VACUUM ANALYZE.

1. Stuck detection on the base: `count_stuck`, `find_stuck(limit=max_per_run)` and `plan` (the
   job's detection: find_stuck plus the audit histories), one untimed call each, then
   --stuck-repeat timed calls; each query's plan with EXPLAIN (ANALYZE, BUFFERS).
2. Health snapshots on the base: the health job's `run(ctx)`, one untimed, then --snapshots
   timed, and as many through `run_job("health", trigger="beat")` (lock, run row) as beat's task
   runs it; the time of each SQL statement; the plans of its SELECTs. Then again during a burst:
   --burst occurrences more received over the last 4 minutes (the snapshot's error counts read at
   most 50,000 of the newest).
   Last, one run of the stuck job itself (`run_job("stuck")`: detection, then a requeue of each
   stuck execution, their messages sent to Redis db 14).
3. Cleanup while intake runs: an expired set of about --expired rows past retention is added
   (resolved groups and their occurrences, finished executions with their attempts, rejected
   events, health snapshots, run rows, notifications; VACUUM ANALYZE). One real `celery worker`
   (as benchmarks.intake_throughput starts it: prefork, --concurrency processes, medic's app plus
   the no-op task) consumes medic.errors from a backlog kept larger than needed. Each round
   measures, with the worker paused between (untimed): the no-op task for --window seconds (the
   baseline); medic.report for --window seconds; and medic.report while `medic maintenance run
   cleanup` runs in a separate process, over the job's own run (the times of its run row). The
   two medic measurements alternate in order between rounds. After cleanup: the check that the
   expired set is gone, VACUUM ANALYZE, and (before the next round) the expired set seeded again.
4. The cleanup job alone (unless --no-cleanup-profile): the expired set once more, deleted by
   `run_job("cleanup")` in this process with the worker stopped, its statements timed and its
   Python profiled (cProfile): how fast cleanup is without intake, and where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import functools
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import maintenance_seed as seed
from benchmarks.common import (
    Statements,
    add_broker_url,
    argument_parser,
    bench_main,
    drop_database,
    median,
    parse,
    print_plan,
    remove_logs,
    start_run,
    stop_worker,
    table,
)
from benchmarks.intake_throughput import Bench
from benchmarks.maintenance_intake import CleanupFailed, CleanupProcess, IntakeWindows
from benchmarks.recovery_overhead import statement_label
from benchmarks.sweeper_pass import explain
from tests.support import services

TARGET_S = 1.0  # stuck detection and each health snapshot
TARGET_RATIO = 0.8  # intake during cleanup / intake without it
BURST_S = 240.0  # the burst's occurrences arrive over the last 4 minutes (within the health window, 5 min)
TABLES = ("error_groups", "occurrences", "executions", "attempts", "execution_audit", "notifications",
          "rejected_events", "health_snapshots", "maintenance_runs", "alerts")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("maintenance_scale", __doc__)
    sizes = parser.add_argument_group("data")
    sizes.add_argument("--occurrences", type=int, default=1_000_000, help="occurrences in the base (default 1,000,000)")
    sizes.add_argument("--executions", type=int, default=100_000, help="executions in the base (default 100,000)")
    sizes.add_argument("--groups", type=int, default=5_000, help="error groups in the base (default 5,000)")
    sizes.add_argument("--resolved-share", type=float, default=0.3, help="share of the base's groups resolved (0.3)")
    sizes.add_argument("--days", type=float, default=90, help="the base's occurrences span this many days (90)")
    sizes.add_argument("--waiting", type=int, default=3_000, help="executions waiting for a scheduled attempt (3,000)")
    sizes.add_argument("--running", type=int, default=300, help="executions with an attempt running (300)")
    sizes.add_argument("--expired", type=int, default=500_000,
                       help="rows past retention for cleanup, about (default 500,000): half occurrences of resolved "
                            "groups, a tenth finished executions with 2.5 attempts each, rejected events, "
                            "snapshots, runs")
    sizes.add_argument("--burst", type=int, default=60_000,
                       help="then this many occurrences more in the last 4 minutes, and the snapshots again "
                            "(an incident: more than the health job's 50,000-row sample; 0: skip)")
    parts = parser.add_argument_group("what to measure")
    parts.add_argument("--stuck-repeat", type=int, default=20, help="timed calls of each stuck query (default 20)")
    parts.add_argument("--snapshots", type=int, default=10, help="timed health snapshots, each way (default 10)")
    parts.add_argument("--rounds", type=int, default=3, help="cleanup rounds, 0: no intake part (default 3)")
    parts.add_argument("--window", type=float, default=30,
                       help="seconds of each intake measurement without cleanup (30)")
    parts.add_argument("--no-cleanup-profile", dest="cleanup_profile", action="store_false",
                       help="skip the last step: the expired set once more, deleted by the cleanup job in this "
                            "process with no intake, its SQL timed and its Python profiled")
    parts.add_argument("--cleanup-pause-ms", type=int, help="the cleanup job's pause between batches "
                       "(MEDIC_CLEANUP__PAUSE_BETWEEN_BATCHES_MS; default: the setting's default)")
    parts.add_argument("--cleanup-batch-size", type=int, help="the cleanup job's rows per batch "
                       "(MEDIC_CLEANUP__BATCH_SIZE; default: the setting's default)")
    worker = parser.add_argument_group("worker")
    worker.add_argument("--concurrency", "-c", type=int, default=2, help="worker pool processes (default 2)")
    add_broker_url(worker)
    worker.add_argument("--seed", type=int, default=1, help="seed of the intake workload")
    worker.add_argument("--spread", type=int, default=25, help="service instances per sample (more: more groups)")
    worker.add_argument("--keep-logs", action="store_true", help="keep the worker and cleanup logs")
    args = parse(parser, argv)
    args.timeout = 600  # Bench's, unused here
    return args


def ms(seconds: float) -> float:
    return 1000 * seconds


def layout_of(args: argparse.Namespace) -> tuple[seed.Layout, seed.Expired, seed.Active]:
    e = args.expired
    layout = seed.Layout(occurrences=args.occurrences, executions=args.executions, groups=args.groups, days=args.days,
                         expired_groups=max(1, e // 500), expired_occurrences=e // 2, expired_executions=e // 10,
                         expired_runs=e * 6 // 100)
    waiting_stuck = max(1, args.waiting // 75)
    active = seed.Active(waiting=args.waiting, running=args.running, pending=50, overdue=waiting_stuck,
                         undispatched=waiting_stuck, past_deadline=max(1, args.running // 10), old_pending=5)
    return layout, seed.Expired(rejected=e // 25, snapshots=e // 25), active


# ----------------------------------------------------------------------------- SQL capture and timing


def timed_calls(call: Callable[[], Any], repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    first_result = call()
    first_s = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return {"first_ms": ms(first_s), "median_ms": ms(median(times)), "max_ms": ms(max(times)), "min_ms": ms(min(times)),
            "mean_ms": ms(statistics.fmean(times)), "all_ms": [ms(t) for t in times], "result": first_result}


def plans_of(engine: Any, statements: list[tuple[str, Any, float]], labels: list[str],
             verbs: tuple[str, ...] = ("SELECT",)) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement starting with one of `verbs`, in a transaction rolled back."""
    out = []
    for (statement, parameters, _), label in zip(statements, labels, strict=False):
        if not statement.lstrip().upper().startswith(verbs):
            continue
        with engine.connect() as conn:
            plan = explain(conn, statement, parameters)
            conn.rollback()
        out.append({"label": label, "statement": " ".join(statement.split()), "parameters": _printable(parameters),
                    "plan": plan, "execution_ms": _execution_ms(plan)})
    return out


def _execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return float("nan")


def _printable(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    return [str(v) for v in parameters or []]


# ----------------------------------------------------------------------------- 1. stuck detection


def bench_stuck(url: str, settings: Any, repeat: int) -> dict[str, Any]:
    from workers.maintenance.stuck import detect
    from workers.storage.db import engine_for, session_factory

    engine, sessions = engine_for(url), session_factory(url)
    options = settings.stuck
    now = datetime.now(UTC)

    def in_session(function: Callable[[Any], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with sessions() as session:
                return function(session)
        return call

    calls = {
        "count_stuck": (lambda s: detect.count_stuck(s, options, now), lambda r: f"{r} stuck"),
        f"find_stuck(limit={options.max_per_run})": (
            lambda s: detect.find_stuck(s, options, now, limit=options.max_per_run),
            lambda r: f"{len(r)} found: " + ", ".join(f"{k} {sum(1 for i in r if i.kind == k)}" for k in detect.KINDS)),
        "plan (find_stuck + audit histories)": (lambda s: detect.plan(s, options, now), lambda r: f"{len(r)} planned"),
    }
    result: dict[str, Any] = {"now": now.isoformat(), "calls": {}, "statements": [], "plans": []}
    for name, (function, describe) in calls.items():
        timing = timed_calls(in_session(function), repeat)
        timing["result"] = describe(timing["result"])
        result["calls"][name] = timing
        print(f"stuck: {name}: {timing['result']}; median {timing['median_ms']:.1f} ms, max {timing['max_ms']:.1f} ms",
              flush=True)
    for name in ("count_stuck", f"find_stuck(limit={options.max_per_run})"):
        with Statements(engine) as captured:
            in_session(calls[name][0])()
        labels = [f"{name.split('(')[0]}: {kind}" for kind in detect.KINDS]
        result["statements"] += [{"label": label, "ms": ms(t)}
                                 for label, (_, _, t) in zip(labels, captured.seen, strict=False)]
        result["plans"] += plans_of(engine, captured.seen, labels)
    return result


def stuck_job_run(settings: Any) -> dict[str, Any]:
    """One run of the stuck job as beat runs it: detection, then a requeue (or escalation) of each stuck execution."""
    from workers.maintenance.runner import run_job

    started = time.perf_counter()
    outcome = run_job("stuck", settings, trigger="beat")
    seconds = time.perf_counter() - started
    print(f"stuck job: {outcome.run.status} in {ms(seconds):.0f} ms: {outcome.run.summary or outcome.run.error}",
          flush=True)
    return {"ms": ms(seconds), "status": outcome.run.status, "summary": outcome.run.summary, "error": outcome.run.error,
            "counts": outcome.run.counts}


# ----------------------------------------------------------------------------- 2. health snapshots


def bench_health(url: str, settings: Any, repeat: int) -> dict[str, Any]:
    from workers.maintenance.health.job import run as health_run
    from workers.maintenance.job import JobContext
    from workers.maintenance.runner import run_job
    from workers.storage.db import engine_for, session_factory

    engine = engine_for(url)
    ctx = JobContext(settings=settings, sessions=session_factory(url))
    snapshot_ms: list[float] = []

    def job() -> Any:
        outcome = health_run(ctx)
        snapshot_ms.append(float(outcome.counts.get("snapshot_ms", "nan")))
        return outcome.summary

    def as_beat() -> Any:
        outcome = run_job("health", settings, trigger="beat")
        if outcome.run.status != "succeeded":
            raise SystemExit(f"health run {outcome.run.status}: {outcome.run.error}")
        return outcome.run.summary

    with Statements(engine) as captured:
        direct = timed_calls(job, repeat)
    first = captured.seen[:round(len(captured.seen) / (repeat + 1))]
    plans = plans_of(engine, first, [statement_label(s) for s, _, _ in first])
    with Statements(engine) as around:
        beat = timed_calls(as_beat, repeat)
    # The runner's own statements: those run_job sends that run(ctx) does not.
    own = {statement_label(s) for s, _, _ in captured.seen}
    runner = [seen for seen in around.seen if statement_label(seen[0]) not in own]
    first_runner = runner[:round(len(runner) / (repeat + 1))]
    plans += plans_of(engine, first_runner, [f"runner: {statement_label(s)}" for s, _, _ in first_runner],
                      verbs=("SELECT", "UPDATE"))
    print(f"health: run(ctx) median {direct['median_ms']:.1f} ms, max {direct['max_ms']:.1f} ms; via run_job median "
          f"{beat['median_ms']:.1f} ms, max {beat['max_ms']:.1f} ms; {direct['result']}", flush=True)
    return {"run_ctx": direct, "run_job": beat, "snapshot_ms": snapshot_ms,
            "statements": statement_table(captured.seen, repeat + 1),
            "runner_statements": statement_table(runner, repeat + 1),
            "plans": plans}


def statement_table(seen: list[tuple[str, Any, float]], calls: int) -> list[dict[str, Any]]:
    by_label: dict[str, list[float]] = {}
    for statement, _, seconds in seen:
        by_label.setdefault(statement_label(statement), []).append(seconds)
    return sorted(({"label": label, "per_call": len(times) / calls, "median_ms": ms(median(times)),
                    "max_ms": ms(max(times)), "ms_per_call": ms(sum(times)) / calls}
                   for label, times in by_label.items()), key=lambda r: -r["ms_per_call"])


# ----------------------------------------------------------------------------- 3. cleanup while intake runs


def bench_cleanup(args: argparse.Namespace, url: str, engine: Any, layout: seed.Layout, expired: seed.Expired,
                  plans: dict[str, Any]) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-maintenance-"))
    env = services.medic_env(database_url=url, broker_url=args.broker_url, log_level="WARNING")
    cleanup_env = dict(env)
    if args.cleanup_pause_ms is not None:
        cleanup_env["MEDIC_CLEANUP__PAUSE_BETWEEN_BATCHES_MS"] = str(args.cleanup_pause_ms)
    if args.cleanup_batch_size is not None:
        cleanup_env["MEDIC_CLEANUP__BATCH_SIZE"] = str(args.cleanup_batch_size)
    bench = Bench(args)
    worker = None
    rounds: list[dict[str, Any]] = []
    failure = None
    try:
        worker = bench.start_worker(env, log_dir)
        bench.pause()
        windows = IntakeWindows(bench, engine, worker)
        for kind in ("noop", "medic"):  # untimed: warm the pool processes and learn the rates
            windows.measure(kind, window_s=5)
        cleanup_s = 120.0
        for number in range(1, args.rounds + 1):
            try:
                entry = one_round(number, args, windows, engine, layout, expired, plans,
                                  functools.partial(CleanupProcess, cleanup_env, log_dir / f"cleanup-{number}.log"),
                                  cleanup_s)
            except CleanupFailed as exc:  # the job is being worked on: keep the rounds done so far
                print(f"round {number}: {exc}", flush=True)
                failure = str(exc)
                break
            cleanup_s = entry["with"]["seconds"]
            rounds.append(entry)
        return {"rounds": rounds, "summary": summarise(rounds) if rounds else None, "failure": failure}
    finally:
        if worker is not None:
            stop_worker(worker)
        if not args.keep_logs:
            remove_logs(log_dir)
        else:
            print(f"logs kept in {log_dir}")


def one_round(number: int, args: argparse.Namespace, windows: IntakeWindows, engine: Any, layout: seed.Layout,
              expired: seed.Expired, plans: dict[str, Any], new_process: Callable[[], CleanupProcess],
              cleanup_s: float) -> dict[str, Any]:
    if number > 1:
        seconds = seed.seed_expired(engine, now=datetime.now(UTC), plans=plans, layout=layout,
                                    expired=expired, tag=f"expired-{number}")
        seed.vacuum_analyze(engine)
        print(f"round {number}: expired set seeded again in {seconds:.1f} s", flush=True)
    before = seed.expired_rows(engine, layout, expired)
    order = ("without", "with") if number % 2 else ("with", "without")
    entry: dict[str, Any] = {"order": "noop, then medic " + " then ".join(f"{o} cleanup" for o in order),
                             "expired_before": before}
    entry["noop"] = windows.measure("noop", window_s=args.window)
    print(f"round {number}: noop {entry['noop']['events_per_s']:,.0f}/s", flush=True)
    for which in order:
        if which == "without":
            entry["without"] = windows.measure("medic", window_s=args.window)
        else:
            process = new_process()
            try:
                entry["with"] = windows.measure("medic", cleanup=process, expected_s=cleanup_s * 1.3)
            finally:
                process.kill()
            entry["cleanup"] = process.result()
            entry["expired_after"] = seed.expired_rows(engine, layout, expired)
            entry["vacuum_after_s"] = seed.vacuum_analyze(engine)
        print(f"round {number}: medic {which} cleanup {entry[which]['events_per_s']:,.1f}/s "
              f"over {entry[which]['seconds']:.1f} s", flush=True)
    seconds = entry["with"]["seconds"]
    entry["deleted"] = sum(before.values()) - sum(entry["expired_after"].values())
    entry["deleted_by_job_count"] = sum(v for k, v in entry["cleanup"]["counts"].items() if k != "batches")
    entry["ratio"] = entry["with"]["events_per_s"] / entry["without"]["events_per_s"]
    print(f"round {number}: cleanup deleted {entry['deleted']:,} rows in {seconds:.1f} s "
          f"({entry['deleted'] / seconds:,.0f}/s); intake during it {100 * entry['ratio']:.0f}% of without", flush=True)
    return entry


def cleanup_alone(url: str, engine: Any, settings: Any, layout: seed.Layout, expired: seed.Expired,
                  plans: dict[str, Any]) -> dict[str, Any]:
    """The cleanup job with nothing else running: in this process, through run_job, under cProfile."""
    from workers.maintenance.runner import run_job

    seed.seed_expired(engine, now=datetime.now(UTC), plans=plans, layout=layout, expired=expired,
                      tag="expired-alone")
    seed.vacuum_analyze(engine)
    before = seed.expired_rows(engine, layout, expired)
    profile = cProfile.Profile()
    with Statements(engine) as captured:
        started, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        outcome = run_job("cleanup", settings, trigger="cli")
        profile.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    deleted = sum(before.values()) - sum(seed.expired_rows(engine, layout, expired).values())
    sql_s = sum(t for _, _, t in captured.seen)
    stats = pstats.Stats(profile)
    sleep_s = sum(v[2] for k, v in stats.stats.items() if k[2] == "<built-in method time.sleep>")  # type: ignore[attr-defined]
    statements = statement_table(captured.seen, 1)
    print(f"cleanup alone: {outcome.run.status}, {deleted:,} rows in {wall:.1f} s ({deleted / wall:,.0f}/s); SQL "
          f"{sql_s:.1f} s, pauses {sleep_s:.1f} s, this process's CPU {cpu:.1f} s", flush=True)
    return {"status": outcome.run.status, "summary": outcome.run.summary, "deleted": deleted, "seconds": wall,
            "rows_per_s": deleted / wall, "sql_s": sql_s, "sleep_s": sleep_s, "process_cpu_s": cpu,
            "statements": statements[:15], "python": _python_profile(stats)}


def _python_profile(stats: pstats.Stats) -> list[dict[str, Any]]:
    """Own time by package, the biggest first."""
    by_package: dict[str, float] = {}
    for (path, _, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = "sleep" if name == "<built-in method time.sleep>" else _package(path)
        by_package[package] = by_package.get(package, 0.0) + own
    return [{"package": p, "own_s": t} for p, t in sorted(by_package.items(), key=lambda kv: -kv[1])[:8]]


def _package(path: str) -> str:
    for marker in ("sqlalchemy", "psycopg", "workers", "benchmarks"):
        if f"/{marker}/" in path:
            return marker
    return "built-ins" if path == "~" else "other Python"


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def values(part: str, key: str) -> list[float]:
        return [r[part][key] for r in rounds]

    without, with_ = median(values("without", "events_per_s")), median(values("with", "events_per_s"))
    cleanup_s = values("with", "seconds")
    return {"noop_median_per_s": median(values("noop", "events_per_s")), "without_median_per_s": without,
            "with_median_per_s": with_, "ratio_of_medians": with_ / without,
            "ratios": [r["ratio"] for r in rounds], "median_ratio": median([r["ratio"] for r in rounds]),
            "min_ratio": min(r["ratio"] for r in rounds),
            "cleanup_median_s": median(cleanup_s), "deleted": [r["deleted"] for r in rounds],
            "rows_per_s": [r["deleted"] / s for r, s in zip(rounds, cleanup_s, strict=True)],
            "meets_target": with_ / without >= TARGET_RATIO}  # as intake_throughput judges: the medians


# ----------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    from config.settings import load_settings
    from workers.storage import migrate
    from workers.storage.db import engine_for

    started = time.perf_counter()
    info = start_run(background=True)
    layout, expired, active = layout_of(args)
    services.flush_redis(args.broker_url)
    database = services.create_pg_database()
    url = services.pg_url(database)
    try:
        migrate.upgrade(url)
        engine = engine_for(url)
        settings = load_settings(database_url=url, broker_url=args.broker_url, log_level="WARNING")
        plans = seed.plan_snapshots(settings)
        print(f"database {database}: seeding {args.occurrences:,} occurrences, {args.executions:,} executions ...",
              flush=True)
        seeding = seed.seed_base(engine, now=datetime.now(UTC), plans=plans, layout=layout,
                                 resolved_share=args.resolved_share, active=active)
        seeding["VACUUM ANALYZE"] = seed.vacuum_analyze(engine)
        base = seed.table_counts(engine, TABLES)
        print(f"seeded in {sum(seeding.values()):.1f} s: " + ", ".join(f"{t} {n:,}" for t, n in base.items()),
              flush=True)
        result: dict[str, Any] = {
            "benchmark": "maintenance_scale", "machine": info,
            "config": {k: v for k, v in vars(args).items() if k not in ("json", "timeout")},
            "data": {"base": base, "seeding_s": seeding, "active": dataclasses.asdict(active),
                     "stuck_seeded": active.stuck, "database_bytes": _database_bytes(engine)},
            "stuck": bench_stuck(url, settings, args.stuck_repeat),
            "health": bench_health(url, settings, args.snapshots),
        }
        if args.burst:
            seconds = seed.seed_burst(engine, now=datetime.now(UTC), plans=plans, layout=layout,
                                      resolved_share=args.resolved_share, count=args.burst, seconds=BURST_S)
            seconds += seed.vacuum_analyze(engine, ("occurrences", "error_groups"))
            print(f"burst: {args.burst:,} occurrences in the last {BURST_S:g} s, seeded in {seconds:.1f} s", flush=True)
            result["health_burst"] = bench_health(url, settings, args.snapshots)
        result["stuck_job"] = stuck_job_run(settings)
        if args.rounds:
            seconds = seed.seed_expired(engine, now=datetime.now(UTC), plans=plans, layout=layout,
                                        expired=expired, tag="expired-1")
            seconds += seed.vacuum_analyze(engine)
            counts = seed.expired_rows(engine, layout, expired)
            print(f"expired set seeded in {seconds:.1f} s: {sum(counts.values()):,} rows: "
                  + ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
            result["data"]["expired"] = counts
            result["data"]["expired_seed_s"] = seconds
            overrides = {k: v for k, v in (("pause_between_batches_ms", args.cleanup_pause_ms),
                                           ("batch_size", args.cleanup_batch_size)) if v is not None}
            result["config"]["cleanup_settings"] = settings.cleanup.model_copy(update=overrides).model_dump()
            result["cleanup"] = bench_cleanup(args, url, engine, layout, expired, plans)
            if args.cleanup_profile:
                result["cleanup_alone"] = cleanup_alone(url, engine, settings, layout, expired, plans)
        result["total_s"] = time.perf_counter() - started
        return result
    finally:
        drop_database(database)
        services.flush_redis(args.broker_url)


def _database_bytes(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()


# ----------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    cfg, data = result["config"], result["data"]
    print()
    print(table(["table", "rows"], [[t, n] for t, n in data["base"].items()],
                title=f"Base data ({data['database_bytes'] / 2**30:.2f} GiB; seeded in "
                      f"{sum(data['seeding_s'].values()):.1f} s incl. VACUUM ANALYZE)"))
    stuck = result["stuck"]
    print()
    print(table(["call", "result", "first ms", "median ms", "max ms"],
                [[name, c["result"], c["first_ms"], c["median_ms"], c["max_ms"]] for name, c in stuck["calls"].items()],
                title=f"Stuck detection, {cfg['stuck_repeat']} timed calls each ({data['stuck_seeded']} executions "
                      f"seeded stuck)"))
    worst = max(c["max_ms"] for c in stuck["calls"].values())
    print(f"\nslowest call {worst:.1f} ms: {'meets' if worst < ms(TARGET_S) else 'MISSES'} the < 1 s target.")
    job = result["stuck_job"]
    print(f"one run of the stuck job (run_job, after the snapshots): {job['status']} in {job['ms']:.0f} ms: "
          f"{job['summary'] or job['error']}")
    print_health(result["health"], f"Health snapshots on the base data, {cfg['snapshots']} timed each way")
    if "health_burst" in result:
        print_health(result["health_burst"], f"Health snapshots during a burst: {cfg['burst']:,} occurrences more in "
                                              f"the last {BURST_S:g} s, {cfg['snapshots']} timed each way")
    parts = [("stuck", stuck["plans"]), ("health", result["health"]["plans"])]
    if "health_burst" in result:
        parts.append(("health during the burst", result["health_burst"]["plans"]))
    for part, plans in parts:
        for p in plans:
            print_plan(p, part=part)
    if "cleanup" in result:
        print_cleanup(result)
    print(f"\ntotal run time {result['total_s'] / 60:.1f} min")


def print_health(health: dict[str, Any], title: str) -> None:
    print()
    rows = [[name, h["median_ms"], h["max_ms"], h["min_ms"], h["first_ms"]]
            for name, h in (("run(ctx)", health["run_ctx"]), ("run_job(trigger=beat)", health["run_job"]))]
    print(table(["health snapshot", "median ms", "max ms", "min ms", "first (untimed) ms"], rows, title=title))
    print(f"the snapshot's own collection time (its summary): median {median(health['snapshot_ms']):.1f} ms; "
          f"{health['run_ctx']['result']}")
    worst = max(health["run_ctx"]["max_ms"], health["run_job"]["max_ms"])
    print(f"slowest snapshot {worst:.1f} ms: {'meets' if worst < ms(TARGET_S) else 'MISSES'} the < 1 s target.")
    print()
    print(table(["statement", "per snapshot", "median ms", "max ms", "ms per snapshot"],
                [[s["label"][:90], s["per_call"], s["median_ms"], s["max_ms"], s["ms_per_call"]]
                 for s in health["statements"]], title="The SQL of one snapshot (run(ctx))"))
    print()
    print(table(["statement", "per snapshot", "median ms", "max ms", "ms per snapshot"],
                [[s["label"][:90], s["per_call"], s["median_ms"], s["max_ms"], s["ms_per_call"]]
                 for s in health["runner_statements"]],
                title="What run_job adds to each snapshot (lock, run row, abandoned runs, lock release)"))


def print_cleanup(result: dict[str, Any]) -> None:
    rounds, summary = result["cleanup"]["rounds"], result["cleanup"]["summary"]
    data, cleanup = result["data"], result["config"]["cleanup_settings"]
    if result["cleanup"].get("failure"):
        print(f"\nthe cleanup job FAILED in round {len(rounds) + 1}; rounds before it: {len(rounds)}:\n"
              f"{result['cleanup']['failure']}")
    if not rounds:
        return
    print()
    print(f"expired set: {sum(data['expired'].values()):,} rows: "
          + ", ".join(f"{k} {v:,}" for k, v in data["expired"].items()))
    rows = []
    for n, r in enumerate(rounds, 1):
        rows.append([f"round {n}", r["noop"]["events_per_s"], r["without"]["events_per_s"], r["with"]["events_per_s"],
                     f"{100 * r['ratio']:.0f}%", r["with"]["seconds"], r["deleted"],
                     r["deleted"] / r["with"]["seconds"]])
    rows.append(["median", summary["noop_median_per_s"], summary["without_median_per_s"], summary["with_median_per_s"],
                 f"{100 * summary['median_ratio']:.0f}%", summary["cleanup_median_s"], "",
                 median(summary["rows_per_s"])])
    print()
    print(table(["", "noop ev/s", "medic ev/s", "medic during cleanup ev/s", "during / without", "cleanup s",
                 "rows deleted", "rows/s"], rows,
                title=f"Intake on Redis + PostgreSQL ({result['config']['concurrency']} prefork processes) without and "
                      f"during `medic maintenance run cleanup` (batches of {cleanup['batch_size']:,}, "
                      f"{cleanup['pause_between_batches_ms']} ms pause)"))
    verdict = "meets" if summary["meets_target"] else "MISSES"
    ratios = ", ".join(f"{100 * r:.0f}%" for r in summary["ratios"])
    print(f"\nintake during cleanup / without it, ratio of the medians: {100 * summary['ratio_of_medians']:.0f}% "
          f"({verdict} the >= {100 * TARGET_RATIO:.0f}% target); rounds {ratios}; medic without cleanup at "
          f"{100 * summary['without_median_per_s'] / summary['noop_median_per_s']:.0f}% of the no-op.")
    rows = []
    for n, r in enumerate(rounds, 1):
        for part in ("without", "with"):
            m = r[part]
            others = (m["cpu_s"]["postgres_other_dbs"] + m["cpu_s"]["other"]) / m["cpu_s"]["wall_s"]
            rows.append([f"round {n}, {part} cleanup", m["slowest_second"], m["longest_stall_s"],
                         f"{m['lock_wait_samples']}/{m['samples']}", m["max_lock_waiters"],
                         f"{100 * m['cpu_s']['machine_busy_share']:.0f}%", others, m.get("wal_mb_per_s", float("nan"))])
    print()
    print(table(["", "slowest second ev", "longest stall s", "samples with a lock wait", "max waiting", "machine busy",
                 "others' CPU s/s", "WAL MB/s"],
                rows,
                title="Blocking: per-second intake, gaps without any acknowledgement, sessions waiting for a lock"))
    keys = ["worker_pool", "worker_main", "postgres_this_db", "postgres_shared", "redis", "benchmark",
            "cleanup_process", "postgres_other_dbs", "other"]
    rows = []
    for part in ("noop", "without", "with"):
        totals = {k: sum(r[part]["cpu_s"].get(k, 0.0) for r in rounds) for k in keys}
        seconds = sum(r[part]["cpu_s"]["wall_s"] for r in rounds)  # the meter's span (cleanup: from its launch)
        rows.append([part, *[totals[k] / seconds for k in keys], sum(totals.values()) / seconds])
    print()
    print(table(["CPU s per second", *keys, "total"], rows, title="Where the CPU went (all rounds; 2.0 = both cores)"))
    activity: dict[str, int] = {}
    for r in rounds:
        for what, samples in r["with"]["cleanup_activity"].items():
            activity[what] = activity.get(what, 0) + samples
    total = sum(activity.values()) or 1
    shown = [(what, n) for what, n in sorted(activity.items(), key=lambda kv: -kv[1]) if n / total >= 0.01]
    rest = total - sum(n for _, n in shown)
    if rest:
        shown.append((f"({len(activity) - len(shown)} other states, each under 1 %)", rest))
    print()
    print(table(["the cleanup job's session (pg_stat_activity)", "share of samples"],
                [[what, f"{100 * n / total:.0f}%"] for what, n in shown],
                title=f"Cleanup's time profile (pg_stat_activity every 0.1 s during its runs, {total} samples)"))
    waits: dict[str, dict[str, int]] = {"without": {}, "with": {}}
    samples = {"without": 0, "with": 0}
    for r in rounds:
        for part in waits:
            samples[part] += r[part]["samples"]
            for what, n in r[part]["intake_waits"].items():
                waits[part][what] = waits[part].get(what, 0) + n
    names = sorted(set(waits["without"]) | set(waits["with"]), key=lambda w: -(waits["with"].get(w, 0)))
    print()
    print(table(["intake's active sessions", "without cleanup", "with cleanup"],
                [[w, waits["without"].get(w, 0) / samples["without"], waits["with"].get(w, 0) / samples["with"]]
                 for w in names[:12]],
                title="What the worker's database sessions were doing (pg_stat_activity, sessions per sample)"))
    alone = result.get("cleanup_alone")
    if alone:
        print()
        print(f"The cleanup job alone (no intake; in this process): "
              f"{alone['deleted']:,} rows in {alone['seconds']:.1f} s "
              f"({alone['rows_per_s']:,.0f} rows/s): SQL {alone['sql_s']:.1f} s, pauses between batches "
              f"{alone['sleep_s']:.1f} s, the rest Python; this process's CPU {alone['process_cpu_s']:.1f} s")
        print(table(["statement", "count", "median ms", "max ms", "total s"],
                    [[s["label"][:80], round(s["per_call"]), s["median_ms"], s["max_ms"], s["ms_per_call"] / 1000]
                     for s in alone["statements"]]))
        print("Python own time by package (cProfile): "
              + ", ".join(f"{p['package']} {p['own_s']:.1f} s" for p in alone["python"]))
    print()
    for n, r in enumerate(rounds, 1):
        left = {k: v for k, v in r["expired_after"].items() if v}
        print(f"round {n}: cleanup: {r['cleanup']['summary']}; left of the expired set: {left or 'nothing'}")


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
