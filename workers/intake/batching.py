"""Batched consumption of `medic.report`: the worker's consumer gathers messages, a pool process stores them.

`medic.report` is consumed through its own task strategy (Celery's hook for how a task's messages
are handled in the consumer). Messages are held, unacknowledged, until the batch holds
MEDIC_INTAKE_BATCH_MAX_EVENTS of them or its first has waited MEDIC_INTAKE_BATCH_MAX_WAIT_MS; the
batch then runs in a pool process (`run` below: decode, triage, store in one transaction) under the
task time limits, and each message is acknowledged only when its outcome is committed.

- The database unreachable: the same batch runs again after a backoff; nothing is acknowledged.
- Events the soft time limit left unprocessed: run again in the next batch (an event is rejected as
  too slow only when it had a batch's whole time to itself).
- The pool process lost (crash, OOM kill): every message of the batch counts a loss and runs
  again; one that was lost before runs alone, and one lost MAX_WORKER_LOSSES times alone is kept
  as rejected: a poison event costs its own batch, never anyone else's. Past the hard time limit
  the same, except that an event alone is kept as rejected at once.

Why not celery-batches: it pins celery < 5.7, acknowledges a batch's late-ack messages when the
flush returns whatever happened to each, has no answer to a pool process lost mid-batch (the
messages stay unacknowledged until the connection closes), and fills batches only with an unbounded
prefetch (`worker_prefetch_multiplier = 0`). Here prefetch is raised by a bounded amount instead:
enough for one batch per pool process and one filling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from billiard.exceptions import TimeLimitExceeded
from celery import Celery, Task
from celery.utils.imports import symbol_by_name

from config.settings import get_settings
from workers.backoff import backoff_delay_s
from workers.intake.acks import acknowledge_all
from workers.intake.consumer import delivery_id_of, keep_unprocessable, worker_losses

log = logging.getLogger("medic.intake")

# What a pool process runs for a batch: items in, {"outcomes", "later", "retry"} out.
RUN_BATCH = "tasks.intake:run_batch"
# First wait before a batch (or a rejection) the database could not take is tried again; doubles up to
# MEDIC_DB_RETRY_MAX_DELAY_S.
DB_RETRY_INITIAL_S = 0.5


@dataclass
class Pending:
    """A message held by the consumer until its batch is stored."""
    message: Any
    ack: Callable[..., Any]
    delivery_id: str
    item: dict[str, Any]  # what the pool process gets: plain data

    def acknowledge(self, connection_errors: tuple) -> None:
        self.ack(log, connection_errors)


@dataclass
class _Job:
    batcher: IntakeBatcher
    batch: list[Pending]
    retries: int = 0
    finished: bool = field(default=False)

    def done(self, result: dict[str, Any]) -> None:
        if self._finish():
            self.batcher.finished(self, result)

    def failed(self, einfo: Any) -> None:
        exc = einfo.exception if isinstance(einfo, ExceptionInfo) else einfo
        exc = exc.exc if isinstance(exc, ExceptionWithTraceback) else exc
        if self._finish():
            if isinstance(exc, TimeLimitExceeded):
                self.batcher.timed_out(self, exc.args[0] if exc.args else "?")
            else:
                self.batcher.lost(self, exc)

    def timed_out(self, soft: bool, timeout: float) -> None:  # billiard's keyword names
        if not soft and self._finish():
            self.batcher.timed_out(self, timeout)

    def _finish(self) -> bool:
        first, self.finished = not self.finished, True
        return first


class IntakeBatcher:
    """The consumer side: holds messages, starts batches in the pool, settles each message."""

    def __init__(self, app: Celery, consumer: Any, *, max_events: int, max_wait_s: float, soft_limit_s: float,
                 hard_limit_s: float, db_retry_max_delay_s: float):
        self.app, self.consumer = app, consumer
        self.max_events, self.max_wait_s = max_events, max_wait_s
        self.soft_limit_s, self.hard_limit_s = soft_limit_s, hard_limit_s
        self.db_retry_max_delay_s = db_retry_max_delay_s
        self.run = symbol_by_name(RUN_BATCH)
        self._lock = threading.Lock()
        self._held: list[Pending] = []
        self._timer_entry: Any = None
        self._raised_qos: Any = None

    # --- receiving --------------------------------------------------------------------------

    def __call__(self, message: Any, body: Any, ack: Callable[..., Any], reject: Callable[..., Any],
                 callbacks: Any, **_: Any) -> None:
        self._raise_prefetch()
        delivery_id = delivery_id_of(message, body)
        if body is not None:  # task protocol 1: the consumer has decoded the payload already
            item = {"id": delivery_id, "payload": body}
        else:
            item = {"id": delivery_id, "body": message.body, "content_type": message.content_type,
                    "content_encoding": message.content_encoding}
        self.hold(Pending(message, ack, delivery_id, item))

    def hold(self, pending: Pending) -> None:
        with self._lock:
            self._held.append(pending)
            full = len(self._held) >= self.max_events
            batch = self._take() if full else None
            if not full and self._timer_entry is None:
                self._timer_entry = self.consumer.timer.call_after(self.max_wait_s, self._flush_on_time)
        if batch:
            self.start(batch)

    def _flush_on_time(self) -> None:
        with self._lock:
            self._timer_entry = None
            batch = self._take()
        if batch:
            self.start(batch)

    def _take(self) -> list[Pending]:
        batch, self._held = self._held, []
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        return batch

    def _raise_prefetch(self) -> None:
        """Room for a batch per pool process and one filling (Celery's prefetch is one message per process)."""
        qos = self.consumer.qos
        if qos is not None and qos is not self._raised_qos:
            self._raised_qos = qos
            processes = getattr(self.consumer.pool, "num_processes", None) or 1
            qos.increment_eventually(self.max_events * (processes + 1))

    # --- running ----------------------------------------------------------------------------

    def start(self, batch: list[Pending], retries: int = 0) -> None:
        """Run a batch; messages lost with a process before run alone."""
        others: list[Pending] = []
        for pending in batch:
            if worker_losses.count(pending.delivery_id):
                self._apply(_Job(self, [pending], retries))
            else:
                others.append(pending)
        if others:
            self._apply(_Job(self, others, retries))

    def _apply(self, job: _Job) -> None:
        self.consumer.pool.apply_async(
            self.run, args=([p.item for p in job.batch],),
            callback=job.done, error_callback=job.failed, timeout_callback=job.timed_out,
            soft_timeout=self.soft_limit_s, timeout=self.hard_limit_s)

    # --- settling ---------------------------------------------------------------------------

    def finished(self, job: _Job, result: dict[str, Any]) -> None:
        by_id = {p.delivery_id: p for p in job.batch}
        retry_error = result.get("retry")
        if retry_error:
            delay_s = backoff_delay_s(job.retries, initial_s=DB_RETRY_INITIAL_S, max_s=self.db_retry_max_delay_s,
                                      jitter="equal")
            log.warning("storage unavailable, the batch will run again", extra={
                "events": len(job.batch), "retry": job.retries + 1, "delay_s": round(delay_s, 2),
                "error": retry_error})
            self.consumer.timer.call_after(delay_s, self.start, (job.batch, job.retries + 1))
            return
        later = set(result.get("later") or ())
        acknowledge_all([pending for delivery_id, pending in by_id.items() if delivery_id not in later],
                        self._connection_errors())
        again = [by_id[i] for i in later if i in by_id]
        if again:
            self.start(again)

    def timed_out(self, job: _Job, timeout_s: Any) -> None:
        """Past the hard time limit: an event alone is kept as rejected at once (it would take as long
        again); a batch's events run again, each alone, since any of them may be the slow one."""
        if len(job.batch) > 1:
            self.lost(job, TimeLimitExceeded(timeout_s))
            return
        [pending] = job.batch
        keep_unprocessable(self.app, pending.message, f"processing exceeded the hard time limit of {timeout_s} s "
                                                      "(MEDIC_TASK_TIME_LIMIT_S); not redelivered")
        pending.acknowledge(self._connection_errors())

    def lost(self, job: _Job, exc: BaseException) -> None:
        """The pool process running the batch died or was killed: count it, run the messages again."""
        errors = self._connection_errors()
        again = []
        for pending in job.batch:
            if worker_losses.lost(pending.delivery_id) and len(job.batch) == 1:
                keep_unprocessable(self.app, pending.message, (
                    f"the worker process running it was lost {worker_losses.max_losses} times "
                    f"(crashed or killed): {type(exc).__name__}: {exc}; not redelivered"))
                pending.acknowledge(errors)
            else:
                again.append(pending)
        log.warning("a pool process was lost with a batch; its events run again", extra={
            "events": len(job.batch), "error": f"{type(exc).__name__}: {exc}"})
        if again:
            self.start(again)

    def _connection_errors(self) -> tuple:
        return tuple(self.consumer.connection_errors or ())


def batch_strategy(task: Task, app: Celery, consumer: Any, **_: Any) -> IntakeBatcher:
    """Celery's strategy hook for `medic.report` (its `Strategy` attribute names this function)."""
    settings = get_settings()
    return IntakeBatcher(app, consumer, max_events=settings.intake_batch_max_events,
                         max_wait_s=settings.intake_batch_max_wait_ms / 1000,
                         soft_limit_s=settings.task_soft_time_limit_s, hard_limit_s=settings.task_time_limit_s,
                         db_retry_max_delay_s=settings.db_retry_max_delay_s)
