"""A success that ends its execution, recorded in one statement on PostgreSQL.

Most outcomes medic records are a replay's success on a step that ends the execution (retry,
fallback, action: engine.after_outcome finishes it, succeeded). Recording one is the attempt
finished, the execution succeeded and one audit row; here they are written in one round trip by a
data-modifying WITH, in place of a load and three ORM statements, the most a recovery attempt
spent after its app task had run. Any other record (another outcome, a step that goes on, an
attempt no longer running, a note to write with it) changes nothing here and takes the general
path (RecoveryService.record), as SQLite always does: in process, it has no round trips to save.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, text
from sqlalchemy.orm import Session

from workers.recovery.plans import ENDING_KINDS
from workers.recovery.states import FINISHED, RUNNING, SUCCEEDED
from workers.storage.types import UTCDateTime


def _listed(values: frozenset[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))  # medic's own constants, not input


# A JSON column without a value holds JSON null (SQLAlchemy's default), which || would make an array.
_OBJECT = "(CASE WHEN json_typeof({0}) = 'object' THEN {0}::jsonb ELSE '{{}}'::jsonb END)"
_REASON = "'step ' || (a.step_index + 1) || ' (' || a.step_kind || ') succeeded'"
_STATEMENT = text(
    f"WITH a AS (UPDATE attempts SET state = '{SUCCEEDED}', outcome = 'success', error = NULL, finished_at = :now, "
    f"detail = ({_OBJECT.format('attempts.detail')} || CAST(:detail AS jsonb))::json "
    f"WHERE attempts.id = :attempt_id AND attempts.state = '{RUNNING}' "
    f"AND attempts.step_kind IN ({_listed(ENDING_KINDS)}) "
    f"RETURNING attempts.execution_id, attempts.run, attempts.step_index, attempts.number, attempts.step_kind, "
    f"attempts.detail), "
    f"old AS (SELECT executions.id, executions.state, executions.service, "
    f"executions.run = a.run AND executions.state NOT IN ({_listed(FINISHED)}) AS ends "
    f"FROM executions JOIN a ON executions.id = a.execution_id FOR UPDATE OF executions), "
    f"e AS (UPDATE executions SET state = '{SUCCEEDED}', updated_at = :now, finished_at = :now, "
    f"next_attempt_at = NULL, reason = {_REASON}, version = executions.version + 1 "
    f"FROM old, a WHERE executions.id = old.id AND old.ends RETURNING executions.id), "
    f"u AS (INSERT INTO execution_audit (execution_id, attempt_id, at, actor, action, from_state, to_state, reason, "
    f"detail) SELECT e.id, :attempt_id, :now, :actor, '{SUCCEEDED}', old.state, '{SUCCEEDED}', {_REASON}, "
    f"json_build_object('outcome_of', jsonb_build_object('step', a.step_index + 1, 'attempt', a.number, "
    f"'outcome', 'success', 'error', NULL) || CAST(:shown AS jsonb)) FROM e, old, a) "
    f"SELECT a.execution_id, a.step_kind, a.detail, old.service, old.ends FROM a, old"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("detail", type_=JSON()),
             bindparam("shown", type_=JSON()))


@dataclass(frozen=True)
class Recorded:
    execution_id: int
    step_kind: str
    service: str
    probe: bool  # the attempt was its breaker's probe
    ended: bool  # False: the execution had finished already, or moved on to another run


def supported(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def record_success(session: Session, attempt_id: int, *, detail: dict[str, Any], shown: dict[str, Any],
                   now: datetime, actor: str) -> Recorded | None:
    """None when the general path must record it (nothing was changed). `detail`: the outcome's, merged
    into the attempt's; `shown`: the part of it the audit row repeats."""
    row = session.execute(_STATEMENT, {"attempt_id": attempt_id, "now": now, "actor": actor, "detail": detail,
                                       "shown": shown}).first()
    if row is None:
        return None
    execution_id, step_kind, merged, service, ended = row
    return Recorded(execution_id, step_kind, service, bool((merged or {}).get("probe")), bool(ended))
