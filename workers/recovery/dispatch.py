"""Sending recovery's messages with Celery: attempts, replays with callbacks, deliveries."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from amqp.exceptions import PreconditionFailed
from celery import Celery

from config.queues import RECOVERY_QUEUE
from medic_client import replays
from workers.recovery.callback_signing import SIGNATURE_KWARG

RUN_TASK = "medic.recovery.run"
REPLAY_SUCCEEDED_TASK = "medic.recovery.replay_succeeded"
REPLAY_FAILED_TASK = "medic.recovery.replay_failed"
DELIVER_TASK = "medic.recovery.deliver"
# A replay's message headers: the idempotency key (HTTP replays send Idempotency-Key) and the execution,
# which tells medic_client the task runs as a replay (medic_client.replays reads them).
IDEMPOTENCY_HEADER, EXECUTION_HEADER = replays.IDEMPOTENCY_HEADER, replays.EXECUTION_HEADER
# An app's task sent without a queue goes where Celery sends unrouted tasks.
DEFAULT_APP_QUEUE = "celery"
# An operator may send an execution's run messages to an extra recovery queue (`medic stuck reassign`):
# medic.recovery.<name>, where <name> is dot-separated words of letters, digits, _ and -.
EXTRA_RECOVERY_QUEUE = re.compile(re.escape(RECOVERY_QUEUE) + r"(\.[\w-]+)+", re.ASCII)
# RabbitMQ refuses to declare again, with other arguments, a queue or exchange an app declared its way
# (a quorum queue, a priority, a TTL, a dead-letter exchange): 406 PRECONDITION_FAILED from one of these.
REDECLARE_METHODS = frozenset({"Queue.declare", "Exchange.declare", "Queue.bind"})


def replay_headers(target: dict[str, Any], *, idempotency_key: str, execution_id: int) -> dict[str, Any]:
    """The replay's message headers: the target's own (the app's, checked at intake and by target_policy),
    then medic's, which win."""
    return {**(target.get("headers") or {}), IDEMPOTENCY_HEADER: idempotency_key, EXECUTION_HEADER: execution_id}


def is_recovery_queue(name: str) -> bool:
    return name == RECOVERY_QUEUE or EXTRA_RECOVERY_QUEUE.fullmatch(name) is not None


class CeleryDispatcher:
    def __init__(self, app: Celery):
        self.app = app
        self._app_declared: set[str] = set()  # app queues medic publishes to without declaring them

    def run_attempt(self, attempt_id: int, countdown_s: float, queue: str | None = None) -> None:
        """`queue`: the execution's, when an operator reassigned it."""
        self.app.send_task(RUN_TASK, args=[attempt_id], countdown=countdown_s or None, queue=queue or RECOVERY_QUEUE)

    def replay(self, target: dict[str, Any], *, task_id: str, attempt_id: int, execution_id: int,
               idempotency_key: str, signature: str) -> None:
        """Send the app's task by name; its worker reports back to medic.recovery, nobody waits.

        The callbacks carry `signature` (workers/recovery/callback_signing.py): only they are believed.

        The task can read `self.request.get(IDEMPOTENCY_HEADER)`, the same for every attempt of an
        execution, to do its side effect once even when a lost callback made medic replay it again; and
        its own headers (`self.request.get("tenant")`) and priority, when the target carries them."""
        callback = {"attempt_id": attempt_id, SIGNATURE_KWARG: signature}
        queue = target.get("queue") or DEFAULT_APP_QUEUE
        options = dict(
            args=list(target.get("args") or []), kwargs=dict(target.get("kwargs") or {}), queue=queue, task_id=task_id,
            headers=replay_headers(target, idempotency_key=idempotency_key, execution_id=execution_id),
            link=self.app.signature(REPLAY_SUCCEEDED_TASK, kwargs=callback, queue=RECOVERY_QUEUE),
            link_error=self.app.signature(REPLAY_FAILED_TASK, kwargs=callback, queue=RECOVERY_QUEUE))
        if target.get("priority") is not None:
            options["priority"] = target["priority"]
        if queue not in self._app_declared:
            try:  # declared on the way, as Celery does: a queue no app worker made yet keeps the message
                self.app.send_task(target["task"], **options)
                return
            except PreconditionFailed as exc:
                if exc.method_name not in REDECLARE_METHODS:
                    raise
                self._app_declared.add(queue)  # it exists, the app's way: leave its declaration alone
        self.app.send_task(target["task"], declare=[], **options)

    def deliver(self, notification_id: int, token: datetime | None = None) -> None:
        self.app.send_task(DELIVER_TASK, args=[notification_id, token.isoformat() if token else None],
                           queue=RECOVERY_QUEUE)
