"""The intake service: reported payloads in, stored as occurrences or rejections, a batch at a time.

Wires the pure intake decision (triage) to storage, one transaction per batch. In that same
transaction, a new occurrence whose plan has work for it (a target to call) starts its recovery
execution; the others count towards their group's signals (new, regressed, spike), which notify
per the plan instead. Database trouble surfaces as
StorageUnavailable, so callers (the batch consumer, `medic report --direct`) try again instead of
dropping events. An event that the database refuses for itself (not for an outage) is kept as a
rejection on its own; the rest of its batch is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from workers.classification import Classifier
from workers.clock import utcnow
from workers.intake import store
from workers.intake.store import Arrival, BatchWrite
from workers.intake.triage import Accepted, Limits, Rejected, reject, triage
from workers.notify.group_signals import GroupSeen, deliver_signals, signal_groups
from workers.recovery.plans import has_work
from workers.recovery.service import Dispatch, Perform, RecoveryService
from workers.storage.db import guarded_session, session_factory

log = logging.getLogger("medic.intake")


@dataclass(frozen=True)
class Outcome:
    status: str  # "stored" | "duplicate" | "rejected"
    group_id: int | None = None
    occurrence_id: int | None = None
    category: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class _AfterCommit:
    """What a batch's transaction decided to send once it commits."""
    dispatches: list[Dispatch | Perform] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)


class IntakeService:
    def __init__(self, settings: Settings, *, recovery: RecoveryService | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.recovery = recovery  # None: store only, start no recovery (tests of intake alone)
        self.clock = clock

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier.from_settings(self.settings)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.database_url)

    # --- deciding (pure, per event) ---------------------------------------------------------

    def decide(self, raw: Any, *, received_at: datetime | None = None) -> Accepted | Rejected:
        return triage(raw, limits=self.limits, classifier=self.classifier, received_at=received_at or self.clock())

    def rejection(self, raw: Any, reason: str) -> Rejected:
        return reject(raw, reason, self.limits)

    # --- storing ----------------------------------------------------------------------------

    def report(self, raw: Any, *, delivery_id: str) -> Outcome:
        """One event, decided and stored (a batch of one)."""
        return self.store([Arrival(delivery_id, self.decide(raw))])[delivery_id]

    def store_rejection(self, rejected: Rejected, *, delivery_id: str) -> Outcome:
        return self.store([Arrival(delivery_id, rejected)])[delivery_id]

    def store(self, arrivals: Sequence[Arrival]) -> dict[str, Outcome]:
        """Store decided events, all in one transaction; each delivery id's outcome.

        Raises StorageUnavailable when the database is unreachable: nothing is stored then, and the
        whole batch is to be tried again. An event whose data the database refuses (an integrity or
        data error) is kept as a rejection; any other error is raised (the batch runs again)."""
        if not arrivals:
            return {}
        try:
            return self._store_together(arrivals)
        except (sa_exc.IntegrityError, sa_exc.DataError) as exc:  # the data, not medic's SQL or an outage
            if len(arrivals) == 1:
                return self._store_refused(arrivals[0], exc)
            log.warning("a batch was refused by the database; storing its events one by one",
                        extra={"events": len(arrivals), "error": f"{type(exc).__name__}: {exc}"[:500]})
            outcomes: dict[str, Outcome] = {}
            for arrival in arrivals:
                outcomes.update(self.store([arrival]))
            return outcomes

    def _store_together(self, arrivals: Sequence[Arrival]) -> dict[str, Outcome]:
        received_at = self.clock()
        with guarded_session(self.sessions) as session:
            try:
                write = store.store_batch(session, arrivals, received_at=received_at)
                after = self._start_recoveries(session, write)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        if self.recovery:
            self.recovery.after_commit_all(after.dispatches)
            deliver_signals(self.recovery.dispatcher, after.notifications)
        return _outcomes(arrivals, write)

    def _start_recoveries(self, session: Session, write: BatchWrite) -> _AfterCommit:
        """An execution for each new occurrence its plan has work for; group signals for the others."""
        after = _AfterCommit()
        recovery = self.recovery
        if recovery is None:
            return after
        changes = {change.group_id: change for change in write.groups}
        seen: list[GroupSeen] = []
        for new in write.stored:
            c, event = new.accepted.classification, new.accepted.event
            plan = recovery.plans.select(event, c.category, c.severity)
            if has_work(plan, event):
                started = recovery.start(session, group_id=new.group_id, occurrence_id=new.occurrence_id,
                                         event=event, category=c.category, severity=c.severity, plan=plan)
                if started.dispatch is not None:
                    after.dispatches.append(started.dispatch)
                continue
            change = changes[new.group_id]
            seen.append(GroupSeen(group_id=new.group_id, new=change.new, regressed=change.regressed, occurrences=1,
                                  last_at=new.accepted.occurred_at, event=event, category=c.category,
                                  severity=c.severity, plan=plan))
        if seen:
            after.notifications = signal_groups(session, seen, now=self.clock(), settings=self.settings)
        return after

    def _store_refused(self, arrival: Arrival, exc: Exception) -> dict[str, Outcome]:
        """Keep an event the database would not take (not an outage) as a rejection, naming why."""
        cause = getattr(exc, "orig", None) or exc
        reason = f"the database refused the event: {type(cause).__name__}: {str(cause).splitlines()[0][:300]}"
        decision = arrival.decision
        payload = decision.event if isinstance(decision, Accepted) else decision.payload
        rejected = reject(payload, reason, self.limits)
        # A NUL character is what PostgreSQL refuses most often in text; the kept copy spells it out.
        rejected = Rejected(rejected.reason, rejected.payload.replace("\x00", "\\u0000"), rejected.payload_bytes)
        log.warning("an event was refused by the database; kept as rejected",
                    extra={"delivery_id": arrival.delivery_id, "reason": reason})
        return self._store_together([Arrival(arrival.delivery_id, rejected)])


def _outcomes(arrivals: Sequence[Arrival], write: BatchWrite) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for arrival in arrivals:
        decision = arrival.decision
        if isinstance(decision, Rejected):
            outcomes[arrival.delivery_id] = Outcome("rejected", reason=decision.reason)
        elif arrival.delivery_id in write.duplicates:
            outcomes.setdefault(arrival.delivery_id, Outcome("duplicate", write.duplicates[arrival.delivery_id],
                                                             category=decision.classification.category))
    for new in write.stored:
        outcomes[new.delivery_id] = Outcome("stored", new.group_id, new.occurrence_id,
                                            new.accepted.classification.category)
    return outcomes
