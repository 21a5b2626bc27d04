"""Named leases in the database: a lock with an expiry, so a holder that died frees it by itself.

Used for single-flight periodic jobs across processes and hosts, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from workers.storage.types import UTCDateTime

_ACQUIRE = text(
    "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :expires_at) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.expires_at <= :now OR leases.holder = :holder RETURNING name"
).bindparams(bindparam("expires_at", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime()))
_RELEASE = text("DELETE FROM leases WHERE name = :name AND holder = :holder")


def acquire(session: Session, name: str, holder: str, *, now: datetime, ttl_s: float) -> bool:
    """Take or renew the lease; False while someone else holds an unexpired one. Commits."""
    params = {"name": name, "holder": holder, "now": now, "expires_at": now + timedelta(seconds=ttl_s)}
    won = session.execute(_ACQUIRE, params).scalar_one_or_none() is not None
    session.commit()
    return won


def release(session: Session, name: str, holder: str) -> None:
    session.execute(_RELEASE, {"name": name, "holder": holder})
    session.commit()
