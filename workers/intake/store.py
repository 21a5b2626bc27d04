"""Storing intake's results, a batch at a time: error groups, occurrences and rejected events.

A batch is written with one statement per table whatever its size: the groups upserted with their
counts, the occurrences inserted, the rejections inserted. Duplicates (the same delivery id, or the
same idempotency key) are resolved inside the batch first and against the database next, so a
duplicate never counts in its group. Rows are written in a fixed order (groups by fingerprint,
occurrences by delivery id) so that two batches committing at once cannot deadlock each other.
The caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workers.intake.triage import Accepted, Rejected
from workers.storage.models import ErrorGroup, Occurrence, RejectedEvent

_GROUPS = ErrorGroup.__table__
_OCCURRENCES = Occurrence.__table__
_REJECTED = RejectedEvent.__table__
_TRIAGE_COLUMNS = ("category", "severity", "retryable", "confidence", "rule_id")
# The status a new occurrence moves back to open (a regression); any other status is kept.
REOPENED_STATUS = "resolved"


@dataclass(frozen=True)
class Arrival:
    """One event of a batch, decided: what it became and the delivery that brought it."""
    delivery_id: str
    decision: Accepted | Rejected


@dataclass(frozen=True)
class NewOccurrence:
    delivery_id: str
    group_id: int
    occurrence_id: int
    accepted: Accepted


@dataclass(frozen=True)
class GroupChange:
    """What one batch did to one group."""
    group_id: int
    new: bool  # the group did not exist before this batch
    regressed: bool  # the group was resolved before this batch
    occurrences: int  # occurrences this batch added
    newest: Accepted  # the batch's newest event of the group


@dataclass
class BatchWrite:
    stored: list[NewOccurrence]
    duplicates: dict[str, int | None]  # delivery id -> its group, when known
    rejected: list[str]  # delivery ids kept as rejected
    groups: list[GroupChange]


def store_batch(session: Session, arrivals: Sequence[Arrival], *, received_at: datetime) -> BatchWrite:
    """Write a batch in the caller's transaction (it commits or rolls back)."""
    connection = session.connection()
    accepted = [a for a in arrivals if isinstance(a.decision, Accepted)]
    rejected = [a for a in arrivals if isinstance(a.decision, Rejected)]
    fresh, duplicates = _without_duplicates(connection, accepted)
    write = BatchWrite(stored=[], duplicates=duplicates, rejected=[a.delivery_id for a in rejected], groups=[])
    if fresh:
        groups = _upsert_groups(connection, fresh)
        inserted = _insert_occurrences(connection, fresh, {fp: g.group_id for fp, g in groups.items()}, received_at)
        raced = [a for a in fresh if a.delivery_id not in inserted]
        if raced:  # stored by a concurrent batch since we looked: uncount them
            _uncount(connection, raced, groups)
            for arrival in raced:
                write.duplicates[arrival.delivery_id] = groups[_accepted(arrival).fingerprint].group_id
        write.stored = [NewOccurrence(a.delivery_id, groups[_accepted(a).fingerprint].group_id,
                                      inserted[a.delivery_id], _accepted(a))
                        for a in fresh if a.delivery_id in inserted]
        write.groups = [g for g in groups.values() if g.occurrences > 0]
    if rejected:
        _insert_rejected(connection, rejected, received_at)
    return write


def _accepted(arrival: Arrival) -> Accepted:
    assert isinstance(arrival.decision, Accepted)
    return arrival.decision


def _without_duplicates(connection: Connection, accepted: list[Arrival]) -> tuple[list[Arrival], dict[str, int | None]]:
    """The batch's accepted events that are new; the others by delivery id (first in the batch wins)."""
    ids = {a.delivery_id for a in accepted}
    keys = {k for a in accepted if (k := _accepted(a).idempotency_key) is not None}
    known_ids = _existing(connection, _OCCURRENCES.c.delivery_id, ids)
    known_keys = _existing(connection, _OCCURRENCES.c.idempotency_key, keys)
    fresh: list[Arrival] = []
    duplicates: dict[str, int | None] = {}
    for arrival in accepted:
        key = _accepted(arrival).idempotency_key
        if arrival.delivery_id in known_ids or (key is not None and key in known_keys):
            duplicates[arrival.delivery_id] = known_ids.get(arrival.delivery_id) or known_keys.get(key or "")
            continue
        known_ids[arrival.delivery_id] = None
        if key is not None:
            known_keys[key] = None
        fresh.append(arrival)
    return fresh, duplicates


def _existing(connection: Connection, column: Any, values: set[str]) -> dict[str, int | None]:
    """Which of values the column already holds, each with its occurrence's group."""
    if not values:
        return {}
    rows = connection.execute(select(column, _OCCURRENCES.c.group_id).where(column.in_(sorted(values))))
    return {value: group_id for value, group_id in rows.tuples()}


def _upsert_groups(connection: Connection, fresh: list[Arrival]) -> dict[str, GroupChange]:
    by_fingerprint: dict[str, list[Accepted]] = defaultdict(list)
    for arrival in fresh:
        accepted = _accepted(arrival)
        by_fingerprint[accepted.fingerprint].append(accepted)
    fingerprints = sorted(by_fingerprint)
    before = dict(connection.execute(
        select(_GROUPS.c.fingerprint, _GROUPS.c.status).where(_GROUPS.c.fingerprint.in_(fingerprints))).tuples().all())
    rows = [_group_row(by_fingerprint[fp]) for fp in fingerprints]
    ids = dict((fp, group_id) for group_id, fp in connection.execute(_statement(connection, "upsert_groups"), rows))
    return {fp: GroupChange(group_id=ids[fp], new=fp not in before, regressed=before.get(fp) == REOPENED_STATUS,
                            occurrences=len(by_fingerprint[fp]),
                            newest=max(by_fingerprint[fp], key=lambda a: a.occurred_at))
            for fp in fingerprints}


def _group_row(events: list[Accepted]) -> dict[str, Any]:
    latest = events[-1]
    event = latest.event
    return {"fingerprint": latest.fingerprint, "error_type": event["error_type"],
            "message_template": latest.message_template, "service": event["service"],
            "operation": event.get("operation"), "status": "open", "occurrence_count": len(events),
            "first_seen": min(e.occurred_at for e in events), "last_seen": max(e.occurred_at for e in events),
            **_triage(latest)}


def _triage(accepted: Accepted) -> dict[str, Any]:
    c = accepted.classification
    return dict(zip(_TRIAGE_COLUMNS, (c.category, c.severity, c.retryable, c.confidence, c.rule), strict=True))


def _insert_occurrences(connection: Connection, fresh: list[Arrival], group_ids: dict[str, int],
                        received_at: datetime) -> dict[str, int]:
    rows = []
    for arrival in sorted(fresh, key=lambda a: a.delivery_id):
        accepted = _accepted(arrival)
        event = accepted.event
        rows.append({"group_id": group_ids[accepted.fingerprint], "delivery_id": arrival.delivery_id,
                     "idempotency_key": accepted.idempotency_key, "received_at": received_at,
                     "occurred_at": accepted.occurred_at, "source": event.get("source"), "message": event["message"],
                     "event": event, **_triage(accepted)})
    inserted = connection.execute(_statement(connection, "insert_occurrences"), rows)
    return {delivery_id: occurrence_id for occurrence_id, delivery_id in inserted}


def _uncount(connection: Connection, raced: Iterable[Arrival], groups: dict[str, GroupChange]) -> None:
    per_group: dict[str, int] = defaultdict(int)
    for arrival in raced:
        per_group[_accepted(arrival).fingerprint] += 1
    for fingerprint in sorted(per_group):
        change = groups[fingerprint]
        connection.execute(update(_GROUPS).where(_GROUPS.c.id == change.group_id)
                           .values(occurrence_count=_GROUPS.c.occurrence_count - per_group[fingerprint]))
        groups[fingerprint] = GroupChange(change.group_id, change.new, change.regressed,
                                          change.occurrences - per_group[fingerprint], change.newest)


def _insert_rejected(connection: Connection, rejected: list[Arrival], received_at: datetime) -> None:
    rows = []
    for arrival in sorted(rejected, key=lambda a: a.delivery_id):
        decision = arrival.decision
        assert isinstance(decision, Rejected)
        rows.append({"delivery_id": arrival.delivery_id, "received_at": received_at, "reason": decision.reason,
                     "payload": decision.payload, "payload_bytes": decision.payload_bytes})
    connection.execute(_statement(connection, "insert_rejected"), rows)


def _statement(connection: Connection, name: str) -> Any:
    """One of the batch's statements for the connection's dialect, built once per process.

    Run with a list of rows (executemany): SQLAlchemy compiles it once and sends the rows as
    multi-row VALUES ("insertmanyvalues"), where a statement with the batch's rows in it would be
    compiled anew for every batch."""
    key = (connection.dialect.name, name)
    if key not in _STATEMENTS:
        dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
        _STATEMENTS[key] = _BUILDERS[name](dialect)
    return _STATEMENTS[key]


def _upsert_groups_statement(dialect: Any) -> Insert:
    statement = dialect.insert(_GROUPS)
    excluded, table = statement.excluded, _GROUPS.c
    return statement.on_conflict_do_update(index_elements=["fingerprint"], set_={
        "occurrence_count": table.occurrence_count + excluded.occurrence_count,
        "first_seen": case((excluded.first_seen < table.first_seen, excluded.first_seen), else_=table.first_seen),
        "last_seen": case((excluded.last_seen > table.last_seen, excluded.last_seen), else_=table.last_seen),
        "status": case((table.status == REOPENED_STATUS, "open"), else_=table.status),
        **{column: excluded[column] for column in _TRIAGE_COLUMNS},  # the latest classification wins
    }).returning(table.id, table.fingerprint)


_BUILDERS = {
    "upsert_groups": _upsert_groups_statement,
    "insert_occurrences": lambda dialect: dialect.insert(_OCCURRENCES).on_conflict_do_nothing().returning(
        _OCCURRENCES.c.id, _OCCURRENCES.c.delivery_id),
    "insert_rejected": lambda dialect: dialect.insert(_REJECTED).on_conflict_do_nothing(),
}
_STATEMENTS: dict[tuple[str, str], Any] = {}
