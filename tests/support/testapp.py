"""A separate application for the recovery tests: its own Celery app, worker and queue.

It does not import medic. medic replays its tasks by name on queue `testapp`; the app's worker runs
them and sends the `link` / `link_error` callbacks medic attached (to medic's recovery queue).

Everything a test wants to know is counted in Redis, per key:
- `testapp:calls:<key>`   how many times the task ran (INCR)
- `testapp:times:<key>`   when each run started (time.time(), RPUSH)
- `testapp:tasks:<key>`   the Celery task id of each run (RPUSH): two runs of one id = a duplicate
- `testapp:effects:<key>` how many times the side effect happened (INCR after success)

`round_trip` sends `testapp.ping` and waits until it has run: nothing queued before is still waiting.

Run a worker with `start_testapp_worker(log_path)`, or by hand:
    TESTAPP_BROKER_URL=redis://127.0.0.1:6379/<db> \
        python -m celery -A tests.support.testapp worker -Q testapp -c 2 --pool prefork

Its broker and counters: TESTAPP_BROKER_URL and TESTAPP_REDIS_URL (default: the broker), which
start_testapp_worker sets; in the test process, the run's Redis db (tests.support.services.redis_url).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import redis
from celery import Celery
from kombu import Exchange, Queue

QUEUE = "testapp"
# RabbitMQ: the app may declare its queue its own way, e.g. "quorum" (x-queue-type); default: Celery's.
QUEUE_TYPE = os.environ.get("TESTAPP_QUEUE_TYPE", "")


def app_broker_url() -> str:
    """The app's broker: TESTAPP_BROKER_URL (its worker), else the test run's Redis db (the test process)."""
    from_env = os.environ.get("TESTAPP_BROKER_URL")
    if from_env:
        return from_env
    from tests.support.services import redis_url

    return redis_url()


def counters_url() -> str:
    """Where the counters are: TESTAPP_REDIS_URL, else the broker (which must then be Redis)."""
    return os.environ.get("TESTAPP_REDIS_URL") or app_broker_url()


def __getattr__(name: str) -> str:  # testapp.BROKER_URL, testapp.REDIS_URL: resolved when read
    if name == "BROKER_URL":
        return app_broker_url()
    if name == "REDIS_URL":
        return counters_url()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Only its worker uses the app (the test process sends with a client of its own): no broker otherwise.
app = Celery("testapp", broker=os.environ.get("TESTAPP_BROKER_URL"))
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    result_backend=None,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)
if QUEUE_TYPE:
    app.conf.task_queues = [Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE,
                                  queue_arguments={"x-queue-type": QUEUE_TYPE})]

_redis: redis.Redis | None = None


def store() -> redis.Redis:
    global _redis
    if _redis is None:  # one client per (forked) process
        _redis = redis.Redis.from_url(counters_url())
    return _redis


def _count_call(key: str, task_id: str | None) -> int:
    pipe = store().pipeline()
    pipe.incr(f"testapp:calls:{key}")
    pipe.rpush(f"testapp:times:{key}", repr(time.time()))
    pipe.rpush(f"testapp:tasks:{key}", task_id or "")
    return pipe.execute()[0]


@app.task(name="testapp.flaky", bind=True)
def flaky(self, key: str, fail_times: int) -> dict:
    """Fails its first `fail_times` runs for `key` (a partner API that is down), then does its side effect."""
    calls = _count_call(key, self.request.id)
    if calls <= fail_times:
        raise RuntimeError("partner API down")
    _effect_once(self, key)
    return {"ok": True}


def _effect_once(task, key: str) -> None:
    """An idempotent receiver, as medic's contract asks: one effect per medic idempotency key."""
    idempotency_key = task.request.get("medic_idempotency_key") or task.request.id
    store().rpush(f"testapp:keys:{key}", idempotency_key or "")
    if store().set(f"testapp:done:{key}:{idempotency_key}", 1, nx=True):
        store().incr(f"testapp:effects:{key}")


@app.task(name="testapp.always_fails", bind=True)
def always_fails(self, key: str) -> dict:
    _count_call(key, self.request.id)
    raise RuntimeError("partner API down")


@app.task(name="testapp.slow", bind=True)
def slow(self, key: str, seconds: float) -> dict:
    _count_call(key, self.request.id)
    time.sleep(seconds)
    _effect_once(self, key)
    return {"ok": True}


@app.task(name="testapp.ping", bind=True)
def ping(self, key: str) -> dict:
    """Does nothing but count its run: see round_trip."""
    _count_call(key, self.request.id)
    return {"ok": True}


# --- what the tests read -----------------------------------------------------------------------

def round_trip(client: Celery, url: str | None = None, *, timeout_s: float = 30) -> None:
    """A positive barrier: a task sent now on the app's queue (with `client`, the test's Celery client)
    has run, so the app's worker has taken every message queued before it (replays medic sent)."""
    from tests.support.services import wait_for

    key = f"round-trip-{uuid.uuid4().hex[:10]}"
    client.send_task("testapp.ping", args=[key], queue=QUEUE)
    wait_for(lambda: calls(key, url) > 0, timeout_s=timeout_s, what=f"the test app to run testapp.ping({key!r})")


def calls(key: str, url: str | None = None) -> int:
    return int(redis.Redis.from_url(url or counters_url()).get(f"testapp:calls:{key}") or 0)


def effects(key: str, url: str | None = None) -> int:
    return int(redis.Redis.from_url(url or counters_url()).get(f"testapp:effects:{key}") or 0)


def idempotency_keys(key: str, url: str | None = None) -> list[str]:
    return [k.decode() for k in redis.Redis.from_url(url or counters_url()).lrange(f"testapp:keys:{key}", 0, -1)]


def times(key: str, url: str | None = None) -> list[float]:
    return [float(t) for t in redis.Redis.from_url(url or counters_url()).lrange(f"testapp:times:{key}", 0, -1)]


def task_ids(key: str, url: str | None = None) -> list[str]:
    return [t.decode() for t in redis.Redis.from_url(url or counters_url()).lrange(f"testapp:tasks:{key}", 0, -1)]


def start_testapp_worker(log_path: Path, *, broker_url: str | None = None, redis_url: str | None = None,
                         queue_type: str = "", concurrency: int = 2, wait: bool = True):
    """A `celery worker` of the test app, in its own process group (tests.support.services.Process).

    `broker_url` default: the run's Redis db; `redis_url` holds the counters, default: the broker
    (which must then be Redis). The worker gets both through its environment."""
    from tests.support.services import REPO, Process

    broker = broker_url or app_broker_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIC_", "TESTAPP_"))}
    env.update(TESTAPP_BROKER_URL=broker, TESTAPP_REDIS_URL=redis_url or broker, TESTAPP_QUEUE_TYPE=queue_type,
               PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "celery", "-A", "tests.support.testapp", "worker", "-Q", QUEUE,
            "-c", str(concurrency), "--pool", "prefork", "--hostname", f"testapp-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    process = Process(args, env, log_path)
    if wait:
        process.wait_ready()
    return process
