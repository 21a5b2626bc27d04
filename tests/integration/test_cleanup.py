"""The cleanup job deletes exactly what is past retention, on SQLite and PostgreSQL.

Every kind of record is seeded one second on each side of its cutoff (and the cases kept on
purpose: open groups however old, groups with an execution still going, pending notifications,
the latest run of each job, audit rows of executions that still exist). Each retention differs,
so a kind cleaned with another's cutoff shows.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from config.errors import ConfigError
from config.jobs.cleanup import CleanupSettings
from config.settings import Settings
from workers.maintenance import cleanup, runs
from workers.maintenance.cleanup_batches import group_child_batches
from workers.maintenance.cleanup_policy import RETENTION_DAYS
from workers.maintenance.job import JobContext
from workers.maintenance.runner import run_job
from workers.storage.db import session_factory
from workers.storage.models import (
    Alert,
    Attempt,
    AuditEntry,
    BreakerTransition,
    ErrorGroup,
    Execution,
    HealthSnapshot,
    MaintenanceRun,
    Notification,
    Occurrence,
    ReconciliationEntry,
    RejectedEvent,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LONG_AGO = NOW - timedelta(days=3650)
RETENTION = {"resolved_groups_days": 90, "finished_executions_days": 30, "audit_days": 365,
             "rejected_events_days": 31, "maintenance_runs_days": 60, "health_snapshots_days": 14,
             "notifications_days": 20, "resolved_alerts_days": 45, "breaker_transitions_days": 50,
             "reconciliation_log_days": 70}
TABLES = ("error_groups", "occurrences", "executions", "attempts", "execution_audit", "rejected_events",
          "maintenance_runs", "health_snapshots", "notifications", "alerts", "breaker_transitions",
          "reconciliation_log")
_serial = itertools.count()


def cutoff(kind: str) -> datetime:
    return NOW - timedelta(days=RETENTION[RETENTION_DAYS[kind]])


def expired(kind: str) -> datetime:
    return cutoff(kind) - SECOND


def kept(kind: str) -> datetime:
    return cutoff(kind) + SECOND


def settings_for(database_url: str, tmp_path, broker_url: str = "memory://", **cleanup_fields) -> Settings:
    fields = {**RETENTION, "batch_size": 1000, "pause_between_batches_ms": 0, **cleanup_fields}
    return Settings(database_url=database_url, broker_url=broker_url, data_dir=tmp_path,
                    cleanup=CleanupSettings(**fields))


class Seed:
    """Rows of every kind, each recorded as expected to go or to stay."""

    def __init__(self, session):
        self.session = session
        self.gone: dict[str, set[int]] = defaultdict(set)
        self.stays: dict[str, set[int]] = defaultdict(set)
        self.deleted: dict[str, int] = defaultdict(int)  # the job's count key -> rows
        self.orphans: set[int] = set()  # audit rows whose execution goes
        self.unlinked: dict[str, set[int]] = defaultdict(set)  # table -> rows whose reference is set to NULL

    def add(self, row, *, gone: bool = False, counted_as: str | None = None):
        self.session.add(row)
        self.session.flush()
        (self.gone if gone else self.stays)[row.__tablename__].add(row.id)
        if gone and counted_as:
            self.deleted[counted_as] += 1
        return row

    def group(self, *, status: str, last_seen: datetime, gone: bool = False) -> ErrorGroup:
        n = next(_serial)
        return self.add(ErrorGroup(fingerprint=f"fp-{n}", error_type="KeyError", message_template="'x'",
                                   service="billing",
                                   operation=None, status=status, occurrence_count=1, first_seen=last_seen,
                                   last_seen=last_seen, **_triage()), gone=gone, counted_as="groups")

    def occurrence(self, group: ErrorGroup, *, gone: bool = False) -> Occurrence:
        n = next(_serial)
        return self.add(Occurrence(group_id=group.id, delivery_id=f"d-{n}", idempotency_key=None,
                                   received_at=group.last_seen, occurred_at=group.last_seen, source=None,
                                   message="'x'", event={"n": n}, **_triage()), gone=gone,
                                   counted_as="group_occurrences")

    def execution(self, group: ErrorGroup, *, state: str, finished_at: datetime | None,
                  updated_at: datetime | None = None,
                  gone: bool = False, counted_as: str = "executions", attempts: int = 2) -> Execution:
        occurrence = self.occurrence(group, gone=gone and counted_as == "group_executions")
        changed = updated_at or finished_at or LONG_AGO
        execution = self.add(Execution(group_id=group.id, occurrence_id=occurrence.id, plan_name="p", plan={},
                                       service="billing", category="internal", state=state, run=1, step_index=0,
                                       created_at=LONG_AGO, updated_at=changed, finished_at=finished_at),
                             gone=gone, counted_as=counted_as)
        for number in range(1, attempts + 1):
            self.add(Attempt(execution_id=execution.id, run=1, step_index=0, step_kind="retry", number=number,
                             state="failed", scheduled_for=LONG_AGO, dispatch_count=1), gone=gone)
        # Audit rows outlive their execution (SET NULL); these are young enough to stay.
        entry = self.add(AuditEntry(execution_id=execution.id, at=kept("audit"), actor="worker:test", action="created"))
        if gone:
            self.orphans.add(entry.id)
        return execution

    def audit(self, *, execution_id: int | None, at: datetime, gone: bool = False) -> None:
        entry = self.add(AuditEntry(execution_id=execution_id, at=at, actor="operator:test", action="group_resolved"),
                         gone=gone, counted_as="audit")
        if execution_id is None and not gone:
            self.orphans.add(entry.id)

    def run(self, job: str, *, started_at: datetime, gone: bool = False) -> MaintenanceRun:
        return self.add(MaintenanceRun(job=job, trigger="beat", host="h:1", status="succeeded", started_at=started_at,
                                       finished_at=started_at, counts={}), gone=gone, counted_as="maintenance_runs")

    def notification(self, *, state: str, created_at: datetime, gone: bool = False, group_id=None, execution_id=None):
        n = next(_serial)
        row = self.add(Notification(created_at=created_at, channel="log", level="error", kind="notify",
                                    group_id=group_id, execution_id=execution_id, dedup_key=f"k-{n}", subject="s",
                                    body={}, state=state, attempts=0), gone=gone, counted_as="notifications")
        if group_id or execution_id:
            self.unlinked["notifications"].add(row.id)

    def alert(self, *, state: str, resolved_at: datetime | None, gone: bool = False) -> None:
        self.add(Alert(rule="breaker_open", subject="billing", state=state, level="warning", summary="s", detail={},
                       opened_at=LONG_AGO, last_seen_at=LONG_AGO, resolved_at=resolved_at), gone=gone,
                       counted_as="alerts")

    def reconciliation(self, *, at: datetime, run_id: int | None = None, gone: bool = False) -> ReconciliationEntry:
        return self.add(ReconciliationEntry(run_id=run_id, check_name="own", at=at, subject="error_groups:1",
                                            action="fixed"), gone=gone, counted_as="reconciliation_log")


def _triage() -> dict:
    return {"category": "internal", "severity": "high", "retryable": False, "confidence": 1.0, "rule_id": "r"}


def seed_everything(database_url: str) -> Seed:
    with session_factory(database_url)() as session:
        seed = Seed(session)
        # Resolved groups past retention go with their occurrences, executions (finished recently
        # or not), attempts; their audit rows and notifications stay, without them.
        for size in (1, 2, 5):
            group = seed.group(status="resolved", last_seen=expired("groups"), gone=True)
            for _ in range(size):
                seed.execution(group, state="succeeded", finished_at=kept("executions"), gone=True,
                               counted_as="group_executions")
            seed.occurrence(group, gone=True)
            seed.notification(state="pending", created_at=LONG_AGO, group_id=group.id)
        seed.occurrence(seed.group(status="resolved", last_seen=kept("groups")))
        seed.occurrence(seed.group(status="resolved", last_seen=cutoff("groups")))
        busy = seed.group(status="resolved", last_seen=expired("groups"))  # an execution still going
        seed.execution(busy, state="waiting", finished_at=None)
        seed.execution(busy, state="dead", finished_at=kept("executions"))

        # Finished executions past retention go with their attempts, in an open group however old.
        old_open = seed.group(status="open", last_seen=LONG_AGO)
        seed.occurrence(old_open)
        for state in ("succeeded", "failed", "dead", "cancelled"):
            seed.execution(old_open, state=state, finished_at=expired("executions"), gone=True)
            seed.execution(old_open, state=state, finished_at=kept("executions"))
        doomed = seed.execution(old_open, state="dead", finished_at=expired("executions"), gone=True, attempts=0)
        seed.notification(state="sent", created_at=kept("notifications"), execution_id=doomed.id)
        seed.execution(old_open, state="waiting", finished_at=None)
        seed.execution(old_open, state="running", finished_at=None)
        # finished long ago, but an operator changed it recently
        seed.execution(old_open, state="failed", finished_at=expired("executions"), updated_at=kept("executions"))

        # Audit rows past retention go when their execution is gone; with it, they stay.
        seed.audit(execution_id=None, at=expired("audit"), gone=True)
        seed.audit(execution_id=None, at=kept("audit"))
        living = seed.execution(old_open, state="waiting", finished_at=None)
        seed.audit(execution_id=living.id, at=LONG_AGO)

        seed.add(RejectedEvent(delivery_id="r-old", received_at=expired("rejected_events"), reason="bad", payload="{}",
                               payload_bytes=2), gone=True, counted_as="rejected_events")
        seed.add(RejectedEvent(delivery_id="r-new", received_at=kept("rejected_events"), reason="bad", payload="{}",
                               payload_bytes=2))

        # Run rows past retention go, except the latest of each job.
        old_stuck = seed.run("stuck", started_at=expired("maintenance_runs") - SECOND, gone=True)
        seed.run("stuck", started_at=expired("maintenance_runs"))
        seed.run("backup", started_at=LONG_AGO)
        seed.run("health", started_at=expired("maintenance_runs"), gone=True)
        seed.run("health", started_at=kept("maintenance_runs"))
        entry = seed.reconciliation(at=kept("reconciliation_log"), run_id=old_stuck.id)  # stays, without its run
        seed.unlinked["reconciliation_log"].add(entry.id)

        for at, gone in ((expired("health_snapshots"), True), (kept("health_snapshots"), False)):
            seed.add(HealthSnapshot(taken_at=at, status="healthy", metrics={}, reasons={}), gone=gone,
                     counted_as="health_snapshots")
        for state in ("sent", "suppressed"):
            seed.notification(state=state, created_at=expired("notifications"), gone=True)
            seed.notification(state=state, created_at=kept("notifications"))
        seed.notification(state="pending", created_at=LONG_AGO)
        seed.alert(state="resolved", resolved_at=expired("alerts"), gone=True)
        seed.alert(state="resolved", resolved_at=kept("alerts"))
        seed.alert(state="open", resolved_at=None)
        seed.alert(state="acknowledged", resolved_at=None)
        for at, gone in ((expired("breaker_transitions"), True), (kept("breaker_transitions"), False)):
            seed.add(BreakerTransition(service="billing", at=at, from_state="closed", to_state="open", reason="r",
                                       actor="worker:test"), gone=gone, counted_as="breaker_transitions")
        seed.reconciliation(at=expired("reconciliation_log"), gone=True)
        seed.reconciliation(at=kept("reconciliation_log"))
        session.commit()
    return seed


def ids(database_url: str, table: str) -> set[int]:
    with session_factory(database_url)() as session:
        return set(session.scalars(text(f"SELECT id FROM {table}")))


def assert_exactly_expired_gone(database_url: str, seed: Seed) -> None:
    for table in TABLES:
        present = ids(database_url, table)
        assert not present & seed.gone[table], f"{table}: expired rows left"
        assert seed.stays[table] <= present, f"{table}: rows within retention deleted"
    with session_factory(database_url)() as session:
        assert set(session.scalars(select(AuditEntry.id).where(AuditEntry.execution_id.is_(None)))) == seed.orphans
        unlinked = {"notifications": set(session.scalars(select(Notification.id).where(
                        Notification.group_id.is_(None), Notification.execution_id.is_(None)))),
                    "reconciliation_log": set(session.scalars(select(ReconciliationEntry.id).where(
                        ReconciliationEntry.run_id.is_(None))))}
    for table, rows in seed.unlinked.items():
        assert rows <= unlinked[table], table


def expected_counts(seed: Seed) -> dict[str, int]:
    return {kind: seed.deleted.get(kind, 0)
            for kind in (*RETENTION_DAYS, "group_executions", "group_occurrences")}


def context(settings: Settings, **fields) -> JobContext:
    return JobContext(settings=settings, sessions=session_factory(settings.database_url),
                      **{"clock": lambda: NOW, **fields})


@pytest.mark.parametrize("through, batch_size", [("run_job", 2), ("function", 1000)])
def test_cleanup_deletes_exactly_what_is_past_retention(database_url, tmp_path, through, batch_size):
    seed = seed_everything(database_url)
    settings = settings_for(database_url, tmp_path, batch_size=batch_size)
    if through == "run_job":
        outcome = run_job("cleanup", settings, trigger="cli", clock=lambda: NOW)
        assert outcome.run.status == runs.SUCCEEDED, outcome.run.error
        result = outcome.result
    else:
        result = cleanup.run(context(settings))
    assert_exactly_expired_gone(database_url, seed)
    counts = dict(result.counts)
    batches = counts.pop("batches")
    assert counts == expected_counts(seed)
    assert batches >= sum(counts.values()) // batch_size
    if batch_size == 2:
        assert batches > len(RETENTION_DAYS)  # several per kind

    again = cleanup.run(context(settings))
    assert sum(again.counts.values()) == 0, again.counts
    assert again.summary == "nothing past retention"


def test_dry_run_counts_and_deletes_nothing(database_url, tmp_path):
    seed = seed_everything(database_url)
    settings = settings_for(database_url, tmp_path, batch_size=3)
    before = {table: ids(database_url, table) for table in TABLES}
    dry = cleanup.run(context(settings, dry_run=True))
    assert {table: ids(database_url, table) for table in TABLES} == before
    assert dry.counts == expected_counts(seed)
    assert dry.summary.startswith("dry run: would delete ")
    real = cleanup.run(context(settings))
    assert {k: v for k, v in real.counts.items() if k != "batches"} == dry.counts


def test_a_retention_of_zero_keeps_that_kind(database_url, tmp_path):
    seed = seed_everything(database_url)
    settings = settings_for(database_url, tmp_path, **dict.fromkeys(RETENTION, 0))
    result = cleanup.run(context(settings))
    assert result.counts == {"batches": 0}
    for table in TABLES:
        assert seed.gone[table] <= ids(database_url, table), table


def test_stops_at_its_time_budget_and_the_next_run_goes_on(database_url, tmp_path):
    seed = seed_everything(database_url)
    settings = settings_for(database_url, tmp_path, batch_size=1)
    soft_limit_s = settings.schedules["cleanup"].soft_time_limit_s
    calls = itertools.count()
    # Time passes only when asked: the 6th reading of the clock is past the budget.
    late = cleanup.run(context(settings,
                               clock=lambda: NOW if next(calls) < 6 else NOW + timedelta(seconds=soft_limit_s)))
    assert "stopped at the time budget" in late.summary
    assert 0 < late.counts["batches"] < sum(seed.deleted.values())
    rest = cleanup.run(context(settings))
    assert "stopped" not in rest.summary
    assert_exactly_expired_gone(database_url, seed)


def test_a_broker_retention_shorter_than_a_message_can_be_held_is_refused(database_url, tmp_path):
    embedded = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    settings = settings_for(database_url, tmp_path, broker_url=embedded, broker_delivered_retention_s=60)
    with pytest.raises(ConfigError, match="MEDIC_CLEANUP__BROKER_DELIVERED_RETENTION_S"):
        cleanup.run(context(settings))
    # Nothing is pruned from another broker: there the same retention is no reason to refuse.
    assert cleanup.run(context(settings_for(database_url, tmp_path, broker_delivered_retention_s=60))) is not None


def test_a_group_reopened_while_its_rows_are_being_deleted_keeps_what_it_still_has(database_url):
    sessions = session_factory(database_url)
    with sessions() as session:
        seed = Seed(session)
        group = seed.group(status="resolved", last_seen=expired("groups"))
        occurrences = [seed.occurrence(group).id for _ in range(5)]
        session.commit()
    batch = group_child_batches(sessions, "group_occurrences", [group.id], cutoff("groups"))
    assert batch(2) == (2, 2)
    with sessions() as session:  # a new occurrence arrives: intake reopens the group
        session.get(ErrorGroup, group.id).status = "open"
        session.commit()
    assert batch(2) == (2, 0)  # selected, left alone; the group leaves the chunk
    assert batch(2) == (0, 0)
    left = ids(database_url, "occurrences")
    assert len(left) == 3 and left <= set(occurrences)
