"""Group signals: what medic tells people about events it has nothing to recover for.

An event whose plan has no work for it (workers.recovery.plans.has_work; PlanSet.recoverable
returned None) starts no execution. Intake hands each batch's groups of such events to
`signal_groups`, in the batch's transaction: it counts them into each group's rate window, decides
by workers/notify/signal_policy.py which signals are due (new, regressed, spike, as the plan's
`signals:` section asks), and queues their notifications in the same transaction. After the
commit intake calls `deliver_signals` with the ids, as recovery does after its notify steps; a
request that is lost is picked up by recovery's sweeper from the queue.

Correct with several workers committing batches at once: each group's row in `group_signals` is
locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer) from the read of its state to
the commit, so the window counts every batch once and a signal is claimed by one batch only.
Rows are locked in group id order; intake has locked the groups' own rows before (same order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workers.notify import queue
from workers.notify.delivery import DeliverySender, request_delivery
from workers.notify.signal_policy import Batch, SignalLimits, SignalState, decide, signal_message
from workers.storage.models import GroupSignal

if TYPE_CHECKING:
    from workers.recovery.plans import PlanSpec

_STATE_FIELDS = ("window_started_at", "window_count", "previous_count", "new_sent_at", "regressed_sent_at",
                 "spike_sent_at", "signals_sent")
_TABLE = GroupSignal.__table__
# One statement for the batch's groups (executemany), compiled once per process.
_UPDATE = (update(_TABLE).where(_TABLE.c.group_id == bindparam("b_group_id"))
           .values(updated_at=bindparam("b_updated_at"), **{name: bindparam(f"b_{name}") for name in _STATE_FIELDS}))


@dataclass(frozen=True)
class GroupSeen:
    """One group's share of an intake batch: its occurrences without a recovery target."""

    group_id: int
    new: bool  # the group was created by this batch
    regressed: bool  # the group's status was 'resolved' before this batch
    occurrences: int  # occurrences (without a target) added to the group by this batch
    last_at: datetime  # newest occurred_at among them
    event: dict[str, Any]  # one representative masked event of the batch (the newest), for the text
    category: str
    severity: str
    plan: PlanSpec  # the plan selected for that event (PlanSet.select; recoverable returned None)


def signal_groups(session: Session, seen: list[GroupSeen], *, now: datetime, settings: Any) -> list[int]:
    """Decide and record signals in the caller's transaction; returns notification ids to deliver
    after commit (`deliver_signals`). Flushes, never commits.

    Groups whose plan signals nothing are passed over without a write. The same group more than
    once in `seen` counts as one entry (occurrences added, flags or-ed, the newest event, its
    category, severity and plan kept), so one GroupSeen per occurrence (occurrences=1) will do."""
    limits = SignalLimits.from_settings(settings)
    merged = _merge(seen)
    wanted = {group_id: entry.plan.group_signals.kinds for group_id, entry in merged.items()}
    group_ids = sorted(group_id for group_id, kinds in wanted.items() if kinds)
    if not group_ids:
        return []
    states = _lock_states(session, group_ids, now=now)
    notification_ids: list[int] = []
    updates: list[dict[str, Any]] = []
    for group_id in group_ids:
        entry = merged[group_id]
        decision = decide(states[group_id], Batch(entry.new, entry.regressed, entry.occurrences),
                          wanted=wanted[group_id], now=now, limits=limits)
        updates.append({"b_group_id": group_id, "b_updated_at": now,
                        **{f"b_{name}": getattr(decision.state, name) for name in _STATE_FIELDS}})
        for kind in decision.fire:
            step = entry.plan.group_signals.of(kind)
            assert step is not None  # fire holds wanted kinds only
            message = signal_message(kind, step_kind=step.kind, level=step.level, group_id=group_id,
                                     event=entry.event, category=entry.category, severity=entry.severity,
                                     plan=entry.plan.name, occurrences=entry.occurrences, last_at=entry.last_at,
                                     estimate=decision.rate, limits=limits)
            # The claim above is the cooldown: the queue's own (per dedup key) would only hide it again.
            notification = queue.enqueue(session, message, channel=step.channel, now=now, cooldown_s=0)
            if notification.state == queue.PENDING:
                notification_ids.append(notification.id)
    session.execute(_UPDATE, updates)
    session.flush()
    return notification_ids


def deliver_signals(sender: DeliverySender, notification_ids: Iterable[int]) -> None:
    """After the commit: ask a worker to deliver each queued signal (workers.notify.delivery)."""
    for notification_id in notification_ids:
        request_delivery(sender, notification_id)


def _merge(seen: list[GroupSeen]) -> dict[int, GroupSeen]:
    merged: dict[int, GroupSeen] = {}
    for entry in seen:
        before = merged.get(entry.group_id)
        if before is None:
            merged[entry.group_id] = entry
            continue
        newest = entry if entry.last_at >= before.last_at else before
        merged[entry.group_id] = GroupSeen(
            group_id=entry.group_id, new=before.new or entry.new, regressed=before.regressed or entry.regressed,
            occurrences=before.occurrences + entry.occurrences, last_at=newest.last_at, event=newest.event,
            category=newest.category, severity=newest.severity, plan=newest.plan)
    return merged


def _lock_states(session: Session, group_ids: list[int], *, now: datetime) -> dict[int, SignalState]:
    """Each group's state, its row created when missing, locked until the caller's transaction ends."""
    states = _read_locked(session, group_ids)
    missing = [group_id for group_id in group_ids if group_id not in states]
    if missing:
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)
        session.execute(insert.on_conflict_do_nothing(index_elements=["group_id"]),
                        [{"group_id": group_id, "window_count": 0, "previous_count": 0, "signals_sent": 0,
                          "updated_at": now} for group_id in missing])
        states.update(_read_locked(session, missing))
    return states


def _read_locked(session: Session, group_ids: list[int]) -> dict[int, SignalState]:
    rows = session.execute(select(_TABLE.c.group_id, *(_TABLE.c[name] for name in _STATE_FIELDS))
                           .where(_TABLE.c.group_id.in_(group_ids)).order_by(_TABLE.c.group_id).with_for_update())
    return {row[0]: SignalState(**dict(zip(_STATE_FIELDS, row[1:], strict=True))) for row in rows}
