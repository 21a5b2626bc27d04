"""medic's own check: no execution in a state its attempts contradict.

- an open attempt of a finished execution, or of an earlier run: cancelled;
- a live execution whose open attempt says otherwise (waiting while it runs, running while it
  waits): moved to the state its attempt is in;
- a live execution with no open attempt: stuck, which the stuck job remedies; reported here only;
- more than one open attempt: reported for an operator.
Each fix is one transaction with its audit row; the execution is re-read (locked on PostgreSQL)
and judged again first, so a worker's concurrent change wins.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import journal
from workers.maintenance.reconcile.verdicts import LIVE_STATES, RECONCILER, execution_finding, orphaned_attempt
from workers.recovery import store
from workers.recovery.states import CANCELLED, FINISHED, OPEN_ATTEMPT_STATES, RUNNING, SCHEDULED, WAITING
from workers.storage.models import Attempt, Execution

CHECK = "medic:execution-states"
ACTOR = store.Actor(RECONCILER)

_OPEN_OF_RUN = and_(Attempt.execution_id == Execution.id, Attempt.run == Execution.run,
                    Attempt.state.in_(OPEN_ATTEMPT_STATES))
_RUNNING_N = func.coalesce(func.sum(case((Attempt.state == RUNNING, 1), else_=0)), 0)
_SCHEDULED_N = func.coalesce(func.sum(case((Attempt.state == SCHEDULED, 1), else_=0)), 0)


def check(ctx: JobContext, *, fix: bool) -> journal.Tally:
    tally = journal.Tally(CHECK)
    _orphaned_attempts(ctx, tally, fix=fix)
    _live_executions(ctx, tally, fix=fix)
    return tally


# --- open attempts their execution no longer owns ------------------------------------------------

def _orphaned_attempts(ctx: JobContext, tally: journal.Tally, *, fix: bool) -> None:
    max_rows = ctx.settings.reconcile.own_max_rows
    with ctx.sessions() as session:
        ids = list(session.scalars(
            select(Attempt.execution_id).join(Execution, Execution.id == Attempt.execution_id)
            .where(Attempt.state.in_(OPEN_ATTEMPT_STATES),
                   or_(Execution.state.in_(FINISHED), Attempt.run != Execution.run))
            .group_by(Attempt.execution_id).order_by(Attempt.execution_id).limit(max_rows + 1)))
    tally.truncated = len(ids) > max_rows
    for done, execution_id in enumerate(ids[:max_rows], 1):
        _cancel_orphans(ctx, tally, execution_id, fix=fix)
        ctx.progress(done, min(len(ids), max_rows), "open attempts of finished executions")


def _cancel_orphans(ctx: JobContext, tally: journal.Tally, execution_id: int, *, fix: bool) -> None:
    with ctx.sessions() as session:
        execution = _locked(session, execution_id)
        if execution is None:
            return
        open_attempts = list(session.scalars(select(Attempt).where(
            Attempt.execution_id == execution_id, Attempt.state.in_(OPEN_ATTEMPT_STATES)).order_by(Attempt.id)))
        orphans = [(a, why) for a in open_attempts
                   if (why := orphaned_attempt(a.state, a.run, execution.state, execution.run))]
        if not orphans:
            return
        problem = "; ".join(f"attempt {a.id}: {why}" for a, why in orphans)
        before = {"execution_state": execution.state, "execution_run": execution.run,
                  "attempts": [{"id": a.id, "state": a.state, "run": a.run} for a, _ in orphans]}
        subject = f"executions:{execution_id}"
        if not fix:
            _unfixed(ctx, session, tally, subject, before, problem)
            return
        ids = [a.id for a, _ in orphans]
        session.execute(update(Attempt).where(Attempt.id.in_(ids), Attempt.state.in_(OPEN_ATTEMPT_STATES))
                        .values(state=CANCELLED, finished_at=ctx.now()).execution_options(synchronize_session=False))
        store.audit(session, execution, at=ctx.now(), actor=ACTOR, action="reconciled",
                    reason=f"cancelled open attempts it no longer owns: {problem}",
                    detail={"check": CHECK, "cancelled_attempts": ids})
        after = {**before, "attempts": [{"id": a.id, "state": CANCELLED, "run": a.run} for a, _ in orphans]}
        _fixed(ctx, session, tally, subject, before, after, problem)


# --- live executions against their open attempt --------------------------------------------------

def _live_executions(ctx: JobContext, tally: journal.Tally, *, fix: bool) -> None:
    chunk, max_rows = ctx.settings.reconcile.chunk_rows, ctx.settings.reconcile.own_max_rows
    live = Execution.state.in_(LIVE_STATES)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(Execution).where(live)) or 0
    after_id, done, handled = 0, 0, 0
    while True:
        with ctx.sessions() as session:
            rows = session.execute(
                select(Execution.id, Execution.state, _RUNNING_N, _SCHEDULED_N).outerjoin(Attempt, _OPEN_OF_RUN)
                .where(live, Execution.id > after_id).group_by(Execution.id, Execution.state)
                .order_by(Execution.id).limit(chunk)).all()
        if not rows:
            return
        for execution_id, state, running, scheduled in rows:
            if execution_finding(state, running, scheduled) is None:
                continue
            if handled >= max_rows:
                tally.truncated = True
                return
            handled += 1
            _settle(ctx, tally, execution_id, fix=fix)
        after_id, done = rows[-1][0], done + len(rows)
        ctx.progress(done, max(total, done), "live executions")


def _settle(ctx: JobContext, tally: journal.Tally, execution_id: int, *, fix: bool) -> None:
    with ctx.sessions() as session:
        execution = _locked(session, execution_id)
        if execution is None:
            return
        attempts = list(session.scalars(select(Attempt).where(
            Attempt.execution_id == execution_id, Attempt.run == execution.run,
            Attempt.state.in_(OPEN_ATTEMPT_STATES)).order_by(Attempt.id).with_for_update()))
        running = sum(a.state == RUNNING for a in attempts)
        finding = execution_finding(execution.state, running, len(attempts) - running)
        if finding is None:  # it moved on meanwhile
            return
        subject = f"executions:{execution_id}"
        before = {"state": execution.state, "open_attempts": [{"id": a.id, "state": a.state} for a in attempts]}
        if not (fix and finding.fixable and finding.to_state):
            _unfixed(ctx, session, tally, subject, before, finding.problem, deferred=finding.deferred)
            return
        _move(ctx, session, tally, execution, attempts[0], finding.to_state, finding.problem, subject, before)


def _move(ctx: JobContext, session: Session, tally: journal.Tally, execution: Execution, attempt: Attempt,
          to_state: str, problem: str, subject: str, before: dict) -> None:
    changes = {"next_attempt_at": attempt.scheduled_for} if to_state == WAITING else {}
    store.transition(session, execution, to_state, now=ctx.now(), actor=ACTOR, action="reconciled",
                     reason=f"reconciled: {problem}", attempt_id=attempt.id, detail={"check": CHECK}, **changes)
    try:
        session.flush()
    except StaleDataError:  # a worker changed it first: that change stands
        session.rollback()
        return
    _fixed(ctx, session, tally, subject, before, {**before, "state": to_state}, problem)


# --- shared ----------------------------------------------------------------------------------------

def _locked(session: Session, execution_id: int) -> Execution | None:
    return session.scalars(select(Execution).where(Execution.id == execution_id).with_for_update()).first()


def _unfixed(ctx: JobContext, session: Session, tally: journal.Tally, subject: str, before: dict, problem: str, *,
             deferred: bool = False) -> None:
    session.rollback()  # releases the locks taken to judge it
    action = journal.DEFERRED if deferred else journal.unfixed_action(ctx.dry_run)
    session.add(journal.entry(CHECK, subject, action, at=ctx.now(), run_id=ctx.run_id, before=before, detail=problem))
    session.commit()
    tally.add(action)


def _fixed(ctx: JobContext, session: Session, tally: journal.Tally, subject: str, before: dict, after: dict,
           problem: str) -> None:
    session.add(journal.entry(CHECK, subject, journal.FIXED, at=ctx.now(), run_id=ctx.run_id, before=before,
                              after=after, detail=problem))
    session.commit()
    tally.add(journal.FIXED)
