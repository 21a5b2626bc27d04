"""medic's own check: every error group's occurrence_count equals the number of its stored occurrences.

Groups are read in id order, a chunk at a time, each group's occurrences counted on the
occurrences(group_id, ...) index; a mismatch is fixed by a conditional update that loses to any
concurrent intake (which changes the counter and the occurrences in one transaction).
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import journal
from workers.storage.db import rows_changed
from workers.storage.models import ErrorGroup, Occurrence

CHECK = "medic:group-counts"

_STORED_COUNT = (select(func.count()).where(Occurrence.group_id == ErrorGroup.id)
                 .correlate(ErrorGroup).scalar_subquery())


def check(ctx: JobContext, *, fix: bool) -> journal.Tally:
    tally = journal.Tally(CHECK)
    chunk, max_rows = ctx.settings.reconcile.chunk_rows, ctx.settings.reconcile.own_max_rows
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(ErrorGroup)) or 0
    after_id, done = 0, 0
    while True:
        with ctx.sessions() as session:
            rows = session.execute(select(ErrorGroup.id, ErrorGroup.occurrence_count, _STORED_COUNT)
                                   .where(ErrorGroup.id > after_id).order_by(ErrorGroup.id).limit(chunk)).all()
        if not rows:
            break
        for group_id, counter, stored in rows:
            if counter == stored:
                continue
            if tally.found >= max_rows:
                tally.truncated = True
                return tally
            _handle(ctx, tally, group_id, counter, stored, fix=fix)
        after_id, done = rows[-1][0], done + len(rows)
        ctx.progress(done, max(total, done), "error group counters")
    return tally


def _handle(ctx: JobContext, tally: journal.Tally, group_id: int, counter: int, stored: int, *, fix: bool) -> None:
    subject, before = f"error_groups:{group_id}", {"occurrence_count": counter}
    detail = f"occurrence_count {counter}, {stored} occurrences stored"
    with ctx.sessions() as session:
        if not fix:
            action = journal.unfixed_action(ctx.dry_run)
            session.add(journal.entry(CHECK, subject, action, at=ctx.now(), run_id=ctx.run_id, before=before,
                                      detail=detail))
            session.commit()
            tally.add(action)
            return
        changed = rows_changed(session, update(ErrorGroup)
                               .where(ErrorGroup.id == group_id, ErrorGroup.occurrence_count == counter)
                               .values(occurrence_count=stored).execution_options(synchronize_session=False))
        if changed != 1:  # intake counted a new occurrence meanwhile: the next run looks again
            session.rollback()
            return
        session.add(journal.entry(CHECK, subject, journal.FIXED, at=ctx.now(), run_id=ctx.run_id, before=before,
                                  after={"occurrence_count": stored}, detail=detail))
        session.commit()
        tally.add(journal.FIXED)
