"""Fixtures of the recovery end-to-end tests: the scripted HTTP server and medic's processes.

`medic` starts real processes: medic's worker (`medic worker`, intake and recovery queues), its
beat (`medic beat`, which runs the recovery sweeper) and the separate test app's Celery worker.
They share the `broker_url` fixture's broker: the run's Redis db (tests/support/redisdb.py), or a
RabbitMQ vhost of the test's own (BROKERS, test_rabbitmq.py); the test app's counters stay in Redis either way. medic's
database is a fresh PostgreSQL database unless a test configures another, and its data dir (beat's
schedule file when the broker is not Redis, beat's heartbeat) is the test's own. Everything started
is stopped at teardown, and the logs' tails and the recovery tables are printed there (pytest shows
them for failed tests).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from tests.support import recovery, services, testapp
from tests.support.httpserver import ScriptedHTTPServer
from tests.support.pgcluster import PrivateCluster
from tests.support.rabbitmq import rabbitmq_url, rabbitmq_vhost
from tests.support.services import Process, medic_command, medic_env
from tests.support.testapp import start_testapp_worker

__all__ = ["rabbitmq_url", "rabbitmq_vhost"]  # fixtures, for every integration test

MEDIC_QUEUES = "medic.errors,medic.recovery"

# Per test (pytest-timeout); unit tests have the 30 s of pyproject.toml. A test's own timeout mark wins.
INTEGRATION_TIMEOUT_S = 300


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT_S))


# Short settings: the tests wait seconds, not minutes.
TEST_SETTINGS: dict[str, Any] = {
    "broker_visibility_timeout_s": 10,
    "recovery_countdown_max_s": 5,
    "recovery_sweep_interval_s": 0.5,
    "recovery_redispatch_after_s": 2,
    "recovery_attempt_timeout_s": 13,
    "log_format": "text",
    "log_level": "INFO",
    # The test app's tasks and queue, and the builtin actions, are what its events may name.
    "replay_targets__celery_tasks": "testapp.*",
    "replay_targets__celery_queues": "testapp",
    "replay_targets__actions": "log,noop",
}


@pytest.fixture
def private_postgres():
    """A PostgreSQL server of the test's own (tests/support/pgcluster.py): one it may stop and start."""
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def http_server():
    server = ScriptedHTTPServer()
    try:
        yield server
    finally:
        server.close()


class Medic:
    """medic's worker and beat, and the test app's worker, as processes of one test."""

    def __init__(self, tmp_path: Path, redis_url: str, db_url: str, *, broker_url: str | None = None):
        self.tmp_path = tmp_path
        self.redis_url = redis_url  # the test app's counters
        self.broker_url = broker_url or redis_url
        self.testapp_queue_type = ""  # RabbitMQ: "quorum" makes the test app declare its queue as one
        self.db_url = db_url
        self.env: dict[str, str] | None = None
        self.processes: list[tuple[str, Process]] = []
        self._names: dict[str, int] = {}

    def configure(self, *, plans_file: Path | None = None, database_url: str | None = None, **settings: Any) -> dict:
        if database_url:
            self.db_url = database_url
        values = {**TEST_SETTINGS, "database_url": self.db_url, "broker_url": self.broker_url,
                  "data_dir": self.tmp_path / "data", **settings}
        if plans_file is not None:
            values["plans_files"] = str(plans_file)
        self.env = medic_env(**values)
        return self.env

    def _log(self, name: str) -> Path:
        n = self._names[name] = self._names.get(name, 0) + 1
        return self.tmp_path / (f"{name}.log" if n == 1 else f"{name}-{n}.log")

    def _add(self, name: str, process: Process) -> Process:
        self.processes.append((name, process))
        return process

    def worker(self, *, concurrency: int = 2, wait: bool = True) -> Process:
        assert self.env is not None, "call configure() first"
        args = medic_command("worker", "--queues", MEDIC_QUEUES, "--concurrency", str(concurrency),
                             "--hostname", f"test-{len(self.processes)}-{time.monotonic_ns() % 10**6}@%h")
        process = self._add("worker", Process(args, self.env, self._log("worker")))
        if wait:
            process.wait_ready()
        return process

    def beat(self, *, wait: bool = True) -> Process:
        assert self.env is not None, "call configure() first"
        process = self._add("beat", Process(medic_command("beat"), self.env, self._log("beat")))
        if wait:
            process.wait_ready("beat: Starting...")
        return process

    def testapp(self, *, wait: bool = True) -> Process:
        return self._add("testapp", start_testapp_worker(self._log("testapp"), broker_url=self.broker_url,
                                                       redis_url=self.redis_url, queue_type=self.testapp_queue_type,
                                                       wait=wait))

    def start(self, *, worker: bool = True, beat: bool = True, testapp: bool = True) -> Medic:
        """Start the processes side by side, then wait until each is ready."""
        started = []
        if testapp:
            started.append((self.testapp(wait=False), "ready."))
        if worker:
            started.append((self.worker(wait=False), "ready."))
        if beat:
            started.append((self.beat(wait=False), "beat: Starting..."))
        for process, marker in started:
            process.wait_ready(marker)
        return self

    def worker_logs(self) -> list[Path]:
        return [process.log_path for name, process in self.processes if name == "worker"]

    def wait_sweeps(self, n: int = 2, *, timeout_s: float = 30) -> list[dict]:
        """A positive barrier: `n` sweeper passes taken after now have run (recovery.wait_sweeps)."""
        return recovery.wait_sweeps(self.worker_logs, n, timeout_s=timeout_s)

    def wait_quiet(self, client: Celery | None = None, *, passes: int = 2) -> list[dict]:
        """A positive barrier for "nothing more happens" once the executions have ended, instead of a
        sleep: `passes` sweeper passes taken after now ran and had nothing left to send or time out;
        then, given the test's client (the test app runs), a round trip through the app's queue, behind
        any replay medic sent before. Returns the passes."""
        sweeps = self.wait_sweeps(passes)
        assert all(s["dispatched"] == 0 and s["timed_out"] == 0 for s in sweeps), \
            f"the sweeper still had attempts to send or time out: {sweeps}\n{recovery.describe(self.db_url)}"
        if client is not None:
            testapp.round_trip(client, self.redis_url)
        return sweeps

    def stop_all(self) -> None:
        for _, process in reversed(self.processes):
            try:
                process.terminate(timeout_s=15)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.log_path.name}: {exc!r}")

    def tails(self, chars: int = 4000) -> str:
        parts = []
        for _, process in self.processes:
            try:
                parts.append(f"===== {process.log_path.name} (exit {process.proc.returncode}) =====\n"
                             f"{process.output()[-chars:]}")
            except OSError as exc:
                parts.append(f"===== {process.log_path.name}: {exc!r}")
        return "\n".join(parts)


SENTINEL = "recovery-tests:sentinel"


# For the tests that must pass on both brokers: @BROKERS before the test.
BROKERS = pytest.mark.parametrize("broker_url", ["redis", "rabbitmq"], indirect=True)


@pytest.fixture
def broker_url(request, redis_url):
    """The broker of medic's processes, the test app and the client: Redis, or RabbitMQ (a vhost of
    its own) for a test parametrized with BROKERS. test_rabbitmq.py overrides it for its module."""
    if getattr(request, "param", "redis") == "rabbitmq":
        return request.getfixturevalue("rabbitmq_url")
    return redis_url


@pytest.fixture
def client(broker_url):
    """An app's own Celery client on the test's broker: no medic import, sends by task name only."""
    app = Celery("some-app", broker=broker_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    yield app
    app.close()


@pytest.fixture
def medic(tmp_path, redis_url, broker_url, pg_database):
    stack = Medic(tmp_path, redis_url, services.pg_url(pg_database), broker_url=broker_url)
    # Another process flushing the run's Redis db mid-test (queues and the app's counters gone) looks
    # like a medic bug: say so at teardown. Test runs claim their db (redisdb); a run of an older
    # checkout, or anything else, may not.
    redis.Redis.from_url(redis_url).set(SENTINEL, "1")
    try:
        yield stack
    finally:
        if not redis.Redis.from_url(redis_url).exists(SENTINEL):
            print(f"!!!!! {redis_url} was flushed during this test by another process: its results are void !!!!!")
        stack.stop_all()
        print(stack.tails())
        print(recovery.describe(stack.db_url))
        recovery.dispose_engines()
