"""Intake measured over a window while a worker consumes a backlog, alone or while the cleanup job runs.

Part of benchmarks.maintenance_scale. The worker and its control come from
benchmarks.intake_throughput (`Bench`: one `celery worker` with medic's app and the no-op task,
paused with cancel_consumer, resumed with add_consumer). The difference: instead of timing the
drain of a pre-loaded batch, the queue holds a backlog larger than the window needs, and
progress is read every SAMPLE_S as the drop of (LLEN medic.errors + HLEN unacked): the messages
acknowledged, i.e. (medic acknowledges late) stored. The rate over an interval is that drop over
its length. Each sample also reads pg_stat_activity: the database's sessions waiting for a lock,
the statement the cleanup job's session is running (its time profile), and what the worker's
active sessions are waiting for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from benchmarks.common import CLK_TCK, CpuMeter, _pids_by_name
from benchmarks.intake_throughput import INTAKE_QUEUE, NOOP_TASK, REPORT_TASK, Bench
from tests.support import services

SAMPLE_S = 0.1
WARM_S = 2.0  # consumption runs this long before an interval starts (the pool refills, connections warm)
LOW_WATER_S = 8.0  # the backlog is topped up when it holds less than this many seconds of intake
PG_SAMPLE_EVERY = 5  # PostgreSQL's processes are read every 5th sample (0.5 s)
TOP_UP_CHUNK = 500  # messages added at once when it does
WAL_LSN = text("SELECT pg_current_wal_lsn()::text")
WAL_SINCE = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:start AS pg_lsn))")
CLEANUP_APP = "medic-bench-cleanup"  # the cleanup process's application_name (PGAPPNAME), to find its session
ACTIVITY = text("SELECT application_name, state, wait_event_type, wait_event, left(query, 120) AS query "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
_STATEMENT = re.compile(r"^\s*(DELETE FROM (\w+)|SELECT count\(\*\)|SELECT (\w+)\.id\b|(\w+))")


def read_activity(conn) -> tuple[int, str | None, tuple[str, ...]]:
    """Sessions of this database waiting for a lock; what the cleanup job's session is doing (None: none);
    what each other active session (the worker's: intake) is waiting for ("CPU": nothing)."""
    waiting, seen, intake = 0, [], []
    for application, state, wait_type, wait_event, query in conn.execute(ACTIVITY):
        waiting += wait_type == "Lock"
        if application == CLEANUP_APP:
            if state is not None:  # its pool may hold more than one: the busiest
                seen.append((_BUSY.get(state, 0), _doing(state, wait_type, query or "")))
        elif state == "active":
            intake.append(f"{wait_type}: {wait_event}" if wait_type else "CPU")
    return waiting, max(seen)[1] if seen else None, tuple(intake)


_BUSY = {"active": 2, "idle in transaction": 1}


def _doing(state: str, wait_type: str | None, query: str) -> str:
    match = _STATEMENT.match(query)
    if match is None:
        what = query[:30]
    elif match.group(2):
        what = f"DELETE FROM {match.group(2)}"
    elif match.group(3):
        what = f"SELECT ids FROM {match.group(3)}"
    else:
        what = "SELECT count(*)" if match.group(1).startswith("SELECT count") else match.group(4).upper()
    if state == "active":
        return f"running {what}" + (f" (waiting: {wait_type})" if wait_type else "")
    return f"{state} after {what}"


@dataclass
class Timeline:
    """(wall time, messages acknowledged so far, sessions waiting for a lock, cleanup's statement, intake's
    active sessions' waits), every SAMPLE_S."""

    samples: list[tuple[float, int, int, str | None, tuple[str, ...]]] = field(default_factory=list)

    def acknowledged_at(self, moment: float) -> float:
        """Linear interpolation between the samples around `moment`."""
        points = self.samples
        for (t0, a0, *_), (t1, a1, *_) in zip(points, points[1:], strict=False):
            if t0 <= moment <= t1:
                return a0 + (a1 - a0) * (moment - t0) / (t1 - t0) if t1 > t0 else a1
        return points[0][1] if moment < points[0][0] else points[-1][1]

    def acknowledged(self, start: float, end: float) -> float:
        return self.acknowledged_at(end) - self.acknowledged_at(start)

    def stats(self, start: float, end: float) -> dict[str, Any]:
        """Rate, the slowest whole second, the longest time without any acknowledgement, lock waits."""
        seconds = end - start
        done = self.acknowledged(start, end)
        per_second = [self.acknowledged(s, s + 1.0) for s in _steps(start, end - 1.0, 1.0)]
        inside = [(t, a, w) for t, a, w, *_ in self.samples if start <= t <= end]
        stall, since, last = 0.0, start, self.acknowledged_at(start)
        for t, acked, _ in inside:
            if acked > last:
                stall, since, last = max(stall, t - since), t, acked
        stall = max(stall, end - since)
        return {"seconds": seconds, "events": done, "events_per_s": done / seconds if seconds > 0 else float("nan"),
                "slowest_second": min(per_second) if per_second else float("nan"), "longest_stall_s": stall,
                "samples": len(inside), "lock_wait_samples": sum(1 for *_, w in inside if w),
                "max_lock_waiters": max((w for *_, w in inside), default=0),
                "cleanup_activity": dict(Counter(d or "(no session: starting, or between sessions)"
                                                 for t, _, _, d, _ in self.samples if start <= t <= end)),
                "intake_waits": dict(Counter(w for t, *_, waits in self.samples if start <= t <= end for w in waits))}


def _steps(start: float, stop: float, step: float) -> list[float]:
    out, at = [], start
    while at <= stop:
        out.append(at)
        at += step
    return out


class PgTicks:
    """CPU of PostgreSQL's processes by role, from /proc, sampled while a measurement runs.

    A backend's process title names its database, so this database's backends (the worker's,
    the cleanup job's, autovacuum on it) are told apart from other databases' (other users of the
    server) and from the server's shared processes (checkpointer, WAL writer, ...). A process that
    exits between two samples loses at most one interval of CPU.
    """

    def __init__(self, database: str):
        self.marker = f" {database} "
        self.first: dict[int, tuple[str, int]] = {}
        self.last: dict[int, int] = {}

    def _role(self, pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace") + " "
        except OSError:
            return None
        if self.marker in title:
            return "postgres_this_db"
        if "autovacuum worker" in title or "@" in title or "(" in title:  # other databases' backends and workers
            return "postgres_other_dbs"
        return "postgres_shared"

    def sample(self) -> None:
        for pid in _pids_by_name("postgres"):
            fields = _stat_fields(pid)
            if len(fields) < 13:
                continue
            ticks = int(fields[11]) + int(fields[12])
            if pid not in self.first:
                role = self._role(pid)
                if role is None:
                    continue
                self.first[pid] = (role, ticks)
            self.last[pid] = ticks

    def start(self) -> None:
        self.sample()
        self._baseline = {pid: ticks for pid, (_, ticks) in self.first.items()}

    def stop(self) -> dict[str, float]:
        self.sample()
        out = {"postgres_this_db": 0.0, "postgres_other_dbs": 0.0, "postgres_shared": 0.0}
        for pid, (role, _) in self.first.items():
            out[role] += (self.last[pid] - self._baseline.get(pid, 0)) / CLK_TCK
        return out


class CleanupMeter(CpuMeter):
    """CpuMeter of the worker (PostgreSQL by role, see PgTicks), plus the cleanup process (from wait4)."""

    cleanup_s = 0.0

    def __init__(self, worker_pid: int, database: str):
        super().__init__(worker_pid, postgres=False)
        self.pg = PgTicks(database)

    def start(self) -> None:
        self.pg.start()
        super().start()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        result = super().stop()
        pg = self.pg.stop()
        result.update(pg, cleanup_process=self.cleanup_s, wall_s=time.perf_counter() - self._wall)
        result["other"] = max(0.0, result["other"] - sum(pg.values()) - self.cleanup_s)
        return result


def _stat_fields(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


class IntakeWindows:
    """The worker, its backlog, and the intervals measured on it."""

    def __init__(self, bench: Bench, engine: Engine, worker: services.Process):
        self.bench, self.engine, self.worker = bench, engine, worker
        self.kind: str | None = None  # what the queue holds now
        self.loaded = 0  # messages put in the queue since it was last emptied
        self.sent = 0
        self.expected_rate = {"noop": 500.0, "medic": 150.0}  # updated by each measurement

    # -- the backlog ----------------------------------------------------------------------------

    def remaining(self) -> int:
        queued, unacked = self.bench.backlog()
        return queued + unacked

    def fill(self, kind: str, target: int) -> None:
        """Make the queue hold `target` messages of `kind` (emptying it first if it held the other kind)."""
        if self.kind != kind:
            if self.bench.backlog()[1]:
                raise SystemExit("messages still unacknowledged while the worker is paused")
            self.bench.redis.delete(INTAKE_QUEUE)
            self.kind, self.loaded = kind, 0
        missing = target - self.remaining()
        if missing > 0:
            self._send(kind, missing)

    def _send(self, kind: str, count: int) -> None:
        if kind == "medic":
            for event in self.bench.workload.events(count, tag=f"{self.bench.run_tag}-{self.sent}"):
                self.bench.client.send_task(REPORT_TASK, args=[event], queue=INTAKE_QUEUE)
        else:
            for _ in range(count):
                self.bench.client.send_task(NOOP_TASK, queue=INTAKE_QUEUE)
        self.sent += count
        self.loaded += count

    # -- one measured interval -------------------------------------------------------------------

    def measure(self, kind: str, *, window_s: float | None = None, cleanup: CleanupProcess | None = None,
                expected_s: float = 60.0) -> dict[str, Any]:
        """Consume for window_s, or while `cleanup` runs (started WARM_S after consumption resumed).

        Returns the interval's stats: for cleanup, the interval is the job's own run (its run row).
        """
        rate = self.expected_rate[kind]
        self.fill(kind, int(rate * ((window_s or expected_s) + WARM_S + LOW_WATER_S) * 1.2) + 200)
        timeline = Timeline()
        meter = CleanupMeter(self.worker.proc.pid, self.engine.url.database)
        interval_start = ends_at = 0.0
        with self.engine.connect() as conn:
            self.bench.resume()
            started = time.time()
            interval_start, ends_at = started + WARM_S, started + WARM_S + (window_s or 0)
            running = False
            while True:
                now, remaining = time.time(), self.remaining()
                timeline.samples.append((now, self.loaded - remaining, *read_activity(conn)))
                conn.rollback()
                if not running and now >= interval_start:
                    wal_start = conn.execute(WAL_LSN).scalar_one()
                    meter.start()
                    running = True
                    if cleanup is not None:
                        cleanup.start()
                if running and (cleanup.poll() is not None if cleanup is not None else now >= ends_at):
                    break
                if running and len(timeline.samples) % PG_SAMPLE_EVERY == 0:
                    meter.pg.sample()
                if remaining < rate * LOW_WATER_S:  # keep the worker busy: the backlog must not run out
                    self._send(kind, TOP_UP_CHUNK)
                if self.worker.proc.poll() is not None:
                    raise SystemExit(f"the worker died:\n{self.worker.output()[-3000:]}")
                time.sleep(SAMPLE_S)
            if cleanup is not None:
                meter.cleanup_s = cleanup.cpu_s
            cpu = meter.stop()
            wal_bytes = conn.execute(WAL_SINCE, {"start": wal_start}).scalar_one()
            self.bench.pause()
        if cleanup is not None:
            interval_start, ends_at = cleanup.run_interval(self.engine)
        stats = timeline.stats(interval_start, ends_at)
        stats["cpu_s"] = cpu
        stats["wal_mb_per_s"] = float(wal_bytes) / 2**20 / cpu["wall_s"]
        if stats["events_per_s"] > 0:
            self.expected_rate[kind] = stats["events_per_s"]
        return stats


class CleanupFailed(RuntimeError):
    pass


class CleanupProcess:
    """`medic maintenance run cleanup --json` in a subprocess; its CPU from wait4, its times from its run row."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen | None = None
        self.cpu_s = 0.0
        self.returncode: int | None = None
        self.output = ""

    def start(self) -> None:
        self.env = {**self.env, "PGAPPNAME": CLEANUP_APP}
        self._out = open(self.log_path, "w+b")
        self.proc = subprocess.Popen([sys.executable, "-m", "workers.cli.main",
                                      "maintenance", "run", "cleanup", "--json"],
                                     env=self.env, cwd=services.REPO, stdout=self._out, stderr=subprocess.STDOUT)

    def poll(self) -> int | None:
        """The exit code once it has exited (reaped here, with its resource usage), else None."""
        if self.returncode is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.cpu_s = usage.ru_utime + usage.ru_stime
                self.returncode = self.proc.returncode = os.waitstatus_to_exitcode(status)
                self._out.seek(0)
                self.output = self._out.read().decode(errors="replace")
                self._out.close()
        return self.returncode

    def result(self) -> dict[str, Any]:
        """What `--json` printed: the run row (status, duration_s, counts, summary)."""
        return json.loads(self.output[self.output.index("{"):])

    def run_interval(self, engine: Engine) -> tuple[float, float]:
        """The job's own start and end, from its run row, as wall-clock seconds."""
        with engine.connect() as conn:
            row = conn.execute(text("SELECT started_at, finished_at, status FROM maintenance_runs "
                                    "WHERE job = 'cleanup' ORDER BY id DESC LIMIT 1")).one()
        if self.returncode != 0 or row.status != "succeeded":
            raise CleanupFailed(f"cleanup failed (exit {self.returncode}, run {row.status}):\n{self.output[-3000:]}")
        return row.started_at.timestamp(), row.finished_at.timestamp()

    def kill(self) -> None:
        if self.proc is not None and self.returncode is None:
            self.proc.kill()
            while self.poll() is None:
                time.sleep(0.05)
