"""Celery in one line: ``install(app, service="partner-api")`` reports every task that fails for good to medic.

Celery's ``task_failure`` signal fires once a task has failed for good (after its own retries); the
client then sends a ``medic.report`` event naming the task itself as the replay target (same name,
arguments and queue, the message's priority and the app's own headers), keyed ``celery-task-<task id>``.
Per task: ``@app.task(medic=False)`` opts out,
``@app.task(medic={"service": ..., "plan_hint": ..., "fallback": {...}, "replay": False})`` overrides
(or the decorators `options` / `ignore`, see celery_options). A replay medic sends is never reported as
a new error: its failure is reported as the attempt's outcome (celery_replays).

Nothing here raises into a task or the worker: every hook catches its trouble and logs it, masked, on
the ``medic.capture`` logger; a broker that is down costs a failing task a couple of seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery import Celery, signals
from celery.app.task import Context

from medic_client import celery_replays, celery_targets
from medic_client.celery_options import (
    DEFAULT,
    OptionError,
    TaskOptions,
    ignore,
    name_or_none,
    of_task,
    options,
    target_or_none,
)
from medic_client.events import event_from_exception
from medic_client.masking import mask_text
from medic_client.replays import EVENT_FIELD, execution_id_of
from medic_client.reporter import broker_app, was_reported
from medic_client.reprs import args_repr, kwargs_repr
from medic_client.sending import PUBLISH_RETRY_POLICY, Spool, send_event

__all__ = ["Installation", "OptionError", "ignore", "install", "options"]

log = logging.getLogger("medic.capture")

TROUBLE_MAX_CHARS = 300
# The app attribute that remembers its installation (a second install replaces the first).
APP_ATTRIBUTE = "_medic_client_installation"


def install(app: Celery, *, service: str, reporter: Celery | None = None, broker_url: str | None = None,
            spool: Spool = None, plan_hint: str | None = None, fallback: Mapping[str, Any] | None = None,
            include_traceback: bool = True) -> Installation:
    """Report every task of `app` that fails for good to medic. Mistakes in the options raise TypeError/ValueError.

    service -- required: the dependency that failed (medic keys its circuit breakers on it), not the app.
    reporter / broker_url -- medic's broker when it is not the app's: a Celery app, or a URL for one
      the client makes (reporter.broker_app: gives up within 2 s). Default: the app itself.
    spool -- a file unsent events are appended to (`medic report --spool FILE` sends them later).
    plan_hint, fallback -- defaults for every task (a plan's name; a target dict).
    """
    installation = Installation(app, service=service, reporter=reporter, broker_url=broker_url, spool=spool,
                                plan_hint=plan_hint, fallback=fallback, include_traceback=include_traceback)
    previous = getattr(app, APP_ATTRIBUTE, None)
    if isinstance(previous, Installation):
        previous.uninstall()
    installation.connect()
    setattr(app, APP_ATTRIBUTE, installation)
    return installation


class Installation:
    """The hooks `install` put on one app; `uninstall()` takes them off."""

    def __init__(self, app: Celery, *, service: str, reporter: Celery | None, broker_url: str | None, spool: Spool,
                 plan_hint: str | None, fallback: Mapping[str, Any] | None, include_traceback: bool):
        if not callable(getattr(app, "send_task", None)) or not callable(getattr(app, "task", None)):
            raise TypeError(f"app must be a Celery app, not {type(app).__name__}")
        if service is None:
            raise TypeError("install() needs service=: the name of the dependency whose failures these are")
        self.service = _required_name(service)
        if reporter is not None and broker_url is not None:
            raise TypeError("install() takes reporter= or broker_url=, not both")
        if reporter is not None and not callable(getattr(reporter, "send_task", None)):
            raise TypeError(f"reporter must be a Celery app, not {type(reporter).__name__}")
        if broker_url is not None and (not isinstance(broker_url, str) or not broker_url.strip()):
            raise ValueError("broker_url must be a non-empty broker URL")
        if not isinstance(include_traceback, bool):
            raise TypeError(f"include_traceback must be True or False, not {type(include_traceback).__name__}")
        self.plan_hint = name_or_none(plan_hint, "plan_hint")
        self.fallback = target_or_none(fallback, "fallback")
        self.app = app
        self.reporter = reporter or (broker_app(broker_url) if broker_url else app)
        self.spool = spool
        self.include_traceback = include_traceback
        self._connected = False

    # ------------------------------------------------------------------ wiring

    def connect(self) -> None:
        signals.task_prerun.connect(self.on_task_prerun, weak=False)
        signals.task_failure.connect(self.on_task_failure, weak=False)
        self.app.task(name=celery_replays.CLIENT_REPLAY_FAILED_TASK, shared=False, ignore_result=True,
                      medic=False)(self._replay_failed_task())
        self.app.on_after_finalize.connect(self.check_task_options, weak=False)
        self._connected = True
        if self.app.finalized:
            self.check_task_options()

    def uninstall(self) -> None:
        if self._connected:
            signals.task_prerun.disconnect(self.on_task_prerun)
            signals.task_failure.disconnect(self.on_task_failure)
            self.app.on_after_finalize.disconnect(self.check_task_options)
            self._connected = False

    def _replay_failed_task(self) -> Any:
        def replay_failed(request: Any, exc: Any, traceback: Any = None, **kwargs: Any) -> None:
            self.on_replay_failed(request, exc, kwargs.get(celery_replays.ORIGINAL_KWARG),
                                  kwargs.get(celery_replays.EXECUTION_KWARG))

        replay_failed.__module__ = __name__
        replay_failed.__qualname__ = replay_failed.__name__ = "replay_failed"
        return replay_failed

    # ------------------------------------------------------------------ hooks (never raise)

    def on_task_prerun(self, sender: Any = None, task: Any = None, **_: Any) -> None:
        """A replay's errback to medic becomes the client's, which sends medic why the replay failed."""
        try:
            task = task or sender
            if getattr(task, "app", None) is not self.app:
                return
            request = task.request
            swapped = celery_replays.swap_errbacks(getattr(request, "errbacks", None), execution_id_of(request))
            if swapped is not None:
                request.errbacks = swapped
        except Exception as error:
            _log_trouble("task_prerun", error)

    def on_task_failure(self, sender: Any = None, exception: Any = None, task_id: Any = None, args: Any = None,
                        kwargs: Any = None, **_: Any) -> None:
        """A task failed for good: report it, unless it opted out or is one of medic's replays."""
        try:
            task = sender
            if getattr(task, "app", None) is not self.app or task.name == celery_replays.CLIENT_REPLAY_FAILED_TASK:
                return
            request = task.request
            if task_id is not None and getattr(request, "id", None) != task_id:
                # A hard time limit: the worker's main process sends the signal without the task's request.
                request = Context(id=task_id, args=args, kwargs=kwargs)
            if celery_replays.is_medic_replay(request) or not isinstance(exception, BaseException):
                return  # a replay's failure is its attempt's outcome (on_replay_failed), not a new error
            if was_reported(exception):
                return  # a guard or MedicHandler in the task reported it already
            chosen = self.options_of(task)
            if not chosen.report:
                return
            send_event(self.reporter, self.event_for(task.name, task, request, exception, chosen), spool=self.spool)
        except Exception as error:
            _log_trouble("task_failure", error)

    def on_replay_failed(self, request: Any, exc: Any, original: Any, execution_id: Any) -> None:
        """The client's errback of a replay, called by Celery in the worker with the exception."""
        try:
            name = getattr(request, "task", None) or "unknown"
            task = self.app.tasks.get(name) if isinstance(name, str) else None
            chosen = self.options_of(task) if task is not None else DEFAULT
            exc = exc if isinstance(exc, BaseException) else RuntimeError(f"replay failed: {exc!r}")
            event = self.event_for(name, task, request, exc, chosen)
            if type(execution_id) is int:
                event[EVENT_FIELD] = execution_id
            message = celery_replays.outcome_message(original, request.id, event)
            self.reporter.send_task(message["name"], args=message["args"], kwargs=message["kwargs"],
                                    queue=message["queue"], parent_id=request.id,
                                    root_id=getattr(request, "root_id", None) or request.id,
                                    argsrepr=args_repr(message["name"], message["args"]),
                                    kwargsrepr=kwargs_repr(message["kwargs"]),
                                    retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as error:  # the attempt's deadline on medic's side ends it
            _log_trouble("replay outcome", error)

    def check_task_options(self, sender: Any = None, **_: Any) -> None:
        """When the app is finalized: say which tasks have a `medic` option the client does not understand."""
        try:
            for task in list(self.app.tasks.values()):
                try:
                    of_task(task)
                except OptionError as error:
                    log.error("medic capture: %s (the task is reported with install's defaults)", error)
        except Exception as error:
            _log_trouble("checking task options", error)

    # ------------------------------------------------------------------ decisions

    def options_of(self, task: Any) -> TaskOptions:
        try:
            return of_task(task)
        except OptionError as error:
            log.error("medic capture: %s (reported with install's defaults)", error)
            return DEFAULT

    def event_for(self, name: str, task: Any, request: Any, exc: BaseException, chosen: TaskOptions) -> dict[str, Any]:
        target, why_none, headers_left_out = None, None, None
        if chosen.replay:
            delivery_info = getattr(request, "delivery_info", None)
            queue = celery_targets.queue_of(delivery_info, getattr(task, "queue", None),
                                            self.app.conf.task_default_queue)
            headers, headers_left_out = _app_headers(request)
            priority = delivery_info.get("priority") if isinstance(delivery_info, Mapping) else None
            target, why_none = celery_targets.replay_target(name, getattr(request, "args", None),
                                                            getattr(request, "kwargs", None), queue,
                                                            headers=headers, priority=priority)
        event = event_from_exception(
            exc, service=chosen.service or self.service, operation=name, source=celery_targets.source_of(self.app.main),
            context=celery_targets.task_context(getattr(request, "id", None), getattr(request, "retries", None),
                                                getattr(request, "hostname", None), why_none, headers_left_out),
            replay=target, fallback=chosen.fallback or self.fallback,
            idempotency_key=celery_targets.idempotency_key(getattr(request, "id", None)),
            include_traceback=self.include_traceback)
        hint = chosen.plan_hint or self.plan_hint
        if hint:
            event["plan_hint"] = hint
        return event


# Every attribute Celery's request class has (fields and methods), read from the installed Celery.
_REQUEST_ATTRIBUTES = frozenset(name for name in dir(Context) if not name.startswith("__"))


def _app_headers(request: Any) -> tuple[dict[str, Any], list[str]]:
    """The app's own headers of the task's message (celery_targets.app_headers), and what was left out."""
    fields = getattr(request, "__dict__", None)
    return celery_targets.app_headers(fields if isinstance(fields, Mapping) else {}, getattr(request, "headers", None),
                                      _REQUEST_ATTRIBUTES, getattr(request, "stamped_headers", None))


def _required_name(service: Any) -> str:
    try:
        name = name_or_none(service, "service")
    except OptionError as error:
        raise (TypeError if not isinstance(service, str) else ValueError)(str(error)) from None
    if name is None:
        raise TypeError("install() needs service=: the name of the dependency whose failures these are")
    return name


def _log_trouble(where: str, error: BaseException) -> None:
    try:
        text = mask_text(f"{type(error).__name__}: {error}")[:TROUBLE_MAX_CHARS]
        log.error("medic capture: %s failed (%s); the task and the worker go on", where, text)
    except Exception:
        return
