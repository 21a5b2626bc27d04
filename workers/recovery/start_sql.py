"""An execution's start written in one statement on PostgreSQL: the execution, its first attempt and its
audit row, chained by a data-modifying WITH.

This is on intake's path, once per stored occurrence: one round trip instead of three ORM flushes
(each an INSERT ... RETURNING) took most of what starting a recovery cost intake. SQLite, in
process, has no round trips to save and no such WITH; it takes the ORM path (store.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Integer, bindparam, text
from sqlalchemy.orm import Session

from workers.clock import as_utc
from workers.storage.types import UTCDateTime

EXECUTION_COLUMNS = ("group_id", "occurrence_id", "replay_of", "plan_name", "plan", "service", "category", "state",
                     "run", "step_index", "next_attempt_at", "created_at", "updated_at", "finished_at", "reason",
                     "version")
ATTEMPT_COLUMNS = ("run", "step_index", "step_kind", "number", "state", "scheduled_for", "dispatched_at",
                   "dispatch_count", "claimed_at", "claimed_by", "deadline_at", "sent_at")
# The audit rows (steps skipped at the start, "created", then "claimed" when the attempt is claimed at once)
# travel as one JSON array.
AUDIT_FIELDS = (("at", "timestamptz"), ("actor", "text"), ("action", "text"), ("from_state", "text"),
                ("to_state", "text"), ("reason", "text"), ("detail", "json"), ("of_attempt", "boolean"))
# In the array's order, so that their ids (and `medic executions show`) keep it: they share one time.
AUDIT_ROWS = (f"ROWS FROM (json_to_recordset(:audit) AS ({', '.join(f'{n} {t}' for n, t in AUDIT_FIELDS)})) "
              f"WITH ORDINALITY AS r({', '.join(n for n, _ in AUDIT_FIELDS)}, ordinal)")
_TYPES = {"plan": JSON(), "detail": JSON(), "next_attempt_at": UTCDateTime(), "created_at": UTCDateTime(),
          "updated_at": UTCDateTime(), "finished_at": UTCDateTime(), "scheduled_for": UTCDateTime(),
          "dispatched_at": UTCDateTime(), "claimed_at": UTCDateTime(), "deadline_at": UTCDateTime(),
          "sent_at": UTCDateTime(),
          "replay_of": Integer()}


def _binds(prefix: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f":{prefix}{name}" for name in columns)


_STATEMENT = text(
    f"WITH e AS (INSERT INTO executions ({', '.join(EXECUTION_COLUMNS)}) VALUES ({_binds('e_', EXECUTION_COLUMNS)}) "
    f"RETURNING id), "
    f"a AS (INSERT INTO attempts (execution_id, {', '.join(ATTEMPT_COLUMNS)}) "
    f"SELECT e.id, {_binds('a_', ATTEMPT_COLUMNS)} FROM e WHERE :with_attempt RETURNING id), "
    f"u AS (INSERT INTO execution_audit (execution_id, attempt_id, at, actor, action, from_state, to_state, reason, "
    f"detail) "
    f"SELECT e.id, CASE WHEN r.of_attempt THEN (SELECT id FROM a) END, r.at, r.actor, r.action, r.from_state, "
    f"r.to_state, r.reason, r.detail FROM e, {AUDIT_ROWS} ORDER BY r.ordinal) "
    f"SELECT e.id, (SELECT id FROM a) FROM e"
).bindparams(
    bindparam("with_attempt", type_=Boolean()),
    bindparam("audit", type_=JSON()),
    *(bindparam(f"{prefix}{name}", type_=_TYPES[name])
      for prefix, columns in (("e_", EXECUTION_COLUMNS), ("a_", ATTEMPT_COLUMNS))
      for name in columns if name in _TYPES),
)


def supported(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_start(session: Session, execution: dict[str, Any], attempt: dict[str, Any] | None,
                 audit: list[dict[str, Any]]) -> tuple[int, int | None]:
    """(execution id, attempt id or None). The dicts hold the columns named above; each audit row
    also says whether it names the attempt (`of_attempt`)."""
    params: dict[str, Any] = {"with_attempt": attempt is not None,
                              "audit": [{**row, "at": as_utc(row["at"]).isoformat()} for row in audit]}
    params.update({f"e_{name}": execution[name] for name in EXECUTION_COLUMNS})
    params.update({f"a_{name}": (attempt or {}).get(name) for name in ATTEMPT_COLUMNS})
    execution_id, attempt_id = session.execute(_STATEMENT, params).one()
    return execution_id, attempt_id
