"""Real services for integration tests: a fresh PostgreSQL database, the run's Redis db, worker processes, `medic`."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import create_engine, text

from tests.support import redisdb

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("MEDIC_TEST_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"

_redis_claim: redisdb.Claim | None = None
# Set by tests/conftest.py: a test session flushes its own Redis db and no other.
IN_TEST_RUN = False
_redis_claim_lock = threading.Lock()


def redis_claim() -> redisdb.Claim:
    """This run's Redis db (MEDIC_TEST_REDIS_URL, else a free one), claimed at first use: see redisdb."""
    global _redis_claim
    with _redis_claim_lock:
        if _redis_claim is None:
            _redis_claim = redisdb.claim(os.environ.get("MEDIC_TEST_REDIS_URL") or None)
        return _redis_claim


def redis_url() -> str:
    return redis_claim().url


def claimed_redis_url() -> str | None:
    """The run's Redis db if it was claimed already (None: no test used Redis)."""
    return _redis_claim.url if _redis_claim is not None else None


def release_redis() -> None:
    """Give the run's Redis db back (flushed if this run picked it); the end of the test session calls it."""
    global _redis_claim
    with _redis_claim_lock:
        if _redis_claim is not None:
            _redis_claim.release()
            _redis_claim = None


def __getattr__(name: str) -> str:
    if name == "REDIS_URL":  # services.REDIS_URL: the run's Redis db, claimed at first use
        return redis_url()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.1,
             what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def create_pg_database() -> str:
    name = f"medic_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str, *, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{port}/{name}"


def flush_redis(url: str | None = None) -> None:
    """Empty the run's Redis db (it stays claimed). Only the benchmarks, outside a test run, name another db."""
    if url is None or url == claimed_redis_url():
        redis_claim().flush()
    elif IN_TEST_RUN:
        raise AssertionError(f"not flushing {url}: this test run's Redis db is {redis_url()}")
    else:
        redis.Redis.from_url(url).flushdb()


def count_rows(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def medic_env(**settings: Any) -> dict[str, str]:
    """The test process's environment minus MEDIC_*, plus the given settings (MEDIC_ prefixed).

    MEDIC_DATA_DIR is a fresh temporary directory unless `data_dir` is given, so no test writes into
    its user's data directory; `data_dir=None` leaves it unset, for tests of the default (they point
    XDG_DATA_HOME somewhere of their own). Idle sweeper passes are logged unless a test says otherwise:
    tests count them as barriers."""
    settings = {"recovery_sweep_log_idle": True, **settings}
    if "data_dir" not in settings:
        settings["data_dir"] = _fresh_data_dir()
    elif settings["data_dir"] is None:
        del settings["data_dir"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update({f"MEDIC_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env


_data_root: Path | None = None
_data_root_lock = threading.Lock()


def _fresh_data_dir() -> Path:
    """A new empty directory, under one removed when the test process exits."""
    global _data_root
    with _data_root_lock:
        if _data_root is None:
            _data_root = Path(tempfile.mkdtemp(prefix="medic-test-data-"))
            atexit.register(shutil.rmtree, _data_root, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=_data_root))


def medic_command(*args: str) -> list[str]:
    """The argv of `medic ARGS` run by this interpreter (no installed `medic` script needed)."""
    return [sys.executable, "-m", "workers.cli.main", *args]


def run_medic(env: dict[str, str], *args: str, stdin: str = "", timeout_s: float = 60,
              cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`medic ARGS` as a subprocess with `env` (see medic_env), its stdout and stderr captured as text.

    It runs in `cwd` (default: the repository). Its stdin is `stdin` (default: empty), never the
    terminal's: a prompt reads end of file."""
    return subprocess.run(medic_command(*args), input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout_s, check=False)


def run_medic_side_by_side(env: dict[str, str], *commands: tuple,
                           workers: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """Several `medic` commands at once (each spends seconds importing), their results in order.

    A command is a tuple of arguments; it may start with a dict of extra environment variables."""
    def run(command: tuple) -> subprocess.CompletedProcess[str]:
        extra, args = (command[0], command[1:]) if command and isinstance(command[0], dict) else ({}, command)
        return run_medic({**env, **extra}, *args)

    with ThreadPoolExecutor(max(1, min(workers, len(commands)))) as pool:
        return list(pool.map(run, commands))


class Process:
    """A medic/celery process in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, *, cwd: Path = REPO):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker: str = "ready.", timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            return marker in self.output()
        wait_for(ready, timeout_s=timeout_s, what=f"{marker!r} in {self.log_path.name}")

    def terminate(self, timeout_s: float = 30) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._record_hang()
                self.kill()
        self._log.close()
        return self.proc.returncode

    def _record_hang(self) -> None:
        """What a process that did not stop was doing, in its log: its group's processes, then the stacks
        of the leader's threads (a Celery worker logs them on SIGUSR1; anything else just dies of it)."""
        listing = subprocess.run(["ps", "-o", "pid,ppid,stat,wchan:20,etime,args", "-g", str(self.proc.pid)],
                                 capture_output=True, text=True, check=False)
        self._log.write(f"\n[test] no exit after SIGTERM; process group:\n{listing.stdout}\n".encode())
        self._log.flush()
        os.kill(self.proc.pid, signal.SIGUSR1)
        time.sleep(3)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


def start_worker(env: dict[str, str], log_path: Path, *, concurrency: int = 2, queues: str = "medic.errors") -> Process:
    args = medic_command("worker", "--queues", queues, "--concurrency", str(concurrency),
                         "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h")
    process = Process(args, env, log_path)
    process.wait_ready()
    return process
