"""The "app" of the recovery benchmark: a separate Celery app with no-op tasks. It does not import medic.

    python -m celery -A benchmarks.recovery_app worker -Q bench-app -c 2

Tasks, all doing nothing worth measuring:
- `bench.noop`: the app's task. medic replays it by name on queue `bench-app`; the baseline sends
  it with a `link` callback too.
- `bench.stamp`: the baseline's `link` callback (queue `bench-callback`): pushes "<trip> <time>"
  onto the Redis list `bench:stamps`, so the benchmark knows the round trip is over.
- `bench.relay`: the first hop of the three-hop no-op chain (queue `bench-callback`): sends
  `bench.noop` to `bench-app` with `bench.stamp` as its link, the shape of a recovery attempt
  (medic.recovery.run sends the replay; the replay's link comes back) without medic's work.

Its Celery settings are medic's (config/celery_app.py) where they matter per message: JSON,
no result backend, late acknowledgement, prefetch 1, task events and task-sent events on. So a
`bench-callback` worker handles a message as medic's worker does, and the difference between
the two round trips is medic's own work.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

APP_QUEUE = "bench-app"
CALLBACK_QUEUE = "bench-callback"
NOOP = "bench.noop"
STAMP = "bench.stamp"
RELAY = "bench.relay"
STAMPS_KEY = "bench:stamps"
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")

# Per message, as medic's app (config/celery_app.py celery_config): the rest are Celery's defaults.
CELERY_SETTINGS = {
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "event_serializer": "json",
    "result_backend": None,
    "task_ignore_result": True,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
    "task_default_queue": APP_QUEUE,
    "broker_connection_retry_on_startup": True,
}

app = Celery("bench-app", broker=BROKER_URL)
app.conf.update(CELERY_SETTINGS)

_redis: redis.Redis | None = None


def _store() -> redis.Redis:
    global _redis
    if _redis is None:  # one client per (forked) pool process
        _redis = redis.Redis.from_url(BROKER_URL)
    return _redis


@app.task(name=NOOP)
def noop(*_args, **_kwargs) -> None:
    return None


@app.task(name=STAMP)
def stamp(_result=None, *, trip: str) -> None:
    _store().rpush(STAMPS_KEY, f"{trip} {time.time()!r}")


@app.task(name=RELAY, bind=True)
def relay(self, trip: str) -> None:
    app.send_task(NOOP, queue=APP_QUEUE, task_id=f"{self.request.id}-app",
                  link=app.signature(STAMP, kwargs={"trip": trip}, queue=CALLBACK_QUEUE))
