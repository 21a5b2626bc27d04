"""What Flower and task events show of medic's tasks: short, masked text, never an event's secrets.

Celery carries a text form of a task's arguments (`argsrepr`, `kwargsrepr`) in the message headers,
the task-sent and task-received events and the workers' inspect replies, and the text of results and
exceptions in the task-succeeded/failed/retried events; Flower shows and keeps all of them. An app's
event may carry passwords and tokens (context, headers, URLs), so medic writes these texts itself:

- `MaskedRequest` (worker side): the task-received event, inspect replies (active, reserved,
  scheduled) and the result/exception/traceback fields of every later event of the task;
- `MaskedAMQP` (sending side): messages medic's own processes send (retries, recovery, `medic report`);
- `MedicTask`: the base of medic's tasks, which selects `MaskedRequest`.

`medic.report` shows a one-line summary (`service=orders error_type=TimeoutError message="…"`);
other tasks show their masked arguments as JSON, both capped at MAX_REPR_CHARS (the text forms are the
client's, medic_client.reprs: an app's `report_exception` writes the same summary).
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.app.amqp import AMQP
from celery.worker.request import Request

from medic_client.reprs import MAX_REPR_CHARS, TEXT_EVENT_FIELDS, args_repr, kwargs_repr, masked_text

# AMQP.as_task_v2's parameters between `kwargs` and `argsrepr` (countdown … ignore_result).
_POSITIONALS_BEFORE_ARGSREPR = 21


class MaskedRequest(Request):
    """A worker's request whose every text form (events, inspect replies, logs) is masked and short."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Built from the decoded arguments, not from the sender's header, which an app wrote unmasked.
        self._argsrepr = self._request_dict["argsrepr"] = args_repr(self._type, self._args)
        self._kwargsrepr = self._request_dict["kwargsrepr"] = kwargs_repr(self._kwargs)

    def info(self, safe: bool = False) -> dict[str, Any]:
        # Inspect replies (active, reserved, scheduled) ask for the raw arguments: give the text forms.
        return super().info(safe=True)

    def send_event(self, type: str, **fields: Any) -> None:
        for name in TEXT_EVENT_FIELDS:
            if name in fields:
                fields[name] = masked_text(fields[name], MAX_REPR_CHARS if name == "result" else None)
        super().send_event(type, **fields)


class MedicTask(Task):
    """Base of medic's tasks (the app's `task_cls`)."""

    Request = "workers.task_reprs:MaskedRequest"


class MaskedAMQP(AMQP):
    """Messages sent by medic's own processes carry masked text forms (and so do their task-sent events)."""

    def as_task_v2(self, task_id, name, args=None, kwargs=None, *more: Any, **options: Any):
        if len(more) > _POSITIONALS_BEFORE_ARGSREPR:  # the caller gave argsrepr positionally
            return super().as_task_v2(task_id, name, args, kwargs, *more, **options)
        if options.get("argsrepr") is None:
            options["argsrepr"] = args_repr(name, args or ())
        if options.get("kwargsrepr") is None:
            options["kwargsrepr"] = kwargs_repr(kwargs)
        return super().as_task_v2(task_id, name, args, kwargs, *more, **options)
