"""The cleanup job: delete records past their retention in small batches; prune the embedded broker.

Order: audit rows already without their execution, finished executions, resolved groups (their
remaining executions and occurrences first, then the groups), then the independent kinds, then
rows past their own expiry (console logouts), then the broker. Counting first gives the progress
bar its total and the dry run its answer. See docs/maintenance/cleanup.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from config.errors import ConfigError
from workers.maintenance import cleanup_policy as policy
from workers.maintenance import runs
from workers.maintenance.broker_prune import EmbeddedBroker
from workers.maintenance.cleanup_batches import BatchDeleter, batches_of, count, group_child_batches
from workers.maintenance.cleanup_targets import expired_group_ids, group_counts, groups_target, targets
from workers.maintenance.job import JobContext, JobResult

# Deleting a group costs about as much as deleting this many other rows (three foreign keys look
# up their rows; notifications are updated), so a batch of groups is this much smaller.
GROUP_COST_ROWS = 10


def run(ctx: JobContext) -> JobResult:
    options = ctx.settings.cleanup
    problem = policy.broker_retention_problem(ctx.settings)
    if problem:
        raise ConfigError(problem)
    now = ctx.now()
    cutoffs = {**policy.cutoffs(options, now), **policy.expiry_cutoffs(now)}
    broker = EmbeddedBroker.of(ctx.settings.broker_url, policy.broker_cutoff(now, options.broker_delivered_retention_s))
    with ctx.sessions() as session:
        keep_run_ids = [run.id for run in runs.latest_by_job(session).values()]  # the latest run of each job
        found = _count(session, cutoffs, keep_run_ids)
    cutoffs = {kind: cutoff for kind, cutoff in cutoffs.items() if kind not in policy.EXPIRING or kind in found}
    if broker is not None:
        found[policy.BROKER] = broker.count()
    if ctx.dry_run:
        return JobResult(policy.summary(found, dry_run=True, stopped=False), counts=found)

    budget_s = policy.time_budget_s(ctx.settings.schedules["cleanup"].soft_time_limit_s)
    deleter = BatchDeleter(ctx, batch_size=options.batch_size, pause_s=options.pause_between_batches_ms / 1000,
                           deadline=now + timedelta(seconds=budget_s), total=sum(found.values()))
    done = (_delete_records(deleter, ctx.sessions, cutoffs, keep_run_ids)
            and (broker is None or deleter.drain(policy.BROKER, broker.delete_batch)))
    counts = {**dict.fromkeys(found, 0), **deleter.deleted, "batches": deleter.batches}
    return JobResult(policy.summary(counts, dry_run=False, stopped=not done), counts=counts)


def _count(session: Session, cutoffs: dict[str, datetime], keep_run_ids: list[int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for kind, cutoff in cutoffs.items():
        if kind == "groups":
            found.update(group_counts(session, cutoff, executions_cutoff=cutoffs.get("executions")))
        else:
            found[kind] = sum(count(session, target) for target in targets(kind, cutoff, keep_run_ids=keep_run_ids))
        if kind in policy.EXPIRING and not found[kind]:
            del found[kind]  # no retention setting of its own: counted, and worked on, only when some expired
    return found


def _delete_records(deleter: BatchDeleter, sessions: sessionmaker[Session], cutoffs: dict[str, datetime],
                    keep_run_ids: list[int]) -> bool:
    """False when the time budget ran out first."""
    for kind, cutoff in cutoffs.items():
        if kind == "groups":
            finished = _delete_groups(deleter, sessions, cutoff)
        else:
            finished = all(deleter.drain(kind, batches_of(sessions, target))
                           for target in targets(kind, cutoff, keep_run_ids=keep_run_ids))
        if not finished:
            return False
    return True


def _delete_groups(deleter: BatchDeleter, sessions: sessionmaker[Session], cutoff: datetime) -> bool:
    """Chunk by chunk of expired groups: their executions, their occurrences, then the groups."""
    chunk_size = max(1, deleter.batch_size // GROUP_COST_ROWS)
    while True:
        with sessions() as session:
            chunk = expired_group_ids(session, cutoff, limit=chunk_size)
        if not chunk:
            return True
        for kind in policy.GROUP_CHILDREN:
            if not deleter.drain(kind, group_child_batches(sessions, kind, chunk, cutoff)):
                return False
        if not deleter.drain("groups", batches_of(sessions, groups_target(chunk, cutoff))):
            return False
        if len(chunk) < chunk_size:
            return True
