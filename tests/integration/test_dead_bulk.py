"""Dead letters in bulk and after the fact: `medic dead replay` by filter, `medic dead retarget`, and the same
in the API, on PostgreSQL (the API on SQLite too).

Dead letters are seeded in-process (intake + recovery service with a recording dispatcher, no worker),
dying at chosen times (the service's clock is moved back); the CLI runs as a subprocess against the same
database, its messages going to the run's Redis db; the API runs in-process (FastAPI's test client).
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from config.settings import load_settings
from tests.support.recovery import RecordingDispatcher, retry_step, write_plans
from tests.support.services import medic_env, pg_url, run_medic, run_medic_side_by_side
from workers.api.app import create_app
from workers.intake.service import IntakeService
from workers.recovery.outcomes import permanent
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, Execution, Occurrence

pytestmark = pytest.mark.integration

USER = "tester"
READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
TOKENS = {"grafana": {"token": READ_TOKEN, "access": "read"}, "oncall": {"token": WRITE_TOKEN, "access": "write"}}
NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused"}  # category network
TIMEOUT = {"error_type": "TimeoutError", "message": "timed out"}  # category timeout
# Reported without a replay target: the plan's retry step is passed over, its fallback fails, it dies.
FALLBACK = {"kind": "celery", "task": "app.apologise", "args": [7], "queue": "app"}
# Every event gets this plan: retry (its replay target), fallback, dead letter.
PLAN = {"name": "bulk", "match": {}, "priority": 100,
        "steps": [retry_step(max_attempts=1, initial_delay_s=0.2, max_delay_s=0.2), {"kind": "fallback"},
                  {"kind": "dead_letter"}]}
ALLOWED = {"celery_tasks": ["app.*"], "celery_queues": ["app"]}


class Clock:
    """Real time, moved back while a dead letter should die in the past."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self):
        return datetime.now(UTC) + self.offset


class TargetRecorder(RecordingDispatcher):
    """Remembers the target of each Celery replay it is asked to send."""

    def __init__(self):
        super().__init__()
        self.targets: list[dict] = []

    def replay(self, target, **sent):
        self.targets.append(target)
        super().replay(target, **sent)


class World:
    def __init__(self, database_url: str, redis_url: str, plans_file: Path):
        self.url = database_url
        self.settings = load_settings(database_url=database_url, broker_url=redis_url, plans_files=[plans_file],
                                      replay_targets=ALLOWED, breaker_store="database",
                                      serve={"tokens": TOKENS, "allow_writes": True, "metrics_cache_s": 0})
        self.clock = Clock()
        self.dispatcher = TargetRecorder()
        self.service = RecoveryService(self.settings, dispatcher=self.dispatcher, clock=self.clock,
                                       rng=random.Random(1))
        self.intake = IntakeService(self.settings, recovery=self.service, clock=self.clock)
        self.sessions = session_factory(database_url)
        self.env = {**medic_env(database_url=database_url, broker_url=redis_url, plans_files=str(plans_file),
                                replay_targets__celery_tasks="app.*", replay_targets__celery_queues="app"),
                    "USER": USER}
        self._deliveries = 0
        self._http: TestClient | None = None

    def dead_letter(self, *, service: str = "partner", error: dict = NETWORK, died_ago_s: float = 0) -> int:
        """An error reported without a replay target: its fallback (sent at its start) fails, it dies."""
        self.clock.offset = -timedelta(seconds=died_ago_s)
        try:
            self._deliveries += 1
            outcome = self.intake.report({**error, "service": service, "fallback": FALLBACK},
                                         delivery_id=f"dead-bulk-{self._deliveries}")
            with self.sessions() as session:
                execution_id = session.scalar(select(Execution.id).where(
                    Execution.occurrence_id == outcome.occurrence_id))
                attempt_id = session.scalars(select(Attempt.id).where(Attempt.execution_id == execution_id,
                                                                      Attempt.state == "running")).one()
            self.service.record(attempt_id, permanent("no apology today"))
        finally:
            self.clock.offset = timedelta()
        assert self.execution(execution_id).state == "dead"
        return execution_id

    def execution(self, execution_id: int) -> Execution:
        with self.sessions() as session:
            return session.get_one(Execution, execution_id)

    def count(self, query) -> int:
        with self.sessions() as session:
            return session.scalar(query)

    def replays_of(self, execution_id: int) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(Execution.id).where(Execution.replay_of == execution_id)
                                        .order_by(Execution.id)))

    def trail(self, execution_id: int, action: str) -> list[AuditEntry]:
        with self.sessions() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.execution_id == execution_id,
                                                                 AuditEntry.action == action)
                                        .order_by(AuditEntry.id)))

    def event(self, execution_id: int) -> dict:
        with self.sessions() as session:
            occurrence_id = session.get_one(Execution, execution_id).occurrence_id
            return session.get_one(Occurrence, occurrence_id).event

    def run_first_attempt(self, execution_id: int) -> None:
        """Run the execution's scheduled attempt now, as a worker would when its message arrives."""
        with self.sessions() as session:
            attempt = session.scalars(select(Attempt).where(Attempt.execution_id == execution_id,
                                                            Attempt.state == "scheduled")).one()
        self.clock.offset = timedelta(seconds=5)  # past its short wait
        try:
            self.service.run(attempt.id)
        finally:
            self.clock.offset = timedelta()

    @property
    def http(self) -> TestClient:
        if self._http is None:
            self._http = TestClient(create_app(self.settings), raise_server_exceptions=True)
        return self._http

    def post(self, path: str, token: str = WRITE_TOKEN, **kwargs):
        return self.http.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


@pytest.fixture
def world(pg_database, redis_url, tmp_path):
    return World(pg_url(pg_database), redis_url, write_plans(tmp_path, [PLAN]))


@pytest.fixture
def either_world(database_url, redis_url, tmp_path):
    """On SQLite too (in-process only, fast)."""
    return World(database_url, redis_url, write_plans(tmp_path, [PLAN]))


def ok(result: subprocess.CompletedProcess):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("[", "{")) else result.stdout


def executions_count(world: World) -> int:
    return world.count(select(func.count()).select_from(Execution))


def test_replay_by_filter_dry_run_selection_audit_and_no_double_replay(world):
    too_old = world.dead_letter(died_ago_s=3 * 3600)
    chosen = world.dead_letter(died_ago_s=3600)
    other_category = world.dead_letter(error=TIMEOUT, died_ago_s=3600)
    other_service = world.dead_letter(service="other", died_ago_s=3600)
    too_recent = world.dead_letter(died_ago_s=0)
    before = executions_count(world)
    selection = ("--service", "partner", "--category", "network", "--since", "2h", "--until", "30m")

    dry, no_filter, bad_time = run_medic_side_by_side(
        world.env, ("dead", "replay", *selection, "--dry-run", "--json"), ("dead", "replay"),
        ("dead", "replay", "--since", "yesterday"))
    planned = ok(dry)
    assert (planned["dry_run"], planned["matched"], planned["to_replay"]) == (True, 1, [chosen])
    assert planned["replayed"] == [] and planned["filter"]["category"] == "network"
    assert no_filter.returncode == 2 and "at least one filter" in no_filter.stderr
    assert bad_time.returncode == 2 and "'yesterday'" in bad_time.stderr and "Traceback" not in bad_time.stderr
    assert executions_count(world) == before and not world.trail(chosen, "replayed")  # a dry run changes nothing

    done = ok(run_medic(world.env, "dead", "replay", *selection, "--json"))
    assert done["dry_run"] is False and [r["dead_letter"] for r in done["replayed"]] == [chosen]
    new_id = done["replayed"][0]["execution_id"]
    assert world.replays_of(chosen) == [new_id] and executions_count(world) == before + 1
    for untouched in (too_old, other_category, other_service, too_recent):
        assert world.replays_of(untouched) == [] and world.execution(untouched).state == "dead"
    [entry] = world.trail(chosen, "replayed")
    assert entry.actor == f"operator:{USER}" and entry.detail["new_execution_id"] == new_id
    assert entry.detail["bulk_filter"]["category"] == "network"
    assert world.execution(new_id).plan_name == "bulk"

    twice = run_medic(world.env, "dead", "replay", *selection)
    assert "replayed 0" in ok(twice) and f"{chosen}: already replayed as execution {new_id}" in twice.stdout
    assert "--again" in twice.stdout and executions_count(world) == before + 1


def test_a_large_bulk_replay_asks_first_unless_yes(world):
    letters = [world.dead_letter(service="bulk") for _ in range(12)]  # over CONFIRM_ABOVE (10)
    before = executions_count(world)

    declined = run_medic(world.env, "dead", "replay", "--service", "bulk")
    assert declined.returncode == 1 and "Replay 12 dead letters" in declined.stderr
    assert executions_count(world) == before

    accepted = run_medic(world.env, "dead", "replay", "--service", "bulk", "--limit", "11", stdin="y\n")
    assert "replayed 11" in ok(accepted) and "left 1 for a later run" in accepted.stdout
    rest = ok(run_medic(world.env, "dead", "replay", "--service", "bulk", "--yes", "--json"))
    assert [r["dead_letter"] for r in rest["replayed"]] == letters[11:] and len(rest["skipped"]) == 11
    assert executions_count(world) == before + 12
    assert all(len(world.replays_of(letter)) == 1 for letter in letters)


def test_retarget_a_dead_letter_without_a_target_then_replay_calls_it(world, tmp_path):
    dead = world.dead_letter()
    group_a, group_b = world.dead_letter(error=TIMEOUT), world.dead_letter(error=TIMEOUT)
    assert "replay" not in world.event(dead)
    target = {"kind": "celery", "task": "app.charge", "args": [7], "queue": "app"}
    fallback_file = tmp_path / "fallback.json"
    fallback_file.write_text(json.dumps({"kind": "celery", "task": "app.refund", "queue": "app",
                                         "kwargs": {"password": "hunter2-hunter2"}}))

    not_json, invalid, refused, dry = run_medic_side_by_side(
        world.env, ("dead", "retarget", str(dead), "--replay", "{kind: celery"),
        ("dead", "retarget", str(dead), "--replay", '{"kind": "celery", "queue": "app"}'),
        ("dead", "retarget", str(dead), "--replay", '{"kind": "celery", "task": "billing.refund", "queue": "app"}'),
        ("dead", "retarget", str(dead), "--replay", json.dumps(target), "--dry-run", "--json"))
    for result in (not_json, invalid, refused):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--replay" in not_json.stderr and "not JSON" in not_json.stderr
    assert "replay target is invalid: task: Field required" in invalid.stderr
    assert "would be refused" in refused.stderr and "MEDIC_REPLAY_TARGETS__CELERY_TASKS" in refused.stderr
    planned = ok(dry)
    assert planned["dry_run"] is True and planned["dead_letters"][0]["changes"]["replay"]["old"] is None
    assert "replay" not in world.event(dead) and not world.trail(dead, "retargeted")  # the dry run changed nothing

    group_id = world.execution(group_a).group_id
    single, grouped_result = run_medic_side_by_side(
        world.env, ("dead", "retarget", str(dead), "--replay", json.dumps(target), "--json"),
        ("dead", "retarget", "--group", str(group_id), "--fallback", f"@{fallback_file}"))
    done = ok(single)
    assert done["changed"] == 1 and done["dead_letters"][0]["dead_letter"] == dead
    stored = world.event(dead)["replay"]
    assert stored.items() >= target.items()
    [entry] = world.trail(dead, "retargeted")
    assert entry.actor == f"operator:{USER}" and entry.detail["changes"]["replay"]["old"] is None
    assert entry.detail["changes"]["replay"]["new"] == stored and "Celery task app.charge" in entry.reason
    assert "retargeted 2 dead letters" in ok(grouped_result) and "stored masked" in grouped_result.stdout
    for letter in (group_a, group_b):
        fallback = world.event(letter)["fallback"]
        assert fallback["task"] == "app.refund" and fallback["kwargs"]["password"] != "hunter2-hunter2"
        assert world.trail(letter, "retargeted")[0].detail["changes"]["fallback"]["old"]["task"] == "app.apologise"
    with world.sessions() as session:
        assert "hunter2" not in json.dumps([e.detail for e in session.scalars(select(AuditEntry))])

    replayed = ok(run_medic(world.env, "dead", "replay", str(dead), "--json"))
    world.run_first_attempt(replayed["execution_id"])
    assert [t["task"] for t in world.dispatcher.targets][-1] == "app.charge"
    assert world.dispatcher.targets[-1]["args"] == [7]
    assert world.execution(replayed["execution_id"]).replay_of == dead


def test_the_api_replays_by_filter_and_retargets_with_write_tokens_only(either_world):
    world = either_world
    first, second = world.dead_letter(died_ago_s=3600), world.dead_letter(died_ago_s=3600)
    grouped = world.dead_letter(error=TIMEOUT)
    target = {"kind": "celery", "task": "app.charge", "queue": "app"}
    group_id = world.execution(grouped).group_id

    for path, body in (("/api/dead/replay", {"service": "partner"}), (f"/api/dead/{first}/target", {"replay": target}),
                       (f"/api/groups/{group_id}/dead/target", {"replay": target})):
        refused = world.post(path, token=READ_TOKEN, json=body)
        assert refused.status_code == 403 and "write" in refused.json()["detail"]
    assert not world.trail(first, "retargeted") and executions_count(world) == 3

    assert world.post("/api/dead/replay", json={}).status_code == 422
    bad_time = world.post("/api/dead/replay", json={"service": "partner", "since": "yesterday"})
    assert bad_time.status_code == 422 and "yesterday" in bad_time.json()["detail"]
    assert world.post("/api/dead/replay", json={"service": "partner", "colour": "red"}).status_code == 422

    selection = {"service": "partner", "category": "network", "since": "2h"}
    dry = world.post("/api/dead/replay", json={**selection, "dry_run": True}).json()
    assert (dry["matched"], dry["to_replay"], dry["replayed"]) == (2, [first, second], [])
    assert executions_count(world) == 3
    done = world.post("/api/dead/replay", json=selection)
    assert done.status_code == 200 and [r["dead_letter"] for r in done.json()["replayed"]] == [first, second]
    assert world.trail(first, "replayed")[0].actor == "api:oncall"
    twice = world.post("/api/dead/replay", json=selection).json()
    assert twice["replayed"] == [] and len(twice["skipped"]) == 2 and executions_count(world) == 5
    again = world.post("/api/dead/replay", json={**selection, "again": True, "limit": 1}).json()
    assert [r["dead_letter"] for r in again["replayed"]] == [first] and again["over_limit"] == 1
    assert len(world.replays_of(first)) == 2 and executions_count(world) == 6

    invalid = world.post(f"/api/dead/{grouped}/target", json={"replay": {"kind": "celery"}})
    assert invalid.status_code == 422 and "task: Field required" in invalid.json()["detail"]
    refused_target = world.post(f"/api/dead/{grouped}/target", json={"replay": {**target, "queue": "medic.errors"}})
    assert refused_target.status_code == 422 and "would be refused" in refused_target.json()["detail"]
    assert world.post(f"/api/dead/{grouped}/target", json={}).status_code == 422
    assert world.post("/api/dead/999999/target", json={"replay": target}).status_code == 404
    assert world.post("/api/groups/999999/dead/target", json={"replay": target}).status_code == 404
    # the replay of `first` is a live execution now: not a dead letter
    live = world.replays_of(first)[0]
    assert world.post(f"/api/dead/{live}/target", json={"replay": target}).status_code == 409

    dry_target = world.post(f"/api/groups/{group_id}/dead/target", json={"replay": target, "dry_run": True}).json()
    assert dry_target["dry_run"] is True and dry_target["changed"] == 1 and "replay" not in world.event(grouped)
    retargeted = world.post(f"/api/groups/{group_id}/dead/target", json={"replay": target})
    assert retargeted.status_code == 200 and retargeted.json()["dead_letters"][0]["dead_letter"] == grouped
    assert world.event(grouped)["replay"]["task"] == "app.charge"
    assert world.trail(grouped, "retargeted")[0].actor == "api:oncall"
    # `first`'s occurrence has its replay still going: retargeting it would change that execution mid-way
    busy = world.post(f"/api/dead/{first}/target", json={"replay": target})
    assert busy.status_code == 409 and "still going" in busy.json()["detail"]
