"""A real medic for the console's browser tests: database, broker db, worker and serve, and what they hold.

`ConsoleStack`: a fresh PostgreSQL database, migrated; a Redis db claimed for it alone as the
broker (tests/support/redisdb.py: the run's own db is flushed by other tests' fixtures); `medic
worker` on the intake and recovery queues; `medic serve` on a free port with three tokens (ops:
write, viewer: read, app: ingest) and writes allowed. Events are reported over HTTP (POST
/api/events with the ingest token) and triaged by the worker, as an app's would be.

`seed` reports what every test module finds there (`Seeded`): a plain error, an error whose
fields are XSS payloads, dead letters (a `compensate` target the allowlist refuses: the `bug`
plan's undo fails at once, it notifies, it dies) and an alert (a breaker forced open, then the
health job). docs_screenshots.py starts the same stack with a fuller, friendlier data set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support import redisdb, services
from tests.support.databases import drop_pg
from tests.support.pgcluster import free_port
from tests.support.services import Process, medic_command, medic_env, wait_for

WRITE_TOKEN = "console-ops-token-0123456789abcdef"
READ_TOKEN = "console-viewer-token-0123456789abcdef"
INGEST_TOKEN = "console-app-token-0123456789abcdef"
TOKENS = {"ops": {"token": WRITE_TOKEN, "access": "write"}, "viewer": {"token": READ_TOKEN, "access": "read"},
          "app": {"token": INGEST_TOKEN, "access": "ingest"}}
MEDIC_QUEUES = "medic.errors,medic.recovery"
WAIT_S = 30  # for medic to start, and to triage, start and finish what a test reports

# A bug (KeyError: category internal) gets the `bug` plan: compensate, notify, dead letter. Its
# compensate target is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS: refused at once, nothing is sent.
UNDO = {"kind": "celery", "task": "shop.undo_reservation", "args": [7], "queue": "shop"}
PLAIN_ERROR = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused by ledger",
               "service": "ledger", "operation": "post_entry"}
DEAD_LETTER = {"error_type": "KeyError", "message": "'sku'", "service": "shop", "operation": "reserve",
               "compensate": UNDO}
SCRIPT = "<script>window.__xss=1</script>"
IMAGE = '<img src=x onerror="window.__xss=1">'
XSS_EVENT = {"error_type": "KeyError", "message": f"bad order {SCRIPT}", "service": f"web{IMAGE}",
             "operation": f"checkout{SCRIPT}", "context": {"note": SCRIPT, "img": IMAGE}, "compensate": UNDO,
             "traceback": f"Traceback (most recent call last):\nKeyError: {SCRIPT}"}
BREAKER_SERVICE = "partner"


class ConsoleStack:
    """medic's database, broker db, worker and serve, for one test module (or one docs screenshot run)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.database = services.create_pg_database()
        self.db_url = services.pg_url(self.database)
        self.claim: redisdb.Claim | None = None
        self.processes: list[Process] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}
        self._engine: Engine | None = None

    def start(self, *, testapp: bool = False, **settings: Any) -> ConsoleStack:
        """Worker and serve (and the test app's worker, tests/support/testapp.py, with `testapp`); `settings`
        are more MEDIC_* settings for both."""
        from workers.storage import migrate

        migrate.upgrade(self.db_url)
        self.claim = redisdb.claim()
        self.env = medic_env(**{"database_url": self.db_url, "broker_url": self.claim.url, "breaker_store": "database",
                                "serve__port": self.port, "serve__tokens": json.dumps(TOKENS),
                                "serve__allow_writes": True, "serve__metrics_cache_s": 0, "serve__probe_timeout_s": 1,
                                "log_format": "text", "broker_visibility_timeout_s": 10,
                                "recovery_attempt_timeout_s": 13, **settings})
        worker = Process(medic_command("worker", "--queues", MEDIC_QUEUES, "--concurrency", "2",
                                       "--hostname", f"console-{self.port}@%h"), self.env, self.tmp / "worker.log")
        self.serve = Process(medic_command("serve"), self.env, self.tmp / "serve.log")
        self.processes += [worker, self.serve]
        if testapp:
            from tests.support.testapp import start_testapp_worker

            self.processes.append(start_testapp_worker(self.tmp / "testapp.log", broker_url=self.claim.url,
                                                       redis_url=self.claim.url, wait=False))
        for process in self.processes:
            if process is not self.serve:
                process.wait_ready()
        wait_for(self._answers, timeout_s=WAIT_S, what="medic serve to answer /healthz")
        return self

    def _answers(self) -> bool:
        serve = self.serve
        if serve.proc.poll() is not None:
            raise AssertionError(f"medic serve exited {serve.proc.returncode}:\n{serve.output()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    # --- the database, read as a test does

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.db_url)
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    # --- what an app and an operator do

    def report(self, *events: dict[str, Any]) -> None:
        """POST /api/events as an app does (the ingest token); every event must be accepted."""
        answer = httpx.post(f"{self.base_url}/api/events", json=list(events), timeout=10,
                            headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == len(events), answer.text

    def group_of(self, **columns: str) -> int:
        """The id of the error group with these column values, once the worker has stored one."""
        where = " AND ".join(f"{column} = :{column}" for column in columns)
        found: list[int] = []

        def stored() -> bool:
            found[:] = [r["id"] for r in self.rows(f"SELECT id FROM error_groups WHERE {where}", **columns)]
            return bool(found)

        wait_for(stored, timeout_s=WAIT_S, what=f"an error group with {columns}")
        return found[0]

    def executions_of(self, group_id: int) -> list[dict[str, Any]]:
        return self.rows("SELECT id, state, replay_of FROM executions WHERE group_id = :g ORDER BY id", g=group_id)

    def dead_executions(self, group_id: int, count: int) -> list[int]:
        """The ids of the group's first `count` executions, once each is a dead letter."""
        def dead() -> bool:
            states = [e["state"] for e in self.executions_of(group_id)]
            return len(states) >= count and all(s == "dead" for s in states[:count])

        wait_for(dead, timeout_s=WAIT_S, what=f"{count} dead letters in group {group_id}")
        return [e["id"] for e in self.executions_of(group_id)[:count]]

    def settings(self) -> Any:
        """The settings the fixtures' own in-process work needs (breakers, maintenance jobs)."""
        from config.settings import load_settings

        assert self.claim is not None, "call start() first"
        return load_settings(database_url=self.db_url, broker_url=self.claim.url, breaker_store="database")

    def force_open(self, service: str) -> None:
        """As an operator does over the API (POST /api/breakers/<service>/open): the transition is recorded."""
        answer = httpx.post(f"{self.base_url}/api/breakers/{service}/open", timeout=10,
                            headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
        assert answer.status_code == 200, answer.text

    def run_job(self, name: str) -> None:
        from workers.maintenance.runner import run_job

        outcome = run_job(name, self.settings(), trigger="cli")
        assert outcome.run.status == "succeeded", outcome.run.error

    def open_alert(self) -> int:
        """A breaker forced open, then the health job: it opens the alert `breaker_open` on that service."""
        self.force_open(BREAKER_SERVICE)
        self.run_job("health")
        [alert] = self.rows("SELECT id FROM alerts WHERE rule = 'breaker_open' AND state = 'open'")
        return alert["id"]

    # --- the end

    def tails(self, chars: int = 3000) -> str:
        return "\n".join(f"===== {p.log_path.name} (exit {p.proc.returncode}) =====\n{p.output()[-chars:]}"
                         for p in self.processes)

    def stop(self, *, tails: bool = True) -> None:
        for process in reversed(self.processes):
            try:
                process.terminate(timeout_s=15)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.log_path.name}: {exc!r}")
        if tails:
            print(self.tails())
        if self._engine is not None:
            self._engine.dispose()
        drop_pg(self.database)
        if self.claim is not None:
            self.claim.release()


@dataclass(frozen=True)
class Seeded:
    """What a test module's medic holds before its first test (ids of rows the worker stored)."""

    plain_group: int
    xss_group: int
    xss_execution: int
    dead_group: int
    dead_letters: list[int]
    alert: int


def seed(stack: ConsoleStack) -> Seeded:
    stack.report(PLAIN_ERROR, XSS_EVENT, *({**DEAD_LETTER, "context": {"order": n}} for n in (7, 8, 9)))
    xss = stack.group_of(service=XSS_EVENT["service"])
    dead = stack.group_of(service=DEAD_LETTER["service"])
    [xss_execution] = stack.dead_executions(xss, 1)
    return Seeded(plain_group=stack.group_of(service=PLAIN_ERROR["service"]), xss_group=xss,
                  xss_execution=xss_execution, dead_group=dead, dead_letters=stack.dead_executions(dead, 3),
                  alert=stack.open_alert())
