"""A stand-in for a Celery app's `send_task`, for unit tests of medic's client (nothing is sent)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from medic_client.events import QUEUE, TASK_NAME
from workers.intake.contract import ErrorEvent


class RecordingApp:
    """Keeps every send_task call (`calls`) and every `medic.report` event (`sent`, each checked against the
    contract and its queue); `failure` makes it raise (the broker's trouble); `on_send(event)` runs inside it."""

    def __init__(self, failure: BaseException | None = None, on_send: Callable[[dict], Any] | None = None):
        self.sent: list[dict] = []
        self.calls: list[dict[str, Any]] = []
        self.failure = failure
        self.on_send = on_send

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> SimpleNamespace:
        if self.failure is not None:
            raise self.failure
        if name == TASK_NAME:
            assert options.get("queue") == QUEUE, options
            [event] = args
            ErrorEvent.model_validate(json.loads(json.dumps(event)))
            if self.on_send is not None:
                self.on_send(event)
            self.sent.append(event)
        self.calls.append({"name": name, "args": args, "kwargs": kwargs, **options})
        return SimpleNamespace(id=f"task-{len(self.calls)}")


def shop_app() -> Iterator[Any]:
    """A Celery app named shop (default queue `shop`, JSON) for a test; any medic_client install on it is undone."""
    from celery import Celery

    import medic_client.celery as medic_celery

    app = Celery("shop", set_as_current=False)
    app.conf.update(task_default_queue="shop", task_serializer="json", accept_content=["json"])
    yield app
    installation = getattr(app, medic_celery.APP_ATTRIBUTE, None)
    if installation is not None:
        installation.uninstall()
    app.close()
