"""Where each event of a POST /api/events goes, decided without Celery or a database (two ports).

Every event was decided by the intake first (`IntakeService.decide`, as a worker decides it). An
accepted event is published to the broker as `medic.report`; when the broker fails, it and the
accepted events after it are stored directly, as `medic report --direct` does, so an accepted event
is never lost. A rejected event is stored directly (its answer carries the rejection's id); when the
database is down and the broker is up, it is published instead, and a worker keeps it as rejected
for the same reason. When an event can go nowhere, `Unavailable` (503): nothing is claimed accepted.

Each event's delivery id is also its task id when published, so an event both published (a publish
that failed late) and stored directly is stored once: the intake drops the second delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from config.errors import StorageUnavailable
from workers.intake.service import Outcome
from workers.intake.store import Arrival
from workers.intake.triage import Accepted, Rejected

ACCEPTED: Final = "accepted"
REJECTED: Final = "rejected"
BROKER: Final = "broker"
DIRECT: Final = "direct"


class BrokerDown(Exception):
    """The event was not published (the reason is logged by the port)."""


@dataclass(frozen=True)
class Stored:
    outcome: Outcome
    rejection_id: int | None = None  # the rejected_events row, when the outcome is a rejection


class Ports(Protocol):
    def publish(self, raw: Any, *, task_id: str) -> None:
        """Send `medic.report` with raw as its event; BrokerDown when it was not sent."""

    def store(self, arrivals: Sequence[Arrival]) -> dict[str, Stored]:
        """Store decided events in one transaction; StorageUnavailable when the database is down."""


@dataclass(frozen=True)
class Item:
    """What became of one event of the request, by its index in the request."""
    index: int
    status: str  # accepted | rejected
    via: str  # broker | direct
    id: str | int | None  # task id (broker), occurrence or rejection id (direct); None: a duplicate
    reason: str | None = None
    group_id: int | None = None
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        shown = {"index": self.index, "status": self.status, "via": self.via, "id": self.id}
        if self.reason is not None:
            shown["reason"] = self.reason
        if self.group_id is not None:
            shown["group_id"] = self.group_id
        if self.duplicate:
            shown["duplicate"] = True
        return shown


class Unavailable(Exception):
    """Neither the broker nor the database took what had to go there; `published`: what went before."""

    def __init__(self, detail: str, published: list[Item]):
        super().__init__(detail)
        self.detail = detail
        self.published = published


def deliver(raws: Sequence[Any], decisions: Sequence[Accepted | Rejected], *, delivery_ids: Sequence[str],
            ports: Ports) -> list[Item]:
    """Each event's Item, in request order; Unavailable when one of them could go nowhere."""
    items: dict[int, Item] = {}
    broker_up = True
    for index, decision in enumerate(decisions):
        if isinstance(decision, Accepted) and broker_up:
            try:
                ports.publish(raws[index], task_id=delivery_ids[index])
            except BrokerDown:
                broker_up = False
                continue
            items[index] = Item(index, ACCEPTED, BROKER, delivery_ids[index])
    rest = [index for index in range(len(decisions)) if index not in items]
    if rest:
        try:
            stored = ports.store([Arrival(delivery_ids[index], decisions[index]) for index in rest])
        except StorageUnavailable as exc:
            if not broker_up:
                raise Unavailable(f"cannot take events now: the broker and the database are unavailable ({exc})",
                                  _in_order(items)) from None
            _publish_rejections(raws, decisions, rest, delivery_ids, ports, items, exc)
        else:
            for index in rest:
                items[index] = _stored_item(index, stored[delivery_ids[index]])
    return _in_order(items)


def _publish_rejections(raws: Sequence[Any], decisions: Sequence[Accepted | Rejected], rest: list[int],
                        delivery_ids: Sequence[str], ports: Ports, items: dict[int, Item],
                        database_error: StorageUnavailable) -> None:
    """The database is down, the broker up: the rejections go to a worker, which keeps them (same reason)."""
    for index in rest:
        decision = decisions[index]
        assert isinstance(decision, Rejected)  # with the broker up, only rejections are left to store
        try:
            ports.publish(raws[index], task_id=delivery_ids[index])
        except BrokerDown:
            raise Unavailable(f"cannot take events now: the database is unavailable ({database_error}) "
                              f"and the broker failed", _in_order(items)) from None
        items[index] = Item(index, REJECTED, BROKER, delivery_ids[index], reason=decision.reason)


def _stored_item(index: int, stored: Stored) -> Item:
    outcome = stored.outcome
    if outcome.status == "rejected":  # by triage, or by the database (kept as a rejection)
        return Item(index, REJECTED, DIRECT, stored.rejection_id, reason=outcome.reason)
    if outcome.status == "duplicate":  # its delivery id or idempotency key was stored before
        return Item(index, ACCEPTED, DIRECT, None, group_id=outcome.group_id, duplicate=True)
    return Item(index, ACCEPTED, DIRECT, outcome.occurrence_id, group_id=outcome.group_id)


def _in_order(items: dict[int, Item]) -> list[Item]:
    return [items[index] for index in sorted(items)]
