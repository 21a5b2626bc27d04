"""The operator console at scale: each /ui page's latency on 1M occurrences, beside a no-op Celery round trip.

    python -m benchmarks.console_scale [--occurrences 1000000] [--executions 100000] [--requests 100]
                                       [--json PATH]

The data set of benchmarks.serve_scale (its `seed_data`: benchmarks/maintenance_seed.py's base,
--occurrences over 90 days in 5,000 groups, --executions with attempts and audit rows, run rows,
health snapshots, alerts; then VACUUM ANALYZE), plus what only the console shows: a catalogue of
daily backups and circuit breakers (a few services forced open over the API once serve runs, one
closed again: transitions).
A fresh PostgreSQL database (dropped at the end) and Redis db 14 (flushed before and after).

One real `medic serve` (one write token, writes allowed, so pages carry their action forms). The
benchmark logs in once (GET then POST /ui/login, as a browser does) and, for each page, makes a few
untimed requests and then --requests sequential requests over one keep-alive connection with the
session cookie (stdlib http.client), each timed from sending to the last byte of the body:
overview, groups (plain, its live-refresh rows, a search with filters, a search nothing matches),
a group (random ones and the largest), executions, an execution, dead letters, breakers, alerts,
maintenance runs, backups.
The baseline, in the same run: /api/groups?limit=50 (as benchmarks.serve_scale measures it) and
--requests no-op round trips through a real Celery worker (serve_scale's `noop_round_trips`).

Then each page once in this process (FastAPI's test client, logged in the same way): its SQL
statements timed, and EXPLAIN (ANALYZE, BUFFERS) of its slowest statement when a page's p50 is over
--budget-ms (200) or that statement takes more than SLOW_STATEMENT_MS.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks import serve_scale
from benchmarks.common import (
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
from benchmarks.maintenance_scale import ms, plans_of
from benchmarks.recovery_overhead import Timeline, statement_label
from tests.support import services

TOKEN = serve_scale.TOKEN
TOKEN_NAME = "bench"
SESSION_COOKIE = "medic_session"
WARMUP_REQUESTS = serve_scale.WARMUP_REQUESTS
BUDGET_MS = 200.0  # issue 17: every page under 200 ms at this scale
SLOW_STATEMENT_MS = 20.0
OPEN_BREAKERS = 4
BACKUP_DAYS = 60
NO_MATCH = "zz-no-such-error"

BACKUPS = """
INSERT INTO backups (name, path, created_at, database_kind, size_bytes, sha256, manifest, verification, verified_at,
                     verification_detail, deleted_at)
SELECT 'medic-' || to_char(at, 'YYYYMMDD-HH24MISS') || '.tar.gz', '/var/backups/medic', at, 'postgresql',
       (900 + d) * 1048576, lpad(to_hex(d), 64, '0'), '{}'::json,
       CASE WHEN d % 17 = 5 THEN 'failed' ELSE 'ok' END, at + interval '3 min',
       CASE WHEN d % 17 = 5 THEN 'sha256 mismatch' END,
       CASE WHEN d > 30 THEN at + interval '30 days' END
FROM (SELECT d, :now - d * interval '1 day' AS at FROM generate_series(0, CAST(:days AS int) - 1) d) s
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("console_scale", __doc__)
    sizes = parser.add_argument_group("data")
    sizes.add_argument("--occurrences", type=int, default=1_000_000, help="occurrences (default 1,000,000)")
    sizes.add_argument("--executions", type=int, default=100_000, help="executions (default 100,000)")
    sizes.add_argument("--groups", type=int, default=5_000, help="error groups (default 5,000)")
    sizes.add_argument("--resolved-share", type=float, default=0.3, help="share of the groups resolved (0.3)")
    sizes.add_argument("--days", type=float, default=90, help="the occurrences span this many days (90)")
    sizes.add_argument("--alerts", type=int, default=2_000, help="alert rows (default 2,000; the newest 20 active)")
    parts = parser.add_argument_group("what to measure")
    parts.add_argument("--requests", "-n", type=int, default=100,
                       help="timed sequential requests per page, and no-op round trips (default 100)")
    parts.add_argument("--budget-ms", type=float, default=BUDGET_MS,
                       help=f"a page whose p50 is over this is EXPLAINed (default {BUDGET_MS:g})")
    parts.add_argument("--worker-concurrency", type=int, default=2, help="pool processes of the baseline's worker (2)")
    add_broker_url(parts)
    parts.add_argument("--seed", type=int, default=1, help="seed of the random ids requested")
    parts.add_argument("--keep-logs", action="store_true", help="keep the serve and worker logs")
    args = parse(parser, argv)
    for name in ("occurrences", "executions", "groups", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


# ----------------------------------------------------------------------------- data


def seed_backups(url: str, now: datetime) -> int:
    """BACKUP_DAYS daily backups in the catalogue (the oldest ones removed by retention)."""
    from sqlalchemy import text

    from workers.storage.db import engine_for

    with engine_for(url).begin() as conn:
        return conn.execute(text(BACKUPS), {"now": now, "days": BACKUP_DAYS}).rowcount


def operate_breakers(port: int) -> dict[str, Any]:
    """OPEN_BREAKERS services' breakers forced open over the API, the last one closed again (transitions
    recorded, as an operator's are)."""
    services_opened = [f"svc-{n:02d}" for n in range(OPEN_BREAKERS)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for service, action in [*((s, "open") for s in services_opened), (services_opened[-1], "close")]:
            connection.request("POST", f"/api/breakers/{service}/{action}",
                               headers={"Authorization": f"Bearer {TOKEN}", "Content-Length": "0"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"POST /api/breakers/{service}/{action}: HTTP {response.status} {body[:200]!r}")
    finally:
        connection.close()
    return {"breakers_forced_open": services_opened[:-1], "breakers_closed_again": services_opened[-1:]}


def search_of(engine: Any) -> dict[str, str]:
    """A search with filters that matches: the error type and service of an open group seen in the last week."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(text("SELECT error_type, service, category FROM error_groups WHERE status = 'open' "
                                "ORDER BY last_seen DESC LIMIT 1")).one()
    return {"q": row.error_type.rsplit(".", 1)[-1], "category": row.category, "status": "open",
            "service": row.service, "since": "7d"}


# ----------------------------------------------------------------------------- the pages


def pages(ids: dict[str, Any], search: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, paths, extra headers) of each page measured, in order; paths cycle when there are several."""
    live = {"HX-Request": "true"}
    return [
        ("/ui (overview)", ["/ui"], {}),
        ("/ui/groups", ["/ui/groups"], {}),
        ("/ui/groups, live rows (HX-Request, every 5 s)", ["/ui/groups"], live),
        (f"/ui/groups?{urlencode(search)}", [f"/ui/groups?{urlencode(search)}"], {}),
        ("/ui/groups?q=<text no group has> (reads every group)", [f"/ui/groups?q={NO_MATCH}"], {}),
        (f"/ui/groups/<id> ({len(ids['groups'])} random)", [f"/ui/groups/{g}" for g in ids["groups"]], {}),
        (f"/ui/groups/<id> (the largest: {ids['largest_group_occurrences']:,} occurrences)",
         [f"/ui/groups/{ids['largest_group']}"], {}),
        ("/ui/executions", ["/ui/executions"], {}),
        (f"/ui/executions/<id> ({len(ids['executions'])} random)",
         [f"/ui/executions/{e}" for e in ids["executions"]], {}),
        ("/ui/dead", ["/ui/dead"], {}),
        ("/ui/breakers", ["/ui/breakers"], {}),
        ("/ui/alerts", ["/ui/alerts"], {}),
        ("/ui/maintenance", ["/ui/maintenance"], {}),
        ("/ui/backups", ["/ui/backups"], {}),
    ]


_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


def log_in(port: int) -> str:
    """The session cookie's value: GET /ui/login (its CSRF cookie and field), POST the form with TOKEN."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/ui/login")
        response = connection.getresponse()
        page = response.read().decode()
        cookies = _cookies(response.getheaders())
        fields = dict(_HIDDEN.findall(page))
        if response.status != 200 or "csrf" not in fields:
            raise SystemExit(f"GET /ui/login: HTTP {response.status}, no login form")
        body = urlencode({**fields, "token": TOKEN, "next": "/ui"})
        connection.request("POST", "/ui/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        response = connection.getresponse()
        response.read()
        session = _cookies(response.getheaders()).get(SESSION_COOKIE)
        if response.status != 303 or not session:
            raise SystemExit(f"POST /ui/login: HTTP {response.status}, no session cookie")
        return session
    finally:
        connection.close()


def _cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            out[key.strip()] = rest.split(";", 1)[0].strip().strip('"')
    return out


def timed_pages(port: int, session: str, paths: list[str], extra: dict[str, str], count: int) -> dict[str, Any]:
    """serve_scale.sequential with the session cookie: `count` timed requests over one connection, after a warm-up."""
    client = serve_scale.HttpClient(port)
    client.headers = {"Cookie": f"{SESSION_COOKIE}={session}", **extra}
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
    return {**serve_scale.stats_ms(times), "bytes_median": median(sizes)}


# ----------------------------------------------------------------------------- the SQL of each page, in process


def page_sql(url: str, settings: Any, measured: list[tuple[str, list[str], dict[str, str]]],
             latency: dict[str, Any], budget_ms: float) -> list[dict[str, Any]]:
    """Each page once through the app in this process, logged in; its statements timed; EXPLAIN (ANALYZE,
    BUFFERS) of the slowest when the page is over budget or the statement over SLOW_STATEMENT_MS."""
    from fastapi.testclient import TestClient

    from benchmarks.common import Statements
    from workers.api.app import create_app

    app = create_app(settings)
    engine = app.state.sessions.kw["bind"]
    out = []
    with TestClient(app, base_url="http://127.0.0.1") as client:
        form = client.get("/ui/login")
        fields = dict(_HIDDEN.findall(form.text))
        logged = client.post("/ui/login", data={**fields, "token": TOKEN, "next": "/ui"}, follow_redirects=False)
        if logged.status_code != 303 or SESSION_COOKIE not in client.cookies:
            raise SystemExit(f"in-process login: HTTP {logged.status_code}")
        for name, paths, extra in measured:
            client.get(paths[0], headers=extra)  # untimed: the pool's connection, caches
            with Statements(engine) as captured:
                status = client.get(paths[0], headers=extra).status_code
            if status != 200:
                raise SystemExit(f"GET {paths[0]} in process: HTTP {status}")
            seen = [(s, p, t) for s, p, t in captured.seen
                    if not s.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
            entry: dict[str, Any] = {"page": name, "path": paths[0], "statements": len(seen),
                                     "sql_ms": ms(sum(t for _, _, t in seen)), "slowest": "", "slowest_ms": 0.0,
                                     "plan": None}
            if seen:
                slowest = max(seen, key=lambda s: s[2])
                entry.update(slowest=statement_label(slowest[0]), slowest_ms=ms(slowest[2]))
                if latency[name]["p50_ms"] > budget_ms or entry["slowest_ms"] >= SLOW_STATEMENT_MS:
                    entry["plan"] = plans_of(engine, [slowest], [f"{name}: {entry['slowest']}"])[0]
            out.append(entry)
    engine.dispose()
    return out


# ----------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    from config.settings import load_settings
    from workers.storage import migrate
    from workers.storage.db import engine_for

    started = time.perf_counter()
    info = start_run(background=True)
    log_dir = Path(tempfile.mkdtemp(prefix="medic-bench-console-"))
    services.flush_redis(args.broker_url)
    database = services.create_pg_database()
    url = services.pg_url(database)
    serve: serve_scale.Serve | None = None
    worker = timeline = None
    try:
        migrate.upgrade(url)
        engine = engine_for(url)
        tokens = {TOKEN_NAME: {"token": TOKEN, "access": "write"}}
        settings = load_settings(database_url=url, broker_url=args.broker_url, log_level="WARNING",
                                 serve={"tokens": tokens, "allow_writes": True, "metrics_cache_s": 0})
        print(f"database {database}: seeding {args.occurrences:,} occurrences, {args.executions:,} executions ...",
              flush=True)
        seeding = argparse.Namespace(occurrences=args.occurrences, executions=args.executions, groups=args.groups,
                                     resolved_share=args.resolved_share, days=args.days, alerts=args.alerts)
        data = serve_scale.seed_data(engine, seeding, settings)
        data["console"] = {"backups": seed_backups(url, datetime.now(UTC))}
        print(f"seeded in {sum(data['seeding_s'].values()):.1f} s: "
              + ", ".join(f"{t} {n:,}" for t, n in data["rows"].items()), flush=True)
        ids = serve_scale.request_ids(engine, random.Random(args.seed))
        search = search_of(engine)
        measured = pages(ids, search)

        env = services.medic_env(database_url=url, broker_url=args.broker_url, log_level="WARNING",
                                 serve__tokens=f'{{"{TOKEN_NAME}": {{"token": "{TOKEN}", "access": "write"}}}}',
                                 serve__allow_writes="true", serve__metrics_cache_s=0)
        serve = serve_scale.Serve("serve", env, log_dir)
        startup_s = serve.wait_healthy()
        data["console"].update(operate_breakers(serve.port))
        session = log_in(serve.port)
        print(f"medic serve answering on port {serve.port}, logged in; logs in {log_dir}", flush=True)

        bench = Bench(argparse.Namespace(seed=1, spread=25, broker_url=args.broker_url,
                                         concurrency=args.worker_concurrency))
        worker = bench.start_worker(services.medic_env(database_url=url, broker_url=args.broker_url,
                                                       log_level="WARNING"), log_dir)
        timeline = Timeline(bench.client, [bench.node]).start()
        if not timeline.wait_nodes([bench.node], 15):
            raise SystemExit(f"no events from the worker {bench.node}")

        latency: dict[str, Any] = {}
        for name, paths, extra in measured:
            latency[name] = timed_pages(serve.port, session, paths, extra, args.requests)
            print(f"{name}: p50 {latency[name]['p50_ms']:.1f} ms, p95 {latency[name]['p95_ms']:.1f} ms, "
                  f"max {latency[name]['max_ms']:.1f} ms", flush=True)
        api_groups = serve_scale.sequential(serve.port, ["/api/groups?limit=50"], args.requests)
        print(f"/api/groups?limit=50: p50 {api_groups['p50_ms']:.1f} ms", flush=True)
        noop = serve_scale.noop_round_trips(bench, timeline, args.requests)
        print(f"no-op Celery round trip: p50 {noop['p50_ms']:.1f} ms", flush=True)
        sql = page_sql(url, settings, measured, latency, args.budget_ms)
        over = [name for name, s in latency.items() if s["p50_ms"] > args.budget_ms]
        return {
            "benchmark": "console_scale", "machine": info,
            "config": {k: v for k, v in vars(args).items() if k != "json"}, "data": data,
            "ids": {k: v for k, v in ids.items() if k not in ("groups", "executions")}, "search": search,
            "startup_s": startup_s, "latency": latency, "api_groups": api_groups, "noop_round_trip": noop,
            "page_sql": sql,
            "summary": {"pages": len(latency), "budget_ms": args.budget_ms, "over_budget_p50": over,
                        "slowest_p50": max(latency.items(), key=lambda kv: kv[1]["p50_ms"])[0],
                        "max_p95_ms": max(s["p95_ms"] for s in latency.values())},
            "total_s": time.perf_counter() - started,
        }
    finally:
        if timeline is not None:
            timeline.stop()
        if worker is not None:
            stop_worker(worker)
        if serve is not None:
            serve.stop()
        drop_database(database)
        services.flush_redis(args.broker_url)
        if not args.keep_logs:
            remove_logs(log_dir)


# ----------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    cfg, data = result["config"], result["data"]
    serve_scale.print_data(data)
    noop = result["noop_round_trip"]
    budget = cfg["budget_ms"]
    rows = [[name, s["p50_ms"], s["p95_ms"], s["max_ms"], f"{s['p50_ms'] / noop['p50_ms']:.1f}x",
             f"{s['bytes_median'] / 1024:,.1f}", "yes" if s["p50_ms"] <= budget and s["p95_ms"] <= budget else "NO"]
            for name, s in result["latency"].items()]
    g = result["api_groups"]
    rows.append(["GET /api/groups?limit=50 (baseline)", g["p50_ms"], g["p95_ms"], g["max_ms"],
                 f"{g['p50_ms'] / noop['p50_ms']:.1f}x", f"{g['bytes_median'] / 1024:,.1f}", ""])
    rows.append(["no-op Celery round trip (baseline)", noop["p50_ms"], noop["p95_ms"], noop["max_ms"], "1.0x", "", ""])
    print()
    print(markdown_table(["page", "p50 ms", "p95 ms", "max ms", "p50 / no-op p50", "body KiB",
                          f"p50 and p95 < {budget:g} ms"], rows))
    print(f"\n({cfg['requests']} sequential requests per page over one keep-alive connection, logged in with a "
          f"write token; {data['rows'].get('occurrences', 0):,} occurrences, {data['rows'].get('executions', 0):,} "
          f"executions, {data['rows'].get('error_groups', 0):,} groups)")
    print()
    print(table(["page (in process, once)", "statements", "SQL ms", "slowest statement", "its ms"],
                [[e["page"][:60], e["statements"], e["sql_ms"], e["slowest"][:60], e["slowest_ms"]]
                 for e in result["page_sql"]], title="The SQL of each page"))
    for e in result["page_sql"]:
        if e["plan"]:
            print_plan(e["plan"])
    s = result["summary"]
    verdict = ("every page within budget" if not s["over_budget_p50"]
               else f"over {budget:g} ms at p50: {', '.join(s['over_budget_p50'])}")
    print(f"\n{verdict}; slowest p50: {s['slowest_p50']}; highest p95 {s['max_p95_ms']:.1f} ms")
    print(f"total run time {result['total_s'] / 60:.1f} min")


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in
                                                                range(len(headers))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    bench_main(argv, parse_args, run, print_report)


if __name__ == "__main__":
    main()
