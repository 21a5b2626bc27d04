"""Recovery's tasks: run an attempt, take a replay's outcome, sweep, deliver a notification. Thin."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from celery import Task, current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm.exc import StaleDataError

from config.errors import StorageUnavailable
from config.settings import get_settings
from schedules.beat import SWEEP_TASK, log_idle_sweeps
from tasks.retrying import retry_later
from workers.classification import Classifier
from workers.clock import utcnow
from workers.intake.triage import Limits
from workers.masking import mask_text
from workers.recovery import outcomes
from workers.recovery.factory import build_recovery_service
from workers.recovery.replay_errors import replay_failure
from workers.recovery.service import RecoveryService
from workers.task_reprs import MedicTask

log = logging.getLogger("medic.recovery")

# Celery's loggers of "Task ... received" and "Task ... succeeded".
RECEIVED_LOGGER, TRACE_LOGGER = "celery.worker.strategy", "celery.app.trace"
# Idle passes remembered until their "succeeded" line comes (it comes right after, in the same process).
IDLE_IDS_MAX = 1000

# Database trouble or a concurrent change: try the message again soon (claims make it safe).
RETRY_INITIAL_S = 0.5
RETRY_ON = (StorageUnavailable, StaleDataError, SoftTimeLimitExceeded)


@lru_cache(maxsize=1)
def recovery_service() -> RecoveryService:
    """The service of this worker process, sending through the Celery app running these tasks."""
    return build_recovery_service(get_settings(), celery_app=current_app._get_current_object())


def _retry(task: Task, exc: Exception) -> Exception:
    return retry_later(task, exc, initial_s=RETRY_INITIAL_S, what="recovery step")


@shared_task(name="medic.recovery.run", bind=True, max_retries=None)
def run(self: Task, attempt_id: int) -> None:
    """Claim and perform one attempt (a duplicate of this message finds it claimed and stops)."""
    try:
        recovery_service().run(int(attempt_id))
    except RETRY_ON as exc:
        raise _retry(self, exc) from exc


@shared_task(name="medic.recovery.replay_succeeded", bind=True, max_retries=None)
def replay_succeeded(self: Task, result: Any = None, *, attempt_id: Any, signature: Any = None) -> None:
    """link callback of a Celery replay: the app's task (the request's parent) returned `result`."""
    task_id = self.request.parent_id
    _record(self, attempt_id, task_id, signature,
            lambda: outcomes.success(task_id=task_id, result=_preview(result)))


@shared_task(name="medic.recovery.replay_failed", bind=True, max_retries=None)
def replay_failed(self: Task, task_id: str | None = None, *args: Any, attempt_id: Any, signature: Any = None,
                  error: Any = None) -> None:
    """link_error callback: the app's task raised. Without a result backend Celery sends only its id; the
    app's medic_client sends this itself with `error`, the exception as an event (workers/recovery/replay_errors.py)."""
    task_id = self.request.parent_id or task_id
    _record(self, attempt_id, task_id, signature,
            lambda: replay_failure(error, task_id=task_id, limits=_limits(), classifier=_classifier(),
                                   now=utcnow()))


@lru_cache(maxsize=1)
def _classifier() -> Classifier:
    return Classifier.from_files(get_settings().rules_files)


@lru_cache(maxsize=1)
def _limits() -> Limits:
    return Limits.from_settings(get_settings())


def _record(task: Task, attempt_id: Any, task_id: str | None, signature: Any,
            result: Callable[[], outcomes.AttemptResult]) -> None:
    """Record the outcome of a replay whose callback medic signed; any other is logged and ignored.

    An ignored callback leaves its attempt as it is: if the real one never comes, its deadline ends it.
    Callbacks sent before signing existed carry no signature and are ignored the same way."""
    service = recovery_service()
    try:
        if not isinstance(attempt_id, int) or not service.callback_is_signed(attempt_id, task_id, signature):
            log.warning("replay callback ignored: not signed by medic", extra={
                "task": task.name, "task_id": task.request.id, "attempt_id": _shown(attempt_id),
                "replay_task_id": _shown(task_id), "signature": "present" if signature else "missing"})
            return
        service.after_commit(service.record(attempt_id, result()))
    except RETRY_ON as exc:
        raise _retry(task, exc) from exc


class SweepTask(MedicTask):
    """The sweeper's task sends no task events: a pass every few seconds would fill Flower's task
    list (docs/flower.md). The worker's events are off by `send_events`; beat's task-sent event,
    which Celery decides for the whole app (task_send_sent_event), is turned off around beat's
    send. Beat sends from one thread; a task another thread of the process sent in that instant
    would go without its task-sent event (a monitoring event, nothing else)."""

    send_events = False

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        conf = self.app.conf
        with _SENT_EVENT_LOCK:
            before = conf.task_send_sent_event
            conf.task_send_sent_event = False
            try:
                return super().apply_async(*args, **kwargs)
            finally:
                conf.task_send_sent_event = before


_SENT_EVENT_LOCK = threading.Lock()


@shared_task(name=SWEEP_TASK, bind=True, max_retries=0, base=SweepTask)
def sweep(self: Task) -> dict | None:
    """Beat, every MEDIC_RECOVERY_SWEEP_INTERVAL_S: due attempts, lost messages, deadlines, notifications.

    A pass that finds nothing to do logs nothing above DEBUG, Celery's own lines included (IdleSweepLines)."""
    try:
        counts = recovery_service().sweep()
    except StorageUnavailable as exc:  # the next pass is seconds away
        log.warning("sweep skipped: database unavailable", extra={"error": str(exc)})
        return None
    if counts and any(counts.values()):
        log.info("sweep", extra=counts)
    else:
        log.debug("sweep: nothing to do", extra=counts or {"lease": "held by another"})
        _IDLE_LINES.idle(self.request.id)
    return counts


class IdleSweepLines(logging.Filter):
    """Celery's worker lines of the sweeper, quiet unless a pass did something.

    Celery logs "Task ... received" (celery.worker.strategy) before a task runs and "Task ...
    succeeded" (celery.app.trace) after, at INFO for every task; it has no level per task. This
    filter, on those two loggers, turns a sweep's "received" line into a DEBUG record (whether the
    pass finds work is not known yet) and so its "succeeded" line when the pass was idle: at log
    level INFO they are dropped, at DEBUG they show as DEBUG. A pass that did something keeps its
    "succeeded" line (with the counts) and medic's own "sweep" line at INFO. With
    MEDIC_RECOVERY_SWEEP_LOG_IDLE every line stays as Celery logs it (the test suite's barriers
    read every pass)."""

    def __init__(self) -> None:
        super().__init__("medic.recovery.sweep")
        self._idle: set[str] = set()
        self._lock = threading.Lock()

    def idle(self, task_id: str | None) -> None:
        if task_id and not log_idle_sweeps():
            with self._lock:
                if len(self._idle) > IDLE_IDS_MAX:  # lines never logged (logging off): forget them
                    self._idle.clear()
                self._idle.add(task_id)

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if not isinstance(data, dict) or data.get("name") != SWEEP_TASK or record.levelno != logging.INFO:
            return True
        if record.name == TRACE_LOGGER:
            with self._lock:
                if data.get("id") not in self._idle:
                    return True
                self._idle.discard(data.get("id"))
        elif log_idle_sweeps():
            return True
        return demote(record)


def demote(record: logging.LogRecord) -> bool:
    """Make `record` a DEBUG record: kept only where DEBUG is on (at the root, as medic configures it)."""
    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_IDLE_LINES = IdleSweepLines()
for _name in (RECEIVED_LOGGER, TRACE_LOGGER):
    logging.getLogger(_name).addFilter(_IDLE_LINES)


@shared_task(name="medic.recovery.deliver", bind=True, max_retries=None)
def deliver(self: Task, notification_id: int, token: str | None = None) -> str:
    try:
        return recovery_service().deliver(int(notification_id), datetime.fromisoformat(token) if token else None)
    except RETRY_ON as exc:
        raise _retry(self, exc) from exc


def _preview(result: Any) -> Any:
    text = repr(result)
    plain = isinstance(result, (str, int, float, bool, dict, list, type(None)))
    return result if plain and len(text) <= 500 else text[:500]


def _shown(value: Any) -> str:
    """A value a sender chose, as a log may show it: masked and short."""
    return mask_text(str(value))[:80]
