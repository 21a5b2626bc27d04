"""Resolve or reopen an error group: row-locked and audited, the one implementation the CLI, the API and the
console call."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from config.errors import InvalidTransition, NotFound
from workers.clock import utcnow
from workers.recovery import store
from workers.recovery.store import Actor
from workers.storage.models import ErrorGroup

OPEN, RESOLVED = "open", "resolved"  # error_groups.status
STATUSES = (OPEN, RESOLVED)


class StatusChange(NamedTuple):
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def set_group_status(session: Session, group_id: int, status: str, *, actor: Actor, reason: str | None = None,
                     now: datetime | None = None) -> StatusChange:
    """Set the group's status and commit, with an audit row (no execution; it follows MEDIC_CLEANUP__AUDIT_DAYS).

    Resolved: the cleanup job deletes the group once last seen longer ago than MEDIC_CLEANUP__RESOLVED_GROUPS_DAYS;
    a new occurrence reopens it. Setting the status it has already changes and audits nothing."""
    if status not in STATUSES:
        raise InvalidTransition(f"unknown group status {status!r}; statuses are {', '.join(STATUSES)}")
    group = session.get(ErrorGroup, group_id, with_for_update=True)
    if group is None:
        raise NotFound(f"no error group with id {group_id}")
    before = group.status
    if before != status:
        group.status = status
        store.audit(session, None, at=now or utcnow(), actor=actor, action=f"group_{status}", from_state=before,
                    to_state=status, reason=reason, detail={"group_id": group_id})
        session.commit()
    else:
        session.rollback()  # let the row lock go
    return StatusChange(before, status)
