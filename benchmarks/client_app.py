"""The app of benchmarks.client_overhead: a Celery app as a user writes it, with or without medic's client.

    BENCH_BROKER_URL=redis://127.0.0.1:6379/<db> BENCH_CLIENT=installed \\
        celery -A benchmarks.client_app worker -Q bench.client -c 2

Celery's defaults (early acknowledgement, prefetch multiplier 4, no task events, JSON); only the
broker and the queue are set. Two tasks, both sent with a small order payload:
- `bench.client.ok`: succeeds (does nothing);
- `bench.client.fail`: raises ConnectionError from two frames down, as a call to a partner would;
  Celery logs it (ERROR, with its traceback) and, with the client, it is reported to medic. It is
  declared ``medic={"replay": False}``: its report carries no replay target, so medic stores it and
  starts no recovery (its plan has no work).

BENCH_CLIENT: `none` (default, no medic import), `installed` (``install(app, service=...)``: reports
go to the app's own broker, which is medic's), or `broker-down` (``install(..., broker_url=...)``
with BENCH_MEDIC_BROKER_URL, a port nothing listens on: every report takes the never-raise path).

Every task, succeeded or failed, INCRs the Redis counter DONE_KEY in `task_postrun`, which Celery
sends after `task_failure` (so after the client's report): the benchmark's clock stops when the
counter reaches N. The counter costs every row the same.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery, signals

QUEUE = "bench.client"
OK_TASK = "bench.client.ok"
FAIL_TASK = "bench.client.fail"
DONE_KEY = "bench-client:done"
SERVICE = "partner-api"
CLIENT_MODES = ("none", "installed", "broker-down")

BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
CLIENT_MODE = os.environ.get("BENCH_CLIENT", "none")
if CLIENT_MODE not in CLIENT_MODES:
    raise SystemExit(f"BENCH_CLIENT must be one of {', '.join(CLIENT_MODES)}, not {CLIENT_MODE!r}")

app = Celery("bench-client-app", broker=BROKER_URL)
app.conf.update(task_default_queue=QUEUE, task_ignore_result=True, broker_connection_retry_on_startup=True)

if CLIENT_MODE == "installed":
    import medic_client.celery

    medic_client.celery.install(app, service=SERVICE)
elif CLIENT_MODE == "broker-down":
    import medic_client.celery

    medic_client.celery.install(app, service=SERVICE, broker_url=os.environ["BENCH_MEDIC_BROKER_URL"])


class PartnerDown(ConnectionError):
    pass


def _post(order_id: int, amount_cents: int) -> None:
    raise PartnerDown(f"POST https://partner.example/v2/orders/{order_id} ({amount_cents} cents): "
                      "connection refused")


def _charge(order_id: int, amount_cents: int) -> None:
    _post(order_id, amount_cents)


@app.task(name=OK_TASK)
def ok(order_id: int, amount_cents: int = 0) -> None:
    return None


@app.task(name=FAIL_TASK, medic={"replay": False})
def fail(order_id: int, amount_cents: int = 0) -> None:
    _charge(order_id, amount_cents)


_counter: redis.Redis | None = None


@signals.task_postrun.connect
def count_done(sender: Any = None, **_: Any) -> None:
    global _counter
    if getattr(sender, "name", None) not in (OK_TASK, FAIL_TASK):
        return
    if _counter is None:  # one client per (forked) pool process
        _counter = redis.Redis.from_url(BROKER_URL)
    _counter.incr(DONE_KEY)
