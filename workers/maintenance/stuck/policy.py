"""What the stuck job does with a stuck execution: requeue it, escalate it, or leave it to an operator.

Pure. An execution's history is read from its audit rows: each automatic requeue
(`stuck_requeue` by the job) counts; `stuck_escalated` means an operator was told; any
operator's change starts afresh (they took it in hand, so the budget of requeues is new).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workers.recovery.operator import REQUEUED as REQUEUE_ACTION

ESCALATED_ACTION = "stuck_escalated"
OPERATOR_PREFIX = "operator:"

REQUEUE, ESCALATE, LEAVE = "requeue", "escalate", "leave"


@dataclass(frozen=True)
class History:
    requeues: int = 0  # automatic requeues since an operator last acted
    escalated: bool = False


@dataclass(frozen=True)
class Decision:
    action: str  # requeue | escalate | leave
    why: str


def history_of(entries: Iterable[tuple[str, str]]) -> History:
    """Fold (actor, action) audit entries, oldest first, into a History."""
    history = History()
    for actor, action in entries:
        if actor.startswith(OPERATOR_PREFIX):
            history = History()
        elif action == REQUEUE_ACTION:
            history = History(history.requeues + 1, history.escalated)
        elif action == ESCALATED_ACTION:
            history = History(history.requeues, True)
    return history


def decide(history: History, *, max_requeues: int) -> Decision:
    if history.escalated:
        return Decision(LEAVE, "escalated before: left to an operator")
    if history.requeues < max_requeues:
        return Decision(REQUEUE, f"requeue {history.requeues + 1} of {max_requeues}")
    return Decision(ESCALATE, f"requeued {history.requeues} time(s) already: escalate")
