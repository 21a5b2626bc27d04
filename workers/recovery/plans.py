"""Recovery plans as data: the YAML schema, loading, merging and selection.

Plan files are read in order: the built-in files in config/plans/ (by file name), then the
user's files (MEDIC_PLANS_FILES) in the order given. A plan whose `name` was already defined
replaces the earlier one; `enabled: false` removes it. An event gets the matching plan with the
highest `priority`; at equal priority the more specific match wins (more conditions), then the
later file. Breaker settings merge the same way, per service.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from config.channels import Level
from config.errors import ConfigError
from workers.backoff import Jitter
from workers.breakers.policy import BreakerConfig
from workers.classification.taxonomy import Severity
from workers.datafile import entry_field, load_model, packaged_files
from workers.intake.contract import Target

DEFAULT_PRIORITY = 50
# A Retry-After longer than this is not honoured in full: the policy's own delay applies.
DEFAULT_MAX_RETRY_AFTER_S = 3600


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Names = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_as_list), Field(min_length=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Spec):
    """All given conditions must hold; a list means any of its entries."""

    category: Names | None = None  # exact category names
    severity: Annotated[list[Severity], BeforeValidator(_as_list), Field(min_length=1)] | None = None
    service: Names | None = None  # globs, as in rules
    source: Names | None = None
    operation: Names | None = None
    hint: Names | None = None  # the event's `plan_hint`, globs: an app asks for a plan the operator wrote for it

    def matches(self, event: dict[str, Any], category: str, severity: str) -> bool:
        if self.category and category not in self.category:
            return False
        if self.severity and severity not in self.severity:
            return False
        globbed = (("service", self.service), ("source", self.source), ("operation", self.operation),
                   ("plan_hint", self.hint))
        return all(_glob_any(event.get(name), patterns) for name, patterns in globbed if patterns)

    @property
    def specificity(self) -> int:
        conditions = (self.category, self.severity, self.service, self.source, self.operation, self.hint)
        return sum(value is not None for value in conditions)


def _glob_any(value: Any, patterns: list[str]) -> bool:
    return isinstance(value, str) and any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


class _CallStep(_Spec):
    """A step that performs an operation, tried up to max_attempts times with backoff between."""

    max_attempts: int = Field(1, ge=1, le=1000)
    initial_delay_s: float = Field(1.0, ge=0)
    backoff_rate: float = Field(2.0, ge=1)
    max_delay_s: float = Field(300.0, ge=0)
    jitter: Jitter = "full"
    timeout_s: float | None = Field(None, gt=0)  # deadline of one attempt; default MEDIC_RECOVERY_ATTEMPT_TIMEOUT_S
    honour_retry_after: bool = True
    max_retry_after_s: float = Field(DEFAULT_MAX_RETRY_AFTER_S, ge=0)


class RetryStep(_CallStep):
    """Replay the event's `replay` target."""

    kind: Literal["retry"]
    max_attempts: int = Field(5, ge=1, le=1000)
    # defer: wait until the service's breaker half-opens (not counted as an attempt); next: go on.
    on_breaker_open: Literal["defer", "next"] = "defer"


class FallbackStep(_CallStep):
    """Run the plan's target, else the event's `fallback` target."""

    kind: Literal["fallback"]
    target: Target | None = None


class CompensateStep(_CallStep):
    """Undo a partial operation (the plan's target, else the event's `compensate`), then go on."""

    kind: Literal["compensate"]
    target: Target | None = None


class InformStep(_CallStep):
    """Let the app know it failed for good: call the plan's target, else the event's `fallback`, then go on.

    A fallback step's success ends the execution (the work was done another way); this one's does not:
    the operation still failed, and the plan goes on to notify and dead-letter it."""

    kind: Literal["inform"]
    target: Target | None = None


class ActionStep(_CallStep):
    """A plugin action registered under the `medic.actions` entry point group."""

    kind: Literal["action"]
    name: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = Field(default_factory=dict)


class NotifyStep(_Spec):
    kind: Literal["notify"]
    channel: str = "log"
    level: Level = "warning"


class EscalateStep(_Spec):
    kind: Literal["escalate"]
    channel: str = "log"
    level: Level = "critical"


class DeadLetterStep(_Spec):
    kind: Literal["dead_letter"]


Step = Annotated[RetryStep | FallbackStep | CompensateStep | InformStep | ActionStep | NotifyStep | EscalateStep
                 | DeadLetterStep, Field(discriminator="kind")]
CallStep = RetryStep | FallbackStep | CompensateStep | InformStep | ActionStep
CALL_STEPS = (RetryStep, FallbackStep, CompensateStep, InformStep, ActionStep)
# Steps that call the plan's own target, else the event's (TARGET_FIELDS).
_TARGETED_STEPS = (FallbackStep, CompensateStep, InformStep)
# Their kinds, as attempts record them: an execution with an attempt of one of these tried to recover.
CALL_KINDS = ("retry", "fallback", "compensate", "inform", "action")
# A success of these ends the execution; compensate, inform, notify and escalate go on to the next step.
ENDING_KINDS = frozenset({"retry", "fallback", "action"})
# The event field whose target a step calls, when the plan gives it none.
TARGET_FIELDS = {"retry": "replay", "fallback": "fallback", "compensate": "compensate", "inform": "fallback"}


def target_of(step: Any, event: dict[str, Any]) -> dict[str, Any] | None:
    """The operation a retry, fallback, compensate or inform step performs: the plan's own target, else the event's.

    None for every other step: an action step calls its plugin action, notify and escalate call nothing."""
    if isinstance(step, RetryStep):
        return event.get("replay")
    if isinstance(step, _TARGETED_STEPS):
        own = step.target.model_dump(mode="json") if step.target else None
        return own or event.get(TARGET_FIELDS[step.kind])
    return None


def passed_over(step: Any, event: dict[str, Any]) -> bool:
    """A call step with nothing to call for this event (a retry without a `replay`, say) is skipped.

    The one rule both the engine (workers/recovery/engine.py, enter_step) and `has_work` follow."""
    return isinstance(step, (RetryStep, *_TARGETED_STEPS)) and target_of(step, event) is None


def has_work(plan: PlanSpec, event: dict[str, Any]) -> bool:
    """True when an execution of `plan` would try something for `event`: a call step (retry, fallback,
    compensate, inform, action) that is not passed over comes before the plan's first dead_letter step.

    Notify and escalate steps alone are not recovery: an event without work gets group signals
    (workers/notify/group_signals.py) instead of an execution. Neither is an event reported inside
    medic's replay of an execution (`medic_execution_id`): that execution already handles the failure."""
    if event.get("medic_execution_id") is not None:
        return False
    for step in plan.steps:
        if isinstance(step, DeadLetterStep):
            return False
        if isinstance(step, CALL_STEPS) and not passed_over(step, event):
            return True
    return False


# A group signal notifies or escalates like a plan's step of that kind.
SignalStep = Annotated[NotifyStep | EscalateStep, Field(discriminator="kind")]
SIGNAL_KINDS = ("new", "regressed", "spike")


class Signals(_Spec):
    """What a plan does for events it has no work for (`has_work` false): one signal per error group
    when the group is new, when a resolved group regresses, when its rate spikes; each kind left out
    (or null) is not signalled. Decided and recorded by workers/notify/group_signals.py."""

    new: SignalStep | None = None
    regressed: SignalStep | None = None
    spike: SignalStep | None = None

    def of(self, kind: str) -> NotifyStep | EscalateStep | None:
        return getattr(self, kind) if kind in SIGNAL_KINDS else None

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(kind for kind in SIGNAL_KINDS if getattr(self, kind) is not None)


class PlanSpec(_Spec):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
    description: str = ""
    match: Match = Field(default_factory=Match)
    priority: int = Field(DEFAULT_PRIORITY, ge=0, le=1000)
    steps: list[Step] = Field(min_length=1)
    on_exhausted: Literal["dead_letter", "fail"] = "dead_letter"
    # None (the section left out): every kind by the plan's first notify or escalate step; {}: none.
    signals: Signals | None = None
    enabled: bool = True

    @property
    def group_signals(self) -> Signals:
        """The signals of this plan for events without work: its own `signals:`, else each kind sent as
        its first notify or escalate step would have been (none when it has neither)."""
        if self.signals is not None:
            return self.signals
        first = next((step for step in self.steps if isinstance(step, (NotifyStep, EscalateStep))), None)
        if first is None:
            return Signals()
        return Signals(new=first, regressed=first, spike=first)


class BreakerSection(_Spec):
    default: BreakerConfig | None = None
    services: dict[str, BreakerConfig] = Field(default_factory=dict)


class PlanFile(_Spec):
    version: Literal[1] = 1
    plans: list[PlanSpec] = Field(default_factory=list)
    breakers: BreakerSection = Field(default_factory=BreakerSection)

    @model_validator(mode="after")
    def _unique_names(self) -> PlanFile:
        seen: set[str] = set()
        for plan in self.plans:
            if plan.name in seen:
                raise ValueError(f"plan {plan.name!r} is defined twice in this file")
            seen.add(plan.name)
        return self


@dataclass(frozen=True)
class LoadedPlan:
    spec: PlanSpec
    origin: Path
    entry: int  # 1-based position in its file
    file_rank: int

    @property
    def rank(self) -> tuple[int, int, int, int]:
        return (self.spec.priority, self.spec.match.specificity, self.file_rank, -self.entry)


@dataclass(frozen=True)
class PlanSet:
    plans: list[LoadedPlan]  # best first
    breaker_default: BreakerConfig = field(default_factory=BreakerConfig)
    breaker_services: dict[str, BreakerConfig] = field(default_factory=dict)

    def select(self, event: dict[str, Any], category: str, severity: str) -> PlanSpec:
        for loaded in self.plans:
            if loaded.spec.match.matches(event, category, severity):
                return loaded.spec
        raise ConfigError("no recovery plan matches and there is no catch-all plan (one with an empty match)")

    def recoverable(self, event: dict[str, Any], category: str, severity: str) -> PlanSpec | None:
        """The plan `select` chooses, when it has work for the event (`has_work`); None: no execution.

        Intake starts an execution only for a plan returned here (RecoveryService.start(..., plan=it))."""
        plan = self.select(event, category, severity)
        return plan if has_work(plan, event) else None

    def get(self, name: str) -> PlanSpec | None:
        return next((p.spec for p in self.plans if p.spec.name == name), None)

    def breaker_config(self, service: str) -> BreakerConfig:
        return self.breaker_services.get(service, self.breaker_default)


_STEP_KINDS = {"retry", "fallback", "compensate", "inform", "action", "notify", "escalate", "dead_letter"}


def builtin_plan_paths() -> list[Path]:
    return packaged_files("plans")


def load_plan_file(path: Path) -> PlanFile:
    return load_model(path, PlanFile, what="plans file", locate=_locate)


def _locate(data: Any, loc: list) -> str | None:
    found = entry_field(data, loc, section="plans", key="name")
    if found is None:
        return None
    entry, rest = found
    if len(rest) >= 2 and rest[0] == "steps" and isinstance(rest[1], int):
        # pydantic puts the discriminator's value in the path: steps.0.retry.max_attempts
        tail = rest[3:] if len(rest) > 2 and rest[2] in _STEP_KINDS else rest[2:]
        return f"{entry}, step {rest[1] + 1}, field {'.'.join(str(part) for part in tail) or '(the step)'}"
    if len(rest) >= 3 and rest[0] == "signals" and rest[2] in ("notify", "escalate"):
        rest = [*rest[:2], *rest[3:]]  # the discriminator's value again: signals.new.notify.level
    return f"{entry}, field {'.'.join(str(part) for part in rest) or '(the entry)'}"


def load_plans(paths: Iterable[Path]) -> PlanSet:
    """Read, merge and order plan files; every problem names the file, the plan and the field."""
    merged: dict[str, LoadedPlan] = {}
    breaker_default = BreakerConfig()
    breaker_services: dict[str, BreakerConfig] = {}
    for rank, path in enumerate(paths):
        parsed = load_plan_file(path)
        for entry, spec in enumerate(parsed.plans, start=1):
            merged.pop(spec.name, None)
            if spec.enabled:
                merged[spec.name] = LoadedPlan(spec, path, entry, rank)
        breaker_default = parsed.breakers.default or breaker_default
        breaker_services.update(parsed.breakers.services)
    ordered = sorted(merged.values(), key=lambda p: p.rank, reverse=True)
    if not any(not p.spec.match.specificity for p in ordered):
        raise ConfigError("plans: no catch-all plan (a plan with an empty `match`); every event needs a plan")
    return PlanSet(ordered, breaker_default, breaker_services)


def check_references(plans: PlanSet, *, channels: Iterable[str], actions: Iterable[str]) -> None:
    """Steps may only name channels that are configured and actions that are installed."""
    channels, actions = set(channels), set(actions)
    for loaded in plans.plans:
        for number, step in enumerate(loaded.spec.steps, start=1):
            where = f"plans file {loaded.origin}: plan {loaded.spec.name!r}, step {number}"
            if isinstance(step, (NotifyStep, EscalateStep)) and step.channel not in channels:
                raise ConfigError(f"{where}, field channel: {step.channel!r} is not a configured channel "
                                  f"(MEDIC_CHANNELS has {', '.join(sorted(channels))})")
            if isinstance(step, ActionStep) and step.name not in actions:
                raise ConfigError(f"{where}, field name: no action {step.name!r} is installed "
                                  f"(entry point group medic.actions has {', '.join(sorted(actions)) or 'none'})")
        signals = loaded.spec.signals or Signals()
        for kind in sorted(signals.kinds):
            signal = signals.of(kind)
            if signal is not None and signal.channel not in channels:
                raise ConfigError(f"plans file {loaded.origin}: plan {loaded.spec.name!r}, signals.{kind}, field "
                                  f"channel: {signal.channel!r} is not a configured channel "
                                  f"(MEDIC_CHANNELS has {', '.join(sorted(channels))})")


def check_timeouts(plans: PlanSet, *, min_timeout_s: float) -> None:
    """A Celery replay's deadline must outlast the redelivery of a callback a dead worker held."""
    for loaded in plans.plans:
        for number, step in enumerate(loaded.spec.steps, start=1):
            timeout_s = getattr(step, "timeout_s", None)
            if timeout_s is not None and timeout_s < min_timeout_s:
                raise ConfigError(f"plans file {loaded.origin}: plan {loaded.spec.name!r}, step {number}, "
                                  f"field timeout_s: {timeout_s:g} is shorter than {min_timeout_s:g} s "
                                  "(1.2 x MEDIC_BROKER_VISIBILITY_TIMEOUT_S); a callback held by a worker that died "
                                  "would be taken for a timeout")
