"""An operator opens, closes or resets a service's breaker: the one implementation behind `medic breakers
open|close|reset`, POST /api/breakers/{service}/open|close|reset and the console's buttons.

The change goes through `Breakers` (a compare-and-set), whose listener (the recovery service's) records the
transition with its actor in breaker_transitions and notifies it; a closing breaker releases the work deferred
behind it."""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import InvalidTransition
from workers.breakers import policy
from workers.breakers.policy import BreakerState
from workers.breakers.service import Breakers

# The operator's verb -> the Breakers method.
ACTIONS = {"open": "force_open", "close": "close", "reset": "reset"}
MAX_SERVICE_CHARS = 256  # breakers.service, breaker_transitions.service


@dataclass(frozen=True)
class BreakerChange:
    service: str
    action: str  # open | close | reset
    actor: str
    before: BreakerState
    after: BreakerState

    @property
    def changed(self) -> bool:
        return self.action == "reset" or self.before.state != self.after.state

    def describe(self) -> str:
        """What happened, in a sentence (the CLI's output, the console's flash)."""
        if self.action == "reset":
            count = policy.failures_on_record(self.before)
            failures = f" with {count} failure{'s' if count != 1 else ''} in its window" if count else ""
            return (f"circuit breaker of {self.service} reset by {self.actor}: it was {self.before.state}{failures}; "
                    f"the next call finds a fresh closed breaker")
        if not self.changed:
            return f"circuit breaker of {self.service} is already {self.after.state}: nothing changed"
        return f"circuit breaker of {self.service}: {self.before.state} → {self.after.state} (by {self.actor})"

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "action": self.action, "actor": self.actor, "before": self.before.state,
                "after": self.after.state, "changed": self.changed, "message": self.describe()}


def operate(breakers: Breakers, service: str, action: str, *, actor: str) -> BreakerChange:
    """Open (force open: nothing reaches the service until closed or reset), close (no failures on record), or
    reset (forget it) the breaker of `service`, as `actor`."""
    if action not in ACTIONS:
        raise InvalidTransition(f"unknown breaker action {action!r}; actions are {', '.join(ACTIONS)}")
    if not service.strip() or len(service) > MAX_SERVICE_CHARS:
        raise InvalidTransition(f"a service name is 1 to {MAX_SERVICE_CHARS} characters")
    before, _ = breakers.store.load(service)
    getattr(breakers, ACTIONS[action])(service, actor=actor)
    after, _ = breakers.store.load(service)
    return BreakerChange(service, action, actor, before, after)
