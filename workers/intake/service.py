"""The intake service: a payload in, stored as an occurrence or a rejection.

Wires the pure intake decision to storage and maps database trouble to StorageUnavailable,
so callers (the Celery task, `medic report --direct`) retry instead of dropping the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from workers.classification import Classifier
from workers.clock import utcnow
from workers.intake import store
from workers.intake.triage import Accepted, Limits, Rejected, reject, triage
from workers.recovery.service import RecoveryService
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


class IntakeService:
    def __init__(self, settings: Settings, *, recovery: RecoveryService | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.recovery = recovery  # None: store only, start no recovery (tests of intake alone)
        self.clock = clock

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier.from_files(self.settings.rules_files)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.database_url)

    def report(self, raw: Any, *, delivery_id: str) -> Outcome:
        received_at = self.clock()
        decision = triage(raw, limits=self.limits, classifier=self.classifier, received_at=received_at)
        if isinstance(decision, Rejected):
            return self._store_rejected(decision, delivery_id, received_at)
        return self._store_accepted(decision, delivery_id, received_at)

    def reject(self, raw: Any, reason: str, *, delivery_id: str) -> Outcome:
        return self._store_rejected(reject(raw, reason, self.limits), delivery_id, self.clock())

    def store_rejection(self, rejected: Rejected, *, delivery_id: str) -> Outcome:
        return self._store_rejected(rejected, delivery_id, self.clock())

    def _store_accepted(self, accepted: Accepted, delivery_id: str, received_at: datetime) -> Outcome:
        with self._session() as session:
            stored = store.store_accepted(session, accepted, delivery_id=delivery_id, received_at=received_at,
                                               then=self._start_recovery(accepted))
        if self.recovery:
            self.recovery.after_commit(stored.followup.dispatch if stored.followup else None)
        status = "duplicate" if stored.duplicate else "stored"
        return Outcome(status, stored.group_id, stored.occurrence_id, accepted.classification.category)

    def _start_recovery(self, accepted: Accepted):
        recovery = self.recovery
        if recovery is None:
            return None
        c = accepted.classification

        def start(session: Session, group_id: int, occurrence_id: int):
            return recovery.start(session, group_id=group_id, occurrence_id=occurrence_id, event=accepted.event,
                                       category=c.category, severity=c.severity)
        return start

    def _store_rejected(self, rejected: Rejected, delivery_id: str, received_at: datetime) -> Outcome:
        with self._session() as session:
            store.store_rejected(session, rejected, delivery_id=delivery_id, received_at=received_at)
        return Outcome("rejected", reason=rejected.reason)

    def _session(self):
        return guarded_session(self.sessions)
