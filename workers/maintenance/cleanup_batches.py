"""Deleting in bounded batches: one short transaction per batch, a pause between, a time budget.

A batch selects up to `batch_size` primary keys through the target's index, then deletes
those rows (checking the target's conditions again). Nothing holds a lock longer than one batch,
so intake's writes wait at most that long, and a run stopped anywhere leaves consistent data:
the next run selects what is left.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from workers.maintenance.cleanup_targets import Target, expired_group_ids, group_child_target
from workers.maintenance.job import JobContext
from workers.storage.db import rows_changed

# One batch: up to `limit` rows deleted -> (rows selected, rows deleted).
Batch = Callable[[int], "tuple[int, int]"]


def count(session: Session, target: Target) -> int:
    return session.scalar(select(func.count()).select_from(target.table).where(*target.where)) or 0


def begin_write(session: Session) -> None:
    """SQLite: take the write lock before selecting, so that a batch deletes what it selected
    (pysqlite would begin the transaction only at the DELETE). PostgreSQL locks rows as it goes."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))


def delete_ids(session: Session, target: Target, ids: list[int]) -> int:
    """Deletes those of `ids` that still meet the target's conditions, and commits."""
    deleted = rows_changed(session, delete(target.table).where(target.table.c.id.in_(ids), *target.where))
    session.commit()
    return deleted


def batches_of(sessions: sessionmaker[Session], target: Target) -> Batch:
    def batch(limit: int) -> tuple[int, int]:
        with sessions() as session:
            begin_write(session)
            ids = list(session.scalars(select(target.table.c.id).where(*target.where)
                                       .order_by(*target.order_by).limit(limit)))
            return len(ids), delete_ids(session, target, ids) if ids else 0
    return batch


def group_child_batches(sessions: sessionmaker[Session], kind: str, group_ids: list[int], cutoff: datetime) -> Batch:
    """Batches of the executions or occurrences of a chunk of groups.

    Each batch locks the groups its rows belong to and deletes only the rows of those still
    expired; a group that is not (reopened meanwhile) leaves the chunk.
    """
    remaining = set(group_ids)

    def batch(limit: int) -> tuple[int, int]:
        if not remaining:
            return 0, 0
        with sessions() as session:
            begin_write(session)
            target = group_child_target(kind, sorted(remaining))
            rows = session.execute(select(target.table.c.id, target.table.c.group_id).where(*target.where)
                                   .order_by(*target.order_by).limit(limit)).all()
            seen = sorted({group_id for _, group_id in rows})
            expired = set(expired_group_ids(session, cutoff, among=seen, lock=True)) if seen else set()
            remaining.difference_update(set(seen) - expired)
            ids = [row_id for row_id, group_id in rows if group_id in expired]
            return len(rows), delete_ids(session, group_child_target(kind, sorted(expired)), ids) if ids else 0
    return batch


class BatchDeleter:
    """Runs batches until a target is drained or the time budget is spent; counts what it deleted."""

    def __init__(self, ctx: JobContext, *, batch_size: int, pause_s: float, deadline: datetime, total: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ctx, self.batch_size, self.pause_s, self.deadline, self.total = ctx, batch_size, pause_s, deadline, total
        self.sleep = sleep
        self.deleted: Counter[str] = Counter()
        self.batches = 0

    def drain(self, kind: str, batch: Batch) -> bool:
        """Delete batch after batch until one comes back short. False: stopped by the time budget."""
        while True:
            if self.ctx.now() >= self.deadline:
                return False
            selected, deleted = batch(self.batch_size)
            if selected == 0:
                return True
            self.batches += 1
            self.deleted[kind] += deleted
            done = sum(self.deleted.values())
            self.ctx.progress(done, max(self.total, done), kind)
            if self.pause_s:
                self.sleep(self.pause_s)
            if selected < self.batch_size:
                return True
