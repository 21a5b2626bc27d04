"""The health_snapshots table: take a snapshot (measure and judge), store it, read the latest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from workers.maintenance.health.metrics import Metrics, collect
from workers.maintenance.health.status import Assessment, Reason, evaluate
from workers.storage.models import HealthSnapshot


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    metrics: Metrics
    assessment: Assessment


def take(settings: Settings, sessions: sessionmaker[Session], *, now: datetime) -> Snapshot:
    metrics = collect(settings, sessions, now=now)
    return Snapshot(now, metrics, assess(metrics, settings))


def assess(metrics: Metrics, settings: Settings) -> Assessment:
    # Without a scheduled backup job no backup is expected, so its absence says nothing.
    return evaluate(metrics, settings.health, backups_expected=settings.schedules["backup"].enabled)


def record(session: Session, snapshot: Snapshot) -> HealthSnapshot:
    row = HealthSnapshot(taken_at=snapshot.taken_at, status=snapshot.assessment.status,
                         metrics=snapshot.metrics.to_dict(),
                         reasons={"items": [reason.to_dict() for reason in snapshot.assessment.reasons]})
    session.add(row)
    session.flush()
    return row


def latest(session: Session) -> Snapshot | None:
    row = session.scalar(select(HealthSnapshot).order_by(HealthSnapshot.taken_at.desc()).limit(1))
    if row is None:
        return None
    reasons = [Reason(**item) for item in row.reasons.get("items", [])]
    return Snapshot(row.taken_at, Metrics.from_dict(row.metrics), Assessment(row.status, reasons))
