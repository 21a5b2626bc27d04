"""Circuit breakers against a partner that is flaky, then down: settle time, replays into the outage.

How soon medic settles the orders, and how many replays it sends into the outage.

Two scenarios, each with a real `medic worker` and `medic beat` (Redis broker, PostgreSQL,
breakers in Redis) replaying HTTP calls to a local partner:

- flaky: the partner fails 45% of calls at random (HTTP 503), and is down (every call 503)
  for 20 s from 30 s in; 300 orders are reported at 5 a second. Target with the default
  breaker settings: every order settled (succeeded, or dead after its plan's attempts) within
  150 s of the first report, at most 40 replays sent into the outage.
- outage: the partner is down for the first 20 s, then healthy; 200 orders are reported in the
  first 2 s. Target: every order recovered within 45 s of the first report, each side effect
  (a 2xx for an execution's Idempotency-Key) exactly once.

Orders use the built-in `transient` plan (6 replays, full-jitter backoff from 1 s). The breaker
settings are the plans files' default unless --breakers names a preset (or JSON): `count` is the
count breaker as it was pinned before (5 failures in 60 s, 30 s recovery timeout), `proposed` the
rate breaker line proposed for config/plans/default.yaml. Method and results: docs/breakers.md.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from celery import Celery
from sqlalchemy import create_engine, text

from benchmarks import common
from tests.support import services

PRESETS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "count": {"failure_threshold": 5, "window_s": 60, "recovery_timeout_s": 30, "half_open_max_calls": 1,
              "success_threshold": 1},
    "proposed": {"mode": "rate", "failure_rate_threshold": 80, "minimum_calls": 20, "window_calls": 40,
                 "window_s": 60, "recovery_timeout_s": 10, "half_open_max_calls": 1, "success_threshold": 1,
                 "release_per_s": 20, "release_window_max_s": 10},
}
SERVICE = "partner-api"
FINAL = ("succeeded", "dead", "failed", "cancelled")


@dataclass(frozen=True)
class Scenario:
    name: str
    orders: int
    report_over_s: float
    failure_rate: float
    outage_from_s: float
    outage_s: float
    settle_target_s: float
    outage_replays_target: int | None


SCENARIOS = {
    "flaky": Scenario("flaky", 300, 60, 0.45, 30, 20, 150, 40),
    "outage": Scenario("outage", 200, 2, 0.0, 0, 20, 45, None),
}


@dataclass
class Partner:
    """The partner API: fails `failure_rate` of calls at random, and every call while down; counts
    side effects by Idempotency-Key."""

    failure_rate: float
    latency_s: float = 0.02
    seed: int = 1
    down_from: float = float("inf")
    down_until: float = float("-inf")
    calls: list[tuple[float, int]] = field(default_factory=list)  # (time, status)
    effects: Counter = field(default_factory=Counter)  # Idempotency-Key -> 2xx answers

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                at = time.time()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(owner.latency_s)
                status = owner.answer(at, self.headers.get("Idempotency-Key"))
                body = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, at: float, key: str | None) -> int:
        with self._lock:
            down = self.down_from <= at < self.down_until
            status = 503 if down or self._rng.random() < self.failure_rate else 200
            self.calls.append((at, status))
            if status == 200:
                self.effects[key] += 1
            return status

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser("breaker_outage", __doc__ or "")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "both"], default="both")
    parser.add_argument("--breakers", default="default",
                        help="breaker settings: a preset (default, count, proposed) or a JSON object")
    parser.add_argument("--concurrency", type=int, default=4, help="medic worker's pool processes")
    parser.add_argument("--timeout", type=float, default=400, help="give up on a scenario after this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broker-url", default=None,
                        help="Redis db to use and flush (default: a free db claimed as the test suite does, so a "
                             "test run or another benchmark on db 14 is not disturbed)")
    return common.parse(parser, argv)


def breaker_settings(name: str) -> dict[str, Any] | None:
    return PRESETS[name] if name in PRESETS else json.loads(name)


def run_scenario(scenario: Scenario, args: argparse.Namespace, breakers: dict[str, Any] | None) -> dict[str, Any]:
    services.flush_redis(args.broker_url)  # None: the claimed db, its claim kept
    database = services.create_pg_database()
    db_url = services.pg_url(database)
    from workers.storage import migrate

    migrate.upgrade(db_url)
    partner = Partner(scenario.failure_rate, seed=args.seed)
    work = Path(tempfile.mkdtemp(prefix="medic-breaker-bench-"))
    settings: dict[str, Any] = {
        "database_url": db_url, "broker_url": args.broker_url or services.redis_url(), "data_dir": work / "data",
        "log_format": "text",
        "replay_http__allow": json.dumps([f"POST http://127.0.0.1:{partner.port}"]),
    }
    if breakers is not None:
        plans = work / "breakers.yaml"
        plans.write_text(yaml.safe_dump({"version": 1, "breakers": {"default": breakers}}))
        settings["plans_files"] = str(plans)
    env = services.medic_env(**settings)
    worker = services.Process(services.medic_command("worker", "--queues", "medic.errors,medic.recovery",
                                                     "--concurrency", str(args.concurrency)), env, work / "worker.log")
    beat = services.Process(services.medic_command("beat"), env, work / "beat.log")
    app = Celery("bench-app", broker=args.broker_url or services.redis_url())
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    engine = create_engine(db_url)
    try:
        worker.wait_ready()
        beat.wait_ready("beat: Starting...")
        start = time.time()
        partner.down_from, partner.down_until = start + scenario.outage_from_s, start + scenario.outage_from_s + \
            scenario.outage_s
        for n in range(scenario.orders):
            due = start + n * scenario.report_over_s / scenario.orders
            time.sleep(max(0.0, due - time.time()))
            event = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
                     "service": SERVICE, "operation": "push_order",
                     "replay": {"kind": "http", "method": "POST", "url": f"http://127.0.0.1:{partner.port}/orders",
                                "body": {"order": n}, "timeout_s": 5}}
            app.send_task("medic.report", args=[event], queue="medic.errors")
        settled_at = wait_settled(engine, scenario.orders, start + args.timeout)
        return measure(scenario, engine, partner, start, settled_at)
    finally:
        app.close()
        beat.terminate()
        common.stop_worker(worker)
        partner.close()
        engine.dispose()
        common.drop_database(database)
        services.flush_redis(args.broker_url)
        print(f"logs: {work}", flush=True)


def wait_settled(engine: Any, orders: int, deadline: float) -> float | None:
    """When every order's execution is in a final state; None if not by `deadline`."""
    while time.time() < deadline:
        with engine.connect() as conn:
            done = conn.execute(text("SELECT count(*) FROM executions WHERE state = ANY(:s)"),
                                {"s": list(FINAL)}).scalar_one()
        if done >= orders:
            return time.time()
        time.sleep(0.5)
    return None


def measure(scenario: Scenario, engine: Any, partner: Partner, start: float,
            settled_at: float | None) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, finished_at, created_at FROM executions")).all()
        transitions = conn.execute(text("SELECT at, from_state, to_state, reason FROM breaker_transitions "
                                        "ORDER BY at, id")).all()
        released = conn.execute(text("SELECT count(*) FROM execution_audit WHERE action = 'released'")).scalar_one()
        deferred = conn.execute(text("SELECT count(*) FROM execution_audit WHERE action = 'deferred'")).scalar_one()
    states = Counter(row.state for row in rows)
    first_report = min(row.created_at.timestamp() for row in rows) if rows else start
    last_finish = max((row.finished_at.timestamp() for row in rows if row.finished_at), default=float("nan"))
    last_success = max((row.finished_at.timestamp() for row in rows if row.state == "succeeded"), default=float("nan"))
    down_from, down_until = partner.down_from, partner.down_until
    into_outage = sum(1 for at, _ in partner.calls if down_from <= at < down_until)
    opens = [t for t in transitions if t.to_state == "open"]
    trips = [t for t in opens if t.from_state == "closed"]
    return {
        "scenario": scenario.name, "orders": scenario.orders, "states": dict(states),
        "settled": settled_at is not None,
        "settle_s": round(last_finish - first_report, 1),
        "recovered_s": round(last_success - first_report, 1),
        "settle_target_s": scenario.settle_target_s,
        "replays": len(partner.calls), "replays_into_outage": into_outage,
        "outage_replays_target": scenario.outage_replays_target,
        "breaker_opens": len(opens), "breaker_trips": len(trips),
        "first_open_s": round(opens[0].at.timestamp() - start, 1) if opens else None,
        "transitions": [(round(t.at.timestamp() - start, 2), f"{t.from_state}->{t.to_state}", t.reason)
                        for t in transitions],
        "deferred": deferred, "released": released,
        "side_effects": sum(partner.effects.values()),
        "duplicate_effects": sum(n - 1 for n in partner.effects.values() if n > 1),
        "orders_with_one_effect": sum(1 for n in partner.effects.values() if n == 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = common.start_run()
    breakers = breaker_settings(args.breakers)
    names = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    results = []
    try:
        for name in names:
            print(f"scenario {name}, breakers {args.breakers} ...", flush=True)
            results.append(run_scenario(SCENARIOS[name], args, breakers))
    finally:
        services.release_redis()
    return {"machine": info, "breakers": args.breakers, "breaker_settings": breakers, "results": results}


def print_report(result: dict[str, Any]) -> None:
    rows = []
    for r in result["results"]:
        rows.append([r["scenario"], r["orders"], " ".join(f"{k}={v}" for k, v in sorted(r["states"].items())),
                     r["settle_s"], r["recovered_s"], r["settle_target_s"], r["replays"], r["replays_into_outage"],
                     r["outage_replays_target"] or "-", r["breaker_trips"], r["breaker_opens"],
                     r["first_open_s"] or "-", r["deferred"], r["released"], r["duplicate_effects"]])
    print(common.table(["scenario", "orders", "states", "settle s", "recovered s", "target s", "replays",
                        "into outage", "target", "trips", "opens", "1st open s", "deferred", "released", "dup effects"],
                       rows, title=f"breakers: {result['breakers']}"))
    for r in result["results"]:
        print(f"\n{r['scenario']}: transitions (s from start)")
        for at, edge, reason in r["transitions"][:60]:
            print(f"  {at:7.2f}  {edge:18} {reason}")
        if len(r["transitions"]) > 60:
            print(f"  ... {len(r['transitions']) - 60} more")


def main(argv: list[str] | None = None) -> None:
    common.bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
