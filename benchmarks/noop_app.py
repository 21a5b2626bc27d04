"""The baseline of the live benchmarks: a plain Celery app whose one task does nothing but count.

    BENCH_BROKER_URL=redis://127.0.0.1:6379/14 celery -A benchmarks.noop_app worker -Q medic.errors -c 2

No medic code is imported: this is what a Celery user's own no-op costs on the same broker. The
delivery settings are medic's (config/celery_app.py: JSON, late acknowledgement, reject on
worker lost, prefetch multiplier 1, task events on), so the two differ by the task's work, not
by how messages are delivered. The task is sent exactly as `medic.report` is (same payload, same
queue) and only INCRs a Redis counter, so the benchmark can tell when the last one has run. The
counter is in Redis whatever the broker (BENCH_COUNTER_URL), also for the embedded SQLite broker.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery

NAME = "medic.bench.noop_counted"
COUNTER_KEY = "medic-bench:noop-done"
# A plain Celery app knows no `medic+` scheme: on medic's embedded broker it uses kombu's own
# SQLAlchemy transport on the same file and tables, as an app would.
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14").replace("medic+", "sqla+", 1)
COUNTER_URL = os.environ.get("BENCH_COUNTER_URL", "redis://127.0.0.1:6379/14")

transport_options: dict[str, Any] = {}
if BROKER_URL.startswith("sqla+"):
    # As config.celery_app does for the embedded broker: its poll interval and SQLite's lock timeout.
    from kombu.transport import sqlalchemy as sqlalchemy_transport

    sqlalchemy_transport.Transport.polling_interval = float(os.environ.get("BENCH_POLL_INTERVAL_S", "0.1"))
    transport_options["connect_args"] = {"timeout": 15}

app = Celery("bench-noop", broker=BROKER_URL, set_as_current=True)
app.conf.update(
    broker_transport_options=transport_options, broker_connection_retry_on_startup=True,
    result_backend=None, task_ignore_result=True,
    task_serializer="json", result_serializer="json", accept_content=["json"], event_serializer="json",
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    worker_send_task_events=True, task_send_sent_event=True, worker_hijack_root_logger=False,
)

_counter: redis.Redis | None = None


@app.task(name=NAME)
def noop_counted(*_args: Any, **_kwargs: Any) -> None:
    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(COUNTER_URL)
    _counter.incr(COUNTER_KEY)
