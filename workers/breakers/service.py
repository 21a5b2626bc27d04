"""Per-service circuit breakers whose state every worker process and host shares through a store."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import redis
from sqlalchemy.orm import Session, sessionmaker

from config.errors import StorageUnavailable
from workers.backoff import backoff_delay_s
from workers.breakers import policy
from workers.breakers.policy import BreakerConfig, BreakerState, Permit, Transition
from workers.breakers.store import BreakerStore, RedisBreakerStore, SqlBreakerStore
from workers.clock import as_utc, utcnow

log = logging.getLogger("medic.breakers")

# Compare-and-sets lost in a row before giving up. Only a flood of writes to one breaker loses
# many: 8 threads writing 400 failures to one PostgreSQL row lose up to ~40 in a row (each
# commit lets one writer through), so 20 would fail there now and then.
MAX_CAS_TRIES = 100
# Pause after a lost compare-and-set (full jitter, doubling up to the cap): spreads the writers apart.
CAS_BACKOFF_INITIAL_S = 0.002
CAS_BACKOFF_MAX_S = 0.05
# Who made a transition that no operator asked for.
AUTOMATIC = "breaker"
# A Redis that does not answer must not hang a worker.
REDIS_TIMEOUT_S = 5.0

R = TypeVar("R")
Listener = Callable[[str, Transition, str], None]
# One change to a breaker: (state, config, now_s) -> (new state, result for the caller, transition).
Update = Callable[[BreakerState, BreakerConfig, float], tuple[BreakerState, R, Transition | None]]


class BreakerContention(StorageUnavailable):
    """Every compare-and-set on a breaker was lost: its state kept changing; try again later."""


class Breakers:
    """Breakers by service name: each method is a bounded compare-and-set loop on the store."""

    def __init__(self, store: BreakerStore, config_for: Callable[[str], BreakerConfig], *,
                 clock: Callable[[], datetime] = utcnow, on_transition: Listener | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        self.store, self._config_for, self._clock = store, config_for, clock
        self._on_transition, self._sleep, self._rng = on_transition, sleep, rng

    def acquire(self, service: str) -> Permit:
        """May a call to `service` go ahead? Report its outcome with the permit's `probe`."""
        return self._apply(service, policy.before_call)

    def record_success(self, service: str, *, probe: bool) -> None:
        self._apply(service, lambda s, c, now_s: _unit(policy.on_success(s, c, now_s, probe=probe)))

    def record_failure(self, service: str, *, probe: bool) -> None:
        self._apply(service, lambda s, c, now_s: _unit(policy.on_failure(s, c, now_s, probe=probe)))

    def release(self, service: str, *, probe: bool) -> None:
        """A permitted call ended with no outcome that counts: free its probe slot."""
        self._apply(service, lambda s, c, now_s: _unit(policy.release(s, probe=probe)))

    def force_open(self, service: str, *, actor: str) -> None:
        self._apply(service, lambda s, c, now_s: _unit(policy.force_open(s, now_s)), actor=actor)

    def close(self, service: str, *, actor: str) -> None:
        self._apply(service, lambda s, c, now_s: _unit(policy.close(s)), actor=actor)

    def reset(self, service: str, *, actor: str) -> None:
        """Forget the breaker: the next call finds a fresh closed one."""
        state, _ = self.store.load(service)
        self.store.delete(service)
        if state.state != "closed":
            self._announce(service, Transition(state.state, "closed", "reset"), actor)

    def status(self, service: str) -> BreakerState:
        """As the next call would find it (a timed-out open breaker shows as half_open); writes nothing."""
        state, _ = self.store.load(service)
        return policy.current(state, self._config_for(service), _epoch_s(self._clock()))

    def snapshot(self) -> dict[str, BreakerState]:
        """Every stored breaker, as `status` shows it."""
        now_s = _epoch_s(self._clock())
        return {service: policy.current(state, self._config_for(service), now_s)
                for service, state in sorted(self.store.all().items())}

    def _apply(self, service: str, step: Update[R], *, actor: str = AUTOMATIC) -> R:
        config = self._config_for(service)
        for attempt in range(MAX_CAS_TRIES):
            state, version = self.store.load(service)
            now = self._clock()
            new, result, transition = step(state, config, _epoch_s(now))
            if new == state or self.store.compare_and_set(service, version, new, now):
                self._announce(service, transition, actor)
                return result
            self._sleep(backoff_delay_s(attempt, initial_s=CAS_BACKOFF_INITIAL_S, max_s=CAS_BACKOFF_MAX_S,
                                        rng=self._rng))
        raise BreakerContention(f"circuit breaker of {service}: lost {MAX_CAS_TRIES} compare-and-sets in a row")

    def _announce(self, service: str, transition: Transition | None, actor: str) -> None:
        if transition is None or self._on_transition is None:
            return
        # The transition is stored already; a failing listener must not make the caller think otherwise.
        try:
            self._on_transition(service, transition, actor)
        except Exception:
            log.exception("breaker transition listener failed", extra={
                "service": service, "from_state": transition.from_state, "to_state": transition.to_state})


def breakers_from_settings(settings: Any, sessions: sessionmaker[Session],
                           config_for: Callable[[str], BreakerConfig], *, on_transition: Listener | None = None,
                           clock: Callable[[], datetime] = utcnow) -> Breakers:
    """Breakers on Redis when settings say so (settings.breakers_in_redis), else on the database."""
    if settings.breakers_in_redis:
        client = redis.Redis.from_url(settings.breaker_redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                      socket_connect_timeout=REDIS_TIMEOUT_S)
        store: BreakerStore = RedisBreakerStore(client)
    else:
        store = SqlBreakerStore(sessions)
    return Breakers(store, config_for, clock=clock, on_transition=on_transition)


def _unit(step: tuple[BreakerState, Transition | None]) -> tuple[BreakerState, None, Transition | None]:
    return step[0], None, step[1]


def _epoch_s(moment: datetime) -> float:
    """Naive datetimes are UTC, as everywhere in medic."""
    return as_utc(moment).timestamp()
