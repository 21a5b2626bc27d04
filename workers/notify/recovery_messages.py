"""What recovery tells people: a plan's notify or escalate step about an execution, and a circuit
breaker's change of state. Pure: the caller queues the message (workers/notify/queue.py)."""

from __future__ import annotations

from typing import Any

from config.channels import Level
from workers.breakers.policy import Transition
from workers.notify.message import Message
from workers.storage.models import Execution


def execution_message(execution: Execution, event: dict[str, Any], *, kind: str, level: Level) -> Message:
    """A notify (`kind` "notify") or escalate step's message about the execution of `event`."""
    verb = "escalated" if kind == "escalate" else "needs attention"
    subject = f"{execution.category} error in {execution.service} {verb}: {event.get('error_type', '?')}"
    return Message(subject=subject, level=level, kind=kind, fields=_facts(execution, event),
                   group_id=execution.group_id, execution_id=execution.id)


def _facts(execution: Execution, event: dict[str, Any]) -> dict[str, Any]:
    facts = {"service": execution.service, "category": execution.category, "error_type": event.get("error_type"),
             "message": event.get("message"), "operation": event.get("operation"), "source": event.get("source"),
             "group_id": execution.group_id, "execution_id": execution.id, "plan": execution.plan_name,
             "last_error": execution.last_error}
    return {key: value for key, value in facts.items() if value is not None}


def breaker_message(service: str, transition: Transition) -> Message:
    """A circuit breaker of `service` changed state: an error when it opens, news when it closes."""
    level: Level = "info" if transition.to_state == "closed" else "error"
    return Message(subject=f"circuit breaker of {service}: {transition.from_state} -> {transition.to_state}",
                   level=level, kind="breaker", fields={"service": service, "reason": transition.reason})
