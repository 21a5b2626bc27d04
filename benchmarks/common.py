"""Shared pieces of the benchmarks: the event workload, /proc sampling, the command line, tables and JSON output.

Nothing here is product code; services (databases, worker processes) come from
tests.support.services so the benchmarks start things exactly as the integration tests do.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.support import services
from tests.support.services import REPO

REPO_SAMPLES = REPO / "tests" / "data" / "classify_cases.jsonl"  # the labelled samples (tests/data/README.md)
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The worker's own processes are sampled this often for RSS (seconds).
RSS_SAMPLE_INTERVAL_S = 0.2
PSS_EVERY = 5  # PSS (dearer to read) every 5th sample, i.e. every second
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"  # flushed before and after a run


# ----------------------------------------------------------------------------- workload


def samples_path() -> Path:
    return REPO_SAMPLES


def load_cases(path: Path | None = None) -> list[dict[str, Any]]:
    """The labelled sample cases: [{"id", "event", "accept", "retryable"}, ...]."""
    path = path or samples_path()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# Long digit runs are ids, ports, pids, durations: varied per event. Short ones (status codes,
# errno, "port 9") are left alone so an event keeps the classification of its sample.
_LONG_NUMBER = re.compile(r"[0-9]{4,}")

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/{service}/app/jobs.py", line {l1}, in run\n'
    "    result = handler(payload)\n"
    '  File "/srv/{service}/app/handlers.py", line {l2}, in {operation}\n'
    "    response = client.call(order_id={order})\n"
    '  File "/srv/{service}/.venv/lib/python3.11/site-packages/client/core.py", line {l3}, in call\n'
    "    raise self._error(response)\n"
    "{error_type}: {message}\n"
)


def _vary_numbers(text: str, rng: random.Random) -> str:
    def repl(match: re.Match[str]) -> str:
        digits = len(match.group())
        return str(rng.randrange(10 ** (digits - 1), 10 ** digits))
    return _LONG_NUMBER.sub(repl, text)


def _secret_context(rng: random.Random, n: int) -> dict[str, Any]:
    """What apps put in `context`: ids, a request dump with credentials, a DSN, a card number."""
    return {
        "order_id": rng.randrange(10_000, 99_999_999),
        "attempt": rng.randrange(1, 6),
        "api_key": f"sk_live_{rng.getrandbits(96):024x}",
        "request": {
            "method": "POST", "url": f"https://api.partner.example/v2/orders/{n}",
            "headers": {"Authorization": f"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{n:x}In0.{rng.getrandbits(64):016x}",
                        "Content-Type": "application/json", "X-Request-Id": f"{rng.getrandbits(64):016x}"},
        },
        "db_url": f"postgresql://app:hunter{rng.randrange(100, 999)}@db-{rng.randrange(1, 4)}:5432/orders",
        "customer": {"email": f"user{n}@example.com", "password": "correct horse battery staple",
                     "card_number": "4111 1111 1111 1111"},
        "note": f"retry scheduled, token={rng.getrandbits(80):020x}",
    }


@dataclass
class Workload:
    """A seeded stream of realistic `medic.report` payloads drawn from the sample cases.

    Each event is a sample with its long numbers varied and its service suffixed with one of
    `spread` instance names (fingerprints ignore numbers, so the suffix is what makes many
    groups). Shares of events carry a context with secrets, an idempotency key (unique per
    event, so none is a duplicate) and a formatted traceback.
    """

    seed: int = 1
    spread: int = 25
    secret_share: float = 0.20
    idempotency_share: float = 0.30
    traceback_share: float = 0.30
    cases: list[dict[str, Any]] = field(default_factory=load_cases)

    def events(self, count: int, *, tag: str) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:{tag}")
        return [self._event(rng, n, tag) for n in range(count)]

    def _event(self, rng: random.Random, n: int, tag: str) -> dict[str, Any]:
        event = copy.deepcopy(rng.choice(self.cases)["event"])
        event["message"] = _vary_numbers(event["message"], rng)
        for cause in event.get("causes", []):
            cause["message"] = _vary_numbers(cause.get("message", ""), rng)
        event["service"] = f"{event['service']}-{rng.randrange(self.spread):02d}"
        if rng.random() < self.secret_share:
            event["context"] = _secret_context(rng, n)
        if rng.random() < self.idempotency_share:
            event["idempotency_key"] = f"bench-{tag}-{n}"
        if rng.random() < self.traceback_share:
            event["traceback"] = _TRACEBACK.format(
                service=event["service"], operation=event.get("operation") or "handle", order=rng.randrange(10**6),
                l1=rng.randrange(10, 400), l2=rng.randrange(10, 400), l3=rng.randrange(10, 900),
                error_type=event["error_type"], message=event["message"].splitlines()[0] if event["message"] else "")
        return event

    def describe(self) -> dict[str, Any]:
        return {"samples": str(samples_path()), "sample_cases": len(self.cases), "seed": self.seed,
                "service_spread": self.spread, "secret_context_share": self.secret_share,
                "idempotency_key_share": self.idempotency_share, "traceback_share": self.traceback_share}


# ----------------------------------------------------------------------------- /proc sampling


def _read_status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _read_pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(p) for p in children.read().split()]
    except OSError:
        return []


def process_tree(pid: int) -> list[int]:
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children_of(current))
    return tree


@dataclass
class RssPeaks:
    main_kb: int = 0        # the worker's main (consumer) process
    child_kb: int = 0       # the largest pool process
    total_kb: int = 0       # main + pool processes, RSS (shared pages counted in each)
    total_pss_kb: int = 0   # main + pool processes, PSS (shared pages split): the honest total
    processes: int = 0
    samples: int = 0

    def merge(self, other: RssPeaks) -> RssPeaks:
        return RssPeaks(max(self.main_kb, other.main_kb), max(self.child_kb, other.child_kb),
                        max(self.total_kb, other.total_kb), max(self.total_pss_kb, other.total_pss_kb),
                        max(self.processes, other.processes), self.samples + other.samples)

    def as_dict(self) -> dict[str, Any]:
        return {"main_mb": mb(self.main_kb), "largest_child_mb": mb(self.child_kb), "total_rss_mb": mb(self.total_kb),
                "total_pss_mb": mb(self.total_pss_kb), "processes": self.processes, "samples": self.samples}


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


class RssSampler:
    """Peak VmRSS of a process and its children sampled on a thread every 0.2 s (PSS every 1 s)."""

    def __init__(self, pid: int, interval_s: float = RSS_SAMPLE_INTERVAL_S):
        self.pid, self.interval_s = pid, interval_s
        self.peaks = RssPeaks()
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        main = _read_status_kb(self.pid, "VmRSS")
        children = [c for c in process_tree(self.pid) if c != self.pid]
        child_rss = [_read_status_kb(c, "VmRSS") for c in children]
        # smaps_rollup walks page tables: read PSS on every PSS_EVERY-th sample only.
        pss = sum(_read_pss_kb(p) for p in [self.pid, *children]) if self._count % PSS_EVERY == 0 else 0
        self._count += 1
        now = RssPeaks(main, max(child_rss, default=0), main + sum(child_rss), pss, 1 + len(children), 1)
        self.peaks = self.peaks.merge(now)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def _pids_by_name(*names: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() in names:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    busy = user + nice + system + irq + softirq  # guest time is already inside user
    return busy, busy + idle + iowait + steal


class CpuMeter:
    """CPU seconds spent by each component between start() and stop(), from /proc/<pid>/stat.

    Components: the worker's main process, its pool processes, PostgreSQL (every postgres
    process, background writers included), redis-server, this benchmark process, and "other":
    the machine's busy time (/proc/stat) not accounted for by those. Subclasses measure other
    processes by overriding `_processes`.
    """

    def __init__(self, worker_pid: int, *, postgres: bool = True, redis: bool = True):
        self.worker_pid = worker_pid
        self.postgres, self.redis = postgres, redis

    def _processes(self) -> dict[str, int]:
        main, pool = worker_ticks(self.worker_pid)
        return {"worker_main": main, "worker_pool": pool}

    def _snapshot(self) -> dict[str, int]:
        snap = {**self._processes(), "benchmark": _cpu_ticks(os.getpid())}
        if self.postgres:
            snap["postgres"] = sum(_cpu_ticks(p) for p in _pids_by_name("postgres"))
        if self.redis:
            snap["redis"] = sum(_cpu_ticks(p) for p in _pids_by_name("redis-server"))
        snap["_busy"], snap["_total"] = _machine_ticks()
        return snap

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> dict[str, float]:
        end = self._snapshot()
        delta = {k: end[k] - self._start[k] for k in end}
        result = {k: v / CLK_TCK for k, v in delta.items() if not k.startswith("_")}
        # Everything else that ran meanwhile (other users of the machine, the kernel's own threads).
        result["other"] = max(0.0, delta["_busy"] / CLK_TCK - sum(result.values()))
        result["machine_busy_share"] = delta["_busy"] / delta["_total"] if delta["_total"] else 0.0
        return result


def worker_ticks(pid: int) -> tuple[int, int]:
    """CPU ticks of a worker's main process and of its pool processes (all its descendants)."""
    return _cpu_ticks(pid), sum(_cpu_ticks(p) for p in process_tree(pid) if p != pid)


def background_busy(seconds: float = 3.0) -> float:
    """Share of the machine's CPU busy over `seconds` before the benchmark starts anything."""
    busy0, total0 = _machine_ticks()
    time.sleep(seconds)
    busy1, total1 = _machine_ticks()
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def print_background(share: float) -> None:
    note = "  (other processes are busy: expect noisy numbers)" if share > 0.15 else ""
    print(f"machine busy before the run: {100 * share:.0f}%{note}", flush=True)


# ----------------------------------------------------------------------------- worker processes


def stop_worker(worker: services.Process, timeout_s: float = 60) -> int | None:
    """Warm shutdown as a supervisor does it: SIGTERM to the worker's main process only.

    (services.Process.terminate signals the whole process group; an embedded worker, whose pool
    processes then get SIGTERM too, sometimes never finishes its warm shutdown.) Falls back to
    Process.terminate, which kills the group, after timeout_s.
    """
    if worker.proc.poll() is None:
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    return worker.terminate(timeout_s=5)


def drop_database(database: str) -> None:
    """Dispose medic's engines on a benchmark's PostgreSQL database, then drop it."""
    from workers.storage.db import _engines

    for url in [u for u in _engines if database in u]:
        _engines.pop(url).dispose()
    services.drop_pg_database(database)


def remove_logs(log_dir: Path) -> None:
    for path in log_dir.iterdir():
        path.unlink()
    log_dir.rmdir()


# ----------------------------------------------------------------------------- command line


def argument_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The parser of `python -m benchmarks.<module>`, described by the first paragraph of `doc`."""
    return argparse.ArgumentParser(prog=f"python -m benchmarks.{module}", description=doc.split("\n\n")[0])


def add_broker_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL, help="Redis db used and flushed (default db 14)")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Adds the option every benchmark has (--json PATH, alias --out) and parses argv."""
    parser.add_argument("--json", "--out", dest="json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def bench_main(argv: list[str] | None, parse_args: Callable[[list[str] | None], argparse.Namespace],
               run: Callable[[argparse.Namespace], dict[str, Any]],
               print_report: Callable[[dict[str, Any]], None]) -> None:
    """A benchmark's main: parse, run, print the tables, write the JSON if asked."""
    args = parse_args(argv)
    result = run(args)
    print_report(result)
    write_json(args.json, result)


def start_run(*, background: bool = False) -> dict[str, Any]:
    """The machine's description, printed; with `background`, also how busy it was for 3 s before."""
    info = machine_info()
    print_machine(info)
    if background:
        info["busy_before_run"] = background_busy()
        print_background(info["busy_before_run"])
    return info


# ----------------------------------------------------------------------------- numbers and output


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values (share in 0..1)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(round(share * len(sorted_values) + 0.5))))
    return sorted_values[rank - 1]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> str:
    text_rows = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text_rows)) if text_rows else len(h) for i, h in enumerate(headers)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=False)))
    out = [title, "=" * len(title)] if title else []
    out += [line(headers), line(["-" * w for w in widths]), *(line(r) for r in text_rows)]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nJSON written to {target}")


def _command_output(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version
    packages = {name: version(name) for name in ("celery", "kombu", "SQLAlchemy", "psycopg", "pydantic", "redis")}
    return {
        "cpu_model": model, "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": sys.version.split()[0], "packages": packages,
        "memory_total_mb": mb(_read_meminfo_kb("MemTotal")),
        "git_commit": _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_command_output(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _read_meminfo_kb(key: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def print_machine(info: dict[str, Any]) -> None:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    print(f"machine: {info['cpu_model']}, {info['cpus']} CPUs, {info['memory_total_mb']:.0f} MB, "
          f"Linux {info['kernel']}, Python {info['python']}")
    print(f"packages: {packages}; medic at {info['git_commit']}{' (dirty tree)' if info['git_dirty'] else ''}")


# ----------------------------------------------------------------------------- SQL capture


class Statements:
    """Every statement sent through `engine` while active: its text, parameters and wall time."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.seen: list[tuple[str, Any, float]] = []
        self._started: list[float] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append((statement, parameters, time.perf_counter() - self._started.pop()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def print_plan(plan: dict[str, Any], *, part: str = "") -> None:
    """One statement's EXPLAIN (ANALYZE, BUFFERS) as `explain` (benchmarks/sweeper_pass.py) recorded it."""
    title = f"{part + ': ' if part else ''}{plan['label']} - EXPLAIN (ANALYZE, BUFFERS), {plan['execution_ms']:.3f} ms"
    print()
    print(title)
    print("-" * len(title))
    print(plan["statement"])
    print(f"parameters: {plan['parameters']}")
    for line in plan["plan"]:
        print(f"   {line}")
