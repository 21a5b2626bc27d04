"""Delivering queued notifications: ask a worker to deliver one, and deliver one through its channel.

A notification is queued (workers/notify/queue.py) in the transaction that decided it; after the
commit its writer asks a worker to deliver it. A request that is lost, or a delivery its channel
refused, is picked up again from the queue by recovery's sweeper.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

import httpx
from sqlalchemy.orm import Session

from config.settings import Settings
from workers.notify import queue
from workers.notify.channels import DeliveryFailed, deliver, level_passes
from workers.notify.message import Message

log = logging.getLogger("medic.notify")

SENT, REFUSED, NOT_DUE, BELOW_LEVEL = "sent", "refused", "not due", "below the channel's level"


class DeliverySender(Protocol):
    """Sends the message that asks a worker to deliver a notification (Celery's medic.recovery.deliver)."""

    def deliver(self, notification_id: int, token: datetime | None = None) -> None: ...


def request_delivery(sender: DeliverySender, notification_id: int, token: datetime | None = None) -> None:
    """Ask a worker to deliver a committed notification; a failure is logged and left to the sweeper.

    `token`: the lease the sweeper took on it (queue.lease_due), None for a notification just queued."""
    try:
        sender.deliver(notification_id, token)
    except Exception as exc:
        log.warning("could not send notification; the sweeper will", extra={
            "notification_id": notification_id, "error": f"{type(exc).__name__}: {exc}"})


def deliver_queued(session: Session, notification_id: int, *, settings: Settings, now: datetime,
                   http: httpx.Client, token: datetime | None = None) -> str:
    """Send one queued notification through its channel, once; a refusal reschedules it with backoff.

    Returns what happened: SENT, REFUSED, NOT_DUE (another deliverer has it, or it is done) or
    BELOW_LEVEL (its channel takes only louder ones: done without sending)."""
    row = queue.claim(session, notification_id, now=now, token=token)
    if row is None:
        return NOT_DUE
    retry_max_delay_s = settings.notification_retry_max_delay_s
    config = settings.channels.get(row.channel)
    if config is None:
        queue.mark_refused(session, row, f"channel {row.channel!r} is not configured (MEDIC_CHANNELS)", now=now,
                           max_delay_s=retry_max_delay_s)
        return REFUSED
    if not level_passes(config, row.level):
        queue.mark_sent(session, row, now=now)
        return BELOW_LEVEL
    try:
        deliver(row.channel, config, Message.from_dict(row.body), http=http)
    except DeliveryFailed as exc:
        retry_at = queue.mark_refused(session, row, str(exc), now=now, retry_after_s=exc.retry_after_s,
                                      max_delay_s=retry_max_delay_s)
        log.warning("notification refused; will retry", extra={
            "notification_id": row.id, "channel": row.channel, "error": str(exc), "retry_at": retry_at.isoformat()})
        return REFUSED
    queue.mark_sent(session, row, now=now)
    return SENT
