"""What one attempt came to, in the terms the recovery engine decides on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# success: the operation was done; retryable: may work later (the policy decides when);
# permanent: will not work by repeating it, go to the next step; timeout: no outcome by the deadline.
Outcome = Literal["success", "retryable", "permanent", "timeout"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    error: str | None = None
    retry_after_s: float | None = None  # the peer asked for this wait (Retry-After)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"

    @property
    def counts_against_breaker(self) -> bool:
        """Failures that say the service is unhealthy; a 4xx says the request was wrong."""
        return self.outcome in ("retryable", "timeout")


def success(**detail: Any) -> AttemptResult:
    return AttemptResult("success", detail=detail)


def retryable(error: str, *, retry_after_s: float | None = None, **detail: Any) -> AttemptResult:
    return AttemptResult("retryable", error, retry_after_s, detail)


def permanent(error: str, **detail: Any) -> AttemptResult:
    return AttemptResult("permanent", error, detail=detail)


def recorded(outcome: str, error: str | None) -> AttemptResult:
    """An outcome as an attempt's row keeps it (written from an AttemptResult), without its detail."""
    for known in OUTCOMES:
        if outcome == known:
            return AttemptResult(known, error)
    raise ValueError(f"unknown attempt outcome {outcome!r}")
