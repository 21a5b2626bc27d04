"""`medic executions|dead|breakers|notifications|plans` as an operator runs them, on SQLite and PostgreSQL.

Executions are seeded in-process (intake + recovery service with a recording dispatcher, no
worker); the CLI runs as a subprocess against the same database, its messages going to Redis.
Independent commands run side by side to keep the file fast.
"""

from __future__ import annotations

import json
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select

from config.settings import load_settings
from tests.support.recovery import RecordingDispatcher
from tests.support.services import medic_env, run_medic, run_medic_side_by_side
from workers.intake.service import IntakeService
from workers.recovery.outcomes import permanent, retryable
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, Execution, Notification

pytestmark = pytest.mark.integration

NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner",
           "replay": {"kind": "celery", "task": "app.flaky", "args": [1], "queue": "app"}}
# A bug gets the `bug` plan: compensate (this undo is refused), notify, dead letter. Without a target
# to call it would start no execution at all (group signals instead).
BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop",
       "compensate": {"kind": "celery", "task": "app.undo", "args": [1], "queue": "app"}}
USER = "tester"
# CLI processes run at once: each spends about a second importing.
PARALLEL = 4



class Clock:
    """Real time, moved ahead when a test needs an attempt to be due."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self):
        return datetime.now(UTC) + self.offset


class World:
    def __init__(self, database_url: str, redis_url: str, **settings):
        self.url = database_url
        self.settings = load_settings(database_url=database_url, broker_url=redis_url,
                                      replay_targets={"celery_tasks": ["app.*"], "celery_queues": ["app"]}, **settings)
        self.clock = Clock()
        self.service = RecoveryService(self.settings, dispatcher=RecordingDispatcher(), clock=self.clock,
                                       rng=random.Random(1))
        self.intake = IntakeService(self.settings, recovery=self.service, clock=self.clock)
        self.sessions = session_factory(database_url)
        self.env = {**medic_env(database_url=database_url, broker_url=redis_url, replay_targets__celery_tasks="app.*",
                                replay_targets__celery_queues="app", **settings), "USER": USER}
        self._deliveries = 0

    def report(self, event: dict) -> int:
        self._deliveries += 1
        outcome = self.intake.report(event, delivery_id=f"cli-test-{self._deliveries}")
        with self.sessions() as session:
            return session.scalar(select(Execution.id).where(Execution.occurrence_id == outcome.occurrence_id))

    def open_attempt(self, execution_id: int) -> Attempt:
        with self.sessions() as session:
            return session.scalars(select(Attempt).where(Attempt.execution_id == execution_id,
                                                         Attempt.state.in_(("scheduled", "running")))).one()

    def run(self, execution_id: int, ahead_s: float = 0) -> int:
        """Run the execution's open attempt (one sent at its start, claimed already, has run)."""
        self.clock.offset += timedelta(seconds=ahead_s)
        attempt = self.open_attempt(execution_id)
        if attempt.state == "scheduled":
            self.service.run(attempt.id)
        return attempt.id

    def dead_letter(self) -> int:
        """A KeyError gets the `bug` plan: its compensation fails, it notifies, it is a dead letter."""
        execution_id = self.report(BUG)
        self.service.record(self.run(execution_id), permanent("undo refused"))
        self.run(execution_id)
        return execution_id


@pytest.fixture
def world(database_url, redis_url):
    return World(database_url, redis_url, breaker_store="database")


def ok(result: subprocess.CompletedProcess):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("[", "{")) else result.stdout


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def test_executions_list_show_retry_and_cancel(world):
    waiting = world.report(NETWORK)
    world.run(waiting, ahead_s=3)  # the first replay is due within 2 s (full jitter)
    world.service.record(_running(world, waiting), retryable("partner down"))
    pending = world.report(NETWORK)
    dead = world.dead_letter()

    every, only_waiting, shown, missing, table = run_medic_side_by_side(
        world.env, ("executions", "list", "--json"), ("executions", "list", "--state", "waiting", "--json"),
        ("executions", "show", str(waiting), "--json"), ("executions", "show", "999"), ("executions", "list"))
    assert {e["id"]: e["state"] for e in ok(every)} == {waiting: "waiting", pending: "pending", dead: "dead"}
    assert [e["id"] for e in ok(only_waiting)] == [waiting]
    row = ok(only_waiting)[0]
    assert row["plan"] == "transient" and (row["step"], row["step_kind"], row["steps"]) == (1, "retry", 4)
    assert row["attempts"] == 2 and row["last_error"] == "partner down" and row["next_attempt_at"]
    assert row["error"] == "requests.exceptions.ConnectionError: Connection refused"
    detail = ok(shown)
    assert [(a["number"], a["state"], a["outcome"]) for a in detail["attempts"]] == [(1, "failed", "retryable"),
                                                                                     (2, "scheduled", None)]
    assert detail["attempts"][0]["error"] == "partner down" and detail["attempts"][0]["claimed_at"]
    assert [a["action"] for a in detail["audit"]][:2] == ["created", "claimed"]
    assert detail["audit"][-1]["to_state"] == "waiting" and detail["event"]["service"] == "partner"
    assert missing.returncode == 4 and "no execution 999" in missing.stderr and "Traceback" not in missing.stderr
    assert "transient" in ok(table) and "1/4 retry" in ok(table) and "NEXT ATTEMPT" in ok(table)

    retried, cancelled = run_medic_side_by_side(world.env,
                                                ("executions", "retry", str(waiting), "--reason", "partner is back"),
                                      ("executions", "cancel", str(pending)))
    assert "runs now" in ok(retried) and f"operator:{USER}" in retried.stdout
    assert "could not send" not in retried.stderr  # the run message went to the workers' queue on Redis
    assert f"{pending}: pending → cancelled" in ok(cancelled)

    after_retry, after_cancel, finished = run_medic_side_by_side(
        world.env, ("executions", "show", str(waiting), "--json"), ("executions", "show", str(pending), "--json"),
        ("executions", "cancel", str(dead)))
    retried = ok(after_retry)
    assert retried["state"] == "waiting"
    assert parse(retried["attempts"][-1]["scheduled_for"]) <= datetime.now(UTC)
    last = retried["audit"][-1]
    assert (last["actor"], last["action"], last["reason"]) == (f"operator:{USER}", "retry_now", "partner is back")
    cancelled = ok(after_cancel)
    assert cancelled["state"] == "cancelled" and {a["state"] for a in cancelled["attempts"]} == {"cancelled"}
    assert (cancelled["audit"][-1]["actor"], cancelled["audit"][-1]["action"]) == (f"operator:{USER}", "cancelled")
    assert finished.returncode == 2 and "already dead" in finished.stderr


def _running(world: World, execution_id: int) -> int:
    with world.sessions() as session:
        return session.scalars(select(Attempt.id).where(Attempt.execution_id == execution_id,
                                                        Attempt.state == "running")).one()


def test_dead_letters_list_show_replay_and_purge(world):
    first, second, third = world.dead_letter(), world.dead_letter(), world.dead_letter()
    alive = world.report(NETWORK)

    listed, shown, not_dead, no_selection, table, alerts, suppressed = run_medic_side_by_side(
        world.env, ("dead", "list", "--json"), ("dead", "show", str(first), "--json"), ("dead", "show", str(alive)),
        ("dead", "purge"), ("dead", "list"), ("notifications", "list", "--json"),
        ("notifications", "list", "--state", "suppressed", "--json"))
    assert sorted(e["id"] for e in ok(listed)) == [first, second, third]
    assert {(e["plan"], e["state"]) for e in ok(listed)} == {("bug", "dead")}
    detail = ok(shown)
    assert [(a["step_kind"], a["state"]) for a in detail["attempts"]] == [("compensate", "failed"),
                                                                           ("notify", "succeeded")]
    assert detail["audit"][-1]["to_state"] == "dead" and detail["error"] == "KeyError: 'sku'"
    assert not_dead.returncode == 4 and "not a dead letter" in not_dead.stderr
    assert no_selection.returncode == 2 and "--older-than" in no_selection.stderr
    assert "KeyError: 'sku'" in ok(table)
    # the same alert within the cooldown is stored as suppressed, not sent twice
    assert sorted(n["state"] for n in ok(alerts)) == ["pending", "suppressed", "suppressed"]
    assert {(n["channel"], n["kind"]) for n in ok(alerts)} == {("log", "notify")}
    assert len(ok(suppressed)) == 2

    replayed, purged = run_medic_side_by_side(world.env, ("dead", "replay", str(first), "--json"),
                                    ("dead", "purge", str(second), "--yes"))
    replay = ok(replayed)
    assert replay["replay_of"] == first and replay["plan"] == "bug" and replay["execution_id"] not in (first, second,
                                                                                                       third)
    with world.sessions() as session:
        assert session.get(Execution, replay["execution_id"]).replay_of == first

    assert f"purged 1 dead letter: {second}" in ok(purged)
    declined = run_medic(world.env, "dead", "purge", "--older-than", "0s", stdin="n\n")
    assert declined.returncode == 1 and "Purge 2 dead letters" in declined.stderr
    assert f"purged 2 dead letters: {first}, {third}" in ok(run_medic(world.env, "dead", "purge", "--older-than", "0s",
                                                                  stdin="y\n"))
    with world.sessions() as session:
        assert session.get(Execution, second) is None
        assert not session.scalars(select(Attempt).where(Attempt.execution_id == second)).all()
        purges = session.scalars(select(AuditEntry).where(AuditEntry.action == "purged")).all()
        assert sorted(p.detail["execution_id"] for p in purges) == [first, second, third]
        assert {(p.actor, p.execution_id) for p in purges} == {(f"operator:{USER}", None)}
        # its first step (compensate, a Celery task, due at once) was claimed and sent by `medic dead replay`
        assert session.scalar(select(Execution.state).where(Execution.id == replay["execution_id"])) == "running"
    gone = run_medic(world.env, "dead", "show", str(second))
    assert gone.returncode == 4


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # embedded mode: breakers in the database
def test_breakers_on_the_database(world):
    world.clock.offset = -timedelta(seconds=100)  # it opened 100 s ago: past its 10 s recovery timeout
    for _ in range(20):  # the default rate breaker opens once 20 calls are on record, 80 % of them failed
        world.service.breakers.record_failure("partner", probe=False)
    world.clock.offset = timedelta()

    opened = run_medic(world.env, "breakers", "open", "billing")
    assert "billing: closed → forced_open" in ok(opened)
    assert "already forced_open" in ok(run_medic(world.env, "breakers", "open", "billing"))
    listed, table = run_medic_side_by_side(world.env, ("breakers", "list", "--json"), ("breakers", "list"))
    breakers = {b["service"]: b for b in ok(listed)}
    assert breakers["billing"]["state"] == "forced_open"
    assert [(t["from_state"], t["to_state"], t["actor"]) for t in breakers["billing"]["transitions"]] == [
        ("closed", "forced_open", f"operator:{USER}")]
    partner = breakers["partner"]
    assert (partner["state"], partner["stored_state"]) == ("half_open", "open")
    assert partner["config"]["mode"] == "rate" and partner["half_open_at"]
    assert partner["transitions"][0]["actor"] == "breaker"
    assert "half_open (probe due)" in ok(table) and "forced_open" in table.stdout

    assert "billing: forced_open → closed" in ok(run_medic(world.env, "breakers", "close", "billing"))
    assert "it was open" in ok(run_medic(world.env, "breakers", "reset", "partner"))
    after = {b["service"]: b["state"] for b in ok(run_medic(world.env, "breakers", "list", "--json"))}
    assert after == {"billing": "closed"}
    with world.sessions() as session:
        kinds = session.scalars(select(Notification.kind)).all()
    assert kinds.count("breaker") == 4  # opened (automatic), forced open, closed, reset: each one notified


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # production: Redis and PostgreSQL
def test_breakers_in_redis(database_url, redis_url):
    world = World(database_url, redis_url, breaker_store="redis")
    assert "closed → forced_open" in ok(run_medic(world.env, "breakers", "open", "partner"))
    assert redis.Redis.from_url(redis_url).exists("medic:breaker:partner")
    [breaker] = ok(run_medic(world.env, "breakers", "list", "--json"))
    assert (breaker["service"], breaker["state"]) == ("partner", "forced_open")
    assert breaker["transitions"][0]["actor"] == f"operator:{USER}"
    assert "forced_open → closed" in ok(run_medic(world.env, "breakers", "close", "partner"))


def test_plans_list_check_and_explain(tmp_path):
    env = {**medic_env(data_dir=tmp_path / "data"), "USER": USER}
    broken = tmp_path / "broken.yaml"
    broken.write_text("plans:\n  - name: impatient\n    steps: [{kind: retry, max_attempts: 0}]\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(NETWORK))
    unreachable = {**env, "MEDIC_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/medic"}
    runs = [(env, ("plans", "list", "--json")), (env, ("plans", "check")),
            (env, ("plans", "check", "--plans", str(broken))),
            ({**env, "MEDIC_PLANS_FILES": str(broken)}, ("plans", "check")),
            (env, ("plans", "explain", str(event), "--json", "--seed", "3")),
            (env, ("plans", "explain", "-", "--json"), json.dumps(NETWORK)),
            (env, ("plans", "explain", str(event))),
            (env, ("plans", "explain", "-"), "{not json"),
            (env, ("plans", "explain", "-"), json.dumps({"message": "no type, no service"})),
            (unreachable, ("executions", "list"))]
    with ThreadPoolExecutor(PARALLEL) as pool:
        (listed, checked, bad_extra, bad_configured, explained, from_stdin, text, not_json, invalid,
         no_database) = pool.map(lambda run: run_medic(run[0], *run[1], stdin=run[2] if len(run) > 2 else ""), runs)
    plans = {p["name"]: p for p in ok(listed)}
    assert plans["transient"]["steps"] == "retry → fallback → escalate → dead_letter"
    assert plans["transient"]["match"] == {"category": ["network", "timeout", "unavailable", "conflict"]}
    assert plans["unrecognised"]["match"] == {"category": ["unknown"]}
    assert plans["default"]["builtin"] is True and plans["default"]["origin"].endswith("default.yaml")
    assert ok(checked).startswith(f"ok: {len(plans)} plans")
    for failed in (bad_extra, bad_configured):
        assert failed.returncode == 3, failed.stderr
        assert "broken.yaml" in failed.stderr and "'impatient'" in failed.stderr and "max_attempts" in failed.stderr

    explanation = ok(explained)
    assert explanation["plan"]["name"] == "transient" and explanation["classification"]["category"] == "network"
    retry = explanation["steps"][0]
    assert retry["kind"] == "retry" and retry["target"] == "celery task app.flaky on queue app"
    assert len(retry["delays_s"]) == 6 and retry["policy"]["jitter"] == "full"
    assert [high for _, high in retry["delay_bounds_s"]] == [1, 2, 4, 8, 16, 32]
    waits = zip(retry["delays_s"], retry["delay_bounds_s"], strict=True)
    assert all(low <= delay <= high for delay, (low, high) in waits)
    assert explanation["steps"][1]["skipped"] == "the event has no fallback target"
    assert ok(from_stdin)["seed"] == 0 and ok(from_stdin)["steps"][0]["delays_s"] != retry["delays_s"]
    assert "transient" in ok(text) and "≤ 4 s (full jitter)" in text.stdout
    assert not_json.returncode == 2 and "not JSON" in not_json.stderr
    assert invalid.returncode == 2 and "error_type" in invalid.stderr
    assert no_database.returncode == 5 and "database unavailable" in no_database.stderr

