"""The shop's tasks: a module named `tasks`, as many apps have (the client must not clash).

Each task counts its runs and side effects in Redis under a key the caller chooses, so a test (or
you) can see what happened: `shop:calls:<key>`, `shop:effects:<key>`.
"""

from __future__ import annotations

import redis

import medic_client
import medic_client.celery
from config import settings
from config.celery_app import app

_store: redis.Redis | None = None


class GatewayDown(ConnectionError):
    """The payment gateway cannot be reached: worth trying again later."""


class InvalidCard(ValueError):
    """The card is wrong: trying again cannot help."""


def store() -> redis.Redis:
    global _store
    if _store is None:  # one client per (forked) worker process
        _store = redis.Redis.from_url(settings.REDIS_URL)
    return _store


def count_call(key: str) -> int:
    return int(store().incr(f"shop:calls:{key}"))


def effect_once(key: str, idempotency_key: str) -> None:
    """The side effect, done once per idempotency key (medic replays under the same key)."""
    if store().set(f"shop:done:{key}:{idempotency_key}", 1, nx=True):
        store().incr(f"shop:effects:{key}")


# Celery retries a gateway error once, 0.2 s later, before the failure counts ("fails for good").
@app.task(name="shop.charge", bind=True, autoretry_for=(GatewayDown,), max_retries=1, default_retry_delay=0.2)
def charge(self, key: str, fail_times: int) -> dict:
    """Fails its first `fail_times` runs for `key` (the gateway is down), then charges once."""
    if count_call(key) <= fail_times:
        raise GatewayDown("payment gateway unreachable")
    effect_once(key, self.request.get("medic_idempotency_key") or self.request.id)
    return {"charged": key}


# A per-task service and fallback: an invalid card is the card service's, and the customer is told.
@app.task(name="shop.charge_card", medic={"service": "card-service",
                                          "fallback": {"kind": "celery", "task": "shop.tell_customer",
                                                       "args": ["card"], "queue": settings.QUEUE}})
def charge_card(key: str) -> dict:
    count_call(key)
    raise InvalidCard("invalid card number")


@app.task(name="shop.tell_customer")
def tell_customer(key: str) -> dict:
    count_call(f"told:{key}")
    return {"told": key}


@app.task(name="shop.sync_stock", bind=True)
def sync_stock(self, key: str) -> dict:
    """Fails its first run; replayed, it handles the warehouse error itself and reports it (no new recovery)."""
    if count_call(key) == 1:
        raise GatewayDown("warehouse API unreachable")
    try:
        raise TimeoutError("warehouse API slow, stock synced from the cache")
    except TimeoutError as exc:
        medic_client.report_exception(app, exc, service="warehouse-api", operation="shop.sync_stock")
    effect_once(key, self.request.get("medic_idempotency_key") or self.request.id)
    return {"synced": key, "replay": medic_client.is_replay()}


@app.task(name="shop.audit_log", medic=False)
def audit_log(key: str) -> None:
    """Opted out: its failures are not medic's business."""
    count_call(key)
    raise RuntimeError("audit log full")


@app.task(name="shop.ping")
@medic_client.celery.options(service="shop-internal")
def ping(key: str) -> str:
    count_call(key)
    return "pong"
