"""Plugin actions: callables that other packages register under the `medic.actions` entry points.

A plugin is any callable `(context: ActionContext) -> Any`. Returning is success; raising
ActionFailed fails as the plugin says (retryable or not); any other exception is a plugin bug,
which is retryable and never crashes the worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from config.errors import MedicError
from workers.masking import mask_text, mask_value
from workers.recovery.outcomes import AttemptResult, permanent, retryable, success

ENTRY_POINT_GROUP = "medic.actions"
# Longest JSON text of a plugin's return value kept in detail["result"]; longer is truncated.
MAX_RESULT_CHARS = 2000
# Longest error text kept from a failing plugin.
MAX_ERROR_CHARS = 500

log = logging.getLogger("medic.actions")


class ActionFailed(MedicError):
    """Raised by a plugin to fail its attempt; `retryable=False` moves the plan to its next step."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after_s: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ActionContext:
    """What a plugin is given: the ids of its attempt, the stored (masked) event and its params."""

    execution_id: int
    attempt_id: int
    attempt_number: int
    event: dict[str, Any]
    params: dict[str, Any]


Action = Callable[[ActionContext], Any]


class ActionRegistry:
    """The installed actions by name, and what went wrong loading the others.

    `propagate` names exceptions that must pass through a plugin run untouched, such as the
    task layer's soft time limit; everything else a plugin raises becomes an AttemptResult.
    """

    def __init__(self, actions: Mapping[str, Action] | None = None, *, problems: Iterable[str] = (),
                 propagate: tuple[type[BaseException], ...] = ()):
        self._actions = dict(actions or {})
        self._problems = list(problems)
        self._propagate = propagate

    @classmethod
    def from_entry_points(cls, *, group: str = ENTRY_POINT_GROUP,
                          propagate: tuple[type[BaseException], ...] = ()) -> ActionRegistry:
        """Loads every entry point of the group; one that fails is recorded in problems(), not raised."""
        actions: dict[str, Action] = {}
        problems: list[str] = []
        for entry_point in metadata.entry_points(group=group):
            problem = _add_entry_point(actions, entry_point)
            if problem:
                problems.append(problem)
        return cls(actions, problems=problems, propagate=propagate)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def problems(self) -> list[str]:
        """One message per entry point that could not be loaded or clashed with another."""
        return list(self._problems)

    def run(self, name: str, context: ActionContext) -> AttemptResult:
        """Runs the action once; whatever it does, the answer is an AttemptResult."""
        action = self._actions.get(name)
        if action is None:
            return permanent(self.missing_message(name), action=name)
        try:
            value = action(context)
        except self._propagate:
            raise
        except ActionFailed as exc:
            return _failed(name, exc)
        except Exception as exc:  # a plugin bug must not crash the worker
            log.warning("action raised", exc_info=True, extra=_log_ids(name, context))
            return retryable(_clip(f"{type(exc).__name__}: {exc}"), action=name)
        return success(action=name, **_result_detail(value))

    def missing_message(self, name: str) -> str:
        installed = ", ".join(self.names()) or "none"
        message = (f"no action named {name!r} is installed (entry point group {ENTRY_POINT_GROUP}); "
                   f"installed: {installed}")
        load_problems = [problem for problem in self._problems if f"action {name!r}" in problem]
        return "; ".join([message, *load_problems])


def check_installed(names: Iterable[str], registry: ActionRegistry) -> list[str]:
    """One message per action name a plan uses that the registry lacks (empty when all are there)."""
    return [registry.missing_message(name) for name in dict.fromkeys(names) if registry.get(name) is None]


def _add_entry_point(actions: dict[str, Action], entry_point: metadata.EntryPoint) -> str | None:
    """Loads one entry point into `actions`; returns the problem, if any. The first of a name wins."""
    name, origin = entry_point.name, _origin(entry_point)
    if name in actions:
        return f"action {name!r} from {origin} ignored: the name is already taken by another distribution"
    try:
        action = entry_point.load()
    except Exception as exc:  # a broken plugin must not stop the others loading
        return f"action {name!r} from {origin} could not be loaded: {type(exc).__name__}: {exc}"
    if not callable(action):
        return f"action {name!r} from {origin} is not callable: {type(action).__name__}"
    actions[name] = action
    return None


def _origin(entry_point: metadata.EntryPoint) -> str:
    """'fake-plugin 1.0 (fake_plugin:act)' for messages."""
    dist = entry_point.dist
    owner = f"{dist.metadata['Name']} {dist.version} " if dist is not None else ""
    return f"{owner}({entry_point.value})"


def _failed(name: str, exc: ActionFailed) -> AttemptResult:
    error = _clip(exc.message)
    if exc.retryable:
        retry_after_s = None if exc.retry_after_s is None else max(0.0, float(exc.retry_after_s))
        return retryable(error, retry_after_s=retry_after_s, action=name)
    return permanent(error, action=name)


def _result_detail(value: Any) -> dict[str, Any]:
    """{"result": masked JSON value} for a JSON-serialisable return value that is not None.

    A value whose JSON is longer than MAX_RESULT_CHARS is kept as its truncated JSON text,
    with "result_truncated"; a value that is not JSON is named by its type only.
    """
    if value is None:
        return {}
    try:
        plain = mask_value(json.loads(json.dumps(value, allow_nan=False)))
        text = json.dumps(plain)
    except (TypeError, ValueError, RecursionError):
        return {"result_type": type(value).__name__}
    if len(text) <= MAX_RESULT_CHARS:
        return {"result": plain}
    return {"result": text[:MAX_RESULT_CHARS], "result_truncated": True}


def _clip(text: str) -> str:
    return mask_text(text)[:MAX_ERROR_CHARS]


def _log_ids(name: str, context: ActionContext) -> dict[str, Any]:
    return {"action": name, "execution_id": context.execution_id, "attempt_id": context.attempt_id}
