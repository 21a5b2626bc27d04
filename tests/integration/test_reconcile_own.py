"""medic's own consistency checks on SQLite and PostgreSQL: what they find, fix, report and leave alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.settings import load_settings
from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import job
from workers.storage.db import session_factory
from workers.storage.models import (
    Attempt,
    AuditEntry,
    ErrorGroup,
    Execution,
    Notification,
    Occurrence,
    ReconciliationEntry,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRIAGE = {"category": "network", "severity": "medium", "retryable": True, "confidence": 1.0, "rule_id": "test"}


class Seed:
    def __init__(self, url: str):
        self.sessions = session_factory(url)
        self._n = 0

    def group(self, *, occurrences: int, counter: int) -> tuple[int, list[int]]:
        with self.sessions() as session:
            self._n += 1
            group = ErrorGroup(fingerprint=f"fp{self._n}", error_type="E", message_template="m", service="svc",
                               status="open", occurrence_count=counter, first_seen=NOW, last_seen=NOW, **TRIAGE)
            session.add(group)
            session.flush()
            rows = [Occurrence(group_id=group.id, delivery_id=f"g{self._n}-{i}", received_at=NOW, occurred_at=NOW,
                               message="m", event={}, **TRIAGE) for i in range(occurrences)]
            session.add_all(rows)
            session.commit()
            return group.id, [row.id for row in rows]

    def execution(self, state: str, *attempts: str | dict, run: int = 1) -> int:
        """An execution and its attempts (a state, or a dict of the attempt's columns)."""
        group_id, (occurrence_id,) = self.group(occurrences=1, counter=1)
        with self.sessions() as session:
            execution = Execution(group_id=group_id, occurrence_id=occurrence_id, plan_name="p", plan={}, service="svc",
                                  category="network", state=state, run=run, step_index=0, created_at=NOW,
                                  updated_at=NOW, finished_at=NOW if state in ("succeeded", "dead") else None)
            session.add(execution)
            session.flush()
            for number, spec in enumerate(attempts, 1):
                columns = {"state": spec} if isinstance(spec, str) else dict(spec)
                if columns["state"] == "running":
                    columns = {"claimed_by": "worker:h:1", "claimed_at": NOW, "deadline_at": NOW + timedelta(minutes=5),
                               **columns}
                session.add(Attempt(execution_id=execution.id, run=columns.pop("run", run), step_index=0,
                                    step_kind="retry", number=number, scheduled_for=NOW, **columns))
            session.commit()
            return execution.id

    def get(self, model, ident):
        with self.sessions() as session:
            return session.get(model, ident)

    def all(self, query):
        with self.sessions() as session:
            return list(session.scalars(query))


@pytest.fixture
def seed(database_url):
    return Seed(database_url)


def run(database_url, *, dry_run=False, check=None, **reconcile):
    settings = load_settings(database_url=database_url, reconcile=reconcile)
    ctx = JobContext(settings=settings, sessions=session_factory(database_url), dry_run=dry_run,
                     params={"check": check} if check else {}, clock=lambda: NOW)
    return job.run(ctx)


def entries(seed, check=None):
    query = select(ReconciliationEntry).order_by(ReconciliationEntry.id)
    if check:
        query = query.where(ReconciliationEntry.check_name == check)
    return seed.all(query)


def test_group_counters_are_set_to_their_occurrences_with_before_and_after(seed, database_url):
    wrong, _ = seed.group(occurrences=3, counter=5)
    right, _ = seed.group(occurrences=2, counter=2)
    result = run(database_url, check="medic", chunk_rows=10)
    assert not result.failed
    assert seed.get(ErrorGroup, wrong).occurrence_count == 3
    assert seed.get(ErrorGroup, right).occurrence_count == 2
    (entry,) = entries(seed, "medic:group-counts")
    assert (entry.subject, entry.action, entry.before, entry.after) == (
        f"error_groups:{wrong}", "fixed", {"occurrence_count": 5}, {"occurrence_count": 3})
    assert result.counts["medic:group-counts.fixed"] == 1
    assert run(database_url, check="medic").counts["found"] == 0  # idempotent


def test_counters_across_chunks_stop_at_the_per_run_maximum(seed, database_url):
    wrong = [seed.group(occurrences=1, counter=9)[0] for _ in range(5)]
    result = run(database_url, check="medic", chunk_rows=10, own_max_rows=3)
    assert result.counts["medic:group-counts.fixed"] == 3 and result.counts["medic:group-counts.truncated"] == 1
    assert [seed.get(ErrorGroup, g).occurrence_count for g in wrong] == [1, 1, 1, 9, 9]
    assert run(database_url, check="medic", chunk_rows=10, own_max_rows=3).counts["medic:group-counts.fixed"] == 2


def test_attempt_claims_are_made_consistent_and_audited(seed, database_url):
    unclaimed = seed.execution("running",
                               {"state": "running", "claimed_by": None, "claimed_at": None, "deadline_at": None})
    stray = seed.execution("waiting", {"state": "scheduled", "claimed_by": "worker:h:1", "claimed_at": NOW})
    run(database_url, check="medic")
    (given_up,) = seed.all(select(Attempt).where(Attempt.execution_id == unclaimed))
    assert given_up.state == "running" and given_up.claimed_by == "reconciler" and given_up.deadline_at == NOW
    (cleared,) = seed.all(select(Attempt).where(Attempt.execution_id == stray))
    assert (cleared.state, cleared.claimed_by, cleared.claimed_at, cleared.deadline_at) == ("scheduled", None, None,
                                                                                            None)
    audit = seed.all(select(AuditEntry).where(AuditEntry.actor == "reconciler").order_by(AuditEntry.id))
    assert [(a.execution_id, a.action) for a in audit] == [(unclaimed, "reconciled"), (stray, "reconciled")]
    assert {e.action for e in entries(seed, "medic:attempt-claims")} == {"fixed"}


def test_execution_states_agree_with_their_attempts(seed, database_url):
    finished = seed.execution("succeeded", "succeeded", "scheduled")
    old_run = seed.execution("waiting", {"state": "scheduled", "run": 1}, {"state": "scheduled", "run": 2}, run=2)
    claimed = seed.execution("waiting", "failed", "running")
    idle = seed.execution("running", "failed", "scheduled")
    stuck = seed.execution("waiting", "failed")
    healthy = [seed.execution("waiting", "failed", "scheduled"), seed.execution("running", "running"),
               seed.execution("pending", "scheduled"), seed.execution("dead", "failed")]
    result = run(database_url, check="medic")
    assert not result.failed
    states = {e: [a.state for a in seed.all(select(Attempt).where(Attempt.execution_id == e).order_by(Attempt.id))]
              for e in (finished, old_run)}
    assert states == {finished: ["succeeded", "cancelled"], old_run: ["cancelled", "scheduled"]}
    assert seed.get(Execution, claimed).state == "running"
    assert seed.get(Execution, idle).state == "waiting" and seed.get(Execution, idle).next_attempt_at == NOW
    assert seed.get(Execution, stuck).state == "waiting"  # the stuck job's to remedy
    by_subject = {e.subject: e for e in entries(seed, "medic:execution-states")}
    assert {s: e.action for s, e in by_subject.items()} == {
        f"executions:{finished}": "fixed", f"executions:{old_run}": "fixed", f"executions:{claimed}": "fixed",
        f"executions:{idle}": "fixed", f"executions:{stuck}": "deferred"}
    assert by_subject[f"executions:{idle}"].before["state"] == "running"
    assert by_subject[f"executions:{idle}"].after["state"] == "waiting"
    audited = {a.execution_id for a in seed.all(select(AuditEntry).where(AuditEntry.actor == "reconciler"))}
    assert audited == {finished, old_run, claimed, idle}
    assert not audited & set(healthy)
    again = run(database_url, check="medic")
    assert (again.counts["found"], again.counts["deferred"]) == (1, 1)


def test_dry_run_and_fix_own_off_change_nothing(seed, database_url):
    wrong, _ = seed.group(occurrences=1, counter=4)
    finished = seed.execution("succeeded", "scheduled")
    dry = run(database_url, dry_run=True, check="medic")
    assert (dry.counts["dry_run"], dry.counts["fixed"]) == (2, 0)
    reported = run(database_url, check="medic", fix_own=False)
    assert (reported.counts["reported"], reported.counts["fixed"]) == (2, 0)
    assert seed.get(ErrorGroup, wrong).occurrence_count == 4
    assert [a.state for a in seed.all(select(Attempt).where(Attempt.execution_id == finished))] == ["scheduled"]
    assert not seed.all(select(AuditEntry).where(AuditEntry.actor == "reconciler"))
    alerts = seed.all(select(Notification).where(Notification.kind == "reconcile"))
    assert sorted(n.subject for n in alerts) == ["reconciliation check medic:execution-states: discrepancies not fixed",
                                                 "reconciliation check medic:group-counts: discrepancies not fixed"]
