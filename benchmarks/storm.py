"""An error storm: N events in 20 groups sent in one burst to the default `medic worker`.

    python -m benchmarks.storm [--events 100000] [--groups 20] [--json PATH]

A fresh `medic worker -c 2` (all of medic's queues, as a newcomer runs it) on Redis + PostgreSQL
is warmed with a few events, then a producer thread in this process publishes N target-less
events (--replay-share 0 by default) with a plain Celery client as fast as it can, while the
worker drains. Measured:

- time to drain: first send -> the N-th occurrence stored, and -> settled (medic.errors,
  medic.recovery and Redis's unacknowledged hash all empty: every recovery execution the storm
  started has run as far as it can without beat);
- exactly once: N new occurrences; per (service, error type) the counts sent = the counts stored;
  every group's occurrence_count = its rows; no delivery id twice; the set of task ids sent =
  the set of delivery ids stored;
- peak memory of the worker: its main process and its pool processes, VmRSS every 0.2 s, PSS every 1 s;
- notifications per group (the notifications table: sent, suppressed by the cooldown, pending),
  and executions per group by state.

Beside it, unless --no-baseline, the same burst of the same payloads to the no-op task of
benchmarks.noop_app on a plain `celery worker` of the same concurrency on the same Redis.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.common import Workload, argument_parser, bench_main, load_cases, parse, start_run, table
from benchmarks.intake_live import LiveBench, add_live_arguments, cpu_per_event


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("storm", __doc__)
    add_live_arguments(parser, events=100_000, poll=0.25)
    parser.add_argument("--groups", type=int, default=20, help="distinct errors (labelled samples), default 20")
    parser.add_argument("--replay-share", type=float, default=0.0, help="share of events with a replay target")
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-op burst")
    return parse(parser, argv)


def storm_workload(seed: int, groups: int) -> Workload:
    """`groups` labelled samples spread over all categories, one service instance each."""
    cases = load_cases()
    if groups > len(cases):
        raise SystemExit(f"--groups: at most {len(cases)} (the labelled samples)")
    return Workload(seed=seed, spread=1, cases=[cases[i * len(cases) // groups] for i in range(groups)])


def per_group(bench: LiveBench) -> dict[int, dict[str, Any]]:
    """Each group: its key, stored rows, its counter, executions and notifications by state."""
    groups: dict[int, dict[str, Any]] = {}
    with bench.engine.connect() as conn:
        for gid, service, error_type, category, counter in conn.execute(text(
                "SELECT id, service, error_type, category, occurrence_count FROM error_groups")):
            groups[gid] = {"service": service, "error_type": error_type, "category": category, "counter": counter,
                           "rows": 0, "executions": {}, "notifications": {}}
        for gid, rows in conn.execute(text("SELECT group_id, count(*) FROM occurrences GROUP BY group_id")):
            groups[gid]["rows"] = rows
        for gid, state, n in conn.execute(text(
                "SELECT group_id, state, count(*) FROM executions GROUP BY group_id, state")):
            groups[gid]["executions"][state] = n
        for gid, state, n in conn.execute(text(
                "SELECT group_id, state, count(*) FROM notifications WHERE group_id IS NOT NULL "
                "GROUP BY group_id, state")):
            groups[gid]["notifications"][state] = n
    return groups


def diff_counts(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def check_exactly_once(bench: LiveBench, events: list[dict[str, Any]], task_ids: list[str],
                       before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]) -> dict[str, Any]:
    sent = Counter((e["service"], e["error_type"]) for e in events)
    stored: Counter[tuple[str, str]] = Counter()
    for gid, g in after.items():
        stored[(g["service"], g["error_type"])] += g["rows"] - before.get(gid, {}).get("rows", 0)
    with bench.engine.connect() as conn:
        duplicates = conn.execute(text("SELECT count(*) - count(DISTINCT delivery_id) FROM occurrences")).scalar()
        ids = {r[0] for r in conn.execute(text("SELECT delivery_id FROM occurrences"))}
    missing = [t for t in task_ids if t not in ids]
    counters_off = [gid for gid, g in after.items() if g["counter"] != g["rows"]]
    mismatched = {f"{k[0]} {k[1]}": {"sent": sent[k], "stored": stored[k]}
                  for k in set(sent) | set(stored) if sent[k] != stored[k]}
    ok = not (missing or duplicates or counters_off or mismatched) and len(set(task_ids)) == len(events)
    return {"ok": ok, "sent": len(events), "stored_new": sum(stored.values()), "missing_task_ids": len(missing),
            "duplicate_delivery_ids": duplicates, "groups_with_counter_off": counters_off,
            "mismatched_keys": mismatched, "keys": len(sent)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.embedded:
        raise SystemExit("storm runs on Redis + PostgreSQL (the settled check needs Redis)")
    info = start_run(background=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-storm-"))
    bench = LiveBench(args, log_dir)
    workload = storm_workload(args.seed, args.groups)
    try:
        bench.setup()
        print(f"database {bench.db_url.rsplit('/', 1)[-1]}, broker {bench.broker_url}, logs {log_dir}", flush=True)
        events, replays = bench.events(workload, args.warmup + args.events, "storm", args.replay_share)
        timed = events[args.warmup:]
        result: dict[str, Any] = {"benchmark": "storm", "machine": info}
        if not args.no_baseline:
            noop = bench.measure("noop", events, "storm-noop", settle=False)
            noop.pop("task_ids")
            result["noop"] = noop
            print(f"noop: {noop['events_per_s']:,.1f} events/s ({noop['events']:,} in {noop['seconds']:.1f} s)",
                  flush=True)

        before: dict[int, dict[str, Any]] = {}
        # Snapshot the groups once the warm-up is stored and settled, before the clock starts.
        medic = bench.measure("medic-default", events, "storm-medic", settle=True,
                              after_warmup=lambda: before.update(per_group(bench)))
        task_ids = medic.pop("task_ids")
        after = per_group(bench)
        check = check_exactly_once(bench, timed, task_ids, before, after)
        groups = []
        for gid, g in sorted(after.items()):
            b = before.get(gid, {"rows": 0, "executions": {}, "notifications": {}})
            groups.append({"group_id": gid, "service": g["service"], "error_type": g["error_type"],
                           "category": g["category"], "stored": g["rows"] - b["rows"],
                           "executions": diff_counts(g["executions"], b["executions"]),
                           "notifications": diff_counts(g["notifications"], b["notifications"]),
                           "notifications_incl_warmup": g["notifications"]})
        result.update({
            "config": {"events": args.events, "groups_requested": args.groups, "warmup": args.warmup,
                       "concurrency": args.concurrency, "rate": args.rate, "replay_share": args.replay_share,
                       "events_with_replay": replays, "broker": bench.broker_url, "database": "postgresql",
                       "poll_interval_s": args.poll_interval, "workload": workload.describe()},
            "medic": medic, "check": check, "groups": groups,
        })
        return result
    finally:
        bench.close()
        if args.keep_logs:
            print(f"kept {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


def print_report(result: dict[str, Any]) -> None:
    config, medic, check = result["config"], result["medic"], result["check"]
    noop = result.get("noop")
    rss = medic["rss"]
    rows = [["medic worker (all queues)", medic["events_per_s"], medic["seconds"], medic["settled_seconds"],
             medic["send_per_s"], medic["max_intake_backlog"], rss["main_mb"], rss["largest_child_mb"],
             rss["total_rss_mb"], rss["total_pss_mb"]]]
    if noop:
        rows.append(["no-op (plain celery worker)", noop["events_per_s"], noop["seconds"], "-", noop["send_per_s"],
                     noop["max_intake_backlog"], noop["rss"]["main_mb"], noop["rss"]["largest_child_mb"],
                     noop["rss"]["total_rss_mb"], noop["rss"]["total_pss_mb"]])
    print()
    print(table(["", "events/s", "stored s", "settled s", "sent/s", "max backlog", "main MB", "largest child MB",
                 "RSS total MB", "PSS total MB"], rows,
                title=f"Storm: {config['events']:,} events in {len(result['groups'])} groups, one burst, "
                      f"{config['concurrency']} worker processes, Redis + PostgreSQL"))
    if noop:
        print(f"medic / no-op: {100 * medic['events_per_s'] / noop['events_per_s']:.0f}%")
    verdict = "all stored exactly once" if check["ok"] else "NOT exactly once"
    print(f"\n{verdict}: {check['stored_new']:,} of {check['sent']:,} stored; {check['missing_task_ids']} task ids "
          f"missing; {check['duplicate_delivery_ids']} duplicate delivery ids; counters off in "
          f"{len(check['groups_with_counter_off'])} groups; {len(check['mismatched_keys'])} of {check['keys']} "
          f"(service, error type) keys mismatched {check['mismatched_keys'] or ''}")
    print()
    keys = ["worker_pool", "worker_main", "postgres", "redis", "benchmark", "other"]
    cpu_rows = [[name, *[cpu_per_event(m).get(k, 0.0) for k in keys], f"{100 * m['cpu_s']['machine_busy_share']:.0f}%"]
                for name, m in (("medic", medic), ("noop", noop)) if m]
    print(table(["CPU ms per event", *keys, "machine busy"], cpu_rows, title="CPU, first send -> last stored"))
    print()
    group_rows = []
    for g in result["groups"]:
        n = g["notifications"]
        group_rows.append([g["group_id"], f"{g['service']} {g['error_type']}"[:60], g["category"], g["stored"],
                           sum(g["executions"].values()),
                           ", ".join(f"{k} {v:,}" for k, v in sorted(g["executions"].items())) or "-",
                           n.get("sent", 0), n.get("suppressed", 0), n.get("pending", 0),
                           g["notifications_incl_warmup"].get("sent", 0)])
    print(table(["group", "service, error type", "category", "stored", "executions", "by state",
                 "notif. sent", "suppressed", "pending", "sent incl. warm-up"], group_rows,
                title="Per group (the storm's events only; warm-up subtracted)"))
    total = Counter()
    for g in result["groups"]:
        total.update(g["notifications"])
    print(f"notifications: {dict(total) or 'none'} for {check['stored_new']:,} events")


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
