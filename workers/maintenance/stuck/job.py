"""The stuck-workflow job: find stuck executions, requeue them, escalate those requeued too often.

The recovery sweeper (every few seconds) already resends lost messages and times out attempts
past their deadline; this job is the safety net for when that did not happen (no beat, a bug,
lost state) and covers what the sweeper does not: an execution left with no open attempt.
"""

from __future__ import annotations

import logging
from collections import Counter

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from config.errors import InvalidTransition, NotFound, StorageUnavailable
from workers.maintenance.job import JobContext, JobResult
from workers.maintenance.stuck import detect
from workers.maintenance.stuck.detect import Planned, plan
from workers.maintenance.stuck.escalate import escalate
from workers.maintenance.stuck.policy import ESCALATE, REQUEUE
from workers.recovery import operator as ops
from workers.recovery.factory import build_recovery_service
from workers.recovery.service import RecoveryService
from workers.recovery.states import RUNNING, SCHEDULED
from workers.recovery.store import Actor

log = logging.getLogger("medic.maintenance.stuck")

ACTOR = Actor("maintenance:stuck")
# The open attempt each kind was found with: a requeue acts only if it is still so.
ATTEMPT_STATE = {detect.RUNNING_PAST_DEADLINE: RUNNING, detect.NEVER_SENT: SCHEDULED, detect.UNCLAIMED: SCHEDULED,
                 detect.NO_OPEN_ATTEMPT: None}
# The execution changed between detection and action: nothing to do now, the next run looks again.
MOVED_ON = (InvalidTransition, NotFound, StaleDataError, IntegrityError)


def run(ctx: JobContext) -> JobResult:
    return handle(ctx, build_recovery_service(ctx.settings, actor=ACTOR, clock=ctx.clock))


def handle(ctx: JobContext, service: RecoveryService) -> JobResult:
    with ctx.sessions() as session:
        planned = plan(session, ctx.settings.stuck, ctx.now())
    if ctx.dry_run:
        would: Counter[str] = Counter(p.decision.action for p in planned)
        return JobResult(_summary(len(planned), would, dry_run=True), {"stuck": len(planned), **would})
    counts: Counter[str] = Counter()
    errors: list[str] = []
    to_escalate: list[Planned] = []
    for done, entry in enumerate(planned, 1):
        if entry.decision.action == REQUEUE:
            counts[_requeue(service, entry, errors)] += 1
        elif entry.decision.action == ESCALATE:
            to_escalate.append(entry)
        else:
            counts["left"] += 1
        ctx.progress(done, len(planned), "stuck executions")
    if to_escalate:
        counts["escalated"] += escalate(service, ctx.settings, to_escalate, run_id=ctx.run_id, actor=ACTOR)
    summary = _summary(len(planned), counts, dry_run=False)
    if errors:
        summary += f"; {len(errors)} error(s), first: {errors[0]}"
    return JobResult(summary, {"stuck": len(planned), **counts}, failed=bool(errors))


def _requeue(service: RecoveryService, entry: Planned, errors: list[str]) -> str:
    """One requeue: 'requeued', 'moved' (it changed meanwhile) or 'errors' (logged; the others go on)."""
    item = entry.item
    detail = {"kind": item.kind, "requeue": entry.history.requeues + 1, "since": item.since.isoformat()}
    reason = f"stuck ({item.kind.replace('_', ' ')} since {item.since:%Y-%m-%d %H:%M:%S}): {entry.decision.why}"
    try:
        done = ops.requeue(service, item.execution_id, actor=ACTOR, reason=reason, detail=detail,
                           expect=ops.Situation(item.attempt_id, ATTEMPT_STATE[item.kind]))
    except (SoftTimeLimitExceeded, StorageUnavailable):
        raise
    except MOVED_ON:
        return "moved"
    except Exception as exc:  # one broken execution must not stop the others
        log.exception("stuck execution not requeued", extra={"execution_id": item.execution_id, "kind": item.kind})
        errors.append(f"execution {item.execution_id}: {type(exc).__name__}: {exc}")
        return "errors"
    log.info("stuck execution requeued", extra={"execution_id": item.execution_id, "kind": item.kind, "how": done.how})
    return "moved" if done.how == ops.MOVED else "requeued"


def _summary(found: int, counts: Counter[str], *, dry_run: bool) -> str:
    if not found:
        return "no stuck executions"
    if dry_run:
        return (f"dry run: {found} stuck; would requeue {counts[REQUEUE]}, escalate {counts[ESCALATE]}, "
                f"leave {counts['leave']} (escalated before)")
    return (f"{found} stuck: requeued {counts['requeued']}, escalated {counts['escalated']}, "
            f"left to an operator {counts['left']}, moved on meanwhile {counts['moved']}")
