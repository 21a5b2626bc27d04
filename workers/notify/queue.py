"""The persistent notification queue: enqueue with a cooldown, claim what is due, record tries.

A notification its channel refuses stays pending and is tried again with backoff; nothing is
dropped. Claiming pushes `next_attempt_at` ahead, so two deliverers never send the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workers.backoff import backoff_delay_s
from workers.masking import mask_text
from workers.notify.message import Message
from workers.storage.db import rows_changed
from workers.storage.models import Notification

PENDING, SENT, SUPPRESSED = "pending", "sent", "suppressed"
# A claimed notification is not handed out again for this long (the deliverer may have died).
CLAIM_S = 60
# First wait after a refused delivery; doubles up to MEDIC_NOTIFICATION_RETRY_MAX_DELAY_S.
RETRY_INITIAL_S = 5


def dedup_key(message: Message, channel: str) -> str:
    subject = f"group:{message.group_id}" if message.group_id is not None else f"subject:{mask_text(message.subject)}"
    return f"{message.kind}:{subject}:{channel}:{message.level}"


def enqueue(session: Session, message: Message, *, channel: str, now: datetime, cooldown_s: float) -> Notification:
    """Queue a notification, or store it as suppressed when the same one went out within the cooldown."""
    key = dedup_key(message, channel)
    recent = session.scalar(select(Notification.id).where(
        Notification.dedup_key == key, Notification.state.in_((PENDING, SENT)),
        Notification.created_at >= now - timedelta(seconds=cooldown_s)).limit(1))
    data = message.to_dict()
    row = Notification(created_at=now, channel=channel, level=message.level, kind=message.kind,
                       group_id=message.group_id, execution_id=message.execution_id, dedup_key=key,
                       subject=data["subject"], body=data, state=SUPPRESSED if recent else PENDING, attempts=0,
                       next_attempt_at=None if recent else now)
    session.add(row)
    session.flush()
    return row


def claim(session: Session, notification_id: int, *, now: datetime,
          token: datetime | None = None) -> Notification | None:
    """Take a pending notification for delivery: a due one, or the one the sweeper leased with `token`."""
    condition = Notification.next_attempt_at == token if token else Notification.next_attempt_at <= now
    changed = rows_changed(session, update(Notification)
                           .where(Notification.id == notification_id, Notification.state == PENDING, condition)
                           .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
                           .execution_options(synchronize_session=False))
    session.commit()
    return session.get(Notification, notification_id) if changed == 1 else None


def lease_due(session: Session, *, now: datetime, limit: int) -> list[tuple[int, datetime]]:
    """Lease due notifications to deliverers: (id, token) pairs; a message without the token no longer claims."""
    token = now + timedelta(seconds=CLAIM_S)
    leased = []
    for notification_id, due_at in session.execute(
            select(Notification.id, Notification.next_attempt_at)
            .where(Notification.state == PENDING, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at).limit(limit)).all():
        changed = rows_changed(session, update(Notification)
                               .where(Notification.id == notification_id, Notification.next_attempt_at == due_at)
                               .values(next_attempt_at=token).execution_options(synchronize_session=False))
        if changed == 1:
            leased.append((notification_id, token))
    session.commit()
    return leased


def mark_sent(session: Session, row: Notification, *, now: datetime) -> None:
    row.state, row.sent_at, row.attempts, row.next_attempt_at = SENT, now, row.attempts + 1, None
    session.commit()


def mark_refused(session: Session, row: Notification, error: str, *, now: datetime, max_delay_s: float,
                 retry_after_s: float | None = None) -> datetime:
    delay_s = backoff_delay_s(row.attempts, initial_s=RETRY_INITIAL_S, max_s=max_delay_s, jitter="equal")
    row.attempts += 1
    row.last_error = error
    row.next_attempt_at = now + timedelta(seconds=max(delay_s, retry_after_s or 0))
    session.commit()
    return row.next_attempt_at


def list_notifications(session: Session, *, state: str | None = None, limit: int = 50) -> list[Notification]:
    query = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    if state:
        query = query.where(Notification.state == state)
    return list(session.scalars(query))
