"""The breakers as operators see them: one row per service (state as the next call finds it, since when, when an
open one half-opens, its settings, recent transitions). The listing of `medic breakers list`, GET /api/breakers,
the console's Breakers page and its Overview (`not_closed`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workers.breakers import policy
from workers.breakers.policy import BreakerConfig, BreakerState
from workers.breakers.service import breakers_from_settings
from workers.breakers.store import BreakerStore
from workers.storage.models import BreakerTransition

CLOSED = "closed"
# Recent transitions shown per breaker, by default; at most MAX_TRANSITIONS.
TRANSITIONS = 3
MAX_TRANSITIONS = 100


@dataclass(frozen=True)
class BreakerSource:
    """Where the breakers are read from: their shared store, and the plans files' breaker settings."""

    store: BreakerStore
    config_for: Callable[[str], BreakerConfig]
    configured: tuple[str, ...]  # services the plans files give settings for: listed before their first call

    @classmethod
    def from_settings(cls, settings: Any, sessions: sessionmaker[Session]) -> BreakerSource:
        from workers.recovery.plans import builtin_plan_paths, load_plans  # plans import the breaker policy

        plan_set = load_plans([*builtin_plan_paths(), *settings.plans_files])  # for breaker settings only
        store = breakers_from_settings(settings, sessions, plan_set.breaker_config).store
        return cls(store, plan_set.breaker_config, tuple(plan_set.breaker_services))


def source_of_app(state: Any) -> BreakerSource:
    """The source of a long-lived process (`medic serve`: the app's state has settings and sessions), built once."""
    source = getattr(state, "breaker_source", None)
    if source is None:
        source = state.breaker_source = BreakerSource.from_settings(state.settings, state.sessions)
    return source


def breaker_rows(session: Session, source: BreakerSource, *, now: datetime, transitions: int = TRANSITIONS,
                 not_closed_only: bool = False) -> list[dict[str, Any]]:
    """Every breaker stored or configured, by service name; `not_closed_only`: those not closed now."""
    stored = source.store.all()
    rows = []
    for service in sorted(set(stored) | set(source.configured)):
        row = breaker_row(service, stored.get(service, BreakerState()), source.config_for(service), now)
        if not_closed_only and row["state"] == CLOSED:
            continue
        row["transitions"] = recent_transitions(session, service, transitions)
        row["since"] = row["transitions"][0]["at"] if row["transitions"] else row["opened_at"]
        rows.append(row)
    return rows


def not_closed(session: Session, source: BreakerSource, *, now: datetime,
               transitions: int = 1) -> list[dict[str, Any]]:
    """The breakers holding work back now (open, half-open, forced open): for an overview."""
    return breaker_rows(session, source, now=now, transitions=transitions, not_closed_only=True)


def breaker_row(service: str, raw: BreakerState, config: BreakerConfig, now: datetime) -> dict[str, Any]:
    """One breaker as the next call would find it (pure): an open one past its recovery timeout is half_open."""
    effective = policy.current(raw, config, now.timestamp())
    return {"service": service, "state": effective.state, "stored_state": raw.state,
            "probe_due": effective.state == "half_open" and raw.state == "open",
            "failures": policy.failures_on_record(effective),
            "opened_at": _moment(raw.opened_at), "half_open_at": _moment(policy.retry_at_s(raw, config)),
            "half_open_calls": effective.half_open_calls, "probe_successes": effective.successes,
            "config": config.model_dump(), "settings": policy.describe(config), "transitions": [], "since": None}


def recent_transitions(session: Session, service: str, limit: int) -> list[dict[str, Any]]:
    """Newest first, on ix_breaker_transitions_service_at."""
    if limit <= 0:
        return []
    rows = session.scalars(select(BreakerTransition).where(BreakerTransition.service == service)
                           .order_by(BreakerTransition.at.desc(), BreakerTransition.id.desc())
                           .limit(min(limit, MAX_TRANSITIONS)))
    return [{"at": t.at, "from_state": t.from_state, "to_state": t.to_state, "actor": t.actor, "reason": t.reason}
            for t in rows]


def states_of(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    return {row["service"]: row["state"] for row in rows}


def _moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
