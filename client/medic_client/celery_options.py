"""Per-task control of `medic_client.celery.install`: the task option ``medic=`` and the decorators.

A Celery app keeps unknown ``@app.task(...)`` options as task attributes, so ``@app.task(medic=False)``
opts a task out and ``@app.task(medic={"service": ..., "plan_hint": ..., "fallback": {...}, "replay": False})``
overrides install's defaults for it. The same, stacked under ``@app.task`` on the function:
``@options(service=...)`` and ``@ignore``. Pure functions: no Celery import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

# The task option (and task attribute) Celery keeps for us.
TASK_OPTION = "medic"
# The attribute the decorators put on the task's function.
FUNCTION_ATTRIBUTE = "__medic_options__"
OPTION_KEYS = frozenset({"service", "plan_hint", "fallback", "replay"})
TARGET_KINDS = frozenset({"celery", "http", "action"})
NAME_MAX_CHARS = 256

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskOptions:
    """What the client does when a task fails for good. `service`/`plan_hint` None: install's."""

    report: bool = True
    service: str | None = None
    plan_hint: str | None = None
    fallback: dict[str, Any] | None = None
    replay: bool = True


DEFAULT = TaskOptions()
OPTED_OUT = TaskOptions(report=False)


class OptionError(ValueError):
    """A task's ``medic`` option is not what the client understands; the message says what is wrong."""


def parse(value: Any, *, where: str = "medic option") -> TaskOptions:
    """The options a task's ``medic=`` value asks for (None/True: defaults, False: opted out). Raises OptionError."""
    if value is None or value is True:
        return DEFAULT
    if value is False:
        return OPTED_OUT
    if isinstance(value, TaskOptions):
        return value
    if not isinstance(value, Mapping):
        raise OptionError(f"{where} must be False, True or a dict, not {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in OPTION_KEYS)
    if unknown:
        raise OptionError(f"{where} has unknown keys {unknown}; known: {sorted(OPTION_KEYS)}")
    replay = value.get("replay", True)
    if not isinstance(replay, bool):
        raise OptionError(f"{where}: replay must be True or False, not {type(replay).__name__}")
    return TaskOptions(
        report=True,
        service=name_or_none(value.get("service"), f"{where}: service"),
        plan_hint=name_or_none(value.get("plan_hint"), f"{where}: plan_hint"),
        fallback=target_or_none(value.get("fallback"), f"{where}: fallback"),
        replay=replay,
    )


def name_or_none(value: Any, what: str) -> str | None:
    """A stripped name of 1..256 characters, or None; anything else raises OptionError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise OptionError(f"{what} must be a str, not {type(value).__name__}")
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX_CHARS:
        raise OptionError(f"{what} must be 1..{NAME_MAX_CHARS} characters after stripping")
    return name


def target_or_none(value: Any, what: str) -> dict[str, Any] | None:
    """A target dict (``{"kind": "celery" | "http" | "action", ...}``) as given, or None; medic validates the rest."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise OptionError(f"{what} must be a dict, not {type(value).__name__}")
    if value.get("kind") not in TARGET_KINDS:
        raise OptionError(f"{what} needs kind one of {sorted(TARGET_KINDS)}, not {value.get('kind')!r}")
    return dict(value)


def of_task(task: Any) -> TaskOptions:
    """The task's options: its ``medic`` attribute, else what a decorator put on its function. Raises OptionError."""
    name = getattr(task, "name", None) or "?"
    value = getattr(task, TASK_OPTION, None)
    if value is None:  # a decorator under @app.task marked the function, one above it the task
        value = getattr(getattr(task, "run", None), FUNCTION_ATTRIBUTE, None) or getattr(task, FUNCTION_ATTRIBUTE, None)
    return parse(value, where=f"task {name}: medic option")


def options(*, service: str | None = None, plan_hint: str | None = None, fallback: Mapping[str, Any] | None = None,
            replay: bool = True) -> Callable[[F], F]:
    """Decorator, under ``@app.task``: this task's medic options. Mistakes raise OptionError at import time."""
    chosen = parse({"service": service, "plan_hint": plan_hint, "fallback": fallback, "replay": replay},
                   where="medic_client.celery.options()")

    def mark(function: F) -> F:
        setattr(function, FUNCTION_ATTRIBUTE, chosen)
        return function

    return mark


def ignore(function: F) -> F:
    """Decorator, under ``@app.task``: never report this task's failures."""
    setattr(function, FUNCTION_ATTRIBUTE, OPTED_OUT)
    return function
