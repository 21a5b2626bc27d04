"""Migration 0006 on a database with history: executions that never tried anything stop being
dead letters (deleted, their occurrences and notifications kept); every other execution stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, insert, select

from tests.support.databases import database_at
from workers.storage import migrate
from workers.storage.db import engine_for, session_factory
from workers.storage.models import (
    Attempt,
    AuditEntry,
    ErrorGroup,
    Execution,
    GroupSignal,
    Notification,
    Occurrence,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PLAN = {"name": "needs-a-person", "steps": [{"kind": "escalate"}, {"kind": "dead_letter"}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0005(request, tmp_path):
    """An empty database migrated to 0005 only."""
    with database_at(request.param, tmp_path, "0005") as url:
        yield url


def _history(url: str) -> dict[str, int]:
    """A group with one occurrence per execution; returns the execution ids by what they are."""
    sessions = session_factory(url)
    with sessions() as session:
        group = ErrorGroup(fingerprint="f" * 64, error_type="KeyError", message_template="'<str>'",
                           service="orders", operation=None, status="open", occurrence_count=7, first_seen=NOW,
                           last_seen=NOW, category="auth", severity="high", retryable=False, confidence=0.9,
                           rule_id="r")
        session.add(group)
        session.flush()
        ids: dict[str, int] = {}

        def execution(name: str, state: str, attempts: list[str], **extra) -> Execution:
            occurrence = Occurrence(group_id=group.id, delivery_id=f"d-{name}", received_at=NOW, occurred_at=NOW,
                                    message="'x'", event={"error_type": "KeyError", "service": "orders"},
                                    category="auth", severity="high", retryable=False, confidence=0.9, rule_id="r")
            session.add(occurrence)
            session.flush()
            row = Execution(group_id=group.id, occurrence_id=occurrence.id, plan_name="p", plan=PLAN,
                            service="orders", category="auth", state=state, run=1, step_index=0,
                            created_at=NOW, updated_at=NOW,
                            finished_at=NOW if state in ("dead", "failed", "succeeded") else None, **extra)
            session.add(row)
            session.flush()
            for index, kind in enumerate(attempts):  # only the columns attempts had at 0005 (Core, not the ORM)
                session.execute(insert(Attempt.__table__).values(
                    execution_id=row.id, run=1, step_index=index, step_kind=kind, number=1, dispatch_count=0,
                    state="succeeded" if kind in ("notify", "escalate") else "failed", scheduled_for=NOW,
                    finished_at=NOW))
            session.add(AuditEntry(execution_id=row.id, at=NOW, actor="worker:x", action="created", to_state=state))
            ids[name] = row.id
            return row

        untried = execution("untried_dead", "dead", ["escalate"])
        execution("untried_failed", "failed", [])
        execution("tried_dead", "dead", ["retry", "retry", "escalate"])
        execution("refused_dead", "dead", ["retry"], last_error="task x is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS")
        execution("compensated_dead", "dead", ["compensate", "notify"])
        execution("succeeded", "succeeded", ["retry"])
        execution("waiting", "pending", ["escalate"])
        replayed = execution("replayed_untried", "dead", ["escalate"])
        execution("replay", "dead", ["retry"], replay_of=replayed.id)
        session.add(Notification(created_at=NOW, channel="log", level="critical", kind="escalate", group_id=group.id,
                                 execution_id=untried.id, dedup_key="k", subject="s", body={}, state="sent",
                                 attempts=1, sent_at=NOW + timedelta(seconds=1)))
        session.commit()
    return ids


def test_untried_finished_executions_are_forgotten_the_rest_stays(at_0005):
    ids = _history(at_0005)
    migrate.upgrade(at_0005)
    assert migrate.current_revision(at_0005) == migrate.head_revision(at_0005)
    with session_factory(at_0005)() as session:
        left = set(session.scalars(select(Execution.id)))
        assert left == {ids[name] for name in ids} - {ids["untried_dead"], ids["untried_failed"]}
        gone = (ids["untried_dead"], ids["untried_failed"])
        assert session.scalar(select(func.count()).select_from(Attempt).where(Attempt.execution_id.in_(gone))) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.execution_id.in_(gone))) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.execution_id.is_(None))) == 0  # none left orphaned
        # What was reported and what was told stay.
        assert session.scalar(select(func.count()).select_from(Occurrence)) == len(ids)
        notification = session.scalars(select(Notification)).one()
        assert notification.execution_id is None and notification.state == "sent"
        assert session.scalar(select(func.count()).select_from(GroupSignal)) == 0
        dead = set(session.scalars(select(Execution.id).where(Execution.state == "dead")))
        assert dead == {ids[name] for name in ("tried_dead", "refused_dead", "compensated_dead", "replayed_untried",
                                               "replay")}


def test_downgrade_to_0005_and_up_again_keeps_the_rest(at_0005):
    ids = _history(at_0005)
    migrate.upgrade(at_0005)
    config = migrate.alembic_config(at_0005)
    with engine_for(at_0005).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert migrate.current_revision(at_0005) == "0005"
    migrate.upgrade(at_0005)
    with session_factory(at_0005)() as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == len(ids) - 2
