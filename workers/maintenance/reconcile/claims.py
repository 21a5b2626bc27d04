"""medic's own check: an attempt is claimed exactly when it runs.

A running attempt with no claimer is given up so the recovery sweeper times it out through the
normal path; a scheduled attempt carrying claim fields has them cleared. Each fix is one
transaction: a conditional update of the attempt and an audit row on its execution.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select, update

from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import journal
from workers.maintenance.reconcile.verdicts import RECONCILER, Finding, claim_finding
from workers.recovery import store
from workers.recovery.states import RUNNING, SCHEDULED
from workers.storage.db import rows_changed
from workers.storage.models import Attempt, Execution

CHECK = "medic:attempt-claims"
ACTOR = store.Actor(RECONCILER)

_UNCLAIMED_RUNNING = and_(Attempt.state == RUNNING, Attempt.claimed_by.is_(None))
_CLAIMED_SCHEDULED = and_(Attempt.state == SCHEDULED,
                          or_(Attempt.claimed_at.is_not(None), Attempt.claimed_by.is_not(None),
                              Attempt.deadline_at.is_not(None)))
_INCONSISTENT = or_(_UNCLAIMED_RUNNING, _CLAIMED_SCHEDULED)
_CLAIM_COLUMNS = (Attempt.claimed_at, Attempt.claimed_by, Attempt.deadline_at)


def check(ctx: JobContext, *, fix: bool) -> journal.Tally:
    tally = journal.Tally(CHECK)
    max_rows = ctx.settings.reconcile.own_max_rows
    with ctx.sessions() as session:
        rows = session.execute(select(Attempt.id, Attempt.execution_id, Attempt.state, *_CLAIM_COLUMNS)
                               .where(_INCONSISTENT).order_by(Attempt.id).limit(max_rows + 1)).all()
    tally.truncated = len(rows) > max_rows
    for done, row in enumerate(rows[:max_rows], 1):
        finding = claim_finding(row.state, row.claimed_at, row.claimed_by, row.deadline_at, now=ctx.now())
        if finding is not None:
            _handle(ctx, tally, row, finding, fix=fix)
        ctx.progress(done, min(len(rows), max_rows), "attempt claims")
    return tally


def _handle(ctx: JobContext, tally: journal.Tally, row, finding: Finding, *, fix: bool) -> None:
    subject = f"attempts:{row.id}"
    before = {"execution_id": row.execution_id, "state": row.state, "claimed_at": row.claimed_at,
              "claimed_by": row.claimed_by, "deadline_at": row.deadline_at}
    with ctx.sessions() as session:
        if not fix:
            action = journal.unfixed_action(ctx.dry_run)
            session.add(journal.entry(CHECK, subject, action, at=ctx.now(), run_id=ctx.run_id, before=before,
                                      detail=finding.problem))
            session.commit()
            tally.add(action)
            return
        changed = rows_changed(session, update(Attempt)
                               .where(Attempt.id == row.id, Attempt.state == row.state, _INCONSISTENT)
                               .values(**finding.changes).execution_options(synchronize_session=False))
        if changed != 1:  # claimed, finished or fixed meanwhile
            session.rollback()
            return
        execution = session.get(Execution, row.execution_id)
        store.audit(session, execution, at=ctx.now(), actor=ACTOR, action="reconciled", attempt_id=row.id,
                    reason=f"attempt {row.id}: {finding.problem}", detail={"check": CHECK})
        session.add(journal.entry(CHECK, subject, journal.FIXED, at=ctx.now(), run_id=ctx.run_id, before=before,
                                  after={**before, **finding.changes}, detail=finding.problem))
        session.commit()
        tally.add(journal.FIXED)
