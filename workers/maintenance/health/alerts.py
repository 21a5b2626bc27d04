"""The alerts table: open, refresh, resolve and acknowledge alerts, and notify their channel.

Life cycle of an alert, one per (rule, subject) that is not resolved:
- a rule fires with no such alert: one opens, and a notification goes out at the alert's level;
- it keeps firing: last_seen_at, level, summary and detail follow it, nobody is notified again;
- an operator acknowledges it: it stays until the rule clears, still without notifications;
- the rule no longer fires: it is resolved (acknowledged or not), with an info notification.
Notifications go through the queue with MEDIC_NOTIFICATION_COOLDOWN_S, so a flapping rule is not
announced on every snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.channels import Level
from config.errors import InvalidTransition, NotFound
from workers.maintenance.health.rules import Firing
from workers.masking import mask_text
from workers.notify.message import Message, json_safe
from workers.notify.queue import enqueue
from workers.storage.db import rows_changed
from workers.storage.models import Alert

log = logging.getLogger("medic.health")

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
ACTIVE = (OPEN, ACKNOWLEDGED)
KIND = "alert"


@dataclass(frozen=True)
class Notifier:
    channel: str
    cooldown_s: float


@dataclass(frozen=True)
class Changes:
    opened: int = 0
    refreshed: int = 0
    resolved: int = 0


def sync(session: Session, firing: list[Firing], *, now: datetime, notifier: Notifier) -> Changes:
    """Bring the alerts in line with what fires now, in the caller's transaction."""
    active = {(alert.rule, alert.subject): alert
              for alert in session.scalars(select(Alert).where(Alert.state.in_(ACTIVE)))}
    opened = refreshed = 0
    for fire in firing:
        alert = active.pop(fire.key, None)
        if alert is None:
            _open(session, fire, now, notifier)
            opened += 1
        else:
            alert.last_seen_at, alert.level, alert.summary = now, fire.level, fire.summary
            alert.detail = json_safe(fire.detail)
            refreshed += 1
    for alert in active.values():  # no longer firing
        _resolve(session, alert, now, notifier)
    session.flush()
    return Changes(opened, refreshed, len(active))


def _open(session: Session, fire: Firing, now: datetime, notifier: Notifier) -> None:
    alert = Alert(rule=fire.rule, subject=fire.subject, state=OPEN, level=fire.level, summary=fire.summary,
                  detail=json_safe(fire.detail), opened_at=now, last_seen_at=now)
    session.add(alert)
    session.flush()
    log.info("alert opened", extra={"alert_id": alert.id, "rule": alert.rule, "subject": alert.subject,
                                       "level": alert.level, "summary": alert.summary})
    _notify(session, alert, f"alert {alert.rule}: {alert.subject}", fire.level,
            {"summary": alert.summary, "rule": alert.rule, "subject": alert.subject, "alert": alert.id,
             **{key: value for key, value in fire.detail.items() if key in ("value", "threshold")}}, now, notifier)


def _resolve(session: Session, alert: Alert, now: datetime, notifier: Notifier) -> None:
    opened_for_s = (now - alert.opened_at).total_seconds()
    alert.state, alert.resolved_at = RESOLVED, now
    log.info("alert resolved", extra={"alert_id": alert.id, "rule": alert.rule, "subject": alert.subject})
    _notify(session, alert, f"resolved {alert.rule}: {alert.subject}", "info",
            {"summary": f"{alert.rule} no longer fires for {alert.subject}", "was": alert.summary, "alert": alert.id,
             "open_for_s": round(opened_for_s)}, now, notifier)


def _notify(session: Session, alert: Alert, subject: str, level: Level, fields: dict, now: datetime,
            notifier: Notifier) -> None:
    # The subject names the rule and what it is about, not the changing numbers: the cooldown keys on it.
    enqueue(session, Message(subject=subject, level=level, kind=KIND, fields=fields),
            channel=notifier.channel, now=now, cooldown_s=notifier.cooldown_s)


def acknowledge(session: Session, alert_id: int, *, actor: str, reason: str | None,
                now: datetime) -> tuple[Alert, bool]:
    """Acknowledge an open alert; (alert, False) when it was acknowledged already. Commits."""
    acknowledging = (update(Alert).where(Alert.id == alert_id, Alert.state == OPEN)
                     .values(state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor,
                             acknowledged_reason=mask_text(reason) if reason else None)
                     .execution_options(synchronize_session=False))
    changed = rows_changed(session, acknowledging) == 1
    session.commit()
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.state == RESOLVED:
        raise InvalidTransition(f"alert {alert_id} ({alert.rule}: {alert.subject}) was resolved at "
                                f"{alert.resolved_at:%Y-%m-%d %H:%M:%S} UTC: there is nothing to acknowledge")
    if changed:
        log.info("alert acknowledged", extra={"alert_id": alert_id, "actor": actor, "reason": reason})
    return alert, changed


def list_alerts(session: Session, *, states: tuple[str, ...] = ACTIVE, limit: int = 50) -> list[Alert]:
    """Newest first."""
    return list(session.scalars(select(Alert).where(Alert.state.in_(states)).order_by(Alert.id.desc()).limit(limit)))
