"""The circuit breaker as pure functions of (state, config, now_s): no I/O, no clock reads.

closed -> open after `failure_threshold` failures within `window_s`; open -> half_open once
`recovery_timeout_s` has passed; half_open -> closed after `success_threshold` probe successes,
or back to open on any probe failure. forced_open refuses everything until closed by hand.

Probe slots are leased for `recovery_timeout_s`: a probe whose worker died without reporting
would otherwise hold its slot forever and keep the breaker half-open, refusing every call.

Only probes decide a half-open breaker: outcomes of calls that started before it opened are stale
and change nothing while it is open or half-open. A success in the closed state does not clear
earlier failures; only the window does, so a service failing half its calls still trips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StateName = Literal["closed", "open", "half_open", "forced_open"]


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_threshold: int = Field(5, ge=1, description="Failures within window_s that open the breaker.")
    window_s: float = Field(60, gt=0, description="How long a failure counts.")
    recovery_timeout_s: float = Field(30, gt=0, description="How long it stays open before probing.")
    half_open_max_calls: int = Field(1, ge=1, description="Probe calls in flight at once while half-open.")
    success_threshold: int = Field(1, ge=1, description="Probe successes that close it.")


@dataclass(frozen=True)
class BreakerState:
    state: StateName = "closed"
    failures: tuple[float, ...] = ()  # epoch seconds of the failures still inside the window
    opened_at: float | None = None
    half_open_calls: int = 0  # probes in flight
    successes: int = 0  # probe successes since it half-opened
    probed_at: float | None = None  # when the latest probe was let through; its lease runs from here

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "failures": list(self.failures), "opened_at": self.opened_at,
                "half_open_calls": self.half_open_calls, "successes": self.successes, "probed_at": self.probed_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BreakerState:
        return cls(state=data.get("state", "closed"), failures=tuple(float(t) for t in data.get("failures", ())),
                   opened_at=data.get("opened_at"), half_open_calls=int(data.get("half_open_calls", 0)),
                   successes=int(data.get("successes", 0)), probed_at=data.get("probed_at"))


@dataclass(frozen=True)
class Transition:
    from_state: str
    to_state: str
    reason: str


@dataclass(frozen=True)
class Permit:
    allowed: bool
    retry_at_s: float | None = None  # refused: when to try again; None when forced open
    probe: bool = False  # a half-open probe: report its outcome with probe=True


Step = tuple[BreakerState, Transition | None]

CLOSED = BreakerState()


def retry_at_s(state: BreakerState, config: BreakerConfig) -> float | None:
    """When a refused call may try again: an open breaker half-opens, a half-open one's probe leases
    run out (sooner if a probe reports). None when closed or forced open."""
    since = {"open": state.opened_at, "half_open": state.probed_at}.get(state.state)
    return None if since is None else since + config.recovery_timeout_s


def current(state: BreakerState, config: BreakerConfig, now_s: float) -> BreakerState:
    """The state as the next call would find it: old failures dropped, a timed-out open breaker half-open."""
    if state.state == "closed":
        return replace(state, failures=_in_window(state.failures, config, now_s))
    if _recovered(state, config, now_s):
        return replace(state, state="half_open", half_open_calls=0, successes=0, probed_at=None)
    return state


def effective_state(state: BreakerState, config: BreakerConfig, now_s: float) -> StateName:
    return current(state, config, now_s).state


def before_call(state: BreakerState, config: BreakerConfig,
                now_s: float) -> tuple[BreakerState, Permit, Transition | None]:
    """May a call go ahead now? A permitted half-open call is a probe and holds a probe slot."""
    if state.state == "closed":
        return state, Permit(True), None
    if state.state == "forced_open":
        return state, Permit(False), None
    if state.state == "open":
        if not _recovered(state, config, now_s):
            return state, Permit(False, retry_at_s(state, config)), None
        half_open = replace(state, state="half_open", half_open_calls=1, successes=0, probed_at=now_s)
        why = f"recovery timeout of {config.recovery_timeout_s:g}s elapsed"
        return half_open, Permit(True, probe=True), Transition("open", "half_open", why)
    if state.half_open_calls >= config.half_open_max_calls:
        if not _leases_expired(state, config, now_s):
            return state, Permit(False, retry_at_s(state, config)), None
        state = replace(state, half_open_calls=0)
    return replace(state, half_open_calls=state.half_open_calls + 1, probed_at=now_s), Permit(True, probe=True), None


def on_success(state: BreakerState, config: BreakerConfig, now_s: float, *, probe: bool) -> Step:
    if state.state != "half_open" or not probe:
        return state, None
    successes = state.successes + 1
    if successes >= config.success_threshold:
        return CLOSED, Transition("half_open", "closed", f"{successes} probe success{'es' if successes > 1 else ''}")
    return replace(state, half_open_calls=_one_less(state.half_open_calls), successes=successes), None


def on_failure(state: BreakerState, config: BreakerConfig, now_s: float, *, probe: bool) -> Step:
    if state.state == "half_open":
        return (_opened(now_s), Transition("half_open", "open", "probe failed")) if probe else (state, None)
    if state.state != "closed":
        return state, None
    # A probe that outlived its half-open breaker (another probe closed it) counts as a plain failure.
    failures = (*_in_window(state.failures, config, now_s), now_s)
    if len(failures) >= config.failure_threshold:
        return _opened(now_s), Transition("closed", "open", f"{len(failures)} failures within {config.window_s:g}s")
    return replace(state, failures=failures), None


def release(state: BreakerState, *, probe: bool) -> Step:
    """A permitted call ended without an outcome: give its probe slot back."""
    if state.state != "half_open" or not probe:
        return state, None
    return replace(state, half_open_calls=_one_less(state.half_open_calls)), None


def force_open(state: BreakerState, now_s: float) -> Step:
    if state.state == "forced_open":
        return state, None
    return BreakerState(state="forced_open", opened_at=now_s), Transition(state.state, "forced_open", "forced open")


def close(state: BreakerState) -> Step:
    """Closed with no failures on record, whatever it was."""
    transition = None if state.state == "closed" else Transition(state.state, "closed", "closed by hand")
    return CLOSED, transition


def _opened(now_s: float) -> BreakerState:
    return BreakerState(state="open", opened_at=now_s)


def _recovered(state: BreakerState, config: BreakerConfig, now_s: float) -> bool:
    return state.state == "open" and _due(state, config, now_s)


def _leases_expired(state: BreakerState, config: BreakerConfig, now_s: float) -> bool:
    """No probe was let through for a whole lease: those in flight are taken as lost."""
    return state.state == "half_open" and _due(state, config, now_s)


def _due(state: BreakerState, config: BreakerConfig, now_s: float) -> bool:
    at = retry_at_s(state, config)
    return at is not None and now_s >= at


def _in_window(failures: tuple[float, ...], config: BreakerConfig, now_s: float) -> tuple[float, ...]:
    return tuple(t for t in failures if t > now_s - config.window_s)


def _one_less(count: int) -> int:
    return max(0, count - 1)
