"""Group signals, the decision: which of new, regressed and spike a group's batch of occurrences
without a recovery target sends, from the group's stored state, the batch's counts and the limits.

Pure: no clock, no database (workers/notify/group_signals.py reads and writes the state). A group
is signalled `new` once; `regressed` and `spike` at most once per their cooldown, so a storm of any
size sends at most one signal of each kind per group within the cooldowns.

The rate is a sliding estimate over two fixed windows of `spike_window_s`: the occurrences of the
current window plus those of the previous one weighted by how much of it the sliding window still
covers. It needs two counters per group, and a burst across a window boundary still counts whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from config.channels import Level
from workers.notify.message import Message

NEW, REGRESSED, SPIKE = "new", "regressed", "spike"
KINDS = (NEW, REGRESSED, SPIKE)


@dataclass(frozen=True)
class SignalLimits:
    """MEDIC_GROUP_SIGNAL_*: the cooldowns and the spike's window and threshold."""

    regressed_cooldown_s: float = 3600
    spike_window_s: float = 300
    spike_threshold: int = 100
    spike_cooldown_s: float = 3600

    @classmethod
    def from_settings(cls, settings: Any) -> SignalLimits:
        return cls(regressed_cooldown_s=settings.group_signal_regressed_cooldown_s,
                   spike_window_s=settings.group_signal_spike_window_s,
                   spike_threshold=settings.group_signal_spike_threshold,
                   spike_cooldown_s=settings.group_signal_spike_cooldown_s)


@dataclass(frozen=True)
class SignalState:
    """A group's stored state (a group_signals row); the default is a group never seen."""

    window_started_at: datetime | None = None
    window_count: int = 0
    previous_count: int = 0
    new_sent_at: datetime | None = None
    regressed_sent_at: datetime | None = None
    spike_sent_at: datetime | None = None
    signals_sent: int = 0

    def sent_at(self, kind: str) -> datetime | None:
        return {NEW: self.new_sent_at, REGRESSED: self.regressed_sent_at, SPIKE: self.spike_sent_at}[kind]


@dataclass(frozen=True)
class Batch:
    """What one intake batch brought a group: flags from intake, and how many occurrences."""

    new: bool
    regressed: bool
    occurrences: int


@dataclass(frozen=True)
class Decision:
    state: SignalState  # to store
    fire: tuple[str, ...]  # the kinds to send now, in KINDS order
    rate: float  # the estimated occurrences within the last spike window, this batch included


def count(state: SignalState, occurrences: int, *, now: datetime, window_s: float) -> SignalState:
    """Add a batch's occurrences to the window they fall in (now), moving the windows on first."""
    window = timedelta(seconds=window_s)
    start = state.window_started_at
    if start is None or now - start >= 2 * window:  # first batch, or a quiet spell longer than two windows
        return replace(state, window_started_at=now, window_count=occurrences, previous_count=0)
    if now - start >= window:  # the next window: aligned on the last one, so the estimate stays continuous
        return replace(state, window_started_at=start + window, window_count=occurrences,
                       previous_count=state.window_count)
    # Within the window (or before its start: another worker's clock runs ahead).
    return replace(state, window_count=state.window_count + occurrences)


def rate(state: SignalState, *, now: datetime, window_s: float) -> float:
    """Occurrences within the window_s before now, estimated from the two counters."""
    if state.window_started_at is None:
        return 0.0
    elapsed = (now - state.window_started_at).total_seconds()
    if elapsed >= 2 * window_s:
        return 0.0
    if elapsed >= window_s:  # the current counter is a whole window old
        return state.window_count * (1 - (elapsed - window_s) / window_s)
    covered = max(0.0, elapsed) / window_s
    return state.window_count + state.previous_count * (1 - covered)


def cooled(last: datetime | None, *, now: datetime, cooldown_s: float | None) -> bool:
    """Whether a signal last sent at `last` may go out again; cooldown None: never again."""
    if last is None:
        return True
    return cooldown_s is not None and (now - last).total_seconds() >= cooldown_s


def decide(state: SignalState, batch: Batch, *, wanted: frozenset[str], now: datetime,
           limits: SignalLimits) -> Decision:
    """The signals a group sends for a batch, and its state after it.

    `wanted`: the kinds the group's plan signals (PlanSpec.group_signals.kinds). The window counts
    every batch, wanted or not, so a plan that starts to want spikes finds the rate already known."""
    counted = count(state, batch.occurrences, now=now, window_s=limits.spike_window_s)
    estimate = rate(counted, now=now, window_s=limits.spike_window_s)
    due = {
        NEW: batch.new and cooled(state.new_sent_at, now=now, cooldown_s=None),
        REGRESSED: batch.regressed and cooled(state.regressed_sent_at, now=now,
                                              cooldown_s=limits.regressed_cooldown_s),
        SPIKE: estimate >= limits.spike_threshold and cooled(state.spike_sent_at, now=now,
                                                             cooldown_s=limits.spike_cooldown_s),
    }
    fire = tuple(kind for kind in KINDS if due[kind] and kind in wanted)
    after = replace(counted, signals_sent=counted.signals_sent + len(fire),
                    new_sent_at=now if NEW in fire else counted.new_sent_at,
                    regressed_sent_at=now if REGRESSED in fire else counted.regressed_sent_at,
                    spike_sent_at=now if SPIKE in fire else counted.spike_sent_at)
    return Decision(after, fire, estimate)


# ----------------------------------------------------------------------------- the message

_SUBJECTS = {NEW: "new {category} error in {service}: {error_type}",
             REGRESSED: "regressed {category} error in {service} (it was resolved): {error_type}",
             SPIKE: "spike of {category} errors in {service}: {error_type}"}


def signal_message(kind: str, *, step_kind: str, level: Level, group_id: int, event: dict[str, Any], category: str,
                   severity: str, plan: str, occurrences: int, last_at: datetime, estimate: float,
                   limits: SignalLimits) -> Message:
    """The notification of one group signal; `step_kind` notify or escalate (as the plan's signal says)."""
    subject = _SUBJECTS[kind].format(category=category, service=event.get("service", "?"),
                                     error_type=event.get("error_type", "?"))
    if step_kind == "escalate":
        subject = f"escalated: {subject}"
    facts: dict[str, Any] = {
        "signal": kind, "service": event.get("service"), "category": category, "severity": severity,
        "error_type": event.get("error_type"), "message": event.get("message"), "operation": event.get("operation"),
        "source": event.get("source"), "group_id": group_id, "plan": plan, "occurrences_in_batch": occurrences,
        "last_at": last_at}
    if kind == SPIKE:
        facts.update(rate=f"about {estimate:,.0f} in {limits.spike_window_s:g} s "
                          f"(threshold {limits.spike_threshold:,})",
                     cooldown_s=limits.spike_cooldown_s)
    return Message(subject=subject, level=level, kind=f"group_{kind}",
                   fields={key: value for key, value in facts.items() if value is not None}, group_id=group_id)
