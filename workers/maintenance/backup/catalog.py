"""The backups table: the registry of archives medic made and what their last verification found.

`last_good` is the newest archive verified ok and not deleted. The health job and /metrics read the
same thing with their own query (workers.maintenance.health.queries.last_good_backup_at).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.errors import NotFound
from workers.storage.models import Backup

UNVERIFIED, OK, FAILED, MISSING = "unverified", "ok", "failed", "missing"
_COLUMNS = ("name", "path", "created_at", "database_kind", "size_bytes", "sha256", "manifest", "verification",
            "verified_at", "verification_detail", "deleted_at")


def register(session: Session, *, name: str, path: Path, created_at: datetime, database_kind: str, size_bytes: int,
             sha256: str, manifest: dict[str, Any]) -> Backup:
    row = Backup(name=name, path=str(path), created_at=created_at, database_kind=database_kind,
                 size_bytes=size_bytes, sha256=sha256, manifest=manifest, verification=UNVERIFIED)
    session.add(row)
    session.commit()
    return row


def record_verification(session: Session, backup_id: int, *, status: str, detail: str, now: datetime) -> None:
    session.execute(update(Backup).where(Backup.id == backup_id)
                    .values(verification=status, verification_detail=detail, verified_at=now))
    session.commit()


def mark_deleted(session: Session, backup_id: int, *, now: datetime) -> None:
    session.execute(update(Backup).where(Backup.id == backup_id).values(deleted_at=now))
    session.commit()


def get(session: Session, name: str) -> Backup:
    row = session.scalar(select(Backup).where(Backup.name == name))
    if row is None:
        raise NotFound(f"no backup named {name!r}: `medic backup list --all` shows them")
    return row


def by_path(session: Session, path: Path) -> Backup | None:
    return session.scalar(select(Backup).where(Backup.path == str(path)).order_by(Backup.id.desc()).limit(1))


def name_taken(session: Session, name: str) -> bool:
    return session.scalar(select(Backup.id).where(Backup.name == name)) is not None


def listed(session: Session, *, include_deleted: bool = False) -> list[Backup]:
    """Newest first."""
    query = select(Backup).order_by(Backup.created_at.desc(), Backup.id.desc())
    if not include_deleted:
        query = query.where(Backup.deleted_at.is_(None))
    return list(session.scalars(query))


def last_good(session: Session) -> Backup | None:
    return session.scalar(select(Backup).where(Backup.verification == OK, Backup.deleted_at.is_(None))
                          .order_by(Backup.created_at.desc(), Backup.id.desc()).limit(1))


def export_rows(session: Session) -> list[dict[str, Any]]:
    return [{column: getattr(row, column) for column in _COLUMNS} for row in listed(session, include_deleted=True)]


def import_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Write rows exported before an in-place restore back over the restored registry, matched by name:
    the archives on disk did not change when the database went back in time."""
    for values in rows:
        row = session.scalar(select(Backup).where(Backup.name == values["name"]))
        if row is None:
            session.add(Backup(**values))
        else:
            for column, value in values.items():
                setattr(row, column, value)
    session.commit()
    return len(rows)


def newest_since(session: Session, moment: datetime) -> Backup | None:
    return session.scalar(select(Backup).where(Backup.created_at >= moment)
                          .order_by(Backup.created_at.desc(), Backup.id.desc()).limit(1))
