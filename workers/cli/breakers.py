"""`medic breakers` and `medic notifications`: circuit breakers per service, and the alert queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select

from workers.breakers import BreakerConfig, BreakerState, breakers_from_settings, policy
from workers.cli.context import database, json_option, limit_option, require_database, settings
from workers.cli.output import emit_json, emit_table
from workers.cli.recovery import recovery_service
from workers.cli.times import relative
from workers.clock import utcnow
from workers.notify import queue as notifications_queue
from workers.recovery.plans import builtin_plan_paths, load_plans
from workers.storage.db import session_factory
from workers.storage.models import BreakerTransition, Notification


@click.group()
def breakers() -> None:
    """Circuit breakers per service: list, open, close, reset.

    Their state is shared by every worker (in Redis, or in the database in embedded mode); every
    transition, automatic or by hand, is recorded and notified on MEDIC_BREAKER_CHANNEL.
    """


@breakers.command("list")
@click.option("--transitions", default=3, show_default=True, type=click.IntRange(0, 100),
              help="Recent transitions to show per breaker.")
@json_option
def breakers_list(transitions, as_json) -> None:
    """List every breaker with its state and settings.

    The state is as the next call would find it: an open breaker past its recovery timeout shows
    as half_open (probe due). Failures count those within the window.
    """
    current = settings()
    require_database()
    plan_set = load_plans([*builtin_plan_paths(), *current.plans_files])  # for breaker settings only
    store = breakers_from_settings(current, session_factory(current.database_url), plan_set.breaker_config).store
    stored = store.all()
    now = utcnow()
    rows = []
    with database() as session:
        for service in sorted(set(stored) | set(plan_set.breaker_services)):
            recent = _transitions(session, service, transitions)
            rows.append(_breaker(service, stored.get(service, BreakerState()), plan_set.breaker_config(service),
                                 now, recent))
    if as_json:
        emit_json(rows)
        return
    emit_table(([r["service"], _state_text(r), f"{r['failures']} in {r['config']['window_s']:g}s", r["opened_at"],
                 _half_opens(r, now), _config_text(r["config"]), _last(r, now)] for r in rows),
               ["service", "state", "failures", "opened", "half-opens", "settings", "last transition"],
               empty="no circuit breakers yet: one appears when a service's first replay runs")
    history = [(r["service"], t) for r in rows for t in r["transitions"]]
    if history:
        click.echo()
        emit_table(([service, t["at"], f"{t['from_state']} → {t['to_state']}", t["actor"], t["reason"]]
                    for service, t in history), ["service", "at", "transition", "actor", "reason"])


def _transitions(session, service: str, limit: int) -> list[dict[str, Any]]:
    if not limit:
        return []
    rows = session.scalars(select(BreakerTransition).where(BreakerTransition.service == service)
                           .order_by(BreakerTransition.at.desc(), BreakerTransition.id.desc()).limit(limit))
    return [{"at": t.at, "from_state": t.from_state, "to_state": t.to_state, "actor": t.actor, "reason": t.reason}
            for t in rows]


def _breaker(service: str, raw: BreakerState, config: BreakerConfig, now: datetime,
             recent: list[dict[str, Any]]) -> dict[str, Any]:
    effective = policy.current(raw, config, now.timestamp())
    half_open_at = policy.retry_at_s(raw, config)
    return {"service": service, "state": effective.state, "stored_state": raw.state,
            "failures": policy.failures_on_record(effective),
            "opened_at": _epoch(raw.opened_at), "half_open_at": _epoch(half_open_at),
            "half_open_calls": effective.half_open_calls, "probe_successes": effective.successes,
            "config": config.model_dump(), "transitions": recent}


def _epoch(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _state_text(row: dict[str, Any]) -> str:
    if row["state"] == "half_open" and row["stored_state"] == "open":
        return "half_open (probe due)"  # open past its recovery timeout: the next call is a probe
    return row["state"]


def _half_opens(row: dict[str, Any], now: datetime) -> str | None:
    return relative(row["half_open_at"], now) if row["state"] == "open" else None


def _config_text(config: dict[str, Any]) -> str:
    return policy.describe(BreakerConfig(**config))


def _last(row: dict[str, Any], now: datetime) -> str | None:
    if not row["transitions"]:
        return None
    t = row["transitions"][0]
    return f"{t['from_state']} → {t['to_state']} {relative(t['at'], now)} by {t['actor']}"


def _operate(service: str, action: str) -> None:
    recovery = recovery_service()
    actor = recovery.actor.name
    breakers_ = recovery.breakers
    before, _ = breakers_.store.load(service)
    getattr(breakers_, action)(service, actor=actor)
    after, _ = breakers_.store.load(service)
    if action == "reset":
        count = policy.failures_on_record(before)
        failures = f" with {count} failure{'s' if count != 1 else ''} in its window" if count else ""
        click.echo(f"circuit breaker of {service} reset by {actor}: it was {before.state}{failures}; "
                   f"the next call finds a fresh closed breaker")
    elif before.state == after.state:
        click.echo(f"circuit breaker of {service} is already {after.state}: nothing changed")
    else:
        click.echo(f"circuit breaker of {service}: {before.state} → {after.state} (by {actor})")


@breakers.command("open")
@click.argument("service")
def breakers_open(service) -> None:
    """Force SERVICE's breaker open.

    No replay reaches SERVICE until `close` or `reset`: its attempts are deferred (not counted)
    or go to the next step, as their plan says.
    """
    _operate(service, "force_open")


@breakers.command("close")
@click.argument("service")
def breakers_close(service) -> None:
    """Close SERVICE's breaker now, with no failures on record."""
    _operate(service, "close")


@breakers.command("reset")
@click.argument("service")
def breakers_reset(service) -> None:
    """Forget SERVICE's breaker: the next call finds a fresh closed one."""
    _operate(service, "reset")


@click.group()
def notifications() -> None:
    """The notification queue: sent, pending and suppressed alerts.

    A notification a channel refuses stays pending and is retried with backoff until sent.
    """


@notifications.command("list")
@click.option("--state", type=click.Choice([notifications_queue.PENDING, notifications_queue.SENT,
                                            notifications_queue.SUPPRESSED]), help="Only in this state.")
@limit_option
@json_option
def notifications_list(state, limit, as_json) -> None:
    """List notifications, newest first.

    suppressed: the same alert went out within MEDIC_NOTIFICATION_COOLDOWN_S; pending: not sent yet
    (a refused one is retried with backoff, its last error shown).
    """
    with database() as session:
        rows = notifications_queue.list_notifications(session, state=state, limit=limit)
    if as_json:
        emit_json([_notification(n) for n in rows])
        return
    now = utcnow()
    emit_table(([n.id, n.created_at, n.channel, n.level, n.kind, n.state, n.attempts,
                 relative(n.next_attempt_at, now) if n.state == notifications_queue.PENDING else None, n.last_error,
                 n.subject] for n in rows),
               ["id", "created", "channel", "level", "kind", "state", "tries", "next try", "last error", "subject"],
               empty="no notifications")


def _notification(row: Notification) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at, "channel": row.channel, "level": row.level,
            "kind": row.kind, "state": row.state, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
            "sent_at": row.sent_at, "last_error": row.last_error, "subject": row.subject,
            "group_id": row.group_id, "execution_id": row.execution_id}
