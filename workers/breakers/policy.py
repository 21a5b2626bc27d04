"""The circuit breaker as pure functions of (state, config, now_s): no I/O, no clock reads.

closed -> open, by `mode`:
- rate (the default): once at least `minimum_calls` of the latest calls within `window_s` (at most
  `window_calls` of them) are on record and `failure_rate_threshold` percent of them failed;
- count: after `failure_threshold` failures within `window_s`, whatever succeeded in between.
open -> half_open once `recovery_timeout_s` has passed; half_open -> closed after
`success_threshold` probe successes, or back to open on any probe failure. forced_open refuses
everything until closed by hand. How to size these: docs/breakers.md.

Probe slots are leased for `recovery_timeout_s`: a probe whose worker died without reporting
would otherwise hold its slot forever and keep the breaker half-open, refusing every call.

Only probes decide a half-open breaker: outcomes of calls that started before it opened are stale
and change nothing while it is open or half-open. In count mode a success in the closed state does
not clear earlier failures; only the window does, so a service failing half its calls still trips.
In rate mode a success counts as a call, but only while a failure is within the window: a breaker
with nothing but successes on record has nothing to judge, so those calls write nothing.

When it closes, the attempts deferred behind it are released spread over `release_window_s(n)`
seconds (workers/recovery/service.py), so they do not all hit the service in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

StateName = Literal["closed", "open", "half_open", "forced_open"]
Mode = Literal["rate", "count"]


class BreakerConfig(BaseModel):
    """One service's breaker (plans files, `breakers:`); every field is described in docs/breakers.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Field(
        "rate", description="rate: open on the failure rate of the latest calls (failure_rate_threshold, "
                            "minimum_calls, window_calls); count: open after failure_threshold failures, whatever "
                            "succeeded in between. A config naming failure_threshold without mode is count.")
    failure_rate_threshold: float = Field(
        80, gt=0, le=100,
        description="rate mode: percentage of failed calls, among the latest calls on record, that opens it.")
    minimum_calls: int = Field(
        20, ge=1, description="rate mode: calls on record (within window_s) before the rate is judged at all.")
    window_calls: int = Field(
        40, ge=1, description="rate mode: the latest this many calls within window_s make the rate; at least "
                              "minimum_calls.")
    failure_threshold: int = Field(5, ge=1, description="count mode: failures within window_s that open it.")
    window_s: float = Field(60, gt=0, description="How long a call's outcome counts (both modes).")
    recovery_timeout_s: float = Field(
        10, gt=0, description="How long it stays open before a probe is let through; also how long a probe's "
                              "slot is held when its outcome never comes.")
    half_open_max_calls: int = Field(1, ge=1, description="Probe calls in flight at once while half-open.")
    success_threshold: int = Field(1, ge=1, description="Probe successes that close it.")
    release_per_s: float = Field(
        20, gt=0, description="When it closes, the attempts deferred behind it are sent at about this many a "
                              "second (spread with jitter over count / release_per_s seconds) ...")
    release_window_max_s: float = Field(
        10, ge=0, description="... over at most this many seconds; 0 sends them all at once.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_count(cls, data: Any) -> Any:
        """A config that names failure_threshold but no mode was written for the count breaker (the only
        one before modes): it stays one, rather than silently becoming a rate breaker ignoring it."""
        if isinstance(data, dict) and "failure_threshold" in data and "mode" not in data:
            return {**data, "mode": "count"}
        return data

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> BreakerConfig:
        if self.window_calls < self.minimum_calls:
            raise ValueError(f"window_calls ({self.window_calls}) is less than minimum_calls ({self.minimum_calls}): "
                             "the failure rate would never be judged")
        return self


@dataclass(frozen=True)
class BreakerState:
    state: StateName = "closed"
    failures: tuple[float, ...] = ()  # count mode: epoch seconds of the failures still inside the window
    calls: tuple[tuple[float, bool], ...] = ()  # rate mode: (epoch seconds, failed) of the latest calls, oldest first
    opened_at: float | None = None
    half_open_calls: int = 0  # probes in flight
    successes: int = 0  # probe successes since it half-opened
    probed_at: float | None = None  # when the latest probe was let through; its lease runs from here

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self.state, "failures": list(self.failures), "opened_at": self.opened_at,
                                "half_open_calls": self.half_open_calls, "successes": self.successes,
                                "probed_at": self.probed_at}
        if self.calls:  # [at, 1|0]: compact, and absent from every count-mode record
            data["calls"] = [[at, int(failed)] for at, failed in self.calls]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BreakerState:
        return cls(state=data.get("state", "closed"), failures=tuple(float(t) for t in data.get("failures", ())),
                   calls=tuple((float(at), bool(failed)) for at, failed in data.get("calls", ())),
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
        return replace(state, failures=_in_window(state.failures, config, now_s),
                       calls=_calls_in_window(state.calls, config, now_s))
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
    if state.state == "closed" and config.mode == "rate":
        calls = _calls_in_window(state.calls, config, now_s)
        if not any(failed for _, failed in calls):
            return state, None  # nothing to judge: no write
        return replace(state, calls=_latest(calls, now_s, False, config)), None
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
    if config.mode == "rate":
        calls = _latest(_calls_in_window(state.calls, config, now_s), now_s, True, config)
        if tripped(calls, config):
            failed = sum(1 for _, f in calls if f)
            why = (f"{failed} of the last {len(calls)} calls within {config.window_s:g}s failed "
                   f"({100 * failed / len(calls):.0f}% >= {config.failure_rate_threshold:g}%)")
            return _opened(now_s), Transition("closed", "open", why)
        return replace(state, calls=calls), None
    failures = (*_in_window(state.failures, config, now_s), now_s)
    if len(failures) >= config.failure_threshold:
        return _opened(now_s), Transition("closed", "open", f"{len(failures)} failures within {config.window_s:g}s")
    return replace(state, failures=failures), None


def tripped(calls: tuple[tuple[float, bool], ...], config: BreakerConfig) -> bool:
    """Rate mode: enough calls on record, and enough of them failed."""
    if len(calls) < config.minimum_calls:
        return False
    failed = sum(1 for _, f in calls if f)
    return failed * 100 >= config.failure_rate_threshold * len(calls)


def release_window_s(waiting: int, config: BreakerConfig) -> float:
    """Over how long the `waiting` attempts deferred behind a breaker that just closed are spread."""
    return min(config.release_window_max_s, waiting / config.release_per_s)


def release_offsets(waiting: int, config: BreakerConfig, rng: random.Random) -> list[float]:
    """When each of `waiting` deferred attempts goes, in seconds from now: one in each equal slice of
    the release window, at a random point within its slice (jittered, yet never bunched)."""
    window_s = release_window_s(waiting, config)
    if waiting <= 0:
        return []
    slot_s = window_s / waiting
    return [slot_s * (n + rng.random()) for n in range(waiting)]


def failures_on_record(state: BreakerState) -> int:
    """Failures the breaker holds against the service, in either mode (for people: CLI, API)."""
    return len(state.failures) + sum(1 for _, failed in state.calls if failed)


def describe(config: BreakerConfig) -> str:
    """When it opens and closes, in a few words (for people: CLI, API)."""
    if config.mode == "rate":
        opens = (f"opens at {config.failure_rate_threshold:g}% failed of the last {config.window_calls} calls "
                 f"(at least {config.minimum_calls}) in {config.window_s:g}s")
    else:
        opens = f"opens at {config.failure_threshold} failures in {config.window_s:g}s"
    return (f"{opens}, recovery {config.recovery_timeout_s:g}s, {config.half_open_max_calls} probe, "
            f"closes after {config.success_threshold}")


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


def _calls_in_window(calls: tuple[tuple[float, bool], ...], config: BreakerConfig,
                     now_s: float) -> tuple[tuple[float, bool], ...]:
    return tuple(call for call in calls if call[0] > now_s - config.window_s)


def _latest(calls: tuple[tuple[float, bool], ...], now_s: float, failed: bool,
            config: BreakerConfig) -> tuple[tuple[float, bool], ...]:
    """`calls` with this one added, the oldest beyond window_calls dropped."""
    return (*calls, (now_s, failed))[-config.window_calls:]


def _one_less(count: int) -> int:
    return max(0, count - 1)
