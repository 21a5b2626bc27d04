"""Circuit breakers per service, shared by every worker process and host.

policy: the breaker as pure functions of (state, config, now_s).
store: where the shared state lives (Redis, the database, or memory for tests) behind a compare-and-set.
service: `Breakers`, which joins the two and reports transitions.
views: the breakers as operators see them (CLI, API, console): state, since, settings, recent transitions.
operations: an operator's open / close / reset of a breaker, and what it did.
"""

from __future__ import annotations

from workers.breakers.policy import BreakerConfig, BreakerState, Permit, Transition, effective_state
from workers.breakers.service import BreakerContention, Breakers, breakers_from_settings
from workers.breakers.store import BreakerStore, MemoryBreakerStore, RedisBreakerStore, SqlBreakerStore

__all__ = ["BreakerConfig", "BreakerContention", "BreakerState", "BreakerStore", "Breakers", "MemoryBreakerStore",
           "Permit", "RedisBreakerStore", "SqlBreakerStore", "Transition", "breakers_from_settings", "effective_state"]
